"""Filters: tag, language of the text, date range and issue, alone and together."""

import datetime as dt

from papers.models import Paper
from papers.search import search_papers

SCP = "Synthetic continued pretraining"
DIGEST_WEEK = dt.date(2024, 1, 29)


def titles(results) -> list[str]:
    return [hit.paper.title for hit in results]


class TestFilters:
    def test_tag_keeps_only_tagged_papers(self, search_corpus):
        assert titles(search_papers(q="language models", k=10, tag="synthetic-data")) == [SCP]

    def test_tag_with_no_matching_paper_gives_nothing(self, search_corpus):
        assert titles(search_papers(q="retrieval augmented generation", k=10, tag="benchmark")) == ["LIME-M: Less Is More for Evaluation of MLLMs"]

    def test_language_matches_only_texts_in_that_language(self, search_corpus):
        # Only the essay (on SCP) is Chinese.
        assert titles(search_papers(q="retrieval augmented generation", k=10, lang="zh")) == [SCP]

    def test_language_picks_the_snippet_language(self, search_corpus):
        results = search_papers(q="RAG", k=3, lang="ko")
        assert results.hits and all(hit.snippet_lang == "ko" for hit in results)

    def test_date_range_uses_the_issue_week_or_the_commentary_date(self, search_corpus):
        late = search_papers(q="language models", k=20, date_from=dt.date(2024, 9, 1))
        assert sorted(titles(late)) == ["LIME-M: Less Is More for Evaluation of MLLMs", SCP]
        early = search_papers(q="language models", k=20, date_to=dt.date(2024, 2, 4))
        assert len(early) == 10 and SCP not in titles(early)
        assert titles(search_papers(q="language models", k=20, date_from=dt.date(2025, 1, 1))) == []

    def test_published_date_wins_over_the_issue_week(self, search_corpus):
        Paper.objects.filter(arxiv_id="2401.15884").update(published=dt.date(2024, 1, 28))
        results = search_papers(q="corrective retrieval", k=20, date_to=dt.date(2024, 1, 28))
        assert [hit.paper.arxiv_id for hit in results] == ["2401.15884"]
        assert results.hits[0].date == dt.date(2024, 1, 28)

    def test_issue_keeps_only_its_papers(self, search_corpus):
        results = search_papers(q="synthetic data", k=20, issue=DIGEST_WEEK)
        assert len(results) == 10 and SCP not in titles(results)

    def test_filters_combine(self, search_corpus):
        results = search_papers(q="검색 증강 생성", k=20, issue=DIGEST_WEEK, lang="ko", date_to=dt.date(2024, 2, 1))
        assert len(results) == 10 and all(hit.snippet_lang == "ko" for hit in results)
        assert search_papers(q="검색 증강 생성", k=20, issue=DIGEST_WEEK, tag="benchmark").hits == []

    def test_filtered_vector_search_returns_k_results_when_most_rows_are_filtered_out(self, search_corpus):
        # 2 of 12 papers pass; without iterative scans HNSW could stop short of them.
        assert len(search_papers(q="benchmark for multimodal models", k=10, date_from=dt.date(2024, 9, 1))) == 2


def test_a_filter_as_ids_or_as_a_subquery_gives_the_same_lists(search_corpus):
    # Few papers pass: their ids and an exact vector scan; many: a subquery and HNSW.
    from papers import embeddings
    from papers.search.lists import bigram_papers, fulltext_papers, nearest_papers
    from papers.search.scope import Scope

    papers = Paper.objects.filter(issues__week_start=DIGEST_WEEK).values("pk")
    by_ids, by_subquery = Scope(ids=list(papers.values_list("pk", flat=True))), Scope(subquery=papers)
    vector = embeddings.embed_query("retrieval augmented generation")
    nearest = nearest_papers(vector, lang="", scope=by_ids)
    assert len(nearest) == 10 and nearest == nearest_papers(vector, lang="", scope=by_subquery)
    words = fulltext_papers("retrieval augmented generation", scope=by_ids)
    assert words and words == fulltext_papers("retrieval augmented generation", scope=by_subquery)
    pieces = bigram_papers("검색 증강 생성", lang="", scope=by_ids)
    assert pieces and pieces == bigram_papers("검색 증강 생성", lang="", scope=by_subquery)


class TestDraftIssues:
    """A draft issue is the editors' until it is published: no filter finds it or dates by it."""

    def test_a_draft_issue_is_no_filter_and_its_papers_are_not_dated_by_it(self, search_corpus, client, client_ip):
        from papers.models import Issue

        Issue.objects.filter(week_start=DIGEST_WEEK).update(status=Issue.Status.DRAFT)
        assert search_papers(q="synthetic data", k=20, issue=DIGEST_WEEK).hits == []
        page = client.get("/search/", {"q": "synthetic data", "issue": DIGEST_WEEK.isoformat()}, REMOTE_ADDR=client_ip)
        assert "There is no issue for the week of 2024-01-29." in page.content.decode()
        assert f'value="{DIGEST_WEEK.isoformat()}"' not in client.get("/search/", REMOTE_ADDR=client_ip).content.decode()
        # The week of an unpublished issue gives its papers no date for the date filter.
        in_that_week = search_papers(q="synthetic data", k=20, date_from=DIGEST_WEEK, date_to=DIGEST_WEEK + dt.timedelta(days=6))
        assert in_that_week.hits == []
