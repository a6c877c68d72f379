import datetime as dt
import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from digest import issues, sending
from papers.models import Issue


class Command(BaseCommand):
    help = (
        "Mail a published issue to its confirmed subscribers. Safe to re-run, also after a crash: "
        "nobody gets the same issue twice."
    )

    def add_arguments(self, parser):
        parser.add_argument("week", nargs="?", help="Any date in the issue's week (YYYY-MM-DD); default: the latest published issue")
        parser.add_argument("--publish", action="store_true", help="Publish the issue first if it is a draft")
        parser.add_argument("--wait", action="store_true", help="Stay until temporary failures are retried or given up")
        parser.add_argument("--hold-stale", action="store_true",
                            help="First hold deliveries left in 'sending' by a stopped worker as 'unknown' "
                                 "(see DIGEST_SENDING_STALE_AFTER); they are not sent again")
        parser.add_argument("--release-unknown", action="store_true",
                            help="Send the issue's 'unknown' deliveries again: you have checked that they were not mailed")

    def handle(self, *args, week=None, publish=False, wait=False, hold_stale=False, release_unknown=False, **options):
        issue = self._issue(week)
        if publish:
            issue = issues.publish_issue(issue)
        if issue.status != Issue.Status.PUBLISHED:
            raise CommandError(f"issue {issue} is a draft: publish it in the admin, or pass --publish")
        if hold_stale:
            self.stdout.write(f"held {sending.hold_interrupted()} interrupted deliveries as unknown")
        if release_unknown:
            sending.release_unknown(issue.deliveries.all())
        report = sending.send_issue(issue)
        self.stdout.write(f"{issue}: {report}")
        while wait and report.retry_at:
            time.sleep(max(0.0, (report.retry_at - timezone.now()).total_seconds()))
            report = sending.send_due(issue)
            self.stdout.write(f"{issue}: {report}")

    def _issue(self, week: str | None) -> Issue:
        if week is None:
            issue = Issue.objects.filter(status=Issue.Status.PUBLISHED).order_by("-week_start").first()
            if issue is None:
                raise CommandError("no published issue")
            return issue
        try:
            day = dt.date.fromisoformat(week)
        except ValueError:
            raise CommandError(f"{week!r} is not a date (YYYY-MM-DD)") from None
        issue = Issue.objects.filter(week_start=issues.week_bounds(day)[0]).first()
        if issue is None:
            raise CommandError(f"no issue for the week of {day}")
        return issue
