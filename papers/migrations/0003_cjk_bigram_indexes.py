"""Korean and Chinese word search by two-character pieces (bigrams) instead of pg_trgm.

The trigram index found the right texts, but ranking them needed word_similarity() per
candidate, twice (the index recheck, then the score): 80 ms for a two-word Korean query over
20,000 Korean texts (bench/search.py, N=100,000), against 4 ms for an index of each text's
distinct bigrams, scored like the English words (papers.search). Bigrams are how search
engines index CJK text (Lucene's CJK analyzer): no dictionary, and particles glued onto Korean
words (데이터로/데이터를) still share the word's pieces.

cjk_bigrams() takes each run of Hangul, Han or kana characters and returns its distinct
two-character pieces (a one-character run as itself); papers.search.cjk_bigrams() is the
same in Python, for the query. Plain array containment, so no text-search parser or locale
is involved.
"""

from django.db import migrations

# The same ranges as papers.languages.CJK_RANGES, written out: a migration must not change
# when the code does.
CJK_CLASS = "\u1100-\u11ff\u3040-\u30ff\u3130-\u318f\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"

FUNCTION = f"""
CREATE FUNCTION cjk_bigrams(body text) RETURNS text[]
LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(DISTINCT substr(run[1], i, 2)), '{{}}')
  FROM regexp_matches(body, '([{CJK_CLASS}]+)', 'g') AS run,
       generate_series(1, greatest(char_length(run[1]) - 1, 1)) AS i
$$
"""

NEW = [
    ("papertext_bigrams_cjk", "papers_papertext", "USING gin (cjk_bigrams(body)) WHERE lang IN ('ko', 'zh')"),
    ("commentary_bigrams_cjk", "papers_commentary", "USING gin (cjk_bigrams(body)) WHERE lang IN ('ko', 'zh')"),
]
OLD = [
    ("papertext_trgm_cjk", "papers_papertext", "USING gin (body gin_trgm_ops) WHERE lang IN ('ko', 'zh')"),
    ("commentary_trgm_cjk", "papers_commentary", "USING gin (body gin_trgm_ops) WHERE lang IN ('ko', 'zh')"),
]


class Migration(migrations.Migration):

    dependencies = [
        ("papers", "0002_search_text_indexes"),
    ]

    operations = [
        migrations.RunSQL(FUNCTION, "DROP FUNCTION cjk_bigrams(text)"),
        *(migrations.RunSQL(f"CREATE INDEX {name} ON {table} {how}", f"DROP INDEX {name}") for name, table, how in NEW),
        *(migrations.RunSQL(f"DROP INDEX {name}", f"CREATE INDEX {name} ON {table} {how}") for name, table, how in OLD),
    ]
