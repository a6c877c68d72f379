"""Runs count their attempts (synth.jobs fails a run whose worker died SYNTH_MAX_ATTEMPTS /
CPT_MAX_ATTEMPTS times instead of restarting it for ever), say why they stopped (a code, so
the run page can say what to change), and training runs get a uid that names their folder.

Existing rows: stop reasons written as English phrases become codes, a finished run with none
gets the one its status implies. Every training run gets its own uid; one that never started
also moves to a folder named with it (run-<id>-<uid8>), since its old run-<id>/ may hold the
checkpoint of a run with the same id from another database. A run that started keeps its
folder: its own checkpoint is there. The column changes that need the new values come in 0005."""

import uuid
from pathlib import Path

from django.db import migrations, models

PHRASES = {"target tokens reached": "target", "call cap reached": "call_cap", "cost cap reached": "cost_cap"}
EMPTY_CORPUS_ERROR = "The topic's corpus is empty."


def forwards(apps, schema_editor):
    SynthesisRun = apps.get_model("synth", "SynthesisRun")
    TrainingRun = apps.get_model("synth", "TrainingRun")
    for run in SynthesisRun.objects.exclude(status__in=["queued", "running"]).iterator():
        if run.stop_reason in PHRASES:
            reason = PHRASES[run.stop_reason]
        elif run.status == "done":
            reached = run.target_tokens and run.synthetic_tokens >= run.target_tokens
            reason = "target" if reached else "exhausted"
        elif run.status == "cancelled":
            reason = "cancelled"
        elif run.status == "failed":
            reason = "empty_corpus" if run.error == EMPTY_CORPUS_ERROR else "error"
        else:
            reason = ""
        SynthesisRun.objects.filter(pk=run.pk).update(stop_reason=reason)
    SynthesisRun.objects.filter(status__in=["queued", "running"]).update(stop_reason="")
    for run in TrainingRun.objects.iterator():
        uid = uuid.uuid4()
        fields = {"uid": uid, "stop_reason": {"cancelled": "cancelled", "failed": "error"}.get(run.status, "")}
        if run.started_at is None and run.artifacts_dir:
            fields["artifacts_dir"] = str(Path(run.artifacts_dir).parent / f"run-{run.pk}-{uid.hex[:8]}")
        TrainingRun.objects.filter(pk=run.pk).update(**fields)


def backwards(apps, schema_editor):
    SynthesisRun = apps.get_model("synth", "SynthesisRun")
    for phrase, code in PHRASES.items():
        SynthesisRun.objects.filter(stop_reason=code).update(stop_reason=phrase)
    SynthesisRun.objects.exclude(stop_reason__in=list(PHRASES)).update(stop_reason="")


class Migration(migrations.Migration):

    dependencies = [
        ('synth', '0003_trainingrun_runner_token'),
    ]

    operations = [
        migrations.AlterModelOptions(
            name='synthesisrun',
            options={'ordering': ['-created_at'], 'permissions': [('run_synthesis', 'Can start, cancel and resume synthesis runs')], 'verbose_name': 'synthesis run', 'verbose_name_plural': 'synthesis runs'},
        ),
        migrations.AlterModelOptions(
            name='trainingrun',
            options={'ordering': ['-created_at'], 'permissions': [('run_training', 'Can start, cancel and resume training runs')], 'verbose_name': 'training run', 'verbose_name_plural': 'training runs'},
        ),
        migrations.AddField(
            model_name='synthesisrun',
            name='attempts',
            field=models.PositiveIntegerField(default=0, verbose_name='attempts'),
        ),
        migrations.AddField(
            model_name='trainingrun',
            name='attempts',
            field=models.PositiveIntegerField(default=0, verbose_name='attempts'),
        ),
        migrations.AddField(
            model_name='trainingrun',
            name='stop_reason',
            field=models.CharField(blank=True, max_length=200),
        ),
        # Nullable first: a callable default on AddField gives every existing row the same uuid.
        migrations.AddField(
            model_name='trainingrun',
            name='uid',
            field=models.UUIDField(null=True, editable=False),
        ),
        migrations.RunPython(forwards, backwards),
    ]
