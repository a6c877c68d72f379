"""The language-and-kind means the vector list calibrates by: computed from the rows, cached,
and forgotten when embedding changes a small corpus."""

import numpy as np
import pytest

from papers import embeddings
from papers.ingest.upsert import upsert_text
from papers.models import Embedding, Paper
from papers.search.calibration import SHRINK_ROWS, Calibration

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fresh_means(search_corpus):
    """Means of this test's rows only, and none left behind: its rows roll back, the cache does not."""
    embeddings.forget_centroids()
    yield
    embeddings.forget_centroids()


def zh_paper() -> Paper:
    paper = Paper.objects.create(title="A paper with a Chinese abstract")
    upsert_text(paper, lang="zh", kind="abstract", body="检索增强生成通过检索外部文档来减少大模型的幻觉。", origin="editor")
    return paper


class TestTextCentroids:
    def test_each_language_and_kind_is_the_mean_of_its_rows(self, search_corpus):
        centroids = embeddings.text_centroids()
        rows = Embedding.objects.filter(model=embeddings.model_name(), lang="ko", kind="summary")
        vectors = np.array([np.asarray(v, dtype=np.float32) for v in rows.values_list("vector", flat=True)])
        assert centroids[("ko", "summary")].rows == len(vectors)
        assert np.allclose(centroids[("ko", "summary")].vector, vectors.mean(axis=0), atol=1e-5)

    def test_embedding_a_paper_forgets_the_cached_means_of_a_small_corpus(self, search_corpus):
        assert ("zh", "abstract") not in embeddings.text_centroids()  # cached now
        embeddings.embed_paper(zh_paper())
        assert embeddings.text_centroids()[("zh", "abstract")].rows == 1

    def test_a_large_corpus_keeps_its_cached_means(self, search_corpus, monkeypatch):
        monkeypatch.setattr(embeddings, "CENTROIDS_STABLE_ROWS", 1)
        before = embeddings.text_centroids()
        embeddings.embed_paper(zh_paper())
        assert embeddings.text_centroids().keys() == before.keys()


    def test_old_means_are_taken_again_by_one_search_while_the_others_use_them(self, search_corpus, monkeypatch):
        from django.core.cache import cache
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        monkeypatch.setattr(embeddings, "CENTROIDS_STABLE_ROWS", 1)  # embedding keeps the cached means
        embeddings.text_centroids()
        embeddings.embed_paper(zh_paper())
        monkeypatch.setattr(embeddings, "CENTROIDS_CACHE_SECONDS", -1)  # every cached mean is old now
        lock = embeddings._centroids_key() + ":refresh"
        cache.add(lock, 1, timeout=60)  # another search is taking them again
        with CaptureQueriesContext(connection) as queries:
            assert ("zh", "abstract") not in embeddings.text_centroids()  # the old means, at once
        assert len(queries) == 0
        cache.delete(lock)  # it died or finished: the next search takes them
        assert embeddings.text_centroids()[("zh", "abstract")].rows == 1
        assert cache.get(lock) is None


class TestCalibration:
    def test_a_sparse_kind_leans_on_its_languages_mean(self, search_corpus):
        centroids = embeddings.text_centroids()
        query = embeddings.embed_query("커멘터리 보정")
        ko = [c for (lang, _), c in centroids.items() if lang == "ko"]
        language_mean = sum(c.vector * c.rows for c in ko) / sum(c.rows for c in ko)
        own = centroids[("ko", "commentary")]
        expected = (own.vector * own.rows + language_mean * SHRINK_ROWS) / (own.rows + SHRINK_ROWS)
        assert Calibration(query).offset("ko", "commentary") == pytest.approx(float(query @ expected), abs=1e-5)

    def test_a_group_without_vectors_adds_nothing(self, search_corpus):
        calibration = Calibration(embeddings.embed_query("anything"))
        assert calibration.offset("zh", "title") == 0.0 and "zh" in calibration.langs  # the essay is Chinese
