"""The database settings search depends on actually take effect."""

import numpy as np
from django.db import connection, transaction

from papers.models import Embedding, Paper


def _one(sql, params=()):
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0]


class TestHnswSettings:
    def test_connection_sets_iterative_scan_and_ef_search(self, db):
        _one("SELECT '[1,2,3]'::vector <=> '[1,2,4]'::vector")  # pgvector's library is loaded now
        assert _one("SHOW hnsw.iterative_scan") == "relaxed_order"
        assert _one("SHOW hnsw.ef_search") == "100"

    def test_filtered_hnsw_query_returns_every_row_asked_for(self, db):
        rng = np.random.default_rng(7)
        vectors = rng.standard_normal((1500, 384)).astype(np.float32)
        paper = Paper.objects.create(title="HNSW filter test")
        # 1 row in 50 is Chinese: ef_search=100 candidates hold about 2 of them.
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
                cursor.execute("SET LOCAL enable_seqscan = off")
                cursor.execute("SELECT set_config('hnsw.iterative_scan', %s, true)", [iterative])
                cursor.execute("EXPLAIN " + sql, [query])
                plan = " ".join(row[0] for row in cursor.fetchall())
                cursor.execute(sql, [query])
                return cursor.fetchone()[0], plan

        found, plan = count("relaxed_order")
        assert "embedding_vector_hnsw" in plan
        assert found == 20
        assert count("off")[0] < 20  # what the setting prevents


class TestTrigramsForKoreanAndChinese:
    def test_database_was_initialised_under_a_utf8_ctype(self, db):
        ctype = _one("SELECT datctype FROM pg_database WHERE datname = current_database()")
        assert "UTF" in ctype.upper()  # under plain "C", pg_trgm ignores Hangul and Han

    def test_hangul_and_han_make_trigrams(self, db):
        assert len(_one("SELECT show_trgm(%s)", ["합성 데이터"])) >= 6
        assert len(_one("SELECT show_trgm(%s)", ["检索增强生成"])) >= 6

    def test_word_similarity_finds_korean_and_chinese_inside_longer_text(self, db):
        assert _one("SELECT word_similarity(%s, %s)", ["데이터", "합성 데이터를 사용해 증폭"]) > 0.5
        assert _one("SELECT word_similarity(%s, %s)", ["检索增强", "模型的生成质量优于检索增强生成的方法"]) >= 0.4
        assert _one("SELECT word_similarity(%s, %s)", ["检索增强", "合成数据适合于特定的领域"]) < 0.1
