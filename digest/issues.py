"""Weekly issues: assembling a draft from the week's papers, publishing it, and the content
that emails and feeds show in one language."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Max, Q
from django.urls import reverse
from django.utils import timezone

from digest.models import Issue, IssueEntry
from papers.languages import Lang
from papers.models import Paper, PaperText

CONTENT_VERSION = 1  # bump when the shape of Issue.frozen_content changes


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


def issue_content(issue: Issue) -> dict:
    """The issue as published, or, for a draft (or an issue published by the importer before
    content was frozen), as the knowledge base has it now."""
    if issue.frozen_content and issue.frozen_content.get("version") == CONTENT_VERSION:
        return issue.frozen_content
    return live_content(issue)


def freeze_if_published(issue: Issue) -> Issue:
    """A published issue that has no frozen content yet gets it before anything is mailed, so
    a send interrupted and resumed after an enrichment run mails the same text to all."""
    if issue.status == Issue.Status.PUBLISHED and not issue.frozen_content:
        updated = Issue.objects.filter(pk=issue.pk, frozen_content__isnull=True).update(frozen_content=live_content(issue))
        if updated:
            issue.refresh_from_db(fields=["frozen_content"])
    return issue


def live_content(issue: Issue) -> dict:
    entries = list(
        issue.entries.select_related("paper").prefetch_related("paper__tags", "paper__texts", "paper__links").order_by("position")
    )
    out = []
    for entry in entries:
        paper = entry.paper
        texts: dict[str, dict[str, str]] = {}
        for text in paper.texts.all():
            if text.kind in (PaperText.Kind.TITLE, PaperText.Kind.SUMMARY, PaperText.Kind.ABSTRACT):
                texts.setdefault(text.lang, {})[text.kind] = text.body
        out.append({
            "paper_id": paper.pk,
            "path": reverse("papers:detail", kwargs={"pk": paper.pk}),
            "arxiv_url": paper.arxiv_url,
            "title": paper.title,
            "tags": [{"slug": t.slug, "name": t.name} for t in paper.tags.all()],
            "texts": texts,
            "links": [{"kind": link.kind, "url": link.url} for link in paper.links.all()],
        })
    return {
        "version": CONTENT_VERSION,
        "week_start": issue.week_start.isoformat(),
        "week_end": issue.week_end.isoformat(),
        "path": issue.get_absolute_url(),
        "editorials": {e.lang: e.body for e in issue.editorials.all()},
        "entries": out,
    }


# --- One language, one tag filter -----------------------------------------------------


@dataclass(frozen=True)
class LocalizedEntry:
    paper_id: int
    url: str
    arxiv_url: str
    title: str
    summary: str
    tags: list[dict]
    links: list[dict]
    lang: str  # the language the text is actually in
    fallback: bool  # shown in English (or the original) because the chosen language has no text yet


@dataclass(frozen=True)
class LocalizedIssue:
    week_start: dt.date
    week_end: dt.date
    url: str
    lang: str
    editorial: str
    editorial_fallback: bool
    entries: list[LocalizedEntry] = field(default_factory=list)


def entries_for_tags(content: dict, tags: frozenset[str] | set[str] | None) -> list[dict]:
    """The entries a subscriber with these tag slugs gets: all of them when they chose none."""
    if not tags:
        return list(content["entries"])
    return [e for e in content["entries"] if any(t["slug"] in tags for t in e["tags"])]


def localize(content: dict, *, lang: str, tags: frozenset[str] | set[str] | None = None) -> LocalizedIssue:
    """The issue in `lang`, falling back per text to English, then to the paper's own title.
    Each fallback is flagged so templates can say so."""
    base = settings.SITE_URL
    entries = []
    for e in entries_for_tags(content, tags):
        own = e["texts"].get(lang, {})
        en = e["texts"].get(Lang.EN, {})
        title = own.get("title")
        summary = own.get("summary") or own.get("abstract")
        fallback = False
        if not title or not summary:
            fallback = lang != Lang.EN
            title = title or en.get("title") or e["title"]
            summary = summary or en.get("summary") or en.get("abstract") or ""
        entries.append(LocalizedEntry(
            paper_id=e["paper_id"], url=base + e["path"], arxiv_url=e["arxiv_url"], title=title, summary=summary,
            tags=e["tags"], links=e["links"], lang=Lang.EN if fallback else lang, fallback=fallback,
        ))
    editorials = content["editorials"]
    editorial = editorials.get(lang) or editorials.get(Lang.EN) or ""
    return LocalizedIssue(
        week_start=dt.date.fromisoformat(content["week_start"]),
        week_end=dt.date.fromisoformat(content["week_end"]),
        url=base + content["path"],
        lang=lang,
        editorial=editorial,
        editorial_fallback=bool(editorial) and lang not in editorials,
        entries=entries,
    )
