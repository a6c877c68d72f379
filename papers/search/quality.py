"""How well search ranks a judged set of queries: the quality set under data/search_quality/
(English-only papers as arXiv gives them, and Korean, Chinese and English queries that each
want one paper), and recall@5, recall@10 and MRR of the fused ranking and of each list alone.

bench/search_quality.py prints every figure; tests/papers/search/test_cross_lingual.py holds a
subset of the same queries to thresholds. A query is cross-lingual when its language is none
of the wanted paper's text languages (its texts and the commentary on it).
"""

from __future__ import annotations

import datetime as dt
import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings
from django.db.models import Q

from papers.ingest.arxiv import store_records
from papers.ingest.records import PaperRecord
from papers.models import Commentary, Paper, PaperText
from papers.search import search_papers

QUALITY_DIR = Path(settings.BASE_DIR) / "data" / "search_quality"
DEPTH = 50  # ranks beyond this count as not found (MRR 0)
LIST_NAMES = ("meaning", "words", "pieces")  # vectors, English full-text, Korean/Chinese pieces


@dataclass(frozen=True)
class JudgedQuery:
    q: str
    lang: str  # ko, zh or en: the language the query is written in
    want: str  # the wanted paper's arXiv id, or its title when it has none
    ci: bool = False  # in the subset tests/papers/search/test_cross_lingual.py holds to thresholds


def english_papers() -> list[PaperRecord]:
    """The quality set's English-only papers, as the arXiv fetch stores them (title and abstract)."""
    rows = json.loads((QUALITY_DIR / "english_papers.json").read_text(encoding="utf-8"))
    return [
        PaperRecord(
            title=row["title"], arxiv_id=row["arxiv_id"], arxiv_version=1, authors=row["authors"],
            published=dt.date.fromisoformat(row["published"]), updated=dt.date.fromisoformat(row["published"]),
            texts={("en", "title"): row["title"], ("en", "abstract"): row["abstract"]},
            links=[("paper", f"https://arxiv.org/abs/{row['arxiv_id']}")],
        )
        for row in rows
    ]


def judged_queries() -> list[JudgedQuery]:
    rows = json.loads((QUALITY_DIR / "queries.json").read_text(encoding="utf-8"))
    return [JudgedQuery(q=row["q"], lang=row["lang"], want=row["want"], ci=row.get("ci", False)) for row in rows]


def import_english_papers() -> list[int]:
    """Store the English-only papers (idempotent); their ids."""
    records = english_papers()
    store_records(records)
    return list(Paper.objects.filter(arxiv_id__in=[r.arxiv_id for r in records]).values_list("pk", flat=True))


@dataclass
class Figures:
    """recall@5, recall@10 and MRR over a group of queries."""

    ranks: list[int | None] = field(default_factory=list)  # 1-based rank of the wanted paper, None: not in DEPTH

    def add(self, rank: int | None) -> None:
        self.ranks.append(rank)

    def recall(self, k: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= k) / len(self.ranks) if self.ranks else 0.0

    @property
    def mrr(self) -> float:
        return sum(1 / r for r in self.ranks if r is not None) / len(self.ranks) if self.ranks else 0.0


@dataclass
class Report:
    """Figures by (group, ranking): group is a query language, a kind (same-language,
    cross-lingual), a language and kind ("ko cross-lingual") or "all"; ranking is "fused" or a
    list name. misses: the queries whose wanted paper the fused ranking left out of the top 5."""

    figures: dict[tuple[str, str], Figures] = field(default_factory=lambda: defaultdict(Figures))
    misses: list[tuple[JudgedQuery, int | None]] = field(default_factory=list)

    def get(self, group: str, ranking: str = "fused") -> Figures:
        return self.figures[(group, ranking)]


def kind_of(query: JudgedQuery, paper_id: int) -> str:
    langs = set(PaperText.objects.filter(paper_id=paper_id).values_list("lang", flat=True))
    langs |= set(Commentary.objects.filter(papers=paper_id).values_list("lang", flat=True))
    return "same-language" if query.lang in langs else "cross-lingual"


def wanted_paper(query: JudgedQuery) -> int:
    paper = Paper.objects.filter(Q(arxiv_id=query.want) | Q(title=query.want)).values_list("pk", flat=True).first()
    if paper is None:
        raise LookupError(f"the quality set wants a paper that is not loaded: {query.want!r} (query {query.q!r})")
    return paper


def evaluate(queries: list[JudgedQuery], **filters) -> Report:
    """Run each query through search_papers() and rank its wanted paper in the fused ranking
    and in each candidate list."""
    report = Report()
    for query in queries:
        paper_id = wanted_paper(query)
        kind = kind_of(query, paper_id)
        results = search_papers(q=query.q, k=DEPTH, **filters)
        fused = [hit.paper.pk for hit in results]
        rankings = {"fused": fused, **{name: results.lists.get(name, []) for name in LIST_NAMES}}
        for ranking, ids in rankings.items():
            rank = ids.index(paper_id) + 1 if paper_id in ids else None
            for group in ("all", query.lang, kind, f"{query.lang} {kind}"):
                report.figures[(group, ranking)].add(rank)
        fused_rank = fused.index(paper_id) + 1 if paper_id in fused else None
        if fused_rank is None or fused_rank > 5:
            report.misses.append((query, fused_rank))
    return report

