"""Celery entry point for embeddings: fetch by id, call papers.embeddings.embed_paper().

Idempotent (only texts whose content hash or model changed are embedded again), so an
acks_late redelivery after a killed worker costs nothing but the check."""

from __future__ import annotations

from celery import shared_task

from papers import embeddings
from papers.embeddings import EmbeddingError
from papers.models import Paper

MAX_RETRIES = 5


@shared_task(bind=True, acks_late=True, max_retries=MAX_RETRIES)
def embed_paper(self, paper_id: int) -> str:
    paper = Paper.objects.filter(pk=paper_id).first()
    if paper is None:
        return "gone"  # deleted after it was queued
    try:
        return embeddings.embed_paper(paper).line()
    except EmbeddingError as e:
        if not e.retryable:
            raise
        raise self.retry(exc=e, countdown=10 * 2**self.request.retries) from None
