"""Every paper, filtered and sorted, in keyset pages: what /papers/, the author and category
pages and GET /api/papers show.

A page is "the next n papers after this one" in the sort order, never "skip n": a paper
fetched while a reader pages on does not shift what they see next. The cursor is the last
paper's sort key and id (`2024-02-01~42`)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Exists, F, OuterRef, Q, QuerySet
from django.db.models.functions import Coalesce

from papers import selectors
from papers.models import Author, Commentary, Issue, IssueEntry, Paper, PaperText

MAX_PER_PAGE = 100
PER_PAGE = 30


class BadCursor(ValueError):
    """A cursor that no page of this sort handed out."""


@dataclass(frozen=True)
class Sort:
    key: str  # a field or annotation of the papers
    is_date: bool

    def annotate(self, papers: QuerySet[Paper]) -> QuerySet[Paper]:
        # A paper never revised on arXiv was last updated when it was published.
        return papers.annotate(revised=Coalesce("updated", "dated")) if self.key == "revised" else papers


SORTS = {
    "newest": Sort(key="dated", is_date=True),
    "updated": Sort(key="revised", is_date=True),
    "arxiv": Sort(key="arxiv_id", is_date=False),
}


@dataclass(frozen=True)
class Cursor:
    key: str | dt.date
    pk: int

    def encode(self) -> str:
        key = self.key.isoformat() if isinstance(self.key, dt.date) else self.key
        return f"{key}~{self.pk}"

    @classmethod
    def decode(cls, text: str, *, sort: Sort) -> Cursor:
        key, sep, pk = text.rpartition("~")
        if not sep or not pk.isdigit() or len(pk) > 18:
            raise BadCursor(text)
        if sort.is_date:
            try:
                return cls(key=dt.date.fromisoformat(key), pk=int(pk))
            except ValueError:
                raise BadCursor(text) from None
        return cls(key=key, pk=int(pk))


@dataclass(frozen=True)
class Filters:
    tag: str = ""  # a tag's slug
    category: str = ""  # an arXiv category code
    text_lang: str = ""  # papers with any text in this language
    came_from: str = ""  # Paper.Came
    commentary: bool | None = None
    in_issue: bool | None = None  # in a published issue
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    author: Author | None = None

    def apply(self, papers: QuerySet[Paper]) -> QuerySet[Paper]:
        if self.tag:
            papers = papers.filter(tags__slug=self.tag)
        if self.category:
            papers = papers.filter(categories__contains=[self.category])
        if self.text_lang:
            papers = papers.filter(Exists(PaperText.objects.filter(paper=OuterRef("pk"), lang=self.text_lang)))
        if self.came_from:
            papers = papers.filter(came_from=self.came_from)
        if self.commentary is not None:
            has = Exists(Commentary.papers.through.objects.filter(paper=OuterRef("pk")))
            papers = papers.filter(has if self.commentary else ~has)
        if self.in_issue is not None:
            published = IssueEntry.objects.filter(paper=OuterRef("pk"), issue__status=Issue.Status.PUBLISHED)
            papers = papers.filter(Exists(published) if self.in_issue else ~Exists(published))
        if self.date_from:
            papers = papers.filter(dated__gte=self.date_from)
        if self.date_to:
            papers = papers.filter(dated__lte=self.date_to)
        if self.author is not None:
            papers = papers.filter(authorships__author=self.author)
        return papers


@dataclass
class PaperPage:
    papers: list[Paper]
    total: int  # papers matching the filters, on every page
    next_cursor: str = ""  # empty on the last page
    first: bool = True
    sort: str = "newest"
    filters: Filters = field(default_factory=Filters)


def list_papers(*, filters: Filters = Filters(), sort: str = "newest", after: str = "", per_page: int = PER_PAGE) -> PaperPage:
    """One page of papers (with what a paper card shows). Raises BadCursor for a cursor this
    sort cannot have made; a cursor past the last paper gives an empty page."""
    order = SORTS[sort]
    matching = filters.apply(Paper.objects.all())
    papers = order.annotate(matching)
    if after:
        cursor = Cursor.decode(after, sort=order)
        papers = papers.filter(Q(**{f"{order.key}__lt": cursor.key}) | Q(**{order.key: cursor.key, "pk__lt": cursor.pk}))
    papers = papers.order_by(F(order.key).desc(), "-pk")
    rows = list(selectors.paper_cards(papers)[: per_page + 1])
    shown = rows[:per_page]
    next_cursor = ""
    if len(rows) > per_page:
        last = shown[-1]
        next_cursor = Cursor(key=getattr(last, order.key), pk=last.pk).encode()
    return PaperPage(papers=shown, total=matching.count(), next_cursor=next_cursor, first=not after, sort=sort, filters=filters)
