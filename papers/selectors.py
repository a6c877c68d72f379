"""Read queries for the reading pages.

Every function prefetches what its page shows, so a page costs the same number of SQL
queries with 2 papers or 2,000 (tests/papers/test_pages.py counts them). Templates pick a
paper's text for a language from the prefetched `paper.texts.all()` (papers.templatetags.reading).
"""

from __future__ import annotations

import datetime as dt

from django.db import connection
from django.db.models import Count, F, Prefetch, QuerySet

from papers.categories import Category, category_name, is_category_code
from papers.models import Author, Commentary, Issue, IssueEditorial, IssueEntry, Paper, PaperAuthor, PaperText, Tag

# A card shows a title and a short summary; abstracts stay in the database.
CARD_TEXT_KINDS = [PaperText.Kind.TITLE, PaperText.Kind.SUMMARY]


def _card_prefetches(prefix: str = "") -> list:
    """What a paper card shows, for a queryset of papers or (with prefix "paper__") of rows pointing at papers."""
    return [
        Prefetch(f"{prefix}texts", queryset=PaperText.objects.filter(kind__in=CARD_TEXT_KINDS)),
        Prefetch(f"{prefix}authorships", queryset=PaperAuthor.objects.select_related("author").order_by("position")),
        Prefetch(f"{prefix}tags", queryset=Tag.objects.order_by("slug")),
    ]


def paper_cards(papers: QuerySet[Paper]) -> QuerySet[Paper]:
    return papers.prefetch_related(*_card_prefetches())


def paper_for_page(pk: int) -> Paper | None:
    """One paper with everything its page shows: texts, authors in order, links, tags,
    commentary (newest first, undated last) and the published issues it appears in."""
    return (
        Paper.objects.filter(pk=pk)
        .prefetch_related(
            Prefetch("texts", queryset=PaperText.objects.order_by("kind", "lang")),
            Prefetch("authorships", queryset=PaperAuthor.objects.select_related("author").order_by("position")),
            Prefetch("links"),  # ordered by position (Link.Meta)
            Prefetch("tags", queryset=Tag.objects.order_by("slug")),
            Prefetch("commentaries", queryset=Commentary.objects.order_by(F("date").desc(nulls_last=True), "id")),
            Prefetch("issues", queryset=Issue.objects.filter(status=Issue.Status.PUBLISHED).order_by("-week_start")),
            Prefetch("enrichment_steps"),  # the pipeline's state, shown under the texts
        )
        .first()
    )


def tags_with_counts() -> QuerySet[Tag]:
    return Tag.objects.annotate(paper_count=Count("papers")).order_by("slug")


def tag_by_slug(slug: str) -> Tag | None:
    return Tag.objects.filter(slug=slug).first()


def papers_with_tag(tag: Tag) -> QuerySet[Paper]:
    return paper_cards(tag.papers.order_by("-published", "-id"))


def _issues(*, include_drafts: bool = False) -> QuerySet[Issue]:
    issues = Issue.objects.all()
    return issues if include_drafts else issues.filter(status=Issue.Status.PUBLISHED)


def published_issues() -> QuerySet[Issue]:
    """The archive: newest first, with how many papers each has."""
    return _issues().annotate(paper_count=Count("entries")).order_by("-week_start")


def latest_issue() -> Issue | None:
    issue = _issues().order_by("-week_start").first()
    return _with_issue_contents(issue) if issue else None


def issue_for_week(day: dt.date, *, include_drafts: bool = False) -> Issue | None:
    """The issue whose week starts on `day`; None if there is none (or it is an unpublished draft)."""
    issue = _issues(include_drafts=include_drafts).filter(week_start=day).first()
    return _with_issue_contents(issue) if issue else None


def issue_week_containing(day: dt.date, *, include_drafts: bool = False) -> Issue | None:
    """The issue whose week contains `day`, so /issues/<any day of the week>/ can redirect."""
    return _issues(include_drafts=include_drafts).filter(week_start__lte=day, week_end__gte=day).first()


def _with_issue_contents(issue: Issue) -> Issue:
    """Attach the editorials and ordered entries (each with its paper card) to an issue."""
    entries = IssueEntry.objects.filter(issue=issue).select_related("paper").order_by("position")
    issue.ordered_entries = list(entries.prefetch_related(*_card_prefetches("paper__")))
    issue.editorial_list = list(IssueEditorial.objects.filter(issue=issue).order_by("lang"))
    return issue


def editorial_in(issue: Issue, lang: str) -> tuple[IssueEditorial | None, list[IssueEditorial]]:
    """The issue's editorial in `lang` (or None) and the ones in other languages."""
    mine = next((e for e in issue.editorial_list if e.lang == lang), None)
    return mine, [e for e in issue.editorial_list if e.lang != lang]


def categories_with_counts(lang: str) -> list[Category]:
    """Every arXiv category a paper is in, with its name in lang and its paper count, by code."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT code, count(*) FROM papers_paper, unnest(categories) AS code GROUP BY code ORDER BY code"
        )
        return [Category(code=code, name=category_name(code, lang), paper_count=n) for code, n in cursor.fetchall()]


def category(code: str, lang: str) -> Category | None:
    if not is_category_code(code):
        return None
    count = Paper.objects.filter(categories__contains=[code]).count()
    return Category(code=code, name=category_name(code, lang), paper_count=count) if count else None


def author_by_slug(slug: str) -> Author | None:
    return Author.objects.filter(slug=slug).first()


NEW_ARRIVALS_SHOWN = 10


def new_since_last_issue() -> tuple[list[Paper], int, dt.datetime | None]:
    """Papers that came in after the latest issue was published (all of them before any was)
    and are in no issue yet: the first few newest first, how many there are, and since when."""
    since = _issues().order_by("-week_start").values_list("published_at", flat=True).first()
    papers = Paper.objects.filter(issue_entries__isnull=True)
    papers = papers.filter(created_at__gt=since) if since else papers
    shown = list(paper_cards(papers.order_by("-created_at", "-id"))[:NEW_ARRIVALS_SHOWN])
    return shown, papers.count(), since
