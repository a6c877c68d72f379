"""Cutting a paper's texts into passages an answer can cite, and keeping them current.

A passage is a few whole sentences of one summary, abstract or commentary (titles say too
little to cite). update_passages() is idempotent: a text whose words did not change keeps its
passages (and their ids, which stored answers link to); a changed text is cut again; a
passage is embedded again only when it is new or the embeddings model changed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Q

from papers import embeddings
from papers.models import Paper, Passage, PaperText

PASSAGE_CHARS = 600  # a passage ends at the sentence that takes it past this many characters
# A sentence ends at . ! ? (and their full-width forms) followed by a space or the end; Korean
# and Chinese writers often put no space after 。！？, so those end a sentence by themselves.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|(?<=[。！？])\s*")
CITED_TEXT_KINDS = (PaperText.Kind.SUMMARY, PaperText.Kind.ABSTRACT)  # titles say too little to cite
CITED_KINDS = (*CITED_TEXT_KINDS, "commentary")


def split_passages(body: str, *, max_chars: int = PASSAGE_CHARS) -> list[str]:
    """The text as passages of whole sentences, each at most about max_chars long (a single
    longer sentence is cut at max_chars)."""
    passages: list[str] = []
    current = ""
    for paragraph in re.split(r"\n\s*\n", body or ""):
        for sentence in _SENTENCE_END.split(" ".join(paragraph.split())):
            sentence = sentence.strip()
            while len(sentence) > max_chars:
                if current:
                    passages.append(current)
                    current = ""
                passages.append(sentence[:max_chars])
                sentence = sentence[max_chars:].strip()
            if not sentence:
                continue
            if current and len(current) + 1 + len(sentence) > max_chars:
                passages.append(current)
                current = ""
            current = f"{current} {sentence}".strip() if current else sentence
        if current:  # a paragraph break ends a passage
            passages.append(current)
            current = ""
    return passages


@dataclass
class PassageReport:
    created: int = 0
    removed: int = 0
    embedded: int = 0

    def line(self) -> str:
        return f"passages: {self.created} new, {self.removed} removed, {self.embedded} embedded"


def _sources(paper: Paper) -> dict[tuple, embeddings.SearchableText]:
    return {item.key: item for item in embeddings.searchable_texts(paper) if item.kind in CITED_KINDS}


def update_passages(paper: Paper) -> PassageReport:
    """Cut the paper's changed texts again and embed the passages that need it."""
    report = PassageReport()
    with transaction.atomic():
        # Two workers on one paper queue up here; the second finds nothing to do.
        Paper.objects.select_for_update().filter(pk=paper.pk).first()
        sources = _sources(paper)
        current: dict[tuple, list[Passage]] = {}
        for passage in paper.passages.all():
            current.setdefault(embeddings.source_key(passage), []).append(passage)
        stale = [p.pk for key, group in current.items() for p in group
                 if key not in sources or p.source_hash != sources[key].hash]
        if stale:
            report.removed = Passage.objects.filter(pk__in=stale).delete()[0]
        fresh = [
            Passage(paper=paper, **{f"{key[0]}_id": key[1]}, lang=source.lang, kind=source.kind,
                    position=position, body=body, source_hash=source.hash)
            for key, source in sources.items()
            if key not in current or any(p.pk in stale for p in current[key])
            for position, body in enumerate(split_passages(source.body))
        ]
        Passage.objects.bulk_create(fresh)
        report.created = len(fresh)
    report.embedded = embed_passages(paper)
    return report


def papers_without_passages() -> list[int]:
    """Papers whose embed step ran (by an older version) yet have texts to cite and no passages."""
    cited = Paper.objects.filter(Q(texts__kind__in=CITED_TEXT_KINDS) | Q(commentaries__isnull=False))
    return sorted(set(cited.filter(enrichment_steps__step="embed", passages__isnull=True).values_list("pk", flat=True)))


def embed_passages(paper: Paper) -> int:
    """Vectors for the paper's passages that have none of the current model."""
    model = embeddings.model_name()
    todo = list(paper.passages.exclude(model=model).only("pk", "body")) + list(
        paper.passages.filter(model=model, vector__isnull=True).only("pk", "body"))
    if not todo:
        return 0
    vectors = embeddings.embed_passages([p.body for p in todo])
    for passage, vector in zip(todo, vectors):
        passage.vector, passage.model = vector, model
    Passage.objects.bulk_update(todo, ["vector", "model"])
    return len(todo)
