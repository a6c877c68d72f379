from django.core.management.base import BaseCommand, CommandError

from papers import llm
from synth.management.arguments import topic_from_arg
from synth.training.questions import generate_questions


class Command(BaseCommand):
    help = "Ask the LLM for closed-book questions about a topic's source documents. Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("topic", help="the topic's id or name")
        parser.add_argument("--per-document", type=int, help="questions per document (default: CPT_QUESTIONS_PER_DOCUMENT)")

    def handle(self, *args, **options):
        topic = topic_from_arg(options["topic"])
        if not llm.is_configured():
            raise CommandError("no LLM is configured (LLM_BASE_URL): add questions in the admin instead")
        report = generate_questions(topic, per_document=options["per_document"])
        self.stdout.write(f"{topic}: {report.created} questions created, {report.skipped} skipped, "
                          f"{len(report.errors)} documents failed")
        for error in report.errors:
            self.stderr.write(error)
