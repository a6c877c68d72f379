"""The filters of a search (tag, issue, date range) as the set of papers every list is
limited to, and the date a paper is shown and filtered by."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce

from papers.models import Commentary, Issue, IssueEntry, Paper

EXACT_SCAN_PAPERS = 500  # filters leaving at most this many papers: exact vector scan over their rows


def paper_date():
    """A paper's date for display and the date filter: published on arXiv, else the week of
    the first issue it appeared in, else the date of its earliest commentary."""
    first_issue = (IssueEntry.objects.filter(paper=OuterRef("pk"), issue__status=Issue.Status.PUBLISHED)
                   .order_by("issue__week_start").values("issue__week_start")[:1])
    first_note = Commentary.objects.filter(papers=OuterRef("pk"), date__isnull=False).order_by("date").values("date")[:1]
    return Coalesce("published", Subquery(first_issue), Subquery(first_note))


@dataclass(frozen=True)
class Scope:
    """The papers the filters allow: their ids when few (the lists then read just their rows,
    and the vector list scans them exactly), else a subquery."""

    ids: list[int] | None = None
    subquery: QuerySet | None = None

    def sql(self, column: str) -> tuple[str, list]:
        if self.ids is not None:
            return f" AND {column} = ANY(%s)", [self.ids]
        sql, params = self.subquery.query.sql_with_params()
        return f" AND {column} IN ({sql})", list(params)


def paper_scope(*, tag: str, issue: dt.date | None, date_from: dt.date | None, date_to: dt.date | None) -> Scope | None:
    """The papers these filters allow; None when there are no filters (every paper)."""
    if not (tag or issue or date_from or date_to):
        return None
    papers = Paper.objects.all()
    if tag:
        papers = papers.filter(tags__slug=tag)
    if issue:
        papers = papers.filter(issues__week_start=issue, issues__status=Issue.Status.PUBLISHED)
    if date_from or date_to:
        papers = papers.annotate(day=paper_date())
        if date_from:
            papers = papers.filter(day__gte=date_from)
        if date_to:
            papers = papers.filter(day__lte=date_to)
    ids = list(papers.order_by().values_list("pk", flat=True)[: EXACT_SCAN_PAPERS + 1])
    return Scope(ids=ids) if len(ids) <= EXACT_SCAN_PAPERS else Scope(subquery=papers.values("pk"))


def scope_sql(scope: Scope | None, column: str) -> tuple[str, list]:
    """The AND clause (and its parameters) limiting `column` to the scope's papers; empty for None."""
    return scope.sql(column) if scope is not None else ("", [])
