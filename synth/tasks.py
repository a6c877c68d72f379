"""The synth app's Celery tasks. Celery's autodiscovery imports this module, which registers
the tasks of both sub-packages (synth.synthesis.tasks on the llm queue, synth.training.tasks
on the gpu queue) and holds the beat job that looks after both."""

from celery import shared_task

from synth import synthesis, training
from synth.synthesis.tasks import enqueue_synthesis, synthesize_run
from synth.training.tasks import enqueue_training, train_run

__all__ = ["resume_stalled_runs", "synthesize_run", "train_run"]


# Beat, every minute, on the default queue: runs whose worker died go on in the next worker.
@shared_task
def resume_stalled_runs() -> dict:
    synthesis_ids, training_ids = synthesis.resume_stalled_runs(), training.requeue_stalled_runs()
    for pk in synthesis_ids:
        enqueue_synthesis(pk)
    for pk in training_ids:
        enqueue_training(pk)
    return {"synthesis": synthesis_ids, "training": training_ids}
