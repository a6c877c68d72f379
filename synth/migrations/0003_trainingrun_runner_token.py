"""Training runs get the owner token synthesis runs have (synth.jobs): a worker claims the run
by writing its token, and a superseded trainer stops before writing to the run folder.
Existing rows get an empty token: no owner, as a queued run has."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('synth', '0002_cpt_training'),
    ]

    operations = [
        migrations.AddField(
            model_name='trainingrun',
            name='runner_token',
            field=models.CharField(blank=True, max_length=32),
        ),
    ]
