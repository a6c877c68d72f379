"""Celery entry point for synthesis: thin, idempotent, on the llm queue. Services never import
this module; the admin, the run page, beat and `manage.py synthesize --queue` enqueue through
enqueue_synthesis."""

from celery import shared_task

from synth.synthesis import runner


def enqueue_synthesis(run_id: int) -> None:
    """Hand the run to an llm worker once the surrounding transaction commits, so the worker
    never looks for a run (or a reset unit) not yet saved."""
    synthesize_run.delay_on_commit(run_id)


# acks_late: a worker killed mid-run leaves the message to be delivered again, and running a
# run twice is harmless (done units are skipped; a finished run is not started again).
# The name is the one CELERY_TASK_ROUTES (synth.tasks.*: llm) and queued messages carry.
@shared_task(name="synth.tasks.synthesize_run", acks_late=True)
def synthesize_run(run_id: int) -> str:
    return runner.run_synthesis(run_id)
