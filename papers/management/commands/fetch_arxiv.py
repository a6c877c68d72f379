from django.core.management.base import BaseCommand, CommandError

from papers.ingest import arxiv
from papers.tasks import enqueue_enrichment


class Command(BaseCommand):
    help = (
        "Fetch papers from the arXiv API: new ones for ARXIV_QUERY (or --query), given ids (--id), "
        "or the ids of papers known only by title (--resolve-titles). New and changed papers are "
        "queued for enrichment. Safe to re-run."
    )

    def add_arguments(self, parser):
        parser.add_argument("--query", help="an arXiv search_query, e.g. 'cat:cs.CL AND abs:\"synthetic data\"'")
        parser.add_argument("--id", action="append", default=[], dest="ids", metavar="ID",
                            help="an arXiv id or abs URL, e.g. 2409.07431 (repeatable)")
        parser.add_argument("--resolve-titles", action="store_true",
                            help="look up papers without an arXiv id by their exact title")
        parser.add_argument("--max-results", type=int, help="at most this many entries (default ARXIV_MAX_RESULTS)")
        parser.add_argument("--no-enrich", action="store_true", help="store only; do not queue enrichment")

    def handle(self, *args, query, ids, resolve_titles, max_results, no_enrich, **options):
        changed = []
        try:
            if ids:
                report = arxiv.fetch_ids(ids)
                self.stdout.write(f"ids: {report.line()}")
                changed += report.changed_ids
            if resolve_titles:
                resolved = arxiv.resolve_titles()
                self.stdout.write(f"titles: {resolved.line()}")
                for line in resolved.unresolved:
                    self.stdout.write(f"  {line}")
                changed += resolved.resolved
            if query or not (ids or resolve_titles):
                report = arxiv.fetch_new(query=query, max_results=max_results)
                self.stdout.write(f"query: {report.line()}")
                changed += report.changed_ids
        except arxiv.ArxivError as e:
            raise CommandError(f"arXiv: {e} (nothing from this fetch was stored)") from e
        if changed and not no_enrich:
            enqueue_enrichment(changed)
            self.stdout.write(f"{len(changed)} papers queued for enrichment")
