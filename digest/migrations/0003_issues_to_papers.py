"""Weekly issues now belong to the knowledge base (papers.0004 renamed their tables): the
models leave this app's state, and Delivery.issue points at papers.Issue. Nothing changes
in the database; the foreign key already references the renamed table."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("digest", "0002_digest_subscribers_deliveries"),
        ("papers", "0004_issues_from_digest"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.RemoveField(
                    model_name='issueentry',
                    name='issue',
                ),
                migrations.AlterField(
                    model_name='delivery',
                    name='issue',
                    field=models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='deliveries', to='papers.issue', verbose_name='issue'),
                ),
                migrations.RemoveField(
                    model_name='issueeditorial',
                    name='issue',
                ),
                migrations.RemoveField(
                    model_name='issueentry',
                    name='paper',
                ),
                migrations.DeleteModel(
                    name='Issue',
                ),
                migrations.DeleteModel(
                    name='IssueEditorial',
                ),
                migrations.DeleteModel(
                    name='IssueEntry',
                ),
            ],
        ),
    ]
