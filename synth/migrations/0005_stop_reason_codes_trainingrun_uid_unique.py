"""After 0004 filled them: stop reasons are codes with choices, and every training run's uid
is set and unique. A migration of its own, so the row updates and these column changes never
share a transaction (PostgreSQL may refuse to alter a table with pending trigger events)."""

import uuid

from django.db import migrations, models

STOP_REASONS = [('target', 'target tokens reached'), ('exhausted', 'every planned unit ran'), ('call_cap', 'call cap reached'), ('cost_cap', 'cost cap reached'), ('cancelled', 'cancelled'), ('empty_corpus', "the topic's corpus is empty"), ('error', 'an error stopped it'), ('worker_died', 'its worker died too often')]


class Migration(migrations.Migration):

    dependencies = [
        ('synth', '0004_job_attempts_stop_reason_trainingrun_uid'),
    ]

    operations = [
        migrations.AlterField(
            model_name='synthesisrun',
            name='stop_reason',
            field=models.CharField(blank=True, choices=STOP_REASONS, max_length=32, verbose_name='stop reason'),
        ),
        migrations.AlterField(
            model_name='trainingrun',
            name='stop_reason',
            field=models.CharField(blank=True, choices=STOP_REASONS, max_length=32, verbose_name='stop reason'),
        ),
        migrations.AlterField(
            model_name='trainingrun',
            name='uid',
            field=models.UUIDField(default=uuid.uuid4, editable=False, unique=True),
        ),
    ]
