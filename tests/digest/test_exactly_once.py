"""Sending is exactly once: interrupted sends, a killed worker, two senders, retries."""

import datetime as dt
import threading

import pytest
from django.core.management import call_command
from django.db import connection, connections
from django.utils import timezone

from digest import sending, subscriptions, tasks
from digest.models import Delivery, Subscriber

from tests.polling import wait_until

from .conftest import make_subscriber


def _subscribers(n: int) -> list[Subscriber]:
    return [make_subscriber(f"reader{i:02d}@example.org", lang=("ko", "zh", "en")[i % 3]) for i in range(n)]


def _statuses(issue) -> dict[str, int]:
    return {k: v for k, v in sending.delivery_counts(issue).items() if v}


def _sender_lock_released(issue) -> None:
    """A dead sender's database session ends a moment after its process (PostgreSQL notices
    the closed socket), and its issue lock with it; until then another sender stands aside."""

    def released() -> bool:
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND classid = %s AND objid = %s",
                           [sending.SENDER_LOCK, issue.pk])
            return cursor.fetchone()[0] == 0

    wait_until(released, timeout=30, describe=lambda: f"the sender lock of {issue} is still held")


@pytest.mark.django_db
def test_send_cut_off_midway_then_restarted_delivers_each_subscriber_once(smtp_server, published_issue):
    people = _subscribers(12)
    smtp_server.drop_after = 5  # the server drops the connection from the 6th message on

    first = sending.send_issue(published_issue)
    assert (first.sent, first.retrying) == (5, 1)
    assert first.stopped  # it stopped instead of hammering a server that went away
    assert _statuses(published_issue) == {"sent": 5, "queued": 7}
    assert first.retry_at > timezone.now() + dt.timedelta(seconds=50)  # backoff before trying again
    cut_off = Delivery.objects.exclude(last_error="").get(status="queued")
    assert cut_off.attempts == 0  # the server went away: not an attempt at this address

    smtp_server.heal()
    call_command("send_issue", "2024-01-29")  # the restart sends every row left
    assert smtp_server.counts() == {p.email: 1 for p in people}
    assert _statuses(published_issue) == {"sent": 12}
    cut_off.refresh_from_db()
    assert cut_off.attempts == 1


@pytest.mark.django_db
def test_a_long_smtp_outage_fails_no_delivery_and_everyone_gets_the_issue_once_it_is_back(
    smtp_server, published_issue, settings
):
    settings.DIGEST_MAX_ATTEMPTS = 2
    people = _subscribers(4)
    smtp_server.go_down()  # connections refused
    report = sending.send_issue(published_issue)
    assert (report.sent, report.failed, report.retrying) == (0, 0, 1) and report.stopped
    for hours in range(1, 6):  # many more passes than DIGEST_MAX_ATTEMPTS
        again = sending.send_due(published_issue, now=timezone.now() + dt.timedelta(hours=hours))
        assert (again.sent, again.failed) == (0, 0)
    assert _statuses(published_issue) == {"queued": 4}
    assert set(Delivery.objects.values_list("attempts", flat=True)) == {0}

    smtp_server.come_back()
    assert sending.send_due(published_issue, now=timezone.now() + dt.timedelta(hours=6)).sent == 4
    assert smtp_server.counts() == {p.email: 1 for p in people}
    assert _statuses(published_issue) == {"sent": 4}


def test_one_sender_per_issue_the_other_returns_at_once(transactional_db, smtp_server, published_issue, ko_subscriber):
    sending.enqueue_issue(published_issue)
    other = connections.create_connection("default")  # another sender's database session
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_lock(%s, %s)", [sending.SENDER_LOCK, published_issue.pk])
        report = sending.send_due(published_issue)
        assert report.sent == 0 and report.stopped == "another sender is sending this issue"
        assert _statuses(published_issue) == {"queued": 1} and smtp_server.received == []
    finally:
        other.close()  # its lock goes with its session, as a killed sender's does
    _sender_lock_released(published_issue)
    assert sending.send_due(published_issue).sent == 1


@pytest.mark.django_db
def test_second_send_command_mails_no_one_twice(smtp_server, published_issue, ko_subscriber, zh_subscriber, capsys):
    call_command("send_issue", "2024-01-29")
    call_command("send_issue", "2024-01-29")
    out = capsys.readouterr().out.splitlines()
    assert out[-1].endswith("0 queued, 0 sent, 0 skipped, 0 to retry, 0 failed")
    assert smtp_server.counts() == {ko_subscriber.email: 1, zh_subscriber.email: 1}


@pytest.mark.django_db
def test_subscriber_confirmed_after_a_send_gets_the_issue_on_the_next_run(smtp_server, published_issue, ko_subscriber):
    sending.send_issue(published_issue)
    late = make_subscriber("late@example.org")
    report = sending.send_issue(published_issue)
    assert (report.enqueued, report.sent) == (1, 1)
    assert smtp_server.counts() == {ko_subscriber.email: 1, late.email: 1}


def test_two_senders_at_once_never_send_the_same_row(transactional_db, smtp_server, published_issue):
    people = _subscribers(30)
    sending.enqueue_issue(published_issue)
    reports = []

    def run():
        try:
            reports.append(sending.send_due(published_issue))
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(r.sent for r in reports) == 30
    assert smtp_server.counts() == {p.email: 1 for p in people}


def test_worker_killed_midway_holds_its_row_for_an_editor_and_sends_the_rest_once(
    smtp_env, published_issue, settings, celery_worker_process
):
    smtp_server = smtp_env
    people = _subscribers(6)
    smtp_server.hold_after = 3  # the 4th message stalls in the SMTP conversation

    tasks.send_issue.delay(published_issue.pk)
    assert smtp_server.holding.wait(timeout=60), "the worker never reached the 4th message"
    celery_worker_process.kill()  # SIGKILL, as the OOM killer would
    smtp_server.heal()
    _sender_lock_released(published_issue)

    assert sum(smtp_server.counts().values()) == 3
    assert _statuses(published_issue) == {"sent": 3, "sending": 1, "queued": 2}
    stalled = Delivery.objects.get(status="sending").subscriber.email

    settings.DIGEST_SENDING_STALE_AFTER = 0  # as if the stale time had passed (the beat task's job)
    call_command("send_issue", "2024-01-29", "--hold-stale")
    assert smtp_server.counts() == {p.email: 1 for p in people if p.email != stalled}
    assert _statuses(published_issue) == {"sent": 5, "unknown": 1}  # never sent again by itself

    call_command("send_issue", "2024-01-29", "--release-unknown")  # the editor checked: it was not mailed
    assert smtp_server.counts() == {p.email: 1 for p in people}
    assert _statuses(published_issue) == {"sent": 6}


def test_killed_after_the_servers_250_and_before_the_sent_mark_is_never_mailed_again(
    smtp_env, published_issue, settings, celery_worker_process
):
    """The one window no claim closes: the server has accepted the message, the sender dies
    before it marks the row sent. The row is held as 'unknown'; nothing sends it a second time."""
    smtp_server = smtp_env
    people = _subscribers(3)
    smtp_server.hold_accept = True  # the first message is taken in; its 250 waits for the test

    tasks.send_issue.delay(published_issue.pk)
    assert smtp_server.accepting.wait(timeout=60), "the worker never sent a message"
    # The server has the message (it is mailed); the worker dies before it can read the 250.
    celery_worker_process.kill()
    smtp_server.accept.set()
    _sender_lock_released(published_issue)
    row = Delivery.objects.get(status="sending")
    assert smtp_server.counts() == {row.subscriber.email: 1}
    assert _statuses(published_issue) == {"sending": 1, "queued": 2}

    settings.DIGEST_SENDING_STALE_AFTER = 0
    tasks.send_due_deliveries()  # what beat runs every minute: hold the row, send what is due
    call_command("send_issue", "2024-01-29")
    assert smtp_server.counts() == {p.email: 1 for p in people}
    assert _statuses(published_issue) == {"sent": 2, "unknown": 1}
    assert Delivery.objects.get(status="unknown").subscriber_id == row.subscriber_id


@pytest.mark.django_db
def test_temporary_error_is_retried_after_a_backoff(smtp_server, published_issue, ko_subscriber, en_subscriber):
    smtp_server.refuse_once[ko_subscriber.email] = "451 4.7.1 greylisted, try again later"
    report = sending.send_issue(published_issue)
    assert (report.sent, report.retrying, report.stopped) == (1, 1, "")
    row = Delivery.objects.get(subscriber=ko_subscriber)
    assert (row.status, row.attempts) == ("queued", 1)
    assert "451" in row.last_error
    assert row.next_attempt_at >= row.claimed_at + dt.timedelta(seconds=60)

    assert sending.send_due(published_issue).sent == 0  # not before its time
    assert sending.send_due(published_issue, now=row.next_attempt_at).sent == 1
    assert smtp_server.counts() == {ko_subscriber.email: 1, en_subscriber.email: 1}
    ko_subscriber.refresh_from_db()
    assert ko_subscriber.status == "confirmed"


@pytest.mark.django_db
def test_backoff_doubles_and_gives_up_after_max_attempts(smtp_server, published_issue, ko_subscriber, settings):
    settings.DIGEST_MAX_ATTEMPTS = 3
    smtp_server.refuse[ko_subscriber.email] = "452 4.2.2 mailbox full"
    sending.send_issue(published_issue)
    waits = []
    for _ in range(2):
        row = Delivery.objects.get(subscriber=ko_subscriber)
        waits.append(row.next_attempt_at - row.claimed_at)
        sending.send_due(published_issue, now=row.next_attempt_at)
    row = Delivery.objects.get(subscriber=ko_subscriber)
    assert (row.status, row.attempts) == ("failed", 3)
    assert waits[1] >= 2 * waits[0] - dt.timedelta(seconds=1)
    ko_subscriber.refresh_from_db()
    assert ko_subscriber.status == "confirmed"  # a full mailbox is not a bad address


@pytest.mark.django_db
def test_permanent_error_marks_the_address(smtp_server, published_issue, ko_subscriber, en_subscriber):
    smtp_server.refuse[ko_subscriber.email] = "550 5.1.1 no such user"
    report = sending.send_issue(published_issue)
    assert (report.sent, report.failed) == (1, 1)
    ko_subscriber.refresh_from_db()
    assert ko_subscriber.status == Subscriber.Status.BOUNCED
    assert "550" in ko_subscriber.bounce_reason
    assert Delivery.objects.get(subscriber=ko_subscriber).status == Delivery.Status.FAILED
    # The next issue's send leaves the address alone.
    assert sending.send_issue(published_issue).sent == 0
    assert smtp_server.counts() == {en_subscriber.email: 1}


@pytest.mark.django_db
def test_hold_interrupted_takes_only_old_claims(published_issue, ko_subscriber, zh_subscriber):
    sending.enqueue_issue(published_issue)
    old = timezone.now() - dt.timedelta(hours=1)
    Delivery.objects.filter(subscriber=ko_subscriber).update(status="sending", claimed_at=old, attempts=1)
    Delivery.objects.filter(subscriber=zh_subscriber).update(status="sending", claimed_at=timezone.now(), attempts=1)
    assert sending.hold_interrupted() == 1
    assert Delivery.objects.get(subscriber=ko_subscriber).status == "unknown"
    assert Delivery.objects.get(subscriber=zh_subscriber).status == "sending"  # a live sender still has it


@pytest.mark.django_db
def test_unsubscribed_after_enqueue_is_skipped(smtp_server, published_issue, ko_subscriber, en_subscriber):
    sending.enqueue_issue(published_issue)
    subscriptions.unsubscribe(ko_subscriber)
    report = sending.send_due(published_issue)
    assert (report.sent, report.skipped) == (1, 1)
    assert smtp_server.counts() == {en_subscriber.email: 1}


def test_the_database_gone_mid_send_loses_no_one_and_mails_no_one_twice(
    smtp_env, published_issue, settings, celery_worker_process
):
    """The sender's PostgreSQL session ends (as in a database restart) while the SMTP server
    holds a message it has taken in: that row cannot be marked sent and is held as 'unknown';
    the next pass mails everyone else once."""
    smtp_server = smtp_env
    people = _subscribers(4)
    smtp_server.hold_accept = True

    tasks.send_issue.delay(published_issue.pk)
    assert smtp_server.accepting.wait(timeout=60), "the worker never sent a message"
    with connection.cursor() as cursor:  # the session holding the issue's sender lock: the worker's
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' "
                       "AND classid = %s AND objid = %s", [sending.SENDER_LOCK, published_issue.pk])
        assert cursor.rowcount == 1
    smtp_server.accept.set()
    row = Delivery.objects.get(status="sending")
    wait_until(lambda: "OperationalError" in celery_worker_process.log_path.read_text()
               or "InterfaceError" in celery_worker_process.log_path.read_text(), timeout=60,
               describe=lambda: celery_worker_process.log_path.read_text()[-2000:])
    _sender_lock_released(published_issue)
    assert _statuses(published_issue) == {"sending": 1, "queued": 3}

    settings.DIGEST_SENDING_STALE_AFTER = 0
    tasks.send_due_deliveries()  # holds the row, and queues a send for the worker (still alive)
    call_command("send_issue", "2024-01-29")  # sends, or stands aside while the worker does
    wait_until(lambda: _statuses(published_issue) == {"sent": 3, "unknown": 1}, timeout=60,
               describe=lambda: f"{_statuses(published_issue)}; received {smtp_server.counts()}")
    assert smtp_server.counts() == {p.email: 1 for p in people}
    assert Delivery.objects.get(status="unknown").pk == row.pk
