"""Training runs: start one on finished synthesis runs, cancel it, resume it, find the
stalled ones. The admin action, the run page, beat and `manage.py train` call these; they
never enqueue a task: the caller passes the run to synth.training.tasks.enqueue_training.
The gpu work itself is synth.training.runner; nothing here loads torch."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.db import transaction
from django.utils.translation import gettext as _

from synth import jobs
from synth.models import SynthesisRun, SyntheticDocument, TrainingRun

# TrainingRun fields passed to TrainConfig under the same name (step_limit is max_steps).
HYPERPARAMETERS = ["lr", "min_lr", "warmup_ratio", "weight_decay", "epochs", "step_limit", "batch_size",
                   "micro_batch_size", "seq_len", "replay_ratio", "replay_path", "raw_ratio", "checkpoint_every", "seed"]
# The tiny model starts from random weights: at the paper's 5e-6 (meant for an 8B model that
# already knows language) its loss would barely move. The run page shows these values.
TINY_OVERRIDES = {"lr": 1e-3, "seq_len": 256, "checkpoint_every": 20}
FINISHED_SYNTHESIS = (SynthesisRun.Status.DONE, SynthesisRun.Status.BUDGET)


class TrainingError(ValueError):
    """A training run can't be started as asked; the message is for the editor."""


def initial_hyperparameters(base_model: str | None = None) -> dict:
    """The form's starting values: the paper's recipe, or the tiny model's overrides."""
    base_model = settings.CPT_BASE_MODEL if base_model is None else base_model
    values = {name: TrainingRun._meta.get_field(name).get_default() for name in HYPERPARAMETERS}
    if not base_model or base_model == "tiny":
        values.update(TINY_OVERRIDES)
    return {"base_model": base_model, **values}


def start_training(*, synthesis_runs, user=None, **hyperparameters) -> TrainingRun:
    """A queued training run on the synthetic texts of finished synthesis runs of one topic.
    The caller enqueues it (enqueue_training) or runs it here (`manage.py train`)."""
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
        run.artifacts_dir = str(artifacts_dir_for(run))
        run.save(update_fields=["artifacts_dir"])
    return run


def artifacts_dir_for(run: TrainingRun) -> Path:
    """The run's own folder. The id keeps it readable; the uid keeps it apart from the folder
    of a run with the same id in another database, or in this one before it was recreated."""
    return Path(settings.CPT_OUTPUT_DIR) / f"run-{run.pk}-{run.uid.hex[:8]}"


def cancel_training(run: TrainingRun) -> None:
    """A queued (or stalled) run is cancelled at once; a running one stops at its next step
    (and keeps a checkpoint)."""
    jobs.cancel(run, stall_seconds=settings.CPT_STALL_SECONDS)
    run.refresh_from_db()


can_cancel = jobs.can_cancel


def is_stalled(run: TrainingRun) -> bool:
    return jobs.is_stalled(run, stall_seconds=settings.CPT_STALL_SECONDS)


def can_resume(run: TrainingRun) -> bool:
    """Failed, cancelled or stalled: a resume goes on from the checkpoint."""
    return run.status in (TrainingRun.Status.FAILED, TrainingRun.Status.CANCELLED) or is_stalled(run)


def resume_training(run: TrainingRun) -> bool:
    """Queue a stopped run again (the caller enqueues or runs it); its checkpoint is kept and
    the attempts count starts again. False when it is still going (and not stalled)."""
    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().get(pk=run.pk)
        if run.is_active and not is_stalled(run):
            return False
        jobs.requeue(run, cancel_requested=False, error="", finished_at=None)
    return True


def requeue_stalled_runs() -> list[int]:
    """Queue again the running runs whose worker died: no heartbeat for CPT_STALL_SECONDS,
    though a live worker beats every CPT_HEARTBEAT_SECONDS whatever it is doing (loading,
    evaluating, training). Beat calls this every minute and enqueues the ids; the next gpu
    worker resumes each run from its checkpoint. A run whose worker died on each of its
    CPT_MAX_ATTEMPTS claims is failed instead."""
    return jobs.requeue_stalled(TrainingRun, stall_seconds=settings.CPT_STALL_SECONDS,
                                max_attempts=settings.CPT_MAX_ATTEMPTS)
