"""Celery entry points for synthesis: thin, idempotent, on the llm queue."""

from celery import shared_task

from synth import runner, runs, training


# acks_late: a worker killed mid-run leaves the message to be delivered again, and running a
# run twice is harmless (done units are skipped; a finished run is not started again).
@shared_task(acks_late=True)
def synthesize_run(run_id: int) -> str:
    return runner.run_synthesis(run_id)


# Beat, every minute, on the default queue: runs whose worker died go on in the next worker.
@shared_task
def resume_stalled_runs() -> dict:
    return {"synthesis": runs.resume_stalled_runs(), "training": training.requeue_stalled_runs()}
