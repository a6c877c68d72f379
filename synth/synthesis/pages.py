"""What the run page shows of a synthesis run: why it stopped, progress per stage, errors,
token bars."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from synth.models import SynthesisRun, SynthesisUnit, SyntheticDocument
from synth.synthesis import entigraph

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


# --- why it stopped, and what to change ---------------------------------------------------

Reason = SynthesisRun.StopReason

# What runs out first when every unit ran below the target, by strategy.
_EXHAUSTED = {
    entigraph.ENTIGRAPH: gettext_lazy("ran out of entity pairs and triples before the target"),
    entigraph.EXTRACTIVE: gettext_lazy("ran out of entity pairs before the target"),
    entigraph.REPHRASE: gettext_lazy("ran out of documents to rephrase before the target"),
}
_EXHAUSTED_ADVICE = {
    entigraph.ENTIGRAPH: gettext_lazy("Add papers to the topic, or start a new run with more triples per document "
                                      "(or more entities per document)."),
    entigraph.EXTRACTIVE: gettext_lazy("Add papers to the topic, or start a new run with more entities per document."),
    entigraph.REPHRASE: gettext_lazy("Add papers to the topic: a rephrasing run writes three texts per document."),
}
_ADVICE = {
    Reason.CALL_CAP: gettext_lazy("Raise the cap on LLM calls in the admin, then resume: done units are kept."),
    Reason.COST_CAP: gettext_lazy("Raise the cap on LLM cost in the admin, then resume: done units are kept."),
    Reason.CANCELLED: gettext_lazy("Resume to go on: done units are kept."),
    Reason.EMPTY_CORPUS: gettext_lazy("Add papers or tags to the topic, or check its languages and kinds of text."),
    Reason.ERROR: gettext_lazy("See the error and the worker log; Resume to try again."),
}


@dataclass(frozen=True)
class Outcome:
    reason: str  # a Job.StopReason value
    summary: str  # why it stopped, with the figures
    advice: str  # what to change; "" when nothing needs changing


def worker_died(run) -> Outcome:
    """A run failed by synth.jobs.give_up; the training page says it the same way."""
    last = date_format(timezone.localtime(run.heartbeat_at), "DATETIME_FORMAT") if run.heartbeat_at else "?"
    return Outcome(Reason.WORKER_DIED, _("The worker died %(n)d times while running this run; last at %(when)s.")
                   % {"n": run.attempts, "when": last}, _("See the worker log; Resume to try again."))


def outcome(run: SynthesisRun) -> Outcome | None:
    """Why a finished synthesis run stopped, for the run page, the admin list and
    `manage.py synthesize`; None while it runs (or for a run from before reasons)."""
    reason = run.stop_reason
    if not reason or run.is_active:
        return None
    if reason == Reason.WORKER_DIED:
        return worker_died(run)
    target = run.target_tokens
    if reason == Reason.EXHAUSTED and target and run.synthetic_tokens < target:
        figures = _("%(tokens)d of %(target)d target tokens (%(percent)d%%)") % {
            "tokens": run.synthetic_tokens, "target": target, "percent": 100 * run.synthetic_tokens // target}
        return Outcome(reason, f"{_EXHAUSTED[run.strategy]}: {figures}", str(_EXHAUSTED_ADVICE[run.strategy]))
    label = str(Reason(reason).label)
    if reason in (Reason.TARGET, Reason.CALL_CAP, Reason.COST_CAP) and target:
        label += ": " + _("%(tokens)d of %(target)d target tokens") % {"tokens": run.synthetic_tokens, "target": target}
    return Outcome(reason, label, str(_ADVICE.get(reason, "")))
