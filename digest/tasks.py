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
    """Enqueue and send one published issue. Safe to run twice at once: one sender per issue
    works, the other returns. Rows left for later (temporary errors, the SMTP server away)
    are sent by send_due_deliveries, the one path that comes back to an issue."""
    issue = Issue.objects.filter(pk=issue_id, status=Issue.Status.PUBLISHED).first()
    if issue is None:
        return "not published"  # unpublished or deleted after it was queued
    report = sending.send_issue(issue)
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
def send_due_deliveries() -> int:
    """Beat, every minute: rows whose backoff is over (also those whose send task was lost
    to a broker restart) are sent; rows a dead sender left in 'sending' are held for an editor."""
    held = sending.hold_interrupted()
    for issue_id in sending.issues_with_due_deliveries():
        send_issue.delay(issue_id)
    return held
