"""The content of a weekly issue: as the knowledge base has it now, or as it was frozen at
publication (digest.issues.publish_issue), and in one language for a reader, a mail or a feed."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Max
from django.urls import reverse
from django.utils import timezone

from papers.languages import Lang
from papers.models import Issue, IssueEntry, PaperText

CONTENT_VERSION = 1  # bump when the shape of Issue.frozen_content changes


def issue_content(issue: Issue) -> dict:
    """The issue as published, or, for a draft (or an issue published by the importer before
    content was frozen), as the knowledge base has it now."""
    if issue.frozen_content and issue.frozen_content.get("version") == CONTENT_VERSION:
        return issue.frozen_content
    return live_content(issue)


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


def add_to_next_draft(paper_ids: list[int]) -> tuple[Issue, int]:
    """Append papers to the next draft issue (the newest draft; without one, a new draft for
    the week after the latest issue). Papers already in an issue are left where they are.
    Returns the draft and how many papers were added."""
    with transaction.atomic():
        draft = Issue.objects.select_for_update().filter(status=Issue.Status.DRAFT).order_by("-week_start").first()
        if draft is None:
            latest = Issue.objects.order_by("-week_start").values_list("week_start", flat=True).first()
            today = timezone.localdate()
            start = latest + dt.timedelta(weeks=1) if latest else today - dt.timedelta(days=today.weekday())
            draft = Issue.objects.create(week_start=start, week_end=start + dt.timedelta(days=6))
        position = draft.entries.aggregate(m=Max("position"))["m"] or 0
        placed = set(IssueEntry.objects.filter(paper_id__in=paper_ids).values_list("paper_id", flat=True))
        new = [pk for pk in paper_ids if pk not in placed]
        IssueEntry.objects.bulk_create(IssueEntry(issue=draft, paper_id=pk, position=position + i) for i, pk in enumerate(new, 1))
    return draft, len(new)
