"""Celery entry points of the pipeline: fetch from arXiv, then per paper the chain
summarize -> translate (one task per language) -> tag -> embed.

Tasks only fetch by id and call papers.enrich / papers.ingest.arxiv. Every step is
idempotent (see papers.enrich), so acks_late redelivery is harmless. A step that fails for
good is recorded on its EnrichmentStep and the chain goes on with the next step.
"""

from __future__ import annotations

import logging

from celery import chain, shared_task
from django.conf import settings
from django.db import transaction

from papers import embeddings, enrich
from papers.embeddings import EmbeddingError
from papers.ingest import arxiv
from papers.llm import LLMError
from papers.models import EnrichmentStep, Paper

log = logging.getLogger(__name__)


def enrichment_chain(paper_id: int):
    # CELERY_TASK_ROUTES sends the LLM steps to the `llm` queue, whose workers can scale up
    # to the provider's rate limit; embedding stays on `default`.
    steps = [summarize_paper.si(paper_id)]
    steps += [translate_paper.si(paper_id, lang) for lang in enrich.target_languages()]
    steps += [tag_paper.si(paper_id), embed_paper.si(paper_id)]
    return chain(*steps)


def enqueue_enrichment(paper_ids: list[int]) -> None:
    """Mark the steps pending (the paper page shows them) and start one chain per paper once
    the surrounding transaction commits, so a worker never looks for a paper not yet saved."""
    paper_ids = list(paper_ids)
    if not paper_ids:
        return
    enrich.mark_pending(paper_ids)
    transaction.on_commit(lambda: [enrichment_chain(pk).apply_async() for pk in paper_ids])


@shared_task(acks_late=True)
def fetch_new_arxiv(query: str = "") -> str:
    """The daily beat job: new and updated papers since the last run, then their enrichment."""
    report = arxiv.fetch_new(query=query or None)
    enqueue_enrichment(report.changed_ids)
    return report.line()


@shared_task(bind=True, acks_late=True)
def summarize_paper(self, paper_id: int) -> None:
    _run_step(self, paper_id, "summarize")


@shared_task(bind=True, acks_late=True)
def translate_paper(self, paper_id: int, lang: str) -> None:
    _run_step(self, paper_id, "translate", lang)


@shared_task(bind=True, acks_late=True)
def tag_paper(self, paper_id: int) -> None:
    _run_step(self, paper_id, "tag")


@shared_task(bind=True, acks_late=True)
def embed_paper(self, paper_id: int) -> str:
    """The chain's last step, and what `embed_papers --queue` sends: papers.embeddings.embed_paper,
    with the step's state recorded. Idempotent: only texts whose content or model changed are
    embedded again, so a redelivery after a killed worker costs only the check."""
    paper = Paper.objects.filter(pk=paper_id).first()
    if paper is None:
        return "gone"  # deleted after it was queued
    enrich.mark_step(paper_id, "embed", "", EnrichmentStep.Status.RUNNING)
    try:
        report = embeddings.embed_paper(paper)
    except EmbeddingError as e:
        retries = self.request.retries
        if e.retryable and retries < settings.ENRICH_MAX_RETRIES:
            countdown = settings.ENRICH_RETRY_DELAY * 2**retries
            enrich.mark_step(paper_id, "embed", "", EnrichmentStep.Status.PENDING, f"retry {retries + 1} in {countdown:.0f} s: {e}")
            raise self.retry(exc=e, countdown=countdown, max_retries=settings.ENRICH_MAX_RETRIES) from None
        enrich.mark_step(paper_id, "embed", "", EnrichmentStep.Status.FAILED, str(e))
        raise
    except Exception as e:  # recorded so the page does not show "running" for ever, then raised
        enrich.mark_step(paper_id, "embed", "", EnrichmentStep.Status.FAILED, f"{type(e).__name__}: {e}")
        raise
    enrich.mark_step(paper_id, "embed", "", EnrichmentStep.Status.DONE)
    return report.line()


def _run_step(task, paper_id: int, step: str, lang: str = "") -> None:
    paper = Paper.objects.filter(pk=paper_id).first()
    if paper is None:
        return  # deleted after it was queued
    try:
        enrich.run_step(paper, step, lang)
    except LLMError as e:
        retries = task.request.retries
        if not e.retryable or retries >= settings.ENRICH_MAX_RETRIES:
            # Recorded as failed on the step; the chain goes on (translations need no tags).
            log.error("paper %s: %s %s failed for good: %s", paper_id, step, lang, e)
            return
        countdown = max(e.retry_after or 0, settings.ENRICH_RETRY_DELAY * 2**retries)
        enrich.mark_step(paper, step, lang, EnrichmentStep.Status.PENDING, f"retry {retries + 1} in {countdown:.0f} s: {e}")
        raise task.retry(exc=e, countdown=countdown, max_retries=settings.ENRICH_MAX_RETRIES) from None
