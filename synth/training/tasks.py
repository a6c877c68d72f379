"""Celery entry point for continued pretraining, on the gpu queue (a worker started with -Q gpu).
Services never import this module; the admin, beat and `manage.py train --queue` enqueue
through enqueue_training."""

from celery import shared_task


def enqueue_training(run_id: int) -> None:
    """Hand the run to the gpu worker once the surrounding transaction commits."""
    train_run.delay_on_commit(run_id)


# acks_late: a worker killed mid-run leaves the message to be delivered again, and the run
# resumes from its last checkpoint; a finished run is left alone (runner.run_training).
# The broker's visibility timeout (CELERY_VISIBILITY_TIMEOUT) must exceed the longest run.
# The name is the one CELERY_TASK_ROUTES (synth.tasks_training.*: gpu) and queued messages carry.
@shared_task(name="synth.tasks_training.train_run", acks_late=True)
def train_run(run_id: int) -> str:
    # Imported here, not at the top: the runner loads torch, and every process that enqueues
    # (the web process, the llm and default workers) imports this module without needing it.
    from synth.training import runner

    return runner.run_training(run_id)
