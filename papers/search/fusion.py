"""Reciprocal rank fusion (RRF): one ranking from several ranked lists, by rank alone, so
lists whose scores are not comparable (cosine distances, word weights) fuse fairly."""

from __future__ import annotations

RRF_K = 60  # the usual RRF constant: a paper's weight falls slowly with its rank in each list


def fuse(lists: dict[str, list[int]], *, k: int) -> list[tuple[int, float]]:
    """The k best (paper id, score) over the lists, best first: a paper scores 1 / (RRF_K + rank)
    in each list that holds it. Higher is better; equal scores go by paper id."""
    scores: dict[int, float] = {}
    for ranked in lists.values():
        for rank, paper_id in enumerate(ranked, start=1):
            scores[paper_id] = scores.get(paper_id, 0.0) + 1.0 / (RRF_K + rank)
    best = sorted(scores, key=lambda pid: (-scores[pid], pid))[:k]
    return [(paper_id, scores[paper_id]) for paper_id in best]
