"""A paper page's related papers: the nearest neighbours of the paper's own vectors."""

from __future__ import annotations

import numpy as np
from pgvector.django import CosineDistance

from papers import embeddings
from papers.models import Embedding, Paper
from papers.search.hits import RelatedPaper, papers_for_display, title_for
from papers.search.lists import nearest_by_paper


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
        .values_list("paper_id", "kind", "lang", "distance")[: k * 10]
    )
    nearest = {pid: distance for pid, (distance, _) in nearest_by_paper(rows).items()}
    ids = sorted(nearest, key=lambda pid: (nearest[pid], pid))[:k]
    shown = papers_for_display(ids)
    related = []
    for paper_id in ids:
        item = shown[paper_id]
        title, title_lang = title_for(item, reader_lang)
        related.append(RelatedPaper(paper=item.paper, title=title, title_lang=title_lang, date=item.paper.day,
                                    similarity=1.0 - nearest[paper_id]))
    return related
