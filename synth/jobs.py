"""The job protocol that synthesis and training runs share (both are synth.models.Job).

- One owner: a worker claims a run by writing a fresh runner token on it with one
  conditional UPDATE. Every later write of that worker is filtered on its token, so once
  another worker has claimed the run (a resume, a redelivery after a kill) the first one
  writes nothing more: it sees Superseded and stops.
- Alive or not: the owner stamps heartbeat_at (from its loop, or from a Heartbeat thread
  while it loads or evaluates). A run whose heartbeat is older than the stall time is taken
  for dead: it may be claimed again, cancelled at once, or requeued by beat.
- Cancel: a queued (or dead) run is cancelled at once; a running one gets cancel_requested,
  which its owner reads and then finishes the run itself.
- Attempts: every claim counts one. A run that kills its worker every time (out of memory,
  a crash in a native library) would otherwise be claimed for ever, by beat's requeue and by
  the broker's redelivery (acks_late, reject_on_worker_lost); at max_attempts it is failed
  with the reason instead (give_up). An operator's resume starts the count again.

Services (synth.synthesis, synth.training) call these with their own stall time; only the
services know which setting holds it.
"""

from __future__ import annotations

import datetime as dt
import threading
import uuid

from django.db import InterfaceError, OperationalError, connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from synth.models import Job


# Errors that mean the database itself is away (a restart, lost sessions), not that the run
# went wrong: a runner leaves its run 'running' and silent, and beat's stalled-run job
# resumes it once the database answers.
DATABASE_GONE = (OperationalError, InterfaceError)


class Superseded(Exception):
    """Another worker claimed the run; this one stops without writing."""


def new_token() -> str:
    return uuid.uuid4().hex


def _cutoff(stall_seconds: float) -> dt.datetime:
    return timezone.now() - dt.timedelta(seconds=stall_seconds)


def claim(model: type[Job], pk: int, *, token: str, stall_seconds: float, max_attempts: int,
          take_over: bool = False) -> Job | None:
    """Make `token` the run's owner and mark it running; None when it can't be claimed.

    A queued run is claimed; a running one only if its heartbeat is stale (its worker died)
    or with take_over (the new worker supersedes a live one). One UPDATE decides, so of two
    claimers of a queued or stale run only the first gets it: the second finds the row
    running with a fresh heartbeat. A claimable run that was claimed max_attempts times
    already is failed instead (give_up): each of those claims ended with its worker dead."""
    now = timezone.now()
    running = Q(status=model.Status.RUNNING)
    if not take_over:
        running &= Q(heartbeat_at__lt=_cutoff(stall_seconds)) | Q(heartbeat_at__isnull=True)
    claimable = model.objects.filter(Q(status=model.Status.QUEUED) | running, pk=pk)
    claimed = claimable.filter(attempts__lt=max_attempts).update(
        status=model.Status.RUNNING, runner_token=token, heartbeat_at=now, finished_at=None, error="",
        stop_reason="", attempts=F("attempts") + 1,
    )
    if not claimed:
        give_up(claimable, max_attempts=max_attempts)
        return None
    model.objects.filter(pk=pk, started_at__isnull=True).update(started_at=now)
    return model.objects.select_related("topic").get(pk=pk)


def owned(model: type[Job], pk: int, token: str) -> QuerySet:
    """The run, as a queryset, while `token` still owns it: write through this."""
    return model.objects.filter(pk=pk, runner_token=token)


def write(model: type[Job], pk: int, token: str, **fields) -> None:
    """Update the run's fields if `token` still owns it, else raise Superseded."""
    if not owned(model, pk, token).update(**fields):
        raise Superseded


def assert_owner(model: type[Job], pk: int, token: str, *, lock: bool = False) -> None:
    """Raise Superseded unless `token` owns the run. With lock (inside a transaction) the row
    lock orders the caller's writes against a claim: after a takeover nothing more is written."""
    rows = owned(model, pk, token)
    if not (rows.select_for_update() if lock else rows).exists():
        raise Superseded


def beat(model: type[Job], pk: int, token: str) -> bool:
    """Stamp the heartbeat; False when `token` no longer owns the run."""
    return bool(owned(model, pk, token).update(heartbeat_at=timezone.now()))


def cancel_requested(model: type[Job], pk: int) -> bool:
    return model.objects.filter(pk=pk, cancel_requested=True).exists()


def finish(model: type[Job], pk: int, token: str, status: str, **fields) -> bool:
    """End the run with `status` if `token` still owns it; a superseded worker changes nothing."""
    return bool(owned(model, pk, token).update(status=status, cancel_requested=False, finished_at=timezone.now(),
                                               **fields))


def died_reason(attempts: int, last_seen: dt.datetime | None) -> str:
    """The error of a run failed by give_up, in English for logs and the admin (the run page
    words it in the reader's language from attempts and heartbeat_at)."""
    when = timezone.localtime(last_seen).strftime("%Y-%m-%d %H:%M:%S %Z") if last_seen else "unknown"
    return (f"the worker died {attempts} times while running this run; last at {when}; "
            "see the worker log; Resume to try again")


def give_up(runs: QuerySet, *, max_attempts: int) -> list[int]:
    """Fail the runs of `runs` that were claimed max_attempts times (their workers all died),
    with the reason; returns their ids. Conditional on the row as read, like the claim."""
    model, failed = runs.model, []
    for pk, attempts, seen in runs.filter(attempts__gte=max_attempts).values_list("pk", "attempts", "heartbeat_at"):
        if runs.filter(pk=pk, attempts=attempts, heartbeat_at=seen).update(
                status=model.Status.FAILED, runner_token="", cancel_requested=False, finished_at=timezone.now(),
                stop_reason=model.StopReason.WORKER_DIED, error=died_reason(attempts, seen)):
            failed.append(pk)
    return failed


def is_stalled(run: Job, *, stall_seconds: float) -> bool:
    """No heartbeat for stall_seconds in a status where a live worker beats (run.STALLS)."""
    if run.status not in run.STALLS:
        return False
    last = run.heartbeat_at or run.started_at or run.created_at
    return timezone.now() - last > dt.timedelta(seconds=stall_seconds)


def can_cancel(run: Job) -> bool:
    return run.is_active and not run.cancel_requested


def cancel(run: Job, *, stall_seconds: float) -> None:
    """A queued (or stalled) run is cancelled at once; a running one stops at its owner's next look."""
    model = type(run)
    with transaction.atomic():
        run = model.objects.select_for_update().get(pk=run.pk)
        if run.status == model.Status.QUEUED or is_stalled(run, stall_seconds=stall_seconds):
            run.status, run.finished_at, run.runner_token = model.Status.CANCELLED, timezone.now(), ""
            run.stop_reason = model.StopReason.CANCELLED
            run.save(update_fields=["status", "finished_at", "runner_token", "stop_reason"])
        elif run.status == model.Status.RUNNING:
            run.cancel_requested = True
            run.save(update_fields=["cancel_requested"])


def requeue(run: Job, **fields) -> None:
    """Queued again with no owner, by an operator (a resume): the attempts count starts again.
    A worker that is in fact still alive sees its token gone at its next write and stops. The
    caller enqueues the task (after its transaction commits)."""
    type(run).objects.filter(pk=run.pk).update(status=type(run).Status.QUEUED, runner_token="", attempts=0,
                                               stop_reason="", **fields)


def requeue_stalled(model: type[Job], *, stall_seconds: float, max_attempts: int) -> list[int]:
    """Queue again the running runs whose worker died (no heartbeat for stall_seconds); returns
    their ids for the caller to enqueue. Why: the broker would redeliver a killed worker's
    acks_late task only after its visibility timeout (hours). Queued runs are left alone: they
    wait for a worker, and queueing them again would only pile up messages. Each run is
    requeued only if its heartbeat did not move since it was read, so a worker that beats
    again just then keeps it, and a second look does not requeue it twice. A run whose
    worker died on each of its max_attempts claims is failed with the reason, not requeued."""
    requeued = []
    stalled = model.objects.filter(status=model.Status.RUNNING, heartbeat_at__lt=_cutoff(stall_seconds))
    give_up(stalled, max_attempts=max_attempts)
    for pk, seen in stalled.filter(attempts__lt=max_attempts).order_by("pk").values_list("pk", "heartbeat_at"):
        if model.objects.filter(pk=pk, status=model.Status.RUNNING, heartbeat_at=seen).update(
                status=model.Status.QUEUED, runner_token=""):
            requeued.append(pk)
    return requeued


class Heartbeat:
    """A thread that stamps the run's heartbeat every `every` seconds while this process lives
    and `token` owns the run, so a long load or evaluation is never taken for a dead worker;
    only a dead process (or a superseded owner) stops beating. A context manager."""

    def __init__(self, model: type[Job], pk: int, *, token: str, every: float):
        self.model, self.pk, self.token, self.every = model, pk, token, every
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._beat, name=f"heartbeat-{model._meta.model_name}-{pk}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopped.set()
        self.thread.join()

    def _beat(self) -> None:
        try:
            while not self.stopped.wait(self.every):
                if not beat(self.model, self.pk, self.token):
                    return  # superseded: the new owner beats now
        finally:
            connection.close()  # `connection` is per thread: this closes the beater's own
