"""Storing a weekly issue that came with a source document (the seed digest)."""

from __future__ import annotations

import datetime as dt

from django.utils import timezone

from digest.models import Issue, IssueEditorial, IssueEntry
from papers.ingest.records import IssueRecord
from papers.models import Origin


def upsert_issue(record: IssueRecord, *, papers: list, source) -> Issue:
    """Create or update the issue of record.week_start: entries in the document's order, and
    its editorials (an editor's editorial is kept). An imported digest was already published."""
    published_at = timezone.make_aware(dt.datetime.combine(record.week_end, dt.time(12)))
    issue, created = Issue.objects.get_or_create(
        week_start=record.week_start,
        defaults={"week_end": record.week_end, "status": Issue.Status.PUBLISHED, "published_at": published_at,
                  "source": source, "source_urls": record.source_urls},
    )
    if not created:
        issue.week_end, issue.source, issue.source_urls = record.week_end, source, record.source_urls
        issue.save(update_fields=["week_end", "source", "source_urls"])
    for lang, body in record.editorials.items():
        editorial = IssueEditorial.objects.filter(issue=issue, lang=lang).first()
        if editorial is None:
            IssueEditorial.objects.create(issue=issue, lang=lang, body=body, origin=Origin.SOURCE)
        elif editorial.origin != Origin.EDITOR and editorial.body != body:
            editorial.body = body
            editorial.save(update_fields=["body"])
    wanted = [p.pk for p in papers]
    current = list(issue.entries.order_by("position").values_list("paper_id", flat=True))
    if current != wanted:
        issue.entries.all().delete()
        IssueEntry.objects.bulk_create(IssueEntry(issue=issue, paper_id=pk, position=i) for i, pk in enumerate(wanted))
    return issue
