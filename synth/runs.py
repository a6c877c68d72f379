"""Starting, cancelling and resuming synthesis runs, and what the run page shows of them.
The admin action, the run page's buttons and `manage.py synthesize` all call these."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from papers import llm
from synth import entigraph
from synth.corpus import topic_documents
from synth.models import SynthesisRun, SynthesisUnit, SyntheticDocument, Topic

DEFAULT_TARGET_RATIO = 100  # synthetic tokens per source token, the scale of the EntiGraph paper's runs


class RunError(ValueError):
    """A run can't be started or changed as asked; the message is for the editor."""


def default_target_tokens(topic: Topic) -> int:
    return DEFAULT_TARGET_RATIO * sum(d.tokens for d in topic_documents(topic))


def start_run(*, topic: Topic, strategy: str, target_tokens: int | None = None, max_calls: int = 0,
              max_cost_usd: Decimal | float = 0, seed: int = 0, max_entities: int = 12,
              triples_per_document: int = 10, user=None, enqueue: bool = True) -> SynthesisRun:
    """Create a run and queue it on the llm queue once the transaction commits (or, with
    enqueue=False, leave it for the caller to run here: `manage.py synthesize`)."""
    if strategy not in entigraph.STAGES:
        raise RunError(_("Unknown strategy: %(strategy)s") % {"strategy": strategy})
    if strategy == entigraph.EXTRACTIVE:
        model = entigraph.EXTRACTIVE_MODEL
    elif llm.is_configured():
        model = llm.model_name()
    else:
        raise RunError(_("No LLM is configured (offline mode): only the extractive baseline can run."))
    run = SynthesisRun.objects.create(
        topic=topic, strategy=strategy, model=model, prompt_version=entigraph.PROMPT_VERSIONS[strategy], seed=seed,
        target_tokens=default_target_tokens(topic) if target_tokens is None else target_tokens,
        max_calls=max_calls, max_cost_usd=Decimal(str(max_cost_usd)), max_entities=max_entities,
        triples_per_document=triples_per_document, created_by=user if getattr(user, "pk", None) else None,
    )
    if enqueue:
        _enqueue(run)
    return run


def _enqueue(run: SynthesisRun) -> None:
    from synth.tasks import synthesize_run  # tasks import this module's callers, not the reverse

    synthesize_run.delay_on_commit(run.pk)


def is_stalled(run: SynthesisRun) -> bool:
    """Running (or queued) with no heartbeat for SYNTH_STALL_SECONDS: its worker is probably gone."""
    if not run.is_active:
        return False
    last = run.heartbeat_at or run.created_at
    return timezone.now() - last > dt.timedelta(seconds=settings.SYNTH_STALL_SECONDS)


def can_cancel(run: SynthesisRun) -> bool:
    return run.is_active and not run.cancel_requested


def can_resume(run: SynthesisRun) -> bool:
    """Stopped, stalled, or done with failed units (a resume tries those again)."""
    if run.status == SynthesisRun.Status.DONE:
        return run.units.filter(status=SynthesisUnit.Status.FAILED).exists()
    return run.status in (SynthesisRun.Status.CANCELLED, SynthesisRun.Status.FAILED, SynthesisRun.Status.BUDGET) or is_stalled(run)


def cancel_run(run: SynthesisRun) -> None:
    """A queued (or stalled) run is cancelled at once; a running one stops at its runner's next look."""
    with transaction.atomic():
        run = SynthesisRun.objects.select_for_update().get(pk=run.pk)
        if run.status == SynthesisRun.Status.QUEUED or is_stalled(run):
            run.status, run.finished_at, run.runner_token = SynthesisRun.Status.CANCELLED, timezone.now(), ""
            run.save(update_fields=["status", "finished_at", "runner_token"])
        elif run.status == SynthesisRun.Status.RUNNING:
            run.cancel_requested = True
            run.save(update_fields=["cancel_requested"])


def resume_run(run: SynthesisRun, *, force: bool = False, enqueue: bool = True) -> bool:
    """Queue the run again; its done units are kept and its failed units are tried once more.
    `force` resumes a run that still looks alive (the new runner takes it over)."""
    with transaction.atomic():
        run = SynthesisRun.objects.select_for_update().get(pk=run.pk)
        if not (can_resume(run) or (force and run.status != SynthesisRun.Status.DONE)):
            return False
        run.units.filter(status=SynthesisUnit.Status.FAILED).update(status=SynthesisUnit.Status.PENDING, error="")
        # A new token now: a runner that is in fact still alive stops at its next write.
        run.status, run.cancel_requested, run.runner_token = SynthesisRun.Status.QUEUED, False, ""
        run.stop_reason, run.error, run.finished_at = "", "", None
        run.save(update_fields=["status", "cancel_requested", "runner_token", "stop_reason", "error", "finished_at"])
        if enqueue:
            _enqueue(run)
    return True



def resume_stalled_runs() -> list[int]:
    """Queue again the running runs whose runner died with its worker (a kill, a crash, a
    restart): no heartbeat for SYNTH_STALL_SECONDS, though a live runner beats every second.
    Beat calls this every minute, so a restarted worker finishes them unasked. Queued runs are
    left alone: they wait for a worker, and queueing them again would only pile up messages."""
    cutoff = timezone.now() - dt.timedelta(seconds=settings.SYNTH_STALL_SECONDS)
    stalled = SynthesisRun.objects.filter(status=SynthesisRun.Status.RUNNING, heartbeat_at__lt=cutoff)
    return [run.pk for run in stalled.order_by("pk") if resume_run(run)]

# --- what the run page shows --------------------------------------------------------------

STAGE_LABELS = {
    entigraph.ENTITIES: gettext_lazy("entities"), entigraph.PAIR: gettext_lazy("pairs"),
    entigraph.TRIPLE: gettext_lazy("triples"), entigraph.REPHRASE_STAGE: gettext_lazy("rephrasings"),
}


@dataclass(frozen=True)
class StageProgress:
    stage: str
    label: str
    done: int
    failed: int
    pending: int

    @property
    def total(self) -> int:
        return self.done + self.failed + self.pending

    @property
    def finished(self) -> int:
        return self.done + self.failed

    @property
    def percent(self) -> int:
        return round(100 * self.finished / self.total) if self.total else 0


def stage_progress(run: SynthesisRun) -> list[StageProgress]:
    counts: dict[tuple[str, str], int] = {
        (row["stage"], row["status"]): row["n"] for row in run.units.values("stage", "status").annotate(n=Count("id"))
    }
    return [
        StageProgress(
            stage=stage, label=str(STAGE_LABELS[stage]),
            done=counts.get((stage, SynthesisUnit.Status.DONE), 0),
            failed=counts.get((stage, SynthesisUnit.Status.FAILED), 0),
            pending=counts.get((stage, SynthesisUnit.Status.PENDING), 0),
        )
        for stage in entigraph.STAGES[run.strategy]
    ]


def entity_count(run: SynthesisRun) -> int:
    return sum(len(e) for e in run.documents.values_list("entities", flat=True))


def recent_errors(run: SynthesisRun, limit: int = 10) -> list[SynthesisUnit]:
    return list(run.units.filter(status=SynthesisUnit.Status.FAILED).exclude(error="")
                .select_related("document").order_by("-finished_at")[:limit])


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    width: float  # 0..100, of the largest bar


def _bars(rows: list[tuple[str, int]]) -> list[Bar]:
    top = max((v for _, v in rows), default=0) or 1
    return [Bar(label=label, value=value, width=round(100 * value / top, 1)) for label, value in rows]


def tokens_by_kind(run: SynthesisRun) -> list[Bar]:
    labels = dict(SyntheticDocument.Kind.choices)
    rows = run.synthetic.values("kind").annotate(t=Sum("tokens")).order_by("-t")
    return _bars([(str(labels.get(r["kind"], r["kind"])), r["t"] or 0) for r in rows])


def tokens_by_source(run: SynthesisRun, limit: int = 12) -> list[Bar]:
    rows = (run.synthetic.values("source_id", "source__title", "source__lang", "source__kind").annotate(t=Sum("tokens"))
            .order_by("-t")[:limit])
    return _bars([(f"{r['source__title'][:60]} [{r['source__lang']} {r['source__kind']}]", r["t"] or 0) for r in rows])
