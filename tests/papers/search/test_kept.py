"""What search keeps between searches (a set of filters, a query's results) is forgotten by
the next committed write to the knowledge base, and a search by words alone is not kept."""

import datetime as dt

from django.db import connection
from django.test.utils import CaptureQueriesContext

from papers.models import Paper, Tag
from papers.search import search_papers
from papers.search.scope import paper_scope

SCP = "Synthetic continued pretraining"


def titles(results) -> list[str]:
    return [hit.paper.title for hit in results]


class TestKeptResults:
    def test_the_same_search_again_reads_no_table(self, search_corpus):
        first = search_papers(q="retrieval augmented generation", k=5)
        with CaptureQueriesContext(connection) as queries:
            again = search_papers(q="retrieval augmented generation", k=5)
        assert len(queries) == 0
        assert titles(again) == titles(first) and [h.snippet for h in again] == [h.snippet for h in first]

    def test_another_page_size_or_reader_language_is_another_search(self, search_corpus):
        search_papers(q="retrieval augmented generation", k=5)
        with CaptureQueriesContext(connection) as queries:
            assert len(search_papers(q="retrieval augmented generation", k=3)) == 3
        assert len(queries) > 0
        with CaptureQueriesContext(connection) as queries:
            search_papers(q="retrieval augmented generation", k=5, reader_lang="ko")
        assert len(queries) > 0

    def test_an_edit_shows_in_the_next_search_once_it_commits(self, search_corpus, django_capture_on_commit_callbacks):
        before = search_papers(q="synthetic continued pretraining", k=3)
        assert before.hits[0].paper.title == SCP
        with django_capture_on_commit_callbacks(execute=True):
            Paper.objects.get(title=SCP).texts.filter(lang="en", kind="title").update(body="SCP (edited)")
            # .update() sends no signal; the editor's save does:
            text = Paper.objects.get(title=SCP).texts.get(lang="en", kind="title")
            text.save()
        after = search_papers(q="synthetic continued pretraining", k=3)
        assert after.hits[0].title == "SCP (edited)"

    def test_a_search_by_words_alone_is_not_kept(self, search_corpus, embeddings_server):
        embeddings_server.status = 503  # the endpoint fails: the search falls back to words
        assert search_papers(q="retrieval augmented generation", k=5).semantic is False
        embeddings_server.status = 200  # the next search asks the endpoint again
        assert search_papers(q="retrieval augmented generation", k=5).semantic is True
        assert len(embeddings_server.requests) >= 2


class TestKeptFilters:
    def test_a_set_of_filters_is_worked_out_once(self, search_corpus):
        first = paper_scope(tag="", issue=None, date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 12, 31))
        with CaptureQueriesContext(connection) as queries:
            again = paper_scope(tag="", issue=None, date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 12, 31))
        assert len(queries) == 0 and again.ids == first.ids and first.ids

    def test_a_newly_tagged_paper_passes_the_kept_filter_once_the_tag_commits(
            self, search_corpus, django_capture_on_commit_callbacks):
        assert titles(search_papers(q="language models", k=10, tag="synthetic-data")) == [SCP]
        crag = Paper.objects.get(arxiv_id="2401.15884")
        with django_capture_on_commit_callbacks(execute=True):
            crag.tags.add(Tag.objects.get(slug="synthetic-data"))
        assert sorted(titles(search_papers(q="language models", k=10, tag="synthetic-data"))) == sorted([SCP, crag.title])

    def test_a_filter_leaving_very_many_papers_is_a_subquery_with_the_same_lists(self, search_corpus, monkeypatch):
        # Kept ids: the word lists test a hashed set, the vector list compares the query with
        # each of those papers' vectors. Above MAX_KEPT_IDS: a subquery the HNSW walk filters by.
        from papers import embeddings
        from papers.search import scope
        from papers.search.lists import fulltext_papers, nearest_papers

        by_ids = paper_scope(tag="", issue=None, date_from=None, date_to=dt.date(2030, 1, 1))
        assert by_ids.ids and " IN (SELECT unnest(" in by_ids.sql("paper_id")[0]
        monkeypatch.setattr(scope, "MAX_KEPT_IDS", 1)
        by_subquery = paper_scope(tag="", issue=None, date_from=None, date_to=dt.date(2029, 12, 31))
        assert by_subquery.ids is None and not by_subquery.exact
        vector = embeddings.embed_query("retrieval augmented generation")
        assert nearest_papers(vector, lang="", scope=by_subquery) == nearest_papers(vector, lang="", scope=by_ids)
        assert fulltext_papers("retrieval", scope=by_subquery) == fulltext_papers("retrieval", scope=by_ids) != []

    def test_a_web_process_reads_a_kept_sets_vectors_once_per_generation(self, search_corpus,
                                                                         django_capture_on_commit_callbacks):
        from papers import embeddings
        from papers.search.exact import nearest_rows

        kept = paper_scope(tag="", issue=None, date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 12, 31))
        vector = embeddings.embed_query("retrieval augmented generation")
        first = nearest_rows(vector, kept, langs=["en", "ko"], per_lang=20)
        with CaptureQueriesContext(connection) as queries:
            assert nearest_rows(embeddings.embed_query("model collapse"), kept, langs=["en"], per_lang=5)
        assert len(queries) == 0
        # The same distances PostgreSQL computes, in the same order.
        with connection.cursor() as cursor:
            cursor.execute("SELECT paper_id, vector <=> %s::vector FROM papers_embedding WHERE model = %s AND lang = 'en' "
                           "AND paper_id = ANY(%s) ORDER BY 2, paper_id LIMIT 20",
                           ["[" + ",".join(map(str, vector)) + "]", embeddings.model_name(), kept.ids])
            by_sql = cursor.fetchall()
        by_numpy = [(pid, distance) for pid, _, lang, distance in first if lang == "en"]
        assert [pid for pid, _ in by_numpy] == [pid for pid, _ in by_sql]
        assert max(abs(a[1] - b[1]) for a, b in zip(by_numpy, by_sql)) < 1e-5
        with django_capture_on_commit_callbacks(execute=True):
            Paper.objects.get(title=SCP).save()  # a write: a new generation
        renewed = paper_scope(tag="", issue=None, date_from=dt.date(2024, 1, 1), date_to=dt.date(2024, 12, 31))
        with CaptureQueriesContext(connection) as queries:
            nearest_rows(vector, renewed, langs=["en"], per_lang=5)
        assert len(queries) == 1  # its vectors read again
