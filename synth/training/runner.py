"""Runs a TrainingRun in the gpu worker: claim it, measure the base model, train (resuming
from the checkpoint), measure again, write metrics. The glue between the row and synth.cpt.

One owner (synth.jobs): the worker claims the run with a fresh token and writes nothing once
another worker has claimed it, neither to the row nor to the run folder: two trainers never
write one folder. A heartbeat thread keeps the run alive in the database while it works.

Imports torch (through synth.cpt): only the gpu worker and `manage.py train` import this
module; synth.training.tasks imports it inside the task for that reason.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import torch
from django.conf import settings
from django.utils import timezone

from synth import jobs
from synth.cpt import CPTError
from synth.cpt import evaluate as cpt_evaluate
from synth.cpt import model as cpt_model
from synth.cpt import train as cpt_train
from synth.jobs import DATABASE_GONE, Superseded
from synth.models import TrainingRun
from synth.training import HYPERPARAMETERS
from synth.training.data import build_corpus, config_for, questions_for, split_sources

log = logging.getLogger(__name__)
Reason = TrainingRun.StopReason


def run_training(run_id: int, *, force: bool = False) -> str:
    """Train a run to the end, resuming from its checkpoint. Safe to call again: a finished run
    is left alone, and a run whose worker still beats is left to it unless force=True (the
    new worker takes it over; the old one stops without writing)."""
    token = jobs.new_token()
    run = jobs.claim(TrainingRun, run_id, token=token, stall_seconds=settings.CPT_STALL_SECONDS,
                     max_attempts=settings.CPT_MAX_ATTEMPTS, take_over=force)
    if run is None:
        run = TrainingRun.objects.filter(pk=run_id).first()
        if run is None:
            return "missing"  # deleted after it was queued
        return run.status if not run.is_active else "running elsewhere"  # a redelivery while its worker lives
    if run.cancel_requested:  # asked while it waited to be requeued
        jobs.finish(TrainingRun, run.pk, token, TrainingRun.Status.CANCELLED, stop_reason=Reason.CANCELLED)
        return TrainingRun.Status.CANCELLED
    try:
        with jobs.Heartbeat(TrainingRun, run.pk, token=token, every=settings.CPT_HEARTBEAT_SECONDS):
            return _train(run, token)
    except Superseded:
        log.info("training run %s: taken over by another worker", run_id)
        return "superseded"
    except DATABASE_GONE as e:
        # Nothing can be written now; the run goes silent and beat resumes it from its last
        # checkpoint once the database is back.
        log.warning("training run %s: the database went away, beat resumes the run: %s", run_id, e)
        raise
    except Exception as e:
        error = str(e) if isinstance(e, CPTError) else f"{type(e).__name__}: {e}"
        jobs.finish(TrainingRun, run.pk, token, TrainingRun.Status.FAILED, stop_reason=Reason.ERROR, error=error)
        if isinstance(e, CPTError):
            return TrainingRun.Status.FAILED
        raise


def _train(run: TrainingRun, token: str) -> str:
    def write(**fields) -> None:  # to the row, while this worker owns it
        jobs.write(TrainingRun, run.pk, token, **fields)

    cfg = config_for(run)
    corpus = build_corpus(run)
    cpt_train.validate(cfg)  # bad settings fail here, before any model work
    if not any(t.strip() for t in corpus.synthetic):
        raise CPTError("the corpus is empty: there are no synthetic texts to train on")
    jobs.assert_owner(TrainingRun, run.pk, token)
    cpt_train.prepare_out_dir(cfg)  # refuses a folder that holds another run's files, before load_base reads base/
    _raw, held_out = split_sources(run)
    base = cpt_train.load_base(cfg, corpus)
    device = cpt_train.pick_device(cfg)
    run.base_label = base.label
    run.device = f"cuda: {torch.cuda.get_device_name(device)}" if device.type == "cuda" else \
        f"cpu ({torch.get_num_threads()} threads)"
    write(base_label=run.base_label, device=run.device)

    if not run.metrics_before:  # a resumed run measured its base already
        questions, note = questions_for(run)
        base.model.to(device)
        run.metrics_before = {**cpt_evaluate.evaluate(base.model, base.tokenizer, held_out=held_out,
                                                      questions=questions, seq_len=cfg.seq_len),
                              "note": note}
        write(metrics_before=run.metrics_before)

    progress = _ProgressWriter(run, token)
    result = cpt_train.train(cfg, corpus, on_progress=progress, should_stop=progress.should_stop, base=base,
                             before_save=progress.assert_owner)
    del base
    progress.flush()
    run.refresh_from_db()
    run.manifest = result.manifest
    run.tokens_per_s = result.tokens_per_s or run.tokens_per_s
    run.mfu = result.mfu
    if result.status == "cancelled":
        write(manifest=run.manifest, tokens_per_s=run.tokens_per_s, mfu=run.mfu)
        jobs.finish(TrainingRun, run.pk, token, TrainingRun.Status.CANCELLED, stop_reason=Reason.CANCELLED)
        return TrainingRun.Status.CANCELLED

    final = cpt_model.load_pretrained(str(result.final_dir))
    final.model.to(device)
    questions, _note = questions_for(run)
    run.metrics_after = cpt_evaluate.evaluate(final.model, final.tokenizer, held_out=held_out, questions=questions,
                                              seq_len=cfg.seq_len)
    write(manifest=run.manifest, tokens_per_s=run.tokens_per_s, mfu=run.mfu, metrics_after=run.metrics_after)
    jobs.assert_owner(TrainingRun, run.pk, token)
    _write_metrics(run, result)
    jobs.finish(TrainingRun, run.pk, token, TrainingRun.Status.DONE)
    return TrainingRun.Status.DONE


class _ProgressWriter:
    """on_progress, should_stop and before_save for the trainer: the row gets the step, loss,
    tokens/s and a heartbeat about once a second, and the cancel flag is read as often.
    Each write checks the owner token; a superseded worker raises Superseded out of the
    trainer, before it writes its next checkpoint."""

    def __init__(self, run: TrainingRun, token: str):
        self.run, self.token = run, token
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
        self.cancel = jobs.cancel_requested(TrainingRun, self.run.pk)
        jobs.write(TrainingRun, self.run.pk, self.token,
                   step=step, max_steps=m["max_steps"], tokens_per_s=m["tokens_per_s"], mfu=m["mfu"],
                   loss_history=self.history, resumed_from_step=self.first_step - 1, heartbeat_at=timezone.now())
        self.pending = None
        self.last_write = time.monotonic()

    def should_stop(self) -> bool:
        if time.monotonic() - self.last_write >= settings.CPT_PROGRESS_SECONDS:
            self.assert_owner()
            self.cancel = jobs.cancel_requested(TrainingRun, self.run.pk)
        return self.cancel

    def assert_owner(self) -> None:
        jobs.assert_owner(TrainingRun, self.run.pk, self.token)


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


