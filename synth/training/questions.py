"""The closed-book question set of a topic: written by the LLM from the topic's source
documents (through papers.llm), stored as EvalQuestion rows that editors fix in the admin."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from django.conf import settings
from django.db import IntegrityError, transaction

from papers import llm
from synth.corpus import topic_documents
from synth.models import EvalQuestion, Topic

log = logging.getLogger(__name__)

OPTIONS = 4

SYSTEM = (
    "You write closed-book multiple-choice questions that test whether a reader learned the facts of a "
    "document. Each question must make sense without the document at hand: name the paper, method or "
    "dataset instead of saying 'the document' or 'this paper'. Give exactly four short options, one of "
    "them right and three plausible but wrong, and the 0-based index of the right one. Write in English."
)


def _schema(n: int) -> dict:
    question = {
        "type": "object",
        "properties": {
            "question": {"type": "string", "minLength": 10},
            "options": {"type": "array", "minItems": OPTIONS, "maxItems": OPTIONS,
                        "items": {"type": "string", "minLength": 1}},
            "answer": {"type": "integer"},
        },
        "required": ["question", "options", "answer"],
    }
    return {"type": "object", "properties": {"questions": {"type": "array", "minItems": 1, "maxItems": n,
                                                           "items": question}},
            "required": ["questions"]}


@dataclass
class Report:
    created: int = 0
    skipped: int = 0  # invalid answer index, duplicate options or an existing question
    errors: list[str] = field(default_factory=list)


def generate_questions(topic: Topic, *, per_document: int | None = None) -> Report:
    """Ask the LLM for questions about each source document of the topic. Safe to run again:
    a question already stored for the topic is skipped, and replies are cached by the gateway."""
    n = per_document or settings.CPT_QUESTIONS_PER_DOCUMENT
    report = Report()
    for doc in topic_documents(topic):
        # The document comes first, so providers can reuse the prompt prefix across calls.
        user = f"Title: {doc.title}\n\n{doc.text}\n\nWrite {n} questions about this document."
        try:
            reply = llm.complete_json(task_kind="eval_questions", system=SYSTEM, user=user, schema=_schema(n),
                                      max_tokens=300 * n)
        except llm.LLMError as e:
            report.errors.append(f"{doc.title[:60]}: {e}")
            continue
        for item in reply["questions"]:
            options = [o.strip() for o in item["options"]]
            if not 0 <= item["answer"] < len(options) or len(set(options)) < len(options):
                report.skipped += 1
                continue
            try:
                with transaction.atomic():
                    EvalQuestion.objects.create(
                        topic=topic, question=item["question"].strip(), options=options, answer=item["answer"],
                        source_key=doc.key, source_title=doc.title[:500], origin=EvalQuestion.Origin.LLM,
                        model=llm.model_name(),
                    )
            except IntegrityError:  # evalquestion_unique_in_topic
                report.skipped += 1
                continue
            report.created += 1
    if report.errors:
        log.warning("questions for topic %s: %d created, %d documents failed", topic.pk, report.created, len(report.errors))
    return report
