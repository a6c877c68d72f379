"""Synthesis runs: start, cancel, resume, and find the stalled ones. The admin action, the
run page's buttons, beat and `manage.py synthesize` call these; they never enqueue a task
themselves: the caller passes the run to synth.synthesis.tasks.enqueue_synthesis."""

from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from papers import llm
from synth import jobs
from synth.corpus import topic_documents
from synth.models import SynthesisRun, SynthesisUnit, Topic
from synth.synthesis import entigraph

DEFAULT_TARGET_RATIO = 100  # synthetic tokens per source token, the scale of the EntiGraph paper's runs


class RunError(ValueError):
    """A run can't be started or changed as asked; the message is for the editor."""


def default_target_tokens(topic: Topic) -> int:
    return DEFAULT_TARGET_RATIO * sum(d.tokens for d in topic_documents(topic))


def start_run(*, topic: Topic, strategy: str, target_tokens: int | None = None, max_calls: int = 0,
              max_cost_usd: Decimal | float = 0, seed: int = 0, max_entities: int = 12,
              triples_per_document: int = 10, user=None) -> SynthesisRun:
    """Create a queued run. The caller enqueues it (enqueue_synthesis) or runs it here
    (`manage.py synthesize`)."""
    if strategy not in entigraph.STAGES:
        raise RunError(_("Unknown strategy: %(strategy)s") % {"strategy": strategy})
    if strategy == entigraph.EXTRACTIVE:
        model = entigraph.EXTRACTIVE_MODEL
    elif llm.is_configured():
        model = llm.model_name()
    else:
        raise RunError(_("No LLM is configured (offline mode): only the extractive baseline can run."))
    return SynthesisRun.objects.create(
        topic=topic, strategy=strategy, model=model, prompt_version=entigraph.PROMPT_VERSIONS[strategy], seed=seed,
        target_tokens=default_target_tokens(topic) if target_tokens is None else target_tokens,
        max_calls=max_calls, max_cost_usd=Decimal(str(max_cost_usd)), max_entities=max_entities,
        triples_per_document=triples_per_document, created_by=user if getattr(user, "pk", None) else None,
    )


def is_stalled(run: SynthesisRun) -> bool:
    """Running (or queued) with no heartbeat for SYNTH_STALL_SECONDS: its worker is probably gone."""
    return jobs.is_stalled(run, stall_seconds=settings.SYNTH_STALL_SECONDS)


can_cancel = jobs.can_cancel


def can_resume(run: SynthesisRun) -> bool:
    """Stopped, stalled, or done with failed units (a resume tries those again)."""
    if run.status == SynthesisRun.Status.DONE:
        return run.units.filter(status=SynthesisUnit.Status.FAILED).exists()
    return run.status in (SynthesisRun.Status.CANCELLED, SynthesisRun.Status.FAILED, SynthesisRun.Status.BUDGET) or is_stalled(run)


def cancel_run(run: SynthesisRun) -> None:
    """A queued (or stalled) run is cancelled at once; a running one stops at its runner's next look."""
    jobs.cancel(run, stall_seconds=settings.SYNTH_STALL_SECONDS)


def resume_run(run: SynthesisRun, *, force: bool = False) -> bool:
    """Queue the run again (the caller enqueues it); its done units are kept and its failed
    units are tried once more. `force` resumes a run that still looks alive (the new runner
    takes it over)."""
    with transaction.atomic():
        run = SynthesisRun.objects.select_for_update().get(pk=run.pk)
        if not (can_resume(run) or (force and run.status != SynthesisRun.Status.DONE)):
            return False
        _retry_failed_units([run.pk])
        jobs.requeue(run, cancel_requested=False, error="", finished_at=None)  # the attempts count starts again
    return True


def resume_stalled_runs() -> list[int]:
    """Queue again the running runs whose runner died with its worker (a kill, a crash, a
    restart): no heartbeat for SYNTH_STALL_SECONDS, though a live runner beats every second.
    Beat calls this every minute (and enqueues the ids), so a restarted worker finishes them
    unasked; a run whose worker died on each of its SYNTH_MAX_ATTEMPTS claims is failed instead."""
    with transaction.atomic():
        requeued = jobs.requeue_stalled(SynthesisRun, stall_seconds=settings.SYNTH_STALL_SECONDS,
                                        max_attempts=settings.SYNTH_MAX_ATTEMPTS)
        _retry_failed_units(requeued)
    return requeued


def _retry_failed_units(run_ids: list[int]) -> None:
    SynthesisUnit.objects.filter(run_id__in=run_ids, status=SynthesisUnit.Status.FAILED).update(
        status=SynthesisUnit.Status.PENDING, error="")
