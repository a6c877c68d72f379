"""GIN indexes for the word lists of papers.search (full-text for English, trigrams for
Korean and Chinese). Expression and partial indexes in plain SQL: papers.search repeats
these expressions and predicates exactly so the planner can use them."""

from django.db import migrations

INDEXES = [
    ("papertext_fts_en", "papers_papertext", "USING gin (to_tsvector('english'::regconfig, body)) WHERE lang = 'en'"),
    ("papertext_trgm_cjk", "papers_papertext", "USING gin (body gin_trgm_ops) WHERE lang IN ('ko', 'zh')"),
    ("commentary_fts_en", "papers_commentary", "USING gin (to_tsvector('english'::regconfig, body)) WHERE lang = 'en'"),
    ("commentary_trgm_cjk", "papers_commentary", "USING gin (body gin_trgm_ops) WHERE lang IN ('ko', 'zh')"),
]


class Migration(migrations.Migration):

    dependencies = [
        ("papers", "0001_initial"),
    ]

    operations = [
        migrations.RunSQL(f"CREATE INDEX {name} ON {table} {how}", f"DROP INDEX {name}") for name, table, how in INDEXES
    ]
