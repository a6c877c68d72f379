"""Celery entry points for the digest; the work is in digest.issues and digest.sending."""

from __future__ import annotations

import datetime as dt
import logging

from celery import shared_task

from digest import issues, sending
from papers.models import Issue

log = logging.getLogger(__name__)


@shared_task(acks_late=True)
def send_issue(issue_id: int) -> str:
    """Enqueue and send one published issue. Safe to run twice at once: rows are claimed."""
    issue = Issue.objects.filter(pk=issue_id, status=Issue.Status.PUBLISHED).first()
    if issue is None:
        return "not published"  # unpublished or deleted after it was queued
    report = sending.send_issue(issue)
    if report.retry_at:  # temporary failures wait out their backoff, then this task runs again
        send_issue.apply_async((issue_id,), eta=report.retry_at)
    log.info("issue %s: %s", issue, report)
    return str(report)


@shared_task
def build_weekly_issue() -> int:
    """The draft for the week that just ended (runs Monday morning, DIGEST_TIMEZONE)."""
    issue = issues.build_issue(week=issues.local_today() - dt.timedelta(days=7))
    return issue.pk


@shared_task
def send_published_issues() -> list[int]:
    ids = sending.issues_never_sent()
    for issue_id in ids:
        send_issue.delay(issue_id)
    return ids


@shared_task
def requeue_stale_deliveries() -> int:
    # See sending.requeue_stale for why rows get stuck; due rows whose send task was lost
    # (a broker restart) are picked up here too.
    requeued = sending.requeue_stale()
    for issue_id in sending.issues_with_due_deliveries():
        send_issue.delay(issue_id)
    return requeued
