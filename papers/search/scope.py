"""The filters of a search (tag, issue, date range) as the set of papers every list is
limited to, and the date a paper is shown and filtered by.

A set of filters is worked out once and kept until the next write to the knowledge base
(papers.page_cache), as search engines keep filter bitsets: readers page through many queries
with the same tag and dates, and joining tags and dating papers costs more than the word
search it limits (bench/search.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce

from papers import page_cache
from papers.models import Commentary, Issue, IssueEntry, Paper

# Filters leaving at most this many papers are kept as their ids, and the vector list compares
# the query with each of their vectors (papers.search.exact); more barely narrow a search, and
# are a subquery the HNSW walk filters by.
MAX_KEPT_IDS = 30_000
_TOO_MANY = "too many"  # kept in place of ids above MAX_KEPT_IDS


def paper_date():
    """A paper's date for display and the date filter: published on arXiv, else the week of
    the first issue it appeared in, else the date of its earliest commentary."""
    first_issue = (IssueEntry.objects.filter(paper=OuterRef("pk"), issue__status=Issue.Status.PUBLISHED)
                   .order_by("issue__week_start").values("issue__week_start")[:1])
    first_note = Commentary.objects.filter(papers=OuterRef("pk"), date__isnull=False).order_by("date").values("date")[:1]
    return Coalesce("published", Subquery(first_issue), Subquery(first_note))


@dataclass(frozen=True)
class Scope:
    """The papers the filters allow: their ids (with the key and generation they are kept
    under), or (when very many) a subquery."""

    ids: list[int] | None = None
    subquery: QuerySet | None = None
    key: str | None = None
    generation: str | None = None

    @property
    def exact(self) -> bool:
        """Few enough papers that comparing the query with each of their vectors is cheaper
        than an HNSW walk that skips nearly every row it visits (papers.search.exact)."""
        return self.ids is not None

    def sql(self, column: str) -> tuple[str, list]:
        """The AND clause limiting `column` to these papers: for ids, a hashed set (`= ANY`
        of a long array tests each row against every element)."""
        if self.ids is not None:
            return f" AND {column} IN (SELECT unnest(%s::bigint[]))", [self.ids]
        sql, params = self.subquery.query.sql_with_params()
        return f" AND {column} IN ({sql})", list(params)


def paper_scope(*, tag: str, issue: dt.date | None, date_from: dt.date | None, date_to: dt.date | None) -> Scope | None:
    """The papers these filters allow; None when there are no filters (every paper)."""
    if not (tag or issue or date_from or date_to):
        return None
    key = "search:scope:" + hashlib.sha256(repr((tag, issue, date_from, date_to)).encode()).hexdigest()
    generation, ids = page_cache.kept(key)
    if ids is None:
        ids = list(_filtered(tag=tag, issue=issue, date_from=date_from, date_to=date_to)
                   .order_by().values_list("pk", flat=True).distinct()[: MAX_KEPT_IDS + 1])
        ids = ids if len(ids) <= MAX_KEPT_IDS else _TOO_MANY
        page_cache.keep(key, generation, ids)
    if ids == _TOO_MANY:
        return Scope(subquery=_filtered(tag=tag, issue=issue, date_from=date_from, date_to=date_to).values("pk"))
    return Scope(ids=ids, key=key, generation=generation)


def _filtered(*, tag: str, issue: dt.date | None, date_from: dt.date | None, date_to: dt.date | None) -> QuerySet:
    papers = Paper.objects.all()
    if tag:
        papers = papers.filter(tags__slug=tag)
    if issue:
        papers = papers.filter(issues__week_start=issue, issues__status=Issue.Status.PUBLISHED)
    if date_from or date_to:
        # A paper with an arXiv date is dated by that column alone; the subqueries of
        # paper_date() run only for the few without one (PostgreSQL stops at the first
        # false test of an AND).
        in_range = {**({"gte": date_from} if date_from else {}), **({"lte": date_to} if date_to else {})}
        published = Q(published__isnull=False, **{f"published__{op}": day for op, day in in_range.items()})
        undated = Q(published__isnull=True, **{f"day__{op}": day for op, day in in_range.items()})
        papers = papers.alias(day=paper_date()).filter(published | undated)
    return papers


def scope_sql(scope: Scope | None, column: str) -> tuple[str, list]:
    """The AND clause (and its parameters) limiting `column` to the scope's papers; empty for None."""
    return scope.sql(column) if scope is not None else ("", [])
