"""Celery entry points of the papers app: seed import, the arXiv fetch, and enrichment.

Enrichment of one paper is the chain summarize -> translate (one task per language) -> tag
-> embed; many papers go in batches (enrich_batch: every paper's LLM calls in flight at once
through the async gateway, then one embed task per paper). Tasks only fetch by id and call
papers.enrich / papers.ingest / papers.embeddings. Every step is idempotent (see
papers.enrich), so acks_late redelivery is harmless. A step that fails for good is recorded
on its EnrichmentStep and the paper goes on with the next step.

CELERY_TASK_ROUTES sends the LLM tasks to the `llm` queue, whose workers can scale up to the
provider's rate limit; seed import, the fetch and embedding stay on `default`.
"""

from __future__ import annotations

import datetime as dt
import logging
from pathlib import Path

from celery import chain, shared_task
from django.conf import settings
from django.db import transaction

from papers import ask, embeddings, enrich
from papers.ask import passages
from papers.embeddings import EmbeddingError
from papers.ingest import arxiv, seeds
from papers.llm import LLMError
from papers.models import EnrichmentStep, Paper

log = logging.getLogger(__name__)


def enqueue_enrichment(paper_ids: list[int]) -> None:
    """Mark the steps pending (the paper page shows them) and queue the enrichment once the
    surrounding transaction commits, so a worker never looks for a paper not yet saved. One
    paper gets its chain of step tasks; more go in batches of ENRICH_BATCH_SIZE, because one
    process with many calls in flight outruns many processes with one call each."""
    paper_ids = list(paper_ids)
    if not paper_ids:
        return
    enrich.mark_pending(paper_ids)
    if len(paper_ids) == 1:
        transaction.on_commit(lambda: enrichment_chain(paper_ids[0]).apply_async())
        return
    size = settings.ENRICH_BATCH_SIZE
    batches = [paper_ids[i : i + size] for i in range(0, len(paper_ids), size)]
    transaction.on_commit(lambda: [enrich_batch.delay(batch) for batch in batches])


def enrichment_chain(paper_id: int):
    steps = [summarize_paper.si(paper_id)]
    steps += [translate_paper.si(paper_id, lang) for lang in enrich.target_languages()]
    steps += [tag_paper.si(paper_id), embed_paper.si(paper_id)]
    return chain(*steps)


@shared_task(acks_late=True)
def import_seed_file(path: str) -> str:
    """Import one seed file (idempotent, so a redelivery is harmless); returns the report line."""
    return seeds.import_file(Path(path)).line()


@shared_task(acks_late=True)
def fetch_new_arxiv(query: str = "") -> str:
    """The daily beat job: new and updated papers since the last run, then their enrichment."""
    report = arxiv.fetch_new(query=query or None)
    enqueue_enrichment(report.changed_ids)
    return report.line()


@shared_task
def resume_stalled_enrichment() -> list[int]:
    """Beat, every ten minutes: papers whose steps wait longer than ENRICH_STALL_SECONDS lost
    their message (the broker restarted empty): their enrichment is queued again."""
    paper_ids = enrich.stalled_papers(older_than=dt.timedelta(seconds=settings.ENRICH_STALL_SECONDS))
    if paper_ids:
        log.warning("enrichment of %d papers stalled, queued again: %s", len(paper_ids), paper_ids[:20])
        enqueue_enrichment(paper_ids)
    return paper_ids


@shared_task(acks_late=True)
def enrich_batch(paper_ids: list[int]) -> None:
    """Summarize, translate and tag the papers together (papers.enrich.enrich_batch, which
    retries a failed step itself while the other papers go on: a task retry would run every
    paper of the batch again), then queue their embedding. A redelivered batch is answered
    from the LLM cache."""
    enrich.enrich_batch(paper_ids)
    for paper_id in paper_ids:
        embed_paper.delay(paper_id)


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
        passage_report = passages.update_passages(paper)  # a changed text is cut into passages again
    except EmbeddingError as e:
        retries = self.request.retries
        if (countdown := enrich.retry_delay(retries, retryable=e.retryable)) is not None:
            enrich.mark_step(paper_id, "embed", "", EnrichmentStep.Status.PENDING, f"retry {retries + 1} in {countdown:.0f} s: {e}")
            raise self.retry(exc=e, countdown=countdown, max_retries=settings.ENRICH_MAX_RETRIES) from None
        enrich.mark_step(paper_id, "embed", "", EnrichmentStep.Status.FAILED, str(e))
        raise
    except Exception as e:  # recorded so the page does not show "running" for ever, then raised
        enrich.mark_step(paper_id, "embed", "", EnrichmentStep.Status.FAILED, f"{type(e).__name__}: {e}")
        raise
    enrich.mark_step(paper_id, "embed", "", EnrichmentStep.Status.DONE)
    return f"{report.line()}; {passage_report.line()}"


def enqueue_embedding(paper_ids) -> None:
    """Embed the papers again once the edit commits: their vectors, and their passages cut
    again from the changed texts (answers cite what the paper says now)."""
    paper_ids = sorted(set(paper_ids))
    transaction.on_commit(lambda: [embed_paper.delay(pk) for pk in paper_ids])


def enqueue_answer(answer_id: int) -> None:
    """Write the answer on the worker once the row is committed (the page polls it)."""
    transaction.on_commit(lambda: answer_question.delay(answer_id))


@shared_task(acks_late=True)
def answer_question(answer_id: int) -> None:
    """papers.ask.write_answer: claims the row first, so a redelivery does nothing twice."""
    ask.write_answer(answer_id)


def _run_step(task, paper_id: int, step: str, lang: str = "") -> None:
    paper = Paper.objects.filter(pk=paper_id).first()
    if paper is None:
        return  # deleted after it was queued
    try:
        enrich.run_step(paper, step, lang)
    except LLMError as e:
        retries = task.request.retries
        countdown = enrich.retry_delay(retries, retryable=e.retryable, retry_after=e.retry_after)
        if countdown is None:
            # Recorded as failed on the step; the chain goes on (translations need no tags).
            log.error("paper %s: %s %s failed for good: %s", paper_id, step, lang, e)
            return
        enrich.mark_step(paper, step, lang, EnrichmentStep.Status.PENDING, f"retry {retries + 1} in {countdown:.0f} s: {e}")
        raise task.retry(exc=e, countdown=countdown, max_retries=settings.ENRICH_MAX_RETRIES) from None
    except Exception:
        # Not the LLM (a bug, a reply the database refuses): recorded as the step's failure
        # by run_step, and the chain goes on, as after an LLM failure.
        log.exception("paper %s: %s %s failed", paper_id, step, lang)
