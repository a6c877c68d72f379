"""The three ranked lists a query builds, each of paper ids, best first, limited to the
filters' scope (the vector list also names the language of each paper's nearest text):
- meaning: pgvector HNSW (cosine) over the Embedding rows of the current model, each text
  language on its own, distances calibrated across languages and kinds (calibration.py). Filters
  stay correct because the connection turns on hnsw.iterative_scan (config/settings.py);
  filters kept as ids compare the query with each of their papers' vectors instead (exact.py).
- words, English: PostgreSQL full-text search ('english') over English texts and commentary,
  each word weighted by its rarity.
- words, Korean and Chinese: the query's two-character pieces (bigrams) over ko/zh texts and
  commentary, weighted the same way. PostgreSQL has no text-search configuration for them;
  bigrams need no dictionary or word breaks, and survive particles (데이터로/데이터를).
Both word lists leave out the query's common words (in over COMMON_SHARE of the texts, by the
statistics ANALYZE keeps) while it has rarer ones.
The SQL below repeats the expressions and WHERE clauses of the GIN indexes made by
migrations papers/0002 and 0003 exactly, or the planner cannot use them.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from django.db import connection

from papers import embeddings
from papers.languages import CONTENT_LANGS, is_cjk, script_lang
from papers.models import Commentary, Embedding, PaperText
from papers.search.calibration import Calibration
from papers.search.exact import nearest_rows
from papers.search.query import MAX_TERMS, cjk_bigrams, query_terms
from papers.search.scope import Scope, scope_sql

CANDIDATES = 50  # papers taken from each list before fusion
VECTOR_ROWS = 200  # nearest Embedding rows of each language read to find CANDIDATES papers (a paper has up to ~10 texts)
# Commentary is weaker evidence than a paper's own texts, and a long essay, averaged over many
# windows, sits near every query in its language (the seed corpus' one Chinese text is such an
# essay: without this, every Chinese query ranked its paper first). Added to cosine distance.
COMMENTARY_PENALTY = 0.05
ROWS_PER_TERM = 300  # bounds the work for a word (or Korean/Chinese piece) many texts contain
# A paper must hold at least this share of a Korean/Chinese query's two-character pieces: one
# common piece (生成, "generation") is no match for 检索增强生成 ("retrieval-augmented generation").
MIN_PIECE_SHARE = 0.5
CJK_LANGS = ("ko", "zh")  # the languages of the bigram list; English has the full-text list


def nearest_papers(vector: np.ndarray, *, lang: str, scope: Scope | None) -> dict[int, str]:
    """The papers whose texts (in lang, if given) lie nearest to the query vector, best first,
    each with the language of its nearest text; texts of every language and kind compared on
    one scale (calibration.py). Each language that has vectors is read on its own: one walk
    over all rows would return, for a Korean query, Korean texts only, however much better an
    English abstract matches."""
    calibration = Calibration(vector)
    langs = [code for code in ([lang] if lang else CONTENT_LANGS) if code in calibration.langs]
    if not langs:
        return {}
    if scope is not None and scope.exact:
        rows = nearest_rows(vector, scope, langs=langs, per_lang=VECTOR_ROWS)
    else:
        sql, params = nearest_sql(vector, langs=langs, scope=scope)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    nearest = nearest_by_paper((paper_id, kind, code, distance + calibration.offset(code, kind))
                               for paper_id, kind, code, distance in rows)
    return {pid: nearest[pid][1] for pid in sorted(nearest, key=lambda pid: (nearest[pid][0], pid))[:CANDIDATES]}


def nearest_by_paper(rows) -> dict[int, tuple[float, str]]:
    """Each paper's smallest distance over its (paper_id, kind, lang, distance) rows, with the
    language of that text; commentary counts COMMENTARY_PENALTY further. relaxed_order
    iterative scans may return rows slightly out of order, so the minimum is taken rather
    than the first row seen."""
    nearest: dict[int, tuple[float, str]] = {}
    for paper_id, kind, lang, distance in rows:
        distance += COMMENTARY_PENALTY if kind == "commentary" else 0.0
        if paper_id not in nearest or distance < nearest[paper_id][0]:
            nearest[paper_id] = (distance, lang)
    return nearest


def nearest_sql(vector: np.ndarray, *, langs: list[str] = CONTENT_LANGS, scope: Scope | None = None) -> tuple[str, list]:
    """The vector list's query: the VECTOR_ROWS nearest rows of each language, one HNSW walk
    each (bench/search.py checks its plan uses the HNSW index)."""
    literal = "[" + ",".join(f"{x:.7g}" for x in np.asarray(vector, dtype=np.float32)) + "]"
    where_scope, scope_params = scope_sql(scope, "paper_id")
    branch = (f"(SELECT paper_id, kind, lang, vector <=> %s::vector AS distance FROM {Embedding._meta.db_table} "
              f"WHERE model = %s AND lang = %s{where_scope} ORDER BY vector <=> %s::vector LIMIT %s)")
    params: list = []
    for code in langs:
        params += [literal, embeddings.model_name(), code, *scope_params, literal, VECTOR_ROWS]
    return " UNION ALL ".join([branch] * len(langs)), params


# How a word list finds the texts holding one term (terms.term). Each repeats the expression
# and predicate of its GIN indexes (migrations 0002 and 0003) exactly; {t} is the table alias.
_ENGLISH_MATCH = ("{t}.lang = 'en' AND "
                  "to_tsvector('english'::regconfig, {t}.body) @@ plainto_tsquery('english'::regconfig, terms.term)")
# "lang IN ('ko', 'zh')" is the partial indexes' predicate; the narrower lang test follows it.
_CJK_MATCH = "{t}.lang IN ('ko', 'zh') AND {t}.lang = ANY(%s) AND cjk_bigrams({t}.body) @> ARRAY[terms.term]"


@dataclass(frozen=True)
class WordIndex:
    """A word list's GIN index: how a term is matched, and how a term is spelled among the
    index's elements (the English list indexes stemmed lexemes)."""

    name: str
    match: str
    element: str  # SQL for the term as the index stores it


ENGLISH_WORDS = WordIndex("papertext_fts_en", _ENGLISH_MATCH,
                    "array_to_string(tsvector_to_array(to_tsvector('english'::regconfig, asked.term)), ' ')")
CJK_PIECES = WordIndex("papertext_bigrams_cjk", _CJK_MATCH, "asked.term")

# A term in more than this share of a list's texts (model, language, 모델) tells little about
# any one paper, and reading its posting list costs in proportion to the corpus (bench/search.py).
# Such terms are left out of a list while the query has rarer ones.
COMMON_SHARE = 0.05
# Below this many indexed texts every posting list is short; and autovacuum gathers a small
# table's statistics at unpredictable moments, which must not move a ranking.
COMMON_MIN_ROWS = 10_000
COMMON_SECONDS = 600  # how long a process trusts the statistics it read
_common: dict[str, tuple[float, list[str]]] = {}


def common_terms(index: WordIndex) -> list[str]:
    """The index's elements in more than COMMON_SHARE of its texts, from the statistics ANALYZE
    keeps for it (PostgreSQL samples the most common elements of an indexed tsvector or array)."""
    kept = _common.get(index.name)
    if kept is not None and kept[0] > time.monotonic():
        return kept[1]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT s.most_common_elems::text::text[], s.most_common_elem_freqs, c.reltuples FROM pg_stats s "
            "JOIN pg_class c ON c.relname = s.tablename WHERE s.tablename = %s", [index.name])
        row = cursor.fetchone()
    common = []
    if row is not None and row[0] and row[2] >= COMMON_MIN_ROWS:
        common = [element for element, share in zip(row[0], row[1]) if share > COMMON_SHARE]
    _common[index.name] = (time.monotonic() + COMMON_SECONDS, common)
    return common


def fulltext_papers(q: str, *, scope: Scope | None) -> list[int]:
    """Papers whose English texts hold the query's words (PostgreSQL full-text search)."""
    return _papers_by_terms([t for t in query_terms(q) if not is_cjk(t)], ENGLISH_WORDS, [], scope=scope)


def bigram_papers(q: str, *, lang: str, scope: Scope | None) -> list[int]:
    """Papers whose Korean or Chinese texts hold the query's two-character pieces. Only the
    query's Korean and Chinese words count: English words inside ko/zh texts (RAG, Retriever)
    would otherwise outrank the English texts that full-text search finds."""
    langs = [lang] if lang else list(CJK_LANGS)
    pieces = cjk_bigrams(q)[:MAX_TERMS * 2]
    return _papers_by_terms(pieces, CJK_PIECES, [langs], scope=scope, min_share=MIN_PIECE_SHARE)


def cjk_lang(q: str) -> str:
    """The language of the texts the bigram list matched for q: its pieces are Korean when
    it has Hangul, else Chinese."""
    return "ko" if script_lang(q) == "ko" else "zh"


def _papers_by_terms(terms: list[str], index: WordIndex, match_params: list, *, scope: Scope | None,
                     min_share: float = 0.0) -> list[int]:
    """Papers holding any of the terms (OR), common ones left out while there are others
    (common_terms). Each term is found through the index on its own and weighs by its rarity
    among the matches (an idf), times how many of the paper's texts hold it; ts_rank would
    re-parse every matching text. At most ROWS_PER_TERM rows per term are read, before the
    filters, so a filter never makes a term scan the table. A paper must hold min_share of
    the terms searched (at least one)."""
    if not terms:
        return []
    where_scope, scope_params = scope_sql(scope, "m.paper_id")
    common = common_terms(index)
    sql = f"""
        WITH asked AS (SELECT asked.term, {index.element} AS element FROM unnest(%s::text[]) AS asked(term)),
        terms AS (
            SELECT term FROM asked
            WHERE element <> ALL(%s::text[]) OR NOT EXISTS (SELECT FROM asked WHERE element <> ALL(%s::text[]))
        ),
        hits AS (
            SELECT terms.term, m.paper_id FROM terms CROSS JOIN LATERAL (
                SELECT t.paper_id FROM {PaperText._meta.db_table} t
                WHERE {index.match.format(t="t")}
                UNION ALL
                SELECT cp.paper_id FROM {Commentary._meta.db_table} c
                JOIN {Commentary.papers.through._meta.db_table} cp ON cp.commentary_id = c.id
                WHERE {index.match.format(t="c")}
                LIMIT %s
            ) m
            WHERE true{where_scope}
        ),
        df AS (SELECT term, count(*)::float AS n FROM hits GROUP BY term),
        tf AS (SELECT term, paper_id, count(*) AS n FROM hits GROUP BY term, paper_id)
        SELECT tf.paper_id, sum(ln(1 + (SELECT max(n) FROM df) / df.n) * ln(1 + tf.n)) AS score
        FROM tf JOIN df USING (term)
        GROUP BY tf.paper_id HAVING count(*) >= greatest(1, ceil(%s * (SELECT count(*) FROM terms)))
        ORDER BY score DESC, tf.paper_id LIMIT %s
    """
    params = [terms, common, common, *match_params, *match_params, ROWS_PER_TERM, *scope_params, min_share, CANDIDATES]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [row[0] for row in cursor.fetchall()]
