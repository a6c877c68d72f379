"""Words in more than COMMON_SHARE of a list's texts (model, language) are left out of that
word list while the query has rarer ones: they tell little about any one paper, and reading
their posting lists costs in proportion to the corpus. PostgreSQL's statistics name them."""

import pytest
from django.db import connection

from papers.search import lists
from papers.search.lists import ENGLISH_WORDS, common_terms, fulltext_papers

CRAG = "2401.15884"


@pytest.fixture
def statistics(search_corpus, monkeypatch):
    """The texts' statistics gathered now (inside the test's transaction), and trusted for
    the seed corpus although it is far below COMMON_MIN_ROWS. Its 34 English texts make a word
    of two texts 6% of them: here "common" is in over half (model, languag, larg)."""
    monkeypatch.setattr(lists, "COMMON_MIN_ROWS", 0)
    monkeypatch.setattr(lists, "COMMON_SHARE", 0.5)
    lists._common.clear()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE papers_papertext")
    yield
    lists._common.clear()


def arxiv_ids(paper_ids: list[int]) -> list[str]:
    from papers.models import Paper

    by_id = dict(Paper.objects.filter(pk__in=paper_ids).values_list("pk", "arxiv_id"))
    return [by_id[pk] for pk in paper_ids]


def test_the_statistics_name_the_common_english_words(statistics):
    common = common_terms(ENGLISH_WORDS)
    assert sorted(common) == ["languag", "larg", "model"]  # stemmed, as the index holds them


def test_common_words_are_left_out_while_the_query_has_rarer_ones(statistics):
    with_common = fulltext_papers("large language models corrective", scope=None)
    assert with_common == fulltext_papers("corrective", scope=None)
    assert arxiv_ids(with_common)[:1] == [CRAG]


def test_a_query_of_common_words_alone_still_searches_them(statistics, monkeypatch):
    found = fulltext_papers("large language models", scope=None)
    assert found
    monkeypatch.setattr(lists, "COMMON_SHARE", 1.0)  # nothing is common: every word searched
    lists._common.clear()
    assert fulltext_papers("large language models", scope=None) == found


def test_small_tables_keep_every_word(search_corpus):
    # Below COMMON_MIN_ROWS indexed texts the statistics are not used, whenever autovacuum
    # happens to gather them: a ranking must not change with its schedule.
    lists._common.clear()
    try:
        assert common_terms(ENGLISH_WORDS) == []
    finally:
        lists._common.clear()
