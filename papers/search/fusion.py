"""Reciprocal rank fusion (RRF): one ranking from several ranked lists, by rank alone, so
lists whose scores are not comparable (cosine distances, word weights) fuse fairly."""

from __future__ import annotations

import re

from papers.languages import CJK

RRF_K = 60  # the usual RRF constant: a paper's weight falls slowly with its rank in each list
_LATIN = re.compile(r"[A-Za-z0-9]")


def fuse(lists: dict[str, list[int]], *, k: int, weights: dict[str, float] | None = None) -> list[tuple[int, float]]:
    """The k best (id, score) over the lists, best first: an id scores weight / (RRF_K + rank)
    in each list that holds it (weight 1 unless given). Higher is better; equal scores go by id."""
    weights = weights or {}
    scores: dict[int, float] = {}
    for name, ranked in lists.items():
        weight = weights.get(name, 1.0)
        for rank, item in enumerate(ranked, start=1):
            scores[item] = scores.get(item, 0.0) + weight / (RRF_K + rank)
    best = sorted(scores, key=lambda item: (-scores[item], item))[:k]
    return [(item, scores[item]) for item in best]


def list_weights(q: str) -> dict[str, float]:
    """How much each word list counts for q: the share of the query's characters it can match
    (English words: Latin letters and digits; pieces: Korean and Chinese characters). The
    vector list reads the whole query and counts fully. Korean ML writing keeps English terms
    (멀티모달 LLM 평가): at full weight the English list, matching "LLM" alone, would rank any
    English text that says LLM beside the papers the whole query describes."""
    cjk, latin = len(CJK.findall(q)), len(_LATIN.findall(q))
    if not cjk + latin:
        return {}
    return {"words": latin / (cjk + latin), "pieces": cjk / (cjk + latin)}
