"""Mailing an issue to its subscribers, exactly once each.

Every (issue, subscriber) has one Delivery row (unique). A sender claims a row with a
conditional update (queued -> sending) before it talks to SMTP, so two workers, a retry or
a second `send_issue` command never send the same row twice: the loser updates 0 rows.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection as db_connection, transaction
from django.db.models import Count, F
from django.utils import timezone

from digest import mail
from digest.issues import freeze_if_published
from digest.models import Delivery, Subscriber
from papers.models import Issue

log = logging.getLogger(__name__)

BATCH = 200  # rows read per query; each is still claimed on its own


@dataclass
class SendReport:
    enqueued: int = 0
    sent: int = 0
    skipped: int = 0
    retrying: int = 0
    failed: int = 0
    stopped: str = ""  # why the pass ended early: the SMTP server went away
    retry_at: dt.datetime | None = None  # when queued rows are next due, if any are left

    def __str__(self) -> str:
        line = f"{self.enqueued} queued, {self.sent} sent, {self.skipped} skipped, {self.retrying} to retry, {self.failed} failed"
        if self.stopped:
            line += f"; stopped early: {self.stopped}"
        if self.retry_at:
            line += f"; next attempt at {timezone.localtime(self.retry_at):%Y-%m-%d %H:%M:%S}"
        return line


def enqueue_issue(issue: Issue) -> int:
    """A queued delivery for every confirmed subscriber who has none for this issue yet.
    Returns how many were added; running it again adds only newly confirmed subscribers."""
    if issue.status != Issue.Status.PUBLISHED:
        raise ValueError(f"issue {issue} is not published")
    ids = Subscriber.objects.filter(status=Subscriber.Status.CONFIRMED).values_list("pk", flat=True)
    before = Delivery.objects.filter(issue=issue).count()
    Delivery.objects.bulk_create(
        [Delivery(issue=issue, subscriber_id=pk) for pk in ids.iterator(chunk_size=2000)],
        ignore_conflicts=True,  # delivery_once_per_issue_subscriber: existing rows stay as they are
        batch_size=1000,
    )
    return Delivery.objects.filter(issue=issue).count() - before


def send_issue(issue: Issue, *, now: dt.datetime | None = None) -> SendReport:
    """Enqueue the issue for every confirmed subscriber and send what is due."""
    added = enqueue_issue(issue)
    report = send_due(issue, now=now)
    report.enqueued = added
    return report


def send_due(issue: Issue, *, now: dt.datetime | None = None) -> SendReport:
    """One pass over the issue's queued deliveries that are due at `now`, in id order."""
    issue = freeze_if_published(issue)
    now = now or timezone.now()
    report = SendReport()
    renderer = mail.IssueMail(issue)
    connection = mail.open_connection()
    last_id = 0
    try:
        while not report.stopped:
            batch = list(
                Delivery.objects.filter(
                    issue=issue, status=Delivery.Status.QUEUED, next_attempt_at__lte=now, pk__gt=last_id
                )
                .select_related("subscriber")
                .prefetch_related("subscriber__tags")
                .order_by("pk")[:BATCH]
            )
            if not batch:
                break
            for delivery in batch:
                last_id = delivery.pk
                _send_one(delivery, renderer=renderer, connection=connection, report=report)
                if report.stopped:
                    break
    finally:
        mail.close_quietly(connection)
    report.retry_at = _next_due(issue, stopped=bool(report.stopped))
    return report


def _claim(delivery: Delivery) -> bool:
    with transaction.atomic():
        if db_connection.vendor == "postgresql":
            # The claim needs to be visible to other senders at once, not on disk at once:
            # should PostgreSQL crash before flushing it, the row is back to 'queued', which is
            # where requeue_stale would have put it anyway. The 'sent' mark stays synchronous.
            # Saves one fsync per message (bench/digest.py).
            with db_connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        return bool(Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.QUEUED).update(
            status=Delivery.Status.SENDING, claimed_at=timezone.now(), attempts=F("attempts") + 1
        ))


def _send_one(delivery: Delivery, *, renderer: mail.IssueMail, connection, report: SendReport) -> None:
    claimed = _claim(delivery)
    if not claimed:
        return  # another sender has it, or it changed since we read it
    attempts = delivery.attempts + 1
    subscriber = delivery.subscriber
    if subscriber.status != Subscriber.Status.CONFIRMED:
        _finish(delivery, Delivery.Status.SKIPPED, error=f"subscriber is {subscriber.status}")
        report.skipped += 1
        return
    message = renderer.message_for(subscriber, tags=frozenset(t.slug for t in subscriber.tags.all()))
    if message is None:
        _finish(delivery, Delivery.Status.SKIPPED, error="nothing in this issue matches the subscriber's tags")
        report.skipped += 1
        return
    try:
        mail.send(message, connection=connection)
    except mail.MailError as e:
        if e.bad_address:
            _finish(delivery, Delivery.Status.FAILED, error=str(e))
            Subscriber.objects.filter(pk=subscriber.pk).update(status=Subscriber.Status.BOUNCED, bounce_reason=str(e))
            log.warning("%s refused permanently, address marked: %s", subscriber.email, e)
            report.failed += 1
        elif e.permanent or attempts >= settings.DIGEST_MAX_ATTEMPTS:
            _finish(delivery, Delivery.Status.FAILED, error=str(e))
            report.failed += 1
        else:
            # 60 s, 2 min, 4 min, ... with the default DIGEST_RETRY_BACKOFF.
            wait = dt.timedelta(seconds=settings.DIGEST_RETRY_BACKOFF * 2 ** (attempts - 1))
            Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING).update(
                status=Delivery.Status.QUEUED, next_attempt_at=timezone.now() + wait, last_error=str(e)
            )
            report.retrying += 1
        if e.connection_lost:
            report.stopped = str(e)
        return
    _finish(delivery, Delivery.Status.SENT)
    report.sent += 1


def _finish(delivery: Delivery, status: str, *, error: str = "") -> None:
    Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING).update(
        status=status, sent_at=timezone.now() if status == Delivery.Status.SENT else None, last_error=error
    )


def _next_due(issue: Issue, *, stopped: bool) -> dt.datetime | None:
    first = (
        Delivery.objects.filter(issue=issue, status=Delivery.Status.QUEUED)
        .order_by("next_attempt_at")
        .values_list("next_attempt_at", flat=True)
        .first()
    )
    if first is None:
        return None
    if stopped:  # the server is away: wait out a backoff before the rows still due now
        first = max(first, timezone.now() + dt.timedelta(seconds=settings.DIGEST_RETRY_BACKOFF))
    return first


def requeue_stale(*, older_than: dt.timedelta | None = None) -> int:
    """Rows claimed more than `older_than` ago and still 'sending'.

    Why: a worker killed (OOM, deploy, power) between claiming a row and recording the
    result leaves it in 'sending' for ever, and that subscriber would never get the issue.
    A live send finishes within EMAIL_TIMEOUT, far below DIGEST_SENDING_STALE_AFTER, so an
    old claim means the sender is gone. Its mail most likely never left (the gap between the
    server's 250 and our UPDATE is tiny), so the row is queued again; the stable Message-ID
    covers the rare case where it did. Rows that keep getting stuck are given up."""
    older_than = dt.timedelta(seconds=settings.DIGEST_SENDING_STALE_AFTER) if older_than is None else older_than
    stale = Delivery.objects.filter(status=Delivery.Status.SENDING, claimed_at__lte=timezone.now() - older_than)
    given_up = stale.filter(attempts__gte=settings.DIGEST_MAX_ATTEMPTS).update(
        status=Delivery.Status.FAILED, last_error="left in 'sending' by a stopped worker too many times"
    )
    requeued = stale.update(status=Delivery.Status.QUEUED, next_attempt_at=timezone.now(), last_error="requeued: the worker sending it stopped")
    if requeued or given_up:
        log.warning("requeued %d deliveries left in 'sending', gave up %d", requeued, given_up)
    return requeued


def issues_with_due_deliveries() -> list[int]:
    return list(
        Delivery.objects.filter(status=Delivery.Status.QUEUED, next_attempt_at__lte=timezone.now())
        .values_list("issue_id", flat=True)
        .distinct()
    )


def issues_never_sent(*, within: dt.timedelta = dt.timedelta(days=14)) -> list[int]:
    """Published recently and never enqueued: the weekly beat mails them."""
    return list(
        Issue.objects.filter(status=Issue.Status.PUBLISHED, published_at__gte=timezone.now() - within, deliveries__isnull=True)
        .values_list("pk", flat=True)
        .distinct()
    )


def delivery_counts(issue: Issue) -> dict[str, int]:
    """Rows per status, every status present (for the admin's progress column)."""
    counts = dict(issue.deliveries.values_list("status").annotate(n=Count("pk")).values_list("status", "n"))
    return {status: counts.get(status, 0) for status in Delivery.Status.values}
