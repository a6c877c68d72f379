from django.core.management.base import BaseCommand, CommandError

from synth import training
from synth.management.arguments import topic_from_arg
from synth.models import SynthesisRun, TrainingRun
from synth.training.runner import run_training
from synth.training.tasks import enqueue_training


class Command(BaseCommand):
    help = (
        "Continued pretraining on the synthetic texts of finished synthesis runs (of one topic), in this "
        "process or, with --queue, on the gpu worker. --resume RUN goes on with a stopped or killed run "
        "from its last checkpoint. Hyperparameters default to the paper's recipe (tiny model: its own)."
    )

    def add_arguments(self, parser):
        parser.add_argument("runs", nargs="*", type=int, help="synthesis run ids")
        parser.add_argument("--topic", help="instead of run ids: every finished synthesis run of this topic (id or name)")
        parser.add_argument("--base-model", help="hub id or local path (default: CPT_BASE_MODEL, empty: tiny)")
        for name in training.HYPERPARAMETERS:
            field = TrainingRun._meta.get_field(name)
            kind = {"FloatField": float, "CharField": str}.get(field.get_internal_type(), int)
            parser.add_argument("--" + name.replace("_", "-"), type=kind, help=str(field.verbose_name))
        parser.add_argument("--resume", type=int, metavar="RUN", help="go on with this training run")
        parser.add_argument("--queue", action="store_true", help="hand the run to the gpu worker")

    def handle(self, *args, **options):
        if options["resume"]:
            run = TrainingRun.objects.filter(pk=options["resume"]).first()
            if run is None:
                raise CommandError(f"no training run {options['resume']}")
            training.resume_training(run)  # a stopped run is queued again; its checkpoint is kept
        else:
            if options["topic"]:
                if options["runs"]:
                    raise CommandError("give synthesis run ids or --topic, not both")
                topic = topic_from_arg(options["topic"])
                runs = list(topic.runs.filter(status__in=training.FINISHED_SYNTHESIS))
                if not runs:
                    raise CommandError(f"topic #{topic.pk} {topic.name!r} has no finished synthesis run")
            else:
                runs = list(SynthesisRun.objects.filter(pk__in=options["runs"]))
                if len(runs) != len(set(options["runs"])) or not runs:
                    raise CommandError("give the ids of existing synthesis runs, or --topic")
            values = {name: options[name] for name in ["base_model", *training.HYPERPARAMETERS]
                      if options[name] is not None}
            try:
                run = training.start_training(synthesis_runs=runs, **values)
            except training.TrainingError as e:
                raise CommandError(str(e)) from None
        if options["queue"]:
            enqueue_training(run.pk)
            self.stdout.write(f"training run {run.pk} queued on the gpu queue")
            return
        # From the command line a run is taken over deliberately, even if it looks alive.
        status = run_training(run.pk, force=True)
        run.refresh_from_db()
        self.stdout.write(f"training run {run.pk}: {status}, step {run.step}/{run.max_steps}, "
                          f"{run.tokens_per_s or 0:.0f} tokens/s; artifacts in {run.artifacts_dir}")
        if run.error:
            raise CommandError(run.error)
