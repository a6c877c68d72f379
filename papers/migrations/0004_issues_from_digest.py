"""Weekly issues move from the digest app into the knowledge base, keeping their rows.

The tables are renamed, not copied: ids, entries, editorials and the deliveries pointing at
them stay as they are, and the explicitly named constraints and indexes (issueentry_paper_once,
issueeditorial_one_per_lang, issue_status_week_idx) keep their names. Django's generated
names (primary keys, foreign keys) keep their digest_ prefix; nothing looks them up by name.
The content types move too, so editors' permissions and the admin history follow the models.
digest.0003 then drops the models from the digest app's state.
"""

import django.db.models.deletion
from django.db import migrations, models

TABLES = ["issue", "issueentry", "issueeditorial"]


def _renames(old: str, new: str) -> list[str]:
    return [f"ALTER TABLE {old}_{t} RENAME TO {new}_{t}" for t in TABLES] + [
        f"ALTER SEQUENCE IF EXISTS {old}_{t}_id_seq RENAME TO {new}_{t}_id_seq" for t in TABLES
    ]


def _move_content_types(old: str, new: str):
    def move(apps, schema_editor):
        ContentType = apps.get_model("contenttypes", "ContentType")
        types = ContentType.objects.using(schema_editor.connection.alias)
        for model in TABLES:
            if not types.filter(app_label=new, model=model).exists():
                types.filter(app_label=old, model=model).update(app_label=new)

    return move


class Migration(migrations.Migration):

    dependencies = [
        ("contenttypes", "0002_remove_content_type_name"),
        ("digest", "0002_digest_subscribers_deliveries"),  # created the tables renamed here
        ("papers", "0003_cjk_bigram_indexes"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[
                migrations.RunSQL(_renames("digest", "papers"), reverse_sql=_renames("papers", "digest")),
            ],
            state_operations=[
                migrations.CreateModel(
                    name='Issue',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('week_start', models.DateField(unique=True, verbose_name='week starts')),
                        ('week_end', models.DateField(verbose_name='week ends')),
                        ('status', models.CharField(choices=[('draft', 'draft'), ('published', 'published')], default='draft', max_length=16, verbose_name='status')),
                        ('published_at', models.DateTimeField(blank=True, null=True, verbose_name='published at')),
                        ('source_urls', models.JSONField(blank=True, default=list, verbose_name='original URLs')),
                        ('frozen_content', models.JSONField(blank=True, editable=False, null=True, verbose_name='content as published')),
                        ('source', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='issues', to='papers.sourcedocument')),
                    ],
                    options={
                        'verbose_name': 'issue',
                        'verbose_name_plural': 'issues',
                        'ordering': ['-week_start'],
                    },
                ),
                migrations.CreateModel(
                    name='IssueEntry',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('position', models.PositiveSmallIntegerField(verbose_name='position')),
                        ('issue', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='entries', to='papers.issue')),
                        ('paper', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='issue_entries', to='papers.paper')),
                    ],
                    options={
                        'verbose_name': 'entry',
                        'verbose_name_plural': 'entries',
                        'ordering': ['issue', 'position'],
                    },
                ),
                migrations.AddField(
                    model_name='issue',
                    name='papers',
                    field=models.ManyToManyField(related_name='issues', through='papers.IssueEntry', to='papers.paper'),
                ),
                migrations.CreateModel(
                    name='IssueEditorial',
                    fields=[
                        ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                        ('lang', models.CharField(choices=[('ko', '한국어'), ('zh', '中文'), ('en', 'English')], max_length=8, verbose_name='language')),
                        ('body', models.TextField(verbose_name='editorial')),
                        ('origin', models.CharField(choices=[('source', 'source document'), ('editor', 'editor'), ('machine', 'machine')], default='source', max_length=16, verbose_name='origin')),
                        ('issue', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='editorials', to='papers.issue')),
                    ],
                    options={
                        'ordering': ['issue', 'lang'],
                        'constraints': [models.UniqueConstraint(fields=('issue', 'lang'), name='issueeditorial_one_per_lang')],
                    },
                ),
                migrations.AddConstraint(
                    model_name='issueentry',
                    constraint=models.UniqueConstraint(fields=('issue', 'paper'), name='issueentry_paper_once'),
                ),
                migrations.AddIndex(
                    model_name='issue',
                    index=models.Index(fields=['status', '-week_start'], name='issue_status_week_idx'),
                ),
            ],
        ),
        migrations.RunPython(_move_content_types("digest", "papers"), _move_content_types("papers", "digest")),
    ]
