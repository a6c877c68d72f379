"""Training runs: start one on finished synthesis runs, run it (the gpu task), cancel it,
and what its page shows. The glue between the database and synth.cpt.

torch is imported inside the functions that train, so the web process and the admin, which
only create and show runs, never load it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from papers import llm
from synth.models import CorpusDocument, EvalQuestion, SynthesisRun, SyntheticDocument, TrainingRun

log = logging.getLogger(__name__)

# TrainingRun fields passed to TrainConfig under the same name (step_limit is max_steps).
HYPERPARAMETERS = ["lr", "min_lr", "warmup_ratio", "weight_decay", "epochs", "step_limit", "batch_size",
                   "micro_batch_size", "seq_len", "replay_ratio", "replay_path", "raw_ratio", "checkpoint_every", "seed"]
# The tiny model starts from random weights: at the paper's 5e-6 (meant for an 8B model that
# already knows language) its loss would barely move. The run page shows these values.
TINY_OVERRIDES = {"lr": 1e-3, "seq_len": 256, "checkpoint_every": 20}
FINISHED_SYNTHESIS = (SynthesisRun.Status.DONE, SynthesisRun.Status.BUDGET)
HELD_OUT_EVERY = 5  # with raw documents mixed in, one source document in five is kept out for perplexity


class TrainingError(ValueError):
    """A training run can't be started as asked; the message is for the editor."""


def initial_hyperparameters(base_model: str | None = None) -> dict:
    """The form's starting values: the paper's recipe, or the tiny model's overrides."""
    base_model = settings.CPT_BASE_MODEL if base_model is None else base_model
    values = {name: TrainingRun._meta.get_field(name).get_default() for name in HYPERPARAMETERS}
    if not base_model or base_model == "tiny":
        values.update(TINY_OVERRIDES)
    return {"base_model": base_model, **values}


def start_training(*, synthesis_runs, user=None, enqueue: bool = True, **hyperparameters) -> TrainingRun:
    """A training run on the synthetic texts of finished synthesis runs of one topic, queued
    on the gpu queue once the transaction commits (or, enqueue=False, left to the caller)."""
    runs = list(synthesis_runs)
    if not runs:
        raise TrainingError(_("Select at least one synthesis run."))
    if len({r.topic_id for r in runs}) > 1:
        raise TrainingError(_("The selected synthesis runs belong to different topics: train on one topic at a time."))
    if unfinished := [r for r in runs if r.status not in FINISHED_SYNTHESIS]:
        raise TrainingError(_("Only finished synthesis runs can be trained on; not finished: %(runs)s")
                            % {"runs": ", ".join(f"#{r.pk}" for r in unfinished)})
    if not SyntheticDocument.objects.filter(run__in=runs).exists():
        raise TrainingError(_("The selected synthesis runs have no synthetic texts."))
    values = {**initial_hyperparameters(hyperparameters.pop("base_model", None)), **hyperparameters}
    with transaction.atomic():
        run = TrainingRun.objects.create(topic_id=runs[0].topic_id, created_by=user if getattr(user, "pk", None) else None,
                                         **values)
        run.synthesis_runs.set(runs)
        run.artifacts_dir = str(Path(settings.CPT_OUTPUT_DIR) / f"run-{run.pk}")
        run.save(update_fields=["artifacts_dir"])
        if enqueue:
            from synth.tasks_training import train_run  # the task module imports this one

            train_run.delay_on_commit(run.pk)
    return run


def cancel_training(run: TrainingRun) -> None:
    """A queued run is cancelled at once; a running one stops at its next step (and keeps a checkpoint)."""
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.QUEUED).update(
        status=TrainingRun.Status.CANCELLED, cancel_requested=True, finished_at=timezone.now())
    TrainingRun.objects.filter(pk=run.pk, status=TrainingRun.Status.RUNNING).update(cancel_requested=True)
    run.refresh_from_db()


def can_cancel(run: TrainingRun) -> bool:
    return run.is_active and not run.cancel_requested


def is_stalled(run: TrainingRun) -> bool:
    if run.status != TrainingRun.Status.RUNNING:
        return False
    last = run.heartbeat_at or run.started_at or run.created_at
    return timezone.now() - last > dt.timedelta(seconds=settings.CPT_STALL_SECONDS)


def requeue_stalled_runs() -> list[int]:
    """Queue again the running runs whose worker died: no heartbeat for CPT_STALL_SECONDS,
    though a live worker beats every CPT_HEARTBEAT_SECONDS whatever it is doing (loading,
    evaluating, training). Beat calls this every minute; the next gpu worker resumes each run
    from its checkpoint. The broker would redeliver the killed task only after its visibility
    timeout (hours)."""
    from synth.tasks_training import train_run  # the task module imports this one

    cutoff = timezone.now() - dt.timedelta(seconds=settings.CPT_STALL_SECONDS)
    requeued = []
    for run in TrainingRun.objects.filter(status=TrainingRun.Status.RUNNING, heartbeat_at__lt=cutoff).order_by("pk"):
        with transaction.atomic():
            # Only if its heartbeat did not move since we read it; queued, it is not picked twice.
            if TrainingRun.objects.filter(pk=run.pk, status=run.status, heartbeat_at=run.heartbeat_at).update(
                    status=TrainingRun.Status.QUEUED):
                train_run.delay_on_commit(run.pk)
                requeued.append(run.pk)
    return requeued


class _Heartbeat:
    """A thread that stamps the run's heartbeat while this process lives, so a long load or
    evaluation is never taken for a dead worker; only a dead process stops beating."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-training-{run_id}", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stopped.set()
        self.thread.join()

    def _beat(self) -> None:
        from django.db import connection

        try:
            while not self.stopped.wait(settings.CPT_HEARTBEAT_SECONDS):
                TrainingRun.objects.filter(pk=self.run_id, status=TrainingRun.Status.RUNNING).update(
                    heartbeat_at=timezone.now())
        finally:
            connection.close()  # this thread's own connection


# --- the data of a run -------------------------------------------------------------------


def source_documents(run: TrainingRun) -> list[CorpusDocument]:
    """The topic documents the synthetic texts were written from, once each, in a stable order."""
    seen, docs = set(), []
    for doc in CorpusDocument.objects.filter(run__in=run.synthesis_runs.all()).order_by("content_hash", "id"):
        if doc.content_hash not in seen:
            seen.add(doc.content_hash)
            docs.append(doc)
    return docs


def split_sources(run: TrainingRun) -> tuple[list[str], list[str]]:
    """(raw documents to mix in, held-out documents for perplexity). With no raw mixing the
    model never sees a source document, so all of them measure it."""
    docs = source_documents(run)
    if not run.raw_ratio:
        return [], [d.text for d in docs]
    held = [d for i, d in enumerate(docs) if i % HELD_OUT_EVERY == 0]
    return [d.text for d in docs if d not in held], [d.text for d in held]


def build_corpus(run: TrainingRun):
    from synth.cpt.data import Corpus

    texts = SyntheticDocument.objects.filter(run__in=run.synthesis_runs.all()).order_by("run_id", "id")
    raw, _held_out = split_sources(run)
    return Corpus(synthetic=list(texts.values_list("text", flat=True)), raw=raw)


def config_for(run: TrainingRun):
    from synth.cpt.train import TrainConfig

    values = {name: getattr(run, name) for name in HYPERPARAMETERS if name != "step_limit"}
    return TrainConfig(base_model=run.base_model or "tiny", out_dir=Path(run.artifacts_dir), max_steps=run.step_limit,
                       peak_flops=settings.CPT_PEAK_FLOPS, **values)


def questions_for(run: TrainingRun) -> tuple[list, str]:
    """The topic's question set, generated through the LLM when it has none; and a note."""
    from synth.cpt.evaluate import Question
    from synth.eval_questions import generate_questions

    note = ""
    if not run.topic.eval_questions.exists():
        if llm.is_configured():
            report = generate_questions(run.topic)
            note = _("%(n)d questions generated by %(model)s") % {"n": report.created, "model": llm.model_name()}
            if report.errors:
                note += "; " + _("%(n)d documents failed") % {"n": len(report.errors)}
        else:
            note = _("no questions: offline mode (no LLM to write them); add some in the admin")
    rows = EvalQuestion.objects.filter(topic=run.topic).order_by("id")
    return [Question(question=q.question, options=list(q.options), answer=q.answer) for q in rows], note


# --- running it (the gpu task) -------------------------------------------------------------


def run_training(run_id: int, *, force: bool = False) -> str:
    """Train a run to the end, resuming from its checkpoint. Safe to call again: a finished run
    is left alone, and a run whose worker still beats is left to it unless force=True."""
    run = TrainingRun.objects.filter(pk=run_id).select_related("topic").first()
    if run is None:
        return "missing"  # deleted after it was queued
    if not run.is_active:
        return run.status
    if run.cancel_requested:
        _finish(run, TrainingRun.Status.CANCELLED)
        return run.status
    if run.status == TrainingRun.Status.RUNNING and not force and not is_stalled(run):
        return "running elsewhere"  # a redelivery while the first worker is alive
    now = timezone.now()
    # Claimed only if nobody else touched the row since we read it.
    claimed = TrainingRun.objects.filter(pk=run.pk, status=run.status, heartbeat_at=run.heartbeat_at).update(
        status=TrainingRun.Status.RUNNING, heartbeat_at=now, started_at=run.started_at or now, error="")
    if not claimed:
        return "running elsewhere"
    run.refresh_from_db()
    try:
        with _Heartbeat(run.pk):
            return _train(run)
    except Exception as e:
        from synth.cpt import CPTError

        run.refresh_from_db()
        run.error = str(e) if isinstance(e, CPTError) else f"{type(e).__name__}: {e}"
        _finish(run, TrainingRun.Status.FAILED)
        if isinstance(e, CPTError):
            return run.status
        raise


def _train(run: TrainingRun) -> str:
    import torch

    from synth.cpt import CPTError
    from synth.cpt import evaluate as cpt_evaluate
    from synth.cpt import model as cpt_model
    from synth.cpt import train as cpt_train

    cfg = config_for(run)
    corpus = build_corpus(run)
    cpt_train.validate(cfg)  # bad settings fail here, before any model work
    if not any(t.strip() for t in corpus.synthetic):
        raise CPTError("the corpus is empty: there are no synthetic texts to train on")
    _raw, held_out = split_sources(run)
    base = cpt_train.load_base(cfg, corpus)
    device = cpt_train.pick_device(cfg)
    run.base_label = base.label
    run.device = f"cuda: {torch.cuda.get_device_name(device)}" if device.type == "cuda" else \
        f"cpu ({torch.get_num_threads()} threads)"
    run.save(update_fields=["base_label", "device"])

    if not run.metrics_before:  # a resumed run measured its base already
        questions, note = questions_for(run)
        base.model.to(device)
        run.metrics_before = {**cpt_evaluate.evaluate(base.model, base.tokenizer, held_out=held_out,
                                                      questions=questions, seq_len=cfg.seq_len),
                              "note": note}
        run.save(update_fields=["metrics_before"])

    progress = _ProgressWriter(run)
    result = cpt_train.train(cfg, corpus, on_progress=progress, should_stop=progress.should_stop, base=base)
    del base
    progress.flush()
    run.refresh_from_db()
    run.manifest = result.manifest
    run.tokens_per_s = result.tokens_per_s or run.tokens_per_s
    run.mfu = result.mfu
    if result.status == "cancelled":
        run.save(update_fields=["manifest", "tokens_per_s", "mfu"])
        _finish(run, TrainingRun.Status.CANCELLED)
        return run.status

    final = cpt_model.load_pretrained(str(result.final_dir))
    final.model.to(device)
    questions, _note = questions_for(run)
    run.metrics_after = cpt_evaluate.evaluate(final.model, final.tokenizer, held_out=held_out, questions=questions,
                                              seq_len=cfg.seq_len)
    run.save(update_fields=["manifest", "tokens_per_s", "mfu", "metrics_after"])
    _write_metrics(run, result)
    _finish(run, TrainingRun.Status.DONE)
    return run.status


class _ProgressWriter:
    """on_progress and should_stop for the trainer: the row gets the step, loss, tokens/s and
    a heartbeat about once a second, and the cancel flag is read as often."""

    def __init__(self, run: TrainingRun):
        self.run = run
        self.history = list(run.loss_history)
        self.first_step = None
        self.last_write = 0.0
        self.pending = None
        self.cancel = False

    def __call__(self, step: int, metrics: dict) -> None:
        if self.first_step is None:
            self.first_step = step
        # A resumed run repeats the steps after its checkpoint: they replace what the killed run wrote.
        del self.history[step - 1:]
        self.history.append(round(metrics["loss"], 5))
        self.pending = (step, metrics)
        if time.monotonic() - self.last_write >= settings.CPT_PROGRESS_SECONDS or step == metrics["max_steps"]:
            self.flush()

    def flush(self) -> None:
        if self.pending is None:
            return
        step, m = self.pending
        self.cancel = TrainingRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists()
        TrainingRun.objects.filter(pk=self.run.pk).update(
            step=step, max_steps=m["max_steps"], tokens_per_s=m["tokens_per_s"], mfu=m["mfu"],
            loss_history=self.history, resumed_from_step=self.first_step - 1, heartbeat_at=timezone.now(),
        )
        self.pending = None
        self.last_write = time.monotonic()

    def should_stop(self) -> bool:
        if time.monotonic() - self.last_write >= settings.CPT_PROGRESS_SECONDS:
            self.cancel = TrainingRun.objects.filter(pk=self.run.pk, cancel_requested=True).exists()
        return self.cancel


def _finish(run: TrainingRun, status: str) -> None:
    run.status = status
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "finished_at", "error"])


def _write_metrics(run: TrainingRun, result) -> None:
    path = Path(run.artifacts_dir) / "metrics.json"
    payload = {
        "training_run": run.pk, "topic": run.topic.name, "base_model": run.base_label,
        "synthesis_runs": list(run.synthesis_runs.values_list("pk", flat=True)),
        "hyperparameters": {name: getattr(run, name) for name in HYPERPARAMETERS},
        "steps": result.step, "tokens_per_s": result.tokens_per_s, "mfu": result.mfu,
        "final_loss": result.loss_history[-1] if result.loss_history else None,
        "before": run.metrics_before, "after": run.metrics_after,
    }
    tmp = path.with_name("metrics.json.tmp")
    tmp.write_text(json.dumps(payload, indent=2, ensure_ascii=False))
    tmp.replace(path)


# --- what the run page shows -----------------------------------------------------------------


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
