"""The database settings search depends on actually take effect."""

import importlib
import re

import numpy as np
from django.db import connection, transaction

from papers.languages import CJK_RANGES
from papers.models import Embedding, Paper
from papers.search import cjk_bigrams


def _one(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


class TestHnswSettings:
    def test_connection_sets_iterative_scan_and_ef_search(self, db):
        _one("SELECT '[1,2,3]'::vector <=> '[1,2,4]'::vector")  # pgvector's library is loaded now
        assert _one("SHOW hnsw.iterative_scan") == "relaxed_order"
        assert _one("SHOW hnsw.ef_search") == "200"

    def test_filtered_hnsw_query_returns_every_row_asked_for(self, db):
        rng = np.random.default_rng(7)
        vectors = rng.standard_normal((1500, 384)).astype(np.float32)
        paper = Paper.objects.create(title="HNSW filter test")
        # 1 row in 50 is Chinese: ef_search=200 candidates hold about 4 of them.
        Embedding.objects.bulk_create(
            Embedding(paper=paper, lang="zh" if i % 50 == 0 else "en", kind="abstract", model="hnsw-test",
                      dim=384, content_hash=str(i), vector=v)
            for i, v in enumerate(vectors)
        )
        query = "[" + ",".join(str(x) for x in rng.standard_normal(384)) + "]"
        sql = """SELECT count(*) FROM (SELECT id FROM papers_embedding WHERE model = 'hnsw-test' AND lang = 'zh'
                 ORDER BY vector <=> %s::vector LIMIT 20) hits"""

        def count(iterative: str) -> tuple[int, str]:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("ANALYZE papers_embedding")  # the plan rests on known statistics: these 1,500 rows
                cursor.execute("SET LOCAL enable_seqscan = off")
                # The language index reads a rare language's rows directly (as search wants);
                # this test is about the HNSW walk, so it goes for the test's transaction.
                cursor.execute("DROP INDEX IF EXISTS embedding_lang_model")
                cursor.execute("SELECT set_config('hnsw.iterative_scan', %s, true)", [iterative])
                cursor.execute("EXPLAIN " + sql, [query])
                plan = " ".join(row[0] for row in cursor.fetchall())
                cursor.execute(sql, [query])
                return cursor.fetchone()[0], plan

        found, plan = count("relaxed_order")
        assert "embedding_vector_hnsw" in plan
        assert found == 20
        assert count("off")[0] < 20  # what the setting prevents

    def test_a_rare_languages_rows_are_read_by_the_language_index(self, db, settings):
        from papers.search.lists import nearest_sql

        settings.EMBEDDINGS_MODEL = "lang-index-test"
        vectors = np.random.default_rng(8).standard_normal((1500, 384)).astype(np.float32)
        paper = Paper.objects.create(title="Language index test")
        Embedding.objects.bulk_create(
            Embedding(paper=paper, lang="zh" if i < 3 else "en", kind="abstract", model="lang-index-test",
                      dim=384, content_hash=str(i), vector=v)
            for i, v in enumerate(vectors)
        )
        sql, params = nearest_sql(vectors[0], langs=["zh"])
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE papers_embedding")  # the plan rests on known statistics: 3 of these rows are Chinese
            cursor.execute("EXPLAIN " + sql, params)
            plan = " ".join(row[0] for row in cursor.fetchall())
            cursor.execute(sql, params)
            rows = cursor.fetchall()
        assert "embedding_lang_model" in plan and "embedding_vector_hnsw" not in plan
        assert len(rows) == 3 and {row[2] for row in rows} == {"zh"}


class TestBigramsForKoreanAndChinese:
    def test_database_was_initialised_under_a_utf8_ctype(self, db):
        ctype = _one("SELECT datctype FROM pg_database WHERE datname = current_database()")
        assert "UTF" in ctype.upper()

    def test_hangul_and_han_runs_become_their_two_character_pieces(self, db):
        assert _one("SELECT cjk_bigrams(%s)", ["합성 데이터를 사용해"]) == sorted(["합성", "데이", "이터", "터를", "사용", "용해"])
        assert _one("SELECT cjk_bigrams(%s)", ["检索增强生成"]) == sorted(["检索", "索增", "增强", "强生", "生成"])
        assert _one("SELECT cjk_bigrams(%s)", ["RAG와 图 models"]) == ["图", "와"]  # one-character runs as they are
        assert _one("SELECT cjk_bigrams(%s)", ["only English, 123"]) == []

    def test_the_query_side_in_python_makes_the_same_pieces(self, db):
        text = "합성 데이터로 지속 사전학습: 检索增强生成 (RAG) と カタカナ, 图!"
        assert sorted(cjk_bigrams(text)) == _one("SELECT cjk_bigrams(%s)", [text])

    def test_the_sql_function_and_papers_languages_cover_the_same_characters(self):
        # The migration writes the ranges out; a change to CJK_RANGES alone would split them.
        migration = importlib.import_module("papers.migrations.0003_cjk_bigram_indexes")
        sql_class, python_class = re.compile(f"[{migration.CJK_CLASS}]"), re.compile(f"[{CJK_RANGES}]")
        assert all(bool(sql_class.match(ch)) == bool(python_class.match(ch)) for ch in map(chr, range(0x10000)))

    def test_a_particle_leaves_the_word_pieces_in_common(self, db):
        assert set(cjk_bigrams("데이터로")) & set(cjk_bigrams("합성 데이터를 사용해")) == {"데이", "이터"}

    def test_korean_and_chinese_word_search_uses_the_bigram_indexes(self, db):
        # The plan depends on the table's statistics, so the test fixes them: 3,000 Korean and
        # Chinese texts of which one holds the piece, ANALYZEd, and sequential scans priced out,
        # so the bigram index is the plan any cost model picks, whatever rows earlier tests,
        # the seed corpus or autovacuum left behind.
        from papers.models import PaperText

        def holding_the_piece(cursor) -> int:
            cursor.execute("SELECT count(*) FROM papers_papertext t WHERE t.lang = 'ko' AND cjk_bigrams(t.body) @> ARRAY['데이']")
            return cursor.fetchone()[0]

        with transaction.atomic(), connection.cursor() as cursor:
            before = holding_the_piece(cursor)
            papers = Paper.objects.bulk_create(Paper(title=f"Statistics paper {i}") for i in range(1000))
            kinds = [PaperText.Kind.TITLE, PaperText.Kind.SUMMARY, PaperText.Kind.ABSTRACT]
            PaperText.objects.bulk_create(
                PaperText(paper=paper, lang=("ko", "zh")[i % 2], kind=kind, body=f"무관한 본문 {i} 检索 {kind}")
                for i, paper in enumerate(papers) for kind in kinds
            )
            PaperText.objects.filter(pk=PaperText.objects.filter(paper=papers[0], lang="ko").order_by("pk").values("pk")[:1]).update(
                body="합성 데이터로 사전학습")
            cursor.execute("ANALYZE papers_papertext")
            cursor.execute("SET LOCAL enable_seqscan = off")
            cursor.execute("EXPLAIN SELECT id FROM papers_papertext t WHERE t.lang IN ('ko', 'zh') AND t.lang = ANY(%s)"
                           " AND cjk_bigrams(t.body) @> ARRAY[%s]", [["ko"], "데이"])
            plan = "\n".join(row[0] for row in cursor.fetchall())
            found = holding_the_piece(cursor) - before
            transaction.set_rollback(True)
        assert found == 1
        assert "papertext_bigrams_cjk" in plan, plan
