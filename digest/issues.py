"""Making weekly issues: assembling a draft from the week's papers and publishing it, which
freezes its content (papers.issues) so readers and subscribers all get the same text."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.utils import timezone

from papers.issues import live_content
from papers.models import Issue, IssueEntry, Paper


def week_bounds(day: dt.date) -> tuple[dt.date, dt.date]:
    """Monday and Sunday of the week that holds `day`."""
    start = day - dt.timedelta(days=day.weekday())
    return start, start + dt.timedelta(days=6)


def local_today() -> dt.date:
    return timezone.now().astimezone(ZoneInfo(settings.DIGEST_TIMEZONE)).date()


@transaction.atomic
def build_issue(*, week: dt.date) -> Issue:
    """The draft issue for the week holding `week`, with the week's papers added.

    A paper belongs to a week by its publication date, or, lacking one, by when it came into
    the knowledge base (in DIGEST_TIMEZONE). Papers already in another issue are left out.
    Safe to re-run: new papers are appended after the editor's order; a published issue is
    returned untouched."""
    start, end = week_bounds(week)
    issue, _ = Issue.objects.select_for_update().get_or_create(week_start=start, defaults={"week_end": end})
    if issue.status == Issue.Status.PUBLISHED:
        return issue
    tz = ZoneInfo(settings.DIGEST_TIMEZONE)
    since = dt.datetime.combine(start, dt.time.min, tzinfo=tz)
    until = dt.datetime.combine(end + dt.timedelta(days=1), dt.time.min, tzinfo=tz)
    papers = (
        Paper.objects.filter(
            Q(published__range=(start, end)) | Q(published__isnull=True, created_at__gte=since, created_at__lt=until)
        )
        .exclude(issue_entries__isnull=False)
        .order_by("published", "id")
    )
    position = issue.entries.aggregate(m=Max("position"))["m"] or 0
    new = []
    for paper in papers:
        position += 1
        new.append(IssueEntry(issue=issue, paper=paper, position=position))
    IssueEntry.objects.bulk_create(new, ignore_conflicts=True)
    return issue


def publish_issue(issue: Issue) -> Issue:
    """Publish a draft: its content is frozen now, so what readers and subscribers get never
    changes afterwards. Publishing twice changes nothing. Sending is separate
    (digest.sending.send_issue), so an editor can publish first and mail later."""
    with transaction.atomic():
        issue = Issue.objects.select_for_update().get(pk=issue.pk)
        if issue.status == Issue.Status.PUBLISHED and issue.frozen_content:
            return issue
        issue.frozen_content = live_content(issue)
        issue.status = Issue.Status.PUBLISHED
        issue.published_at = issue.published_at or timezone.now()
        issue.save(update_fields=["frozen_content", "status", "published_at"])
    return issue


def freeze_if_published(issue: Issue) -> Issue:
    """A published issue that has no frozen content yet gets it before anything is mailed, so
    a send interrupted and resumed after an enrichment run mails the same text to all."""
    if issue.status == Issue.Status.PUBLISHED and not issue.frozen_content:
        updated = Issue.objects.filter(pk=issue.pk, frozen_content__isnull=True).update(frozen_content=live_content(issue))
        if updated:
            issue.refresh_from_db(fields=["frozen_content"])
    return issue
