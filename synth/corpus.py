"""A topic's corpus: which paper texts and commentaries go in, and their token counts."""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass

from django.core.cache import cache
from django.db.models import Q

from config.cache import new_generation_on_commit
from papers.languages import CJK, CJK_RANGES
from papers.models import Commentary, Paper, PaperText
from synth.models import CorpusDocument, Topic

# One estimate everywhere (sources, synthetic texts, budgets), so ratios compare like with
# like: a CJK character or a short word is one token, a long word one per six letters.
_TOKEN_RE = re.compile(f"[{CJK_RANGES}]|[^\\W_]+|[^\\w\\s]")


def count_tokens(text: str) -> int:
    total = 0
    for match in _TOKEN_RE.finditer(text):
        piece = match.group()
        if len(piece) == 1 or CJK.match(piece):
            total += 1
        else:
            # A word mixing scripts (e.g. "LLM을") still splits at the CJK boundary above.
            total += 1 + (len(piece) - 1) // 6
    return total


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Document:
    key: str
    paper_id: int | None
    title: str
    kind: str
    lang: str
    text: str

    @property
    def content_hash(self) -> str:
        return content_hash(f"{self.title}\n\n{self.text}")

    @property
    def tokens(self) -> int:
        return count_tokens(self.text)


def topic_papers(topic: Topic):
    tag_ids = list(topic.tags.values_list("pk", flat=True))
    paper_ids = list(topic.papers.values_list("pk", flat=True))
    return Paper.objects.filter(Q(tags__in=tag_ids) | Q(pk__in=paper_ids)).distinct().order_by("pk")


def topic_documents(topic: Topic) -> list[Document]:
    """The topic's source texts in a stable order: each paper's texts, then the commentaries."""
    papers = list(topic_papers(topic))
    if not papers or not topic.languages:
        return []
    titles = {p.pk: p.title for p in papers}
    kinds = [k for k, on in ((PaperText.Kind.ABSTRACT, topic.include_abstracts),
                             (PaperText.Kind.SUMMARY, topic.include_summaries)) if on]
    docs = [
        Document(key=f"paper:{t.paper_id}:{t.kind}:{t.lang}", paper_id=t.paper_id, title=titles[t.paper_id],
                 kind=t.kind, lang=t.lang, text=t.body.strip())
        for t in PaperText.objects.filter(paper__in=papers, kind__in=kinds, lang__in=topic.languages)
        .order_by("paper_id", "kind", "lang")
        if t.body.strip()
    ]
    if topic.include_commentary:
        commentaries = (Commentary.objects.filter(papers__in=papers, lang__in=topic.languages)
                        .distinct().order_by("pk").prefetch_related("papers"))
        for c in commentaries:
            if not c.body.strip():
                continue
            linked = [p for p in c.papers.all() if p.pk in titles]
            docs.append(Document(
                key=f"commentary:{c.pk}", paper_id=linked[0].pk if len(linked) == 1 else None,
                title=f"{c.author}: {'; '.join(p.title for p in linked)}"[:500],
                kind=CorpusDocument.Kind.COMMENTARY, lang=c.lang, text=c.body.strip(),
            ))
    return docs


# The topic page's table of documents is cached: building it reads and counts every text of
# the topic, and the page is public. Any write to texts, papers, commentary or a topic's choice
# of them starts a new generation (synth.apps connects the signals); bulk writes that send no
# signal are caught up by the expiry.
OVERVIEW_SECONDS = 600
_OVERVIEW_GENERATION = "synth:topic-overview:generation"


def topic_overview(topic: Topic) -> list[dict]:
    """What the topic page lists of each document (paper_id, title, kind, lang, tokens)."""
    generation = cache.get_or_set(_OVERVIEW_GENERATION, lambda: uuid.uuid4().hex, timeout=None)
    key = f"synth:topic-overview:{topic.pk}:{topic.modified_at.timestamp()}:{generation}"
    rows = cache.get(key)
    if rows is None:
        rows = [
            {"paper_id": d.paper_id, "title": d.title, "kind": d.kind, "lang": d.lang, "tokens": d.tokens}
            for d in topic_documents(topic)
        ]
        cache.set(key, rows, OVERVIEW_SECONDS)
    return rows


def forget_topic_overviews() -> None:
    """Every topic page's table is built again on its next view, once the write commits (a
    table built from the rows before it was kept under the generation read before building)."""
    new_generation_on_commit(_OVERVIEW_GENERATION)


def snapshot_corpus(run) -> list[CorpusDocument]:
    """Copy the topic's documents into the run once; a resumed run keeps its first copy."""
    existing = list(run.documents.all())
    if existing:
        return existing
    rows = [
        CorpusDocument(run=run, key=d.key, paper_id=d.paper_id, title=d.title[:500], kind=d.kind, lang=d.lang,
                       text=d.text, content_hash=d.content_hash, tokens=d.tokens, position=i)
        for i, d in enumerate(topic_documents(run.topic))
    ]
    CorpusDocument.objects.bulk_create(rows, ignore_conflicts=True)
    return list(run.documents.all())
