"""Rows the tests build by hand, shared by every test package (the seed import builds the rest)."""

from __future__ import annotations

import datetime as dt


def make_paper(*, title: str, published: dt.date | None, tags: list, texts: dict[str, dict[str, str]], arxiv_id: str = ""):
    """A paper with its tags and texts, given as {lang: {kind: body}}."""
    from papers.models import Paper, PaperText

    paper = Paper.objects.create(title=title, published=published, arxiv_id=arxiv_id)
    paper.tags.set(tags)
    for lang, kinds in texts.items():
        for kind, body in kinds.items():
            PaperText.objects.create(paper=paper, lang=lang, kind=kind, body=body)
    return paper
