"""Browsing the whole knowledge base: authors get a slug and a matching key, papers their arXiv
categories, where they came from, and the date the listing sorts by.

Authors that were one person under two spellings ("Zheng-Xin Yong", "Zheng Xin Yong") are
merged here by papers.authors.author_key, the rule imports follow from now on. A paper
that came from a seed file keeps "seed"; one with only arXiv versions "arxiv"; the rest
were added by an editor.
"""

import django.contrib.postgres.fields
import django.contrib.postgres.indexes
from django.db import migrations, models

import papers.models


def fill_authors_and_origins(apps, schema_editor):
    from papers.authors import author_key  # the rule itself, so old and new rows agree
    from django.utils.text import slugify

    # The merges delete rows other rows point at: check those references now, not at commit,
    # or the unique index added below meets pending trigger events.
    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
    Author = apps.get_model("papers", "Author")
    PaperAuthor = apps.get_model("papers", "PaperAuthor")
    Paper = apps.get_model("papers", "Paper")
    kept: dict[str, object] = {}
    slugs: set[str] = set()
    for author in Author.objects.order_by("pk"):
        key = author_key(author.name)
        first = kept.get(key)
        if first is not None:
            for authorship in PaperAuthor.objects.filter(author=author):
                if PaperAuthor.objects.filter(paper_id=authorship.paper_id, author=first).exists():
                    authorship.delete()
                else:
                    authorship.author = first
                    authorship.save(update_fields=["author"])
            author.delete()
            continue
        base = (slugify(author.name, allow_unicode=True) or "author")[:200]
        slug, n = base, 1
        while slug in slugs:
            n += 1
            slug = f"{base}-{n}"
        slugs.add(slug)
        author.key, author.slug = key, slug
        author.save(update_fields=["key", "slug"])
        kept[key] = author
    Paper.objects.filter(sources__isnull=False).update(came_from="seed")
    Paper.objects.filter(sources__isnull=True, versions__isnull=False).update(came_from="arxiv")


class Migration(migrations.Migration):

    dependencies = [
        ("papers", "0005_paper_run_enrichment_permission"),
    ]

    operations = [
        migrations.AlterField(model_name="author", name="name", field=models.CharField(max_length=200, verbose_name="name")),
        migrations.AddField(
            model_name="author", name="key",
            field=models.CharField(db_index=True, default="", editable=False, max_length=200, verbose_name="matching key"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="author", name="slug",
            # No index yet: the unique one comes once every author has a slug.
            field=models.SlugField(allow_unicode=True, db_index=False, default="", max_length=220, verbose_name="slug"),
            preserve_default=False,
        ),
        migrations.AddField(
            model_name="paper", name="categories",
            field=django.contrib.postgres.fields.ArrayField(
                base_field=models.CharField(max_length=32), blank=True, default=list,
                help_text="The primary category first, as the arXiv feed lists them.", size=None, verbose_name="arXiv categories",
            ),
        ),
        migrations.AddField(
            model_name="paper", name="came_from",
            field=models.CharField(
                choices=[("seed", "seed document"), ("arxiv", "arXiv"), ("editor", "editor")], default="editor",
                help_text="Where the paper first entered the knowledge base.", max_length=16, verbose_name="came from",
            ),
        ),
        migrations.AddField(
            model_name="paper", name="id_month",
            field=models.GeneratedField(
                db_persist=True, expression=papers.models.month_of_arxiv_id(), output_field=models.DateField(),
                verbose_name="month of the arXiv id",
            ),
        ),
        migrations.AddField(
            model_name="paper", name="dated",
            field=models.GeneratedField(
                db_persist=True,
                expression=models.functions.Coalesce(
                    "published", papers.models.month_of_arxiv_id(), models.Value(papers.models.UNDATED)
                ),
                output_field=models.DateField(), verbose_name="date",
            ),
        ),
        migrations.RunPython(fill_authors_and_origins, migrations.RunPython.noop),
        migrations.AlterField(
            model_name="author", name="slug",
            field=models.SlugField(allow_unicode=True, max_length=220, unique=True, verbose_name="slug"),
        ),
        migrations.AddIndex(model_name="paper", index=models.Index(fields=["-dated", "-id"], name="paper_dated_idx")),
        migrations.AddIndex(
            model_name="paper",
            index=django.contrib.postgres.indexes.GinIndex(fields=["categories"], name="paper_categories_gin"),
        ),
    ]
