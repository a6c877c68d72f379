from django.core.management.base import BaseCommand, CommandError

from synth.models import SynthesisRun
from synth.synthesis.export import iter_jsonl


class Command(BaseCommand):
    help = "Write a synthesis run's synthetic texts as JSON Lines (to stdout, or to --output)."

    def add_arguments(self, parser):
        parser.add_argument("run", type=int, help="the run's id")
        parser.add_argument("-o", "--output", help="a file to write instead of stdout")

    def handle(self, *args, **options):
        run = SynthesisRun.objects.filter(pk=options["run"]).first()
        if run is None:
            raise CommandError(f"no synthesis run {options['run']}")
        lines = 0
        if options["output"]:
            with open(options["output"], "w", encoding="utf-8") as out:
                for line in iter_jsonl(run):
                    out.write(line)
                    lines += 1
        else:
            for line in iter_jsonl(run):
                self.stdout.write(line, ending="")
                lines += 1
        self.stderr.write(f"run {run.pk}: {lines} synthetic texts")
