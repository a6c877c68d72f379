"""What the training run page shows: artifacts, the loss chart, metrics before and after."""

from __future__ import annotations

from pathlib import Path

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from synth.models import SynthesisRun, TrainingRun
from synth.synthesis.pages import Outcome, worker_died

_ADVICE = {
    TrainingRun.StopReason.CANCELLED: gettext_lazy("Resume to go on from the last checkpoint."),
    TrainingRun.StopReason.ERROR: gettext_lazy("See the error and the worker log; Resume goes on from the last checkpoint."),
}


def outcome(run: TrainingRun) -> Outcome | None:
    """Why a stopped training run stopped and what to do; None while it runs or when it is done."""
    reason = run.stop_reason
    if not reason or run.is_active:
        return None
    if reason == TrainingRun.StopReason.WORKER_DIED:
        return worker_died(run)
    return Outcome(reason, str(TrainingRun.StopReason(reason).label), str(_ADVICE.get(reason, "")))


def artifacts(run: TrainingRun) -> list[dict]:
    """The files and folders of the run's directory, with their sizes."""
    root = Path(run.artifacts_dir) if run.artifacts_dir else None
    if root is None or not root.is_dir():
        return []
    out = []
    for path in sorted(root.iterdir()):
        if path.name.endswith(".tmp"):
            continue  # a write in progress
        files = [p for p in path.rglob("*") if p.is_file()] if path.is_dir() else [path]
        out.append({"name": path.name + ("/" if path.is_dir() else ""), "path": str(path),
                    "bytes": sum(p.stat().st_size for p in files),
                    "files": sorted(p.name for p in files) if path.is_dir() else []})
    return out


def loss_chart(history: list[float], *, width: int = 640, height: int = 200, max_points: int = 400) -> dict | None:
    """An SVG polyline of the loss per step, averaged into at most max_points buckets."""
    if not history:
        return None
    size = max(1, -(-len(history) // max_points))
    points = [(i * size + size / 2, sum(chunk) / len(chunk))
              for i, chunk in enumerate(history[j:j + size] for j in range(0, len(history), size))]
    lo, hi = min(v for _, v in points), max(v for _, v in points)
    span, steps = (hi - lo) or 1.0, max(len(history), 1)
    pad = 4
    coords = " ".join(f"{pad + x / steps * (width - 2 * pad):.1f},{pad + (hi - v) / span * (height - 2 * pad):.1f}"
                      for x, v in points)
    return {"points": coords, "width": width, "height": height, "max": hi, "min": lo, "steps": len(history),
            "last": history[-1]}


METRIC_ROWS = [  # (key, label, lower is better)
    ("perplexity", gettext_lazy("perplexity on held-out source text"), True),
    ("heldout_tokens", gettext_lazy("held-out tokens"), None),
    ("qa_accuracy", gettext_lazy("closed-book QA accuracy"), False),
    ("qa_accuracy_norm", gettext_lazy("QA accuracy, per-token normalised"), False),
    ("qa_n", gettext_lazy("questions"), None),
    # The same questions after the passages retrieved for each: base + RAG before, trained + RAG after.
    ("rag_qa_accuracy", gettext_lazy("open-book QA accuracy (RAG: the topic's passages retrieved)"), False),
    ("rag_qa_accuracy_norm", gettext_lazy("open-book QA accuracy, per-token normalised"), False),
    ("rag_qa_n", gettext_lazy("questions with retrieved passages"), None),
]


def metric_rows(run: TrainingRun) -> list[dict]:
    before, after = run.metrics_before or {}, run.metrics_after or {}
    rows = []
    for key, label, lower_better in METRIC_ROWS:
        b, a = before.get(key), after.get(key)
        better = None
        if lower_better is not None and isinstance(a, (int, float)) and isinstance(b, (int, float)) and a != b:
            better = (a < b) == lower_better
        rows.append({"key": key, "label": label, "before": b, "after": a, "better": better})
    return rows


def topic_comparison(run: TrainingRun) -> list[dict]:
    """The EntiGraph paper's headline table for the run's topic, on its questions: the base
    model and each finished training run of the topic on the same base (what it trained on:
    EntiGraph, rephrased or extractive text, raw documents mixed in), closed-book and with
    the topic's passages retrieved (RAG)."""
    if not run.metrics_before:
        return []
    rows = [{"label": _("base model"), "closed": run.metrics_before.get("qa_accuracy"),
             "rag": run.metrics_before.get("rag_qa_accuracy"), "this": False}]
    done = (TrainingRun.objects.filter(topic=run.topic_id, status=TrainingRun.Status.DONE, base_model=run.base_model)
            .prefetch_related("synthesis_runs").order_by("pk"))
    for other in done:
        data = ", ".join(sorted({str(SynthesisRun.Strategy(s.strategy).label) for s in other.synthesis_runs.all()}))
        label = _("CPT #%(id)d on %(data)s") % {"id": other.pk, "data": data}
        if other.raw_ratio:
            label += " " + _("+ %(share)d%% raw documents") % {"share": round(other.raw_ratio * 100)}
        rows.append({"label": label, "closed": other.metrics_after.get("qa_accuracy"),
                     "rag": other.metrics_after.get("rag_qa_accuracy"), "this": other.pk == run.pk})
    return rows
