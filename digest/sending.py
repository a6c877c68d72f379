"""Mailing an issue to its subscribers, exactly once each.

Every (issue, subscriber) has one Delivery row (unique). A sender claims a row with a
conditional update (queued -> sending) before it talks to SMTP, so two workers, a retry or
a second `send_issue` command never send the same row twice: the loser updates 0 rows.
One sender works on an issue at a time (a PostgreSQL advisory lock); others return at once.

The one window no claim closes: the SMTP server has accepted a message and the sender dies
before it marks the row sent. Such a row stays 'sending'; hold_interrupted() turns it into
'unknown', and only an editor sends it again (release_unknown) or marks it sent (mark_sent).

A failure of the server or the connection (refused, dropped, timed out, our login refused)
is nobody's address's fault: the row goes back to the queue without spending an attempt, and
the pass stops until the server is back. Only replies about a message count as attempts.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from dataclasses import dataclass

from django.conf import settings
from django.db import connection as db_connection
from django.db.models import Count, F
from django.utils import timezone

from digest import mail
from digest.issues import freeze_if_published
from digest.models import Delivery, Subscriber
from papers.models import Issue

log = logging.getLogger(__name__)

BATCH = 200  # rows read per query; each is still claimed on its own
# pg_try_advisory_lock(SENDER_LOCK, issue id): the one sender of an issue at a time.
SENDER_LOCK = 0x64696765  # "dige"


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
    """One pass over the issue's queued deliveries that are due at `now`, in id order. If
    another sender is working on this issue, returns at once: that one sends them."""
    with _sole_sender(issue) as alone:
        if not alone:
            return SendReport(stopped="another sender is sending this issue")
        return _send_due(issue, now=now)


@contextlib.contextmanager
def _sole_sender(issue: Issue):
    """Whether this process holds the issue's sender lock. A session lock, so a sender that
    dies (SIGKILL, OOM) lets go with its database connection."""
    if db_connection.vendor != "postgresql":
        yield True
        return
    with db_connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", [SENDER_LOCK, issue.pk])
        alone = cursor.fetchone()[0]
    try:
        yield alone
    finally:
        if alone:
            with db_connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [SENDER_LOCK, issue.pk])


def _send_due(issue: Issue, *, now: dt.datetime | None) -> SendReport:
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
    # Committed durably before SMTP is spoken to (no asynchronous commit here): a claim lost
    # in a database crash would put a row that may have been mailed back in the queue.
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
        if e.connection_lost:
            # The server is away or refuses us: not this address's fault, and not an attempt.
            Delivery.objects.filter(pk=delivery.pk, status=Delivery.Status.SENDING).update(
                status=Delivery.Status.QUEUED, attempts=F("attempts") - 1, last_error=str(e)
            )
            report.retrying += 1
            report.stopped = str(e)
            return
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


def hold_interrupted(*, older_than: dt.timedelta | None = None) -> int:
    """Rows claimed more than `older_than` ago and still 'sending' become 'unknown'.

    Why: a sender killed (OOM, deploy, power) between claiming a row and recording the
    result leaves it in 'sending' for ever. Whether the mail left cannot be known from here:
    the server may have answered 250 the moment before the sender died. Sending it again
    could mail someone twice, so the row waits for an editor (release_unknown, mark_sent).
    A live send finishes within EMAIL_TIMEOUT, far below DIGEST_SENDING_STALE_AFTER, so an
    old claim means the sender is gone."""
    older_than = dt.timedelta(seconds=settings.DIGEST_SENDING_STALE_AFTER) if older_than is None else older_than
    held = Delivery.objects.filter(
        status=Delivery.Status.SENDING, claimed_at__lte=timezone.now() - older_than
    ).update(status=Delivery.Status.UNKNOWN, last_error="the sender stopped while sending: it may have been mailed")
    if held:
        log.warning("%d deliveries left in 'sending' by a stopped sender are held as 'unknown' for an editor", held)
    return held


def release_unknown(deliveries) -> list[int]:
    """An editor's word that these 'unknown' rows were not mailed: they are queued to be sent.
    Returns the issues that now have rows to send."""
    rows = deliveries.filter(status=Delivery.Status.UNKNOWN)
    issue_ids = list(rows.values_list("issue_id", flat=True).distinct())
    rows.update(status=Delivery.Status.QUEUED, next_attempt_at=timezone.now(), last_error="released by an editor")
    return issue_ids


def mark_sent(deliveries) -> int:
    """An editor's word that these 'unknown' rows were mailed (e.g. the SMTP server's log shows it)."""
    return deliveries.filter(status=Delivery.Status.UNKNOWN).update(
        status=Delivery.Status.SENT, sent_at=timezone.now(), last_error="marked sent by an editor"
    )


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
