from django.core.management.base import BaseCommand, CommandError

from papers import embeddings
from papers.ask import passages
from papers.embeddings import EmbeddingError
from papers.models import Paper
from papers.tasks import embed_paper


class Command(BaseCommand):
    help = (
        "Embed the papers' texts and commentary for search, and cut them into passages for answers "
        "(default: every paper). Safe to re-run: "
        "only texts whose content or model changed are embedded again."
    )

    def add_arguments(self, parser):
        parser.add_argument("paper_ids", nargs="*", type=int, help="only these papers")
        parser.add_argument("--queue", action="store_true", help="enqueue one Celery task per paper instead")

    def handle(self, *args, paper_ids, queue, **options):
        papers = Paper.objects.order_by("pk")
        if paper_ids:
            papers = papers.filter(pk__in=paper_ids)
            if missing := sorted(set(paper_ids) - set(papers.values_list("pk", flat=True))):
                raise CommandError(f"no paper with id {', '.join(map(str, missing))}")
        if queue:
            for pk in papers.values_list("pk", flat=True):
                embed_paper.delay(pk)
            self.stdout.write(f"queued {papers.count()} papers on 'default'")
            return
        total = embeddings.EmbedReport()
        for paper in papers.prefetch_related("texts", "commentaries"):
            try:
                report = embeddings.embed_paper(paper)
                passage_report = passages.update_passages(paper)
            except EmbeddingError as e:
                raise CommandError(f"paper {paper.pk}: {e}") from e
            for name in ("created", "updated", "unchanged", "removed"):
                setattr(total, name, getattr(total, name) + getattr(report, name))
            if options["verbosity"] > 1:
                self.stdout.write(f"{paper.pk} {paper.title[:60]}: {report.line()}; {passage_report.line()}")
        self.stdout.write(f"{embeddings.model_name()}: {total.line()}")
