"""Putting vector distances to texts of different languages and kinds on one scale.

multilingual-e5 places a query nearer to every text in its own language than to a better
match in another (a Korean description of an English-only paper ranks every Korean summary
above it), and nearer to texts of one kind (short titles) than another (long abstracts). The
offset is about the query's similarity to the mean vector of that language and kind, so the
vector list adds it to each distance: distance to the text minus distance to its group's mean.
Measured with bench/search_quality.py (README, "Search").
"""

from __future__ import annotations

import numpy as np

from papers import embeddings

# A kind with few texts in a language leans on the whole language's mean: its own mean would
# be mostly those few texts, which every query would then find "average".
SHRINK_ROWS = 5


class Calibration:
    """The offsets for one query vector, by (language, kind)."""

    def __init__(self, query: np.ndarray):
        self._query = np.asarray(query, dtype=np.float32)
        self._means = _group_means(embeddings.text_centroids())
        self.langs = sorted({lang for lang, _ in self._means})  # the languages that have vectors
        self._offsets: dict[tuple[str, str], float] = {}

    def offset(self, lang: str, kind: str) -> float:
        """Added to the cosine distance of the query to a text of this language and kind."""
        group = (lang, kind)
        if group not in self._offsets:
            mean = self._means.get(group)
            self._offsets[group] = float(self._query @ mean) if mean is not None else 0.0
        return self._offsets[group]


def _group_means(centroids: dict[tuple[str, str], embeddings.Centroid]) -> dict[tuple[str, str], np.ndarray]:
    sums: dict[str, np.ndarray] = {}
    rows: dict[str, int] = {}
    for (lang, _), centroid in centroids.items():
        sums[lang] = sums.get(lang, 0) + centroid.vector * centroid.rows
        rows[lang] = rows.get(lang, 0) + centroid.rows
    return {
        (lang, kind): (c.vector * c.rows + sums[lang] / rows[lang] * SHRINK_ROWS) / (c.rows + SHRINK_ROWS)
        for (lang, kind), c in centroids.items()
    }
