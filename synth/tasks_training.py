"""Celery entry point for continued pretraining, on the gpu queue (a worker started with -Q gpu)."""

from celery import shared_task

from synth import training


# acks_late: a worker killed mid-run leaves the message to be delivered again, and the run
# resumes from its last checkpoint; a finished run is left alone (training.run_training).
# The broker's visibility timeout (CELERY_VISIBILITY_TIMEOUT) must exceed the longest run.
@shared_task(acks_late=True)
def train_run(run_id: int) -> str:
    return training.run_training(run_id)
