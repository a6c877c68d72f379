"""What a query is made of: its normal form, its words, and its Korean and Chinese pieces."""

from __future__ import annotations

import re
import unicodedata

from papers.languages import CJK_RUN

MAX_TERMS = 32  # words of a query used for full-text search and highlighting

_WORD = re.compile(r"\w+")
# Not worth a highlight; full-text search drops them anyway.
_STOPWORDS = frozenset("a an and are as at be by for from in into is it of on or the to via with".split())


def normalize_query(q: str) -> str:
    """NFKC (full-width letters and digits become ASCII), one space between words."""
    return " ".join(unicodedata.normalize("NFKC", q or "").split())


def query_terms(q: str) -> list[str]:
    """The query's distinct words, case-folded, in order, without stopwords: at most MAX_TERMS."""
    seen: dict[str, None] = {}
    for word in _WORD.findall(q.casefold()):
        if word not in _STOPWORDS:
            seen.setdefault(word, None)
    return list(seen)[:MAX_TERMS]


def cjk_bigrams(text: str) -> list[str]:
    """The distinct two-character pieces of each run of Hangul, Han or kana in text (a run of
    one character as itself), in order: what the SQL function cjk_bigrams() indexes."""
    seen: dict[str, None] = {}
    for run in CJK_RUN.findall(text):
        for i in range(max(len(run) - 1, 1)):
            seen.setdefault(run[i:i + 2], None)
    return list(seen)
