from django.core.management.base import BaseCommand, CommandError

from synth.management.arguments import topic_from_arg
from synth.models import SynthesisRun
from synth.synthesis import RunError, entigraph, pages, resume_run, start_run
from synth.synthesis.runner import run_synthesis
from synth.synthesis.tasks import enqueue_synthesis


class Command(BaseCommand):
    help = (
        "Synthesize a corpus for a topic (by id or name), in this process or, with --queue, on the "
        "Celery workers. --resume RUN goes on with a stopped or killed run; its done units are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument("topic", nargs="?", help="the topic's id or name")
        parser.add_argument("--strategy", choices=list(entigraph.STAGES), default=entigraph.ENTIGRAPH)
        parser.add_argument("--target-tokens", type=int, help="synthetic tokens to stop at (default: 100x the source)")
        parser.add_argument("--max-calls", type=int, default=0, help="cap on LLM calls (0: none)")
        parser.add_argument("--max-cost", type=float, default=0, help="cap on LLM cost in USD (0: none)")
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--max-entities", type=int, default=12)
        parser.add_argument("--triples", type=int, default=10, help="sampled triples per document")
        parser.add_argument("--resume", type=int, metavar="RUN", help="go on with this run instead of starting one")
        parser.add_argument("--queue", action="store_true", help="hand the run to the workers instead of running it here")

    def handle(self, *args, **options):
        if options["resume"]:
            run = SynthesisRun.objects.filter(pk=options["resume"]).first()
            if run is None:
                raise CommandError(f"no synthesis run {options['resume']}")
            # From the command line a resume is deliberate: take the run over even if it looks alive.
            if not resume_run(run, force=True):
                raise CommandError(f"run {run.pk} is {run.status}: nothing to resume")
        else:
            if not options["topic"]:
                raise CommandError("name a topic (id or name), or --resume RUN")
            topic = topic_from_arg(options["topic"])
            try:
                run = start_run(
                    topic=topic, strategy=options["strategy"], target_tokens=options["target_tokens"],
                    max_calls=options["max_calls"], max_cost_usd=options["max_cost"], seed=options["seed"],
                    max_entities=options["max_entities"], triples_per_document=options["triples"],
                )
            except RunError as e:
                raise CommandError(str(e)) from None
        if options["queue"]:
            enqueue_synthesis(run.pk)
            self.stdout.write(f"run {run.pk} queued")
            return
        status = run_synthesis(run.pk)
        run.refresh_from_db()
        outcome = pages.outcome(run)
        self.stdout.write(
            f"run {run.pk}: {status}" + (f" ({outcome.summary})" if outcome else "")
            + f"; {run.synthetic_documents} texts, {run.synthetic_tokens} synthetic tokens"
            f" from {run.source_tokens} source tokens, {run.calls} LLM calls, ${run.cost_usd}"
        )
        if outcome and outcome.advice:
            self.stdout.write(outcome.advice)
