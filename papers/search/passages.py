"""Passages for a question, ranked the way search_papers() ranks papers: the question's
meaning (pgvector HNSW over Passage vectors), its English words (full-text search) and its
Korean and Chinese two-character pieces, fused by reciprocal rank fusion. papers.ask cites
what this returns, and nothing else.

Each hit also says how well it matched (its cosine distance, the share of the question's
words it holds), so the caller can tell "the best passages" from "passages that answer".
The word SQL repeats the expressions of the GIN indexes of migration papers/0006 exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from django.db import connection
from pgvector.django import CosineDistance

from papers import embeddings
from papers.languages import is_cjk
from papers.models import Passage
from papers.search.fusion import fuse, list_weights
from papers.search.lists import CANDIDATES, MIN_PIECE_SHARE, ROWS_PER_TERM
from papers.search.query import MAX_TERMS, cjk_bigrams, normalize_query, query_terms
from papers.search.vector import start_query_vector

_ENGLISH_MATCH = ("p.lang = 'en' AND "
                  "to_tsvector('english'::regconfig, p.body) @@ plainto_tsquery('english'::regconfig, terms.term)")
_CJK_MATCH = "p.lang IN ('ko', 'zh') AND cjk_bigrams(p.body) @> ARRAY[terms.term]"


@dataclass(frozen=True)
class PassageHit:
    id: int
    paper_id: int
    lang: str
    kind: str
    body: str
    score: float  # RRF score, higher is better
    distance: float | None  # cosine distance to the question; None when not among the nearest
    word_share: float  # the share of the question's words (or Korean/Chinese pieces) it holds


@dataclass
class PassageResults:
    hits: list[PassageHit] = field(default_factory=list)
    semantic: bool = True  # False: the embeddings backend failed, words only


def search_passages(*, q: str, k: int = 8, drop_terms: frozenset[str] = frozenset(),
                    paper_ids: list[int] | None = None) -> PassageResults:
    """The k best passages for q. drop_terms: words that say nothing about the subject
    ("which", "papers"), left out of the word lists; paper_ids: only these papers' passages."""
    q = normalize_query(q)
    if not q:
        return PassageResults()
    query_vector = start_query_vector(q)
    words = [t for t in query_terms(q) if not is_cjk(t) and t not in drop_terms]
    pieces = cjk_bigrams(" ".join(t for t in query_terms(q) if t not in drop_terms))[: MAX_TERMS * 2]
    shares: dict[int, float] = {}
    lists = {
        "words": _passages_by_terms(words, _ENGLISH_MATCH, shares, min_terms=1, paper_ids=paper_ids),
        "pieces": _passages_by_terms(pieces, _CJK_MATCH, shares, min_terms=math.ceil(MIN_PIECE_SHARE * len(pieces)),
                                     paper_ids=paper_ids),
    }
    vector = query_vector.wait()
    distances: dict[int, float] = {}
    if vector is not None:
        candidates = Passage.objects.filter(model=embeddings.model_name(), vector__isnull=False)
        if paper_ids is not None:
            candidates = candidates.filter(paper_id__in=paper_ids)
        nearest = (candidates
                   .annotate(distance=CosineDistance("vector", vector)).order_by("distance")
                   .values_list("pk", "distance")[:CANDIDATES])
        distances = dict(nearest)
        lists["meaning"] = list(distances)
    ranked = fuse(lists, k=k, weights=list_weights(q))
    rows = {row[0]: row for row in Passage.objects.filter(pk__in=[pk for pk, _ in ranked])
            .values_list("pk", "paper_id", "lang", "kind", "body")}
    hits = [
        PassageHit(id=pk, paper_id=rows[pk][1], lang=rows[pk][2], kind=rows[pk][3], body=rows[pk][4], score=score,
                   distance=distances.get(pk), word_share=shares.get(pk, 0.0))
        for pk, score in ranked if pk in rows
    ]
    return PassageResults(hits=hits, semantic=vector is not None)


def _passages_by_terms(terms: list[str], match: str, shares: dict[int, float], *, min_terms: int,
                       paper_ids: list[int] | None) -> list[int]:
    """Passages holding at least min_terms of the terms, best first: each term weighs by its
    rarity among the matches. Records in `shares` the share of the terms each one holds."""
    if not terms:
        return []
    scope, scope_params = (" AND p.paper_id = ANY(%s)", [paper_ids]) if paper_ids is not None else ("", [])
    sql = f"""
        WITH hits AS (
            SELECT terms.term, m.id FROM unnest(%s::text[]) AS terms(term) CROSS JOIN LATERAL (
                SELECT p.id FROM {Passage._meta.db_table} p WHERE {match}{scope} LIMIT %s
            ) m
        ),
        df AS (SELECT term, count(*)::float AS n FROM hits GROUP BY term)
        SELECT hits.id, sum(ln(1 + (SELECT max(n) FROM df) / df.n)) AS score, count(*) AS held
        FROM hits JOIN df USING (term)
        GROUP BY hits.id HAVING count(*) >= %s ORDER BY score DESC, hits.id LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [terms, *scope_params, ROWS_PER_TERM, max(1, min_terms), CANDIDATES])
        rows = cursor.fetchall()
    for pk, _, held in rows:
        shares[pk] = max(shares.get(pk, 0.0), held / len(terms))
    return [pk for pk, _, _ in rows]
