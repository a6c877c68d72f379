from django.core.management.base import BaseCommand, CommandError

from papers import enrich, llm
from papers.models import Paper
from papers.tasks import embed_paper, enqueue_enrichment


class Command(BaseCommand):
    help = (
        "Summarize, translate and tag papers: the given ids, --all, or (by default) those with a step "
        "that never ran or failed. Queued for the Celery worker, or run here with --inline. "
        "Safe to re-run: unchanged papers are answered from the LLM cache."
    )

    def add_arguments(self, parser):
        parser.add_argument("paper_ids", nargs="*", type=int)
        parser.add_argument("--all", action="store_true", help="every paper")
        parser.add_argument("--inline", action="store_true", help="run the steps in this process instead of queueing them")

    def handle(self, *args, paper_ids, all, inline, **options):
        if all:
            paper_ids = list(Paper.objects.order_by("pk").values_list("pk", flat=True))
        elif not paper_ids:
            paper_ids = enrich.needs_enrichment()
        if missing := set(paper_ids) - set(Paper.objects.filter(pk__in=paper_ids).values_list("pk", flat=True)):
            raise CommandError(f"no such paper: {', '.join(map(str, sorted(missing)))}")
        if not llm.is_configured():
            self.stdout.write("offline mode (LLM_BASE_URL is empty): extractive summaries only, no translations")
        if not inline:
            enqueue_enrichment(paper_ids)
            self.stdout.write(f"{len(paper_ids)} papers queued for enrichment")
            return
        for paper in Paper.objects.filter(pk__in=paper_ids).order_by("pk"):
            steps = enrich.run_all(paper)
            embed_paper(paper.pk)  # the task's body, run here
            steps += list(paper.enrichment_steps.filter(step="embed"))
            summary = ", ".join(f"{s.step}{'/' + s.lang if s.lang else ''} {s.status}" for s in steps)
            self.stdout.write(f"{paper.pk} {paper.title[:60]}: {summary}")
