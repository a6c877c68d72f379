"""Open-book questions for a training run's RAG rows: each evaluation question with the
passages of the topic's papers that papers.search.search_passages() retrieves for it, so the
same questions are scored closed-book and open-book, for the base and the trained model."""

from __future__ import annotations

from dataclasses import replace

from papers.models import Passage
from papers.search.passages import search_passages
from synth.corpus import topic_papers
from synth.cpt.evaluate import Question
from synth.models import Topic

RAG_PASSAGES = 3  # passages put before each question
RAG_CONTEXT_CHARS = 1500  # the model scores options after at most this much context (tiny models have short windows)


def with_passages(topic: Topic, questions: list[Question]) -> list[Question]:
    """The questions, each with its retrieved passages as context ("" when none was found)."""
    paper_ids = list(topic_papers(topic).values_list("pk", flat=True))
    if not Passage.objects.filter(paper_id__in=paper_ids).exists():
        return questions  # not cut into passages yet (the embed step does it): closed-book only
    out = []
    for question in questions:
        hits = search_passages(q=question.question, k=RAG_PASSAGES, paper_ids=paper_ids).hits
        out.append(replace(question, context="\n\n".join(hit.body for hit in hits)[:RAG_CONTEXT_CHARS]))
    return out
