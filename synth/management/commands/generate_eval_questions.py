from django.core.management.base import BaseCommand, CommandError

from papers import llm
from synth.models import Topic
from synth.training.questions import generate_questions


class Command(BaseCommand):
    help = "Ask the LLM for closed-book questions about a topic's source documents. Safe to re-run."

    def add_arguments(self, parser):
        parser.add_argument("topic", type=int, help="the topic's id")
        parser.add_argument("--per-document", type=int, help="questions per document (default: CPT_QUESTIONS_PER_DOCUMENT)")

    def handle(self, *args, **options):
        topic = Topic.objects.filter(pk=options["topic"]).first()
        if topic is None:
            raise CommandError(f"no topic {options['topic']}")
        if not llm.is_configured():
            raise CommandError("no LLM is configured (LLM_BASE_URL): add questions in the admin instead")
        report = generate_questions(topic, per_document=options["per_document"])
        self.stdout.write(f"{topic}: {report.created} questions created, {report.skipped} skipped, "
                          f"{len(report.errors)} documents failed")
        for error in report.errors:
            self.stderr.write(error)
