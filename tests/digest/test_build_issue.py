"""Assembling the weekly draft and publishing it."""

import datetime as dt

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from digest.issues import build_issue, publish_issue, week_bounds
from papers.issues import issue_content
from papers.models import Issue
from tests.factories import make_paper

from .conftest import WEEK

pytestmark = pytest.mark.django_db


def _titles(issue):
    return [e.paper.title for e in issue.entries.order_by("position")]


def test_week_runs_monday_to_sunday():
    assert week_bounds(dt.date(2024, 2, 1)) == (dt.date(2024, 1, 29), dt.date(2024, 2, 4))
    assert week_bounds(dt.date(2024, 2, 4)) == (dt.date(2024, 1, 29), dt.date(2024, 2, 4))


def test_draft_holds_the_weeks_papers_in_date_order(week_papers):
    make_paper(title="Last week", published=WEEK - dt.timedelta(days=1), tags=[], texts={})
    make_paper(title="Next week", published=WEEK + dt.timedelta(days=7), tags=[], texts={})
    issue = build_issue(week=dt.date(2024, 2, 1))
    assert (issue.week_start, issue.week_end, issue.status) == (WEEK, dt.date(2024, 2, 4), "draft")
    assert _titles(issue) == ["Synthetic continued pretraining", "A multimodal benchmark", "Only in English"]


def test_rebuilding_keeps_the_editors_order_and_appends_new_papers(week_papers):
    issue = build_issue(week=WEEK)
    entries = list(issue.entries.order_by("position"))
    entries[0].position, entries[2].position = 30, 10  # the editor moved the last paper first
    for e in entries:
        e.save()
    make_paper(title="Found later", published=WEEK + dt.timedelta(days=3), tags=[], texts={})
    again = build_issue(week=WEEK)
    assert again.pk == issue.pk
    assert _titles(again) == ["A multimodal benchmark", "Only in English", "Synthetic continued pretraining", "Found later"]


def test_paper_without_a_date_counts_by_when_it_arrived_in_the_digest_timezone(settings, db):
    from papers.models import Paper

    paper = make_paper(title="Undated", published=None, tags=[], texts={})
    # Sunday 15:30 UTC: already Monday 00:30 in Seoul (next week), still Sunday in Los Angeles.
    Paper.objects.filter(pk=paper.pk).update(created_at=dt.datetime(2024, 2, 4, 15, 30, tzinfo=dt.timezone.utc))
    assert _titles(build_issue(week=WEEK)) == []
    settings.DIGEST_TIMEZONE = "America/Los_Angeles"
    assert _titles(build_issue(week=WEEK)) == ["Undated"]


def test_published_issue_is_not_changed_by_a_rebuild_or_enrichment(published_issue):
    from papers.models import PaperText

    before = issue_content(published_issue)
    make_paper(title="Found after publishing", published=WEEK + dt.timedelta(days=1), tags=[], texts={})
    PaperText.objects.filter(lang="en", kind="title", body="Only in English").update(body="Renamed by enrichment")
    assert build_issue(week=WEEK).entries.count() == 3
    issue = Issue.objects.get(pk=published_issue.pk)
    assert issue_content(issue) == before
    assert "Renamed by enrichment" not in str(issue.frozen_content)


def test_publishing_twice_changes_nothing(published_issue):
    again = publish_issue(published_issue)
    assert (again.published_at, again.frozen_content) == (published_issue.published_at, published_issue.frozen_content)


def test_send_command_refuses_a_draft(week_papers):
    build_issue(week=WEEK)
    with pytest.raises(CommandError, match="draft"):
        call_command("send_issue", "2024-01-29")


def test_send_command_publishes_with_publish_flag(week_papers, smtp_server, ko_subscriber):
    build_issue(week=WEEK)
    call_command("send_issue", "2024-01-31", "--publish")
    assert Issue.objects.get(week_start=WEEK).status == "published"
    assert smtp_server.counts() == {ko_subscriber.email: 1}


def test_weekly_tasks_are_scheduled_in_the_digest_timezone(settings):
    from config.celery import app

    assert settings.DIGEST_TIMEZONE == "Asia/Seoul"
    assert app.conf.timezone == settings.DIGEST_TIMEZONE
    scheduled = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    ours = {"digest.tasks.build_weekly_issue", "digest.tasks.send_published_issues", "digest.tasks.send_due_deliveries"}
    assert ours <= scheduled
    assert ours <= set(app.tasks)
