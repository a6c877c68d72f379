"""What the run page shows of a synthesis run: progress per stage, errors, token bars."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import Count, Sum
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
