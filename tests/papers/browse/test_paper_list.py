"""/papers/: every paper, sorted, filtered, in keyset pages; the same URL with and without
htmx; every bad parameter a 400 or 404 page in the reader's language."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from papers.models import Commentary, Issue, IssueEntry, Paper, Tag
from tests.factories import make_paper

pytestmark = pytest.mark.django_db


def _titles(response) -> list[str]:
    assert response.status_code == 200, response.content.decode()[:2000]
    return re.findall(r'<h3 class="paper-card-title">\s*<a [^>]*>(.*?)</a>', response.content.decode())


def _next_link(response) -> str:
    match = re.search(r'<a href="([^"]+)" rel="next"', response.content.decode())
    return match.group(1).replace("&amp;", "&") if match else ""


@pytest.fixture
def corpus(db):
    """Six papers with something for every filter."""
    llm = Tag.objects.create(slug="llm", name="llm")
    papers = {
        "a": make_paper(title="A: dated 2024-03", published=dt.date(2024, 3, 5), tags=[llm], texts={"en": {"title": "A"}}, arxiv_id="2403.00001"),
        "b": make_paper(title="B: dated 2024-02", published=dt.date(2024, 2, 5), tags=[], texts={"ko": {"title": "B 한국어"}}, arxiv_id="2402.00002"),
        "c": make_paper(title="C: id only", published=None, tags=[], texts={"zh": {"title": "C 中文"}}, arxiv_id="2401.00003"),
        "d": make_paper(title="D: no id, no date", published=None, tags=[llm], texts={}),
        "e": make_paper(title="E: 2023", published=dt.date(2023, 6, 1), tags=[], texts={"en": {"title": "E"}}, arxiv_id="2306.00005"),
        "f": make_paper(title="F: 2024-01", published=dt.date(2024, 1, 20), tags=[], texts={"en": {"title": "F"}}, arxiv_id="2401.00006"),
    }
    Paper.objects.filter(pk=papers["a"].pk).update(categories=["cs.CL", "cs.LG"], came_from=Paper.Came.ARXIV, updated=dt.date(2024, 4, 1))
    Paper.objects.filter(pk=papers["e"].pk).update(categories=["cs.LG"], came_from=Paper.Came.ARXIV)
    Paper.objects.filter(pk=papers["b"].pk).update(came_from=Paper.Came.SEED)
    Commentary.objects.create(lang="ko", author="note", body="좋은 논문").papers.add(papers["b"])
    issue = Issue.objects.create(week_start=dt.date(2024, 2, 5), week_end=dt.date(2024, 2, 11), status=Issue.Status.PUBLISHED)
    IssueEntry.objects.create(issue=issue, paper=papers["b"], position=0)
    return papers


def _first_words(titles: list[str]) -> list[str]:
    return [t.split(":")[0].split()[0] for t in titles]


class TestListing:
    def test_every_paper_newest_first_and_an_id_only_paper_by_its_ids_month(self, client, corpus):
        assert _first_words(_titles(client.get("/papers/"))) == ["A", "B", "F", "C", "E", "D"]

    def test_sort_by_update_and_by_arxiv_id(self, client, corpus):
        assert _first_words(_titles(client.get("/papers/?sort=updated")))[:2] == ["A", "B"]
        assert _first_words(_titles(client.get("/papers/?sort=arxiv"))) == ["A", "B", "F", "C", "E", "D"]

    @pytest.mark.parametrize("query, expected", [
        ("tag=llm", ["A", "D"]),
        ("category=cs.LG", ["A", "E"]),
        ("category=cs.CL", ["A"]),
        ("text_lang=ko", ["B"]),
        ("text_lang=zh", ["C"]),
        ("came_from=arxiv", ["A", "E"]),
        ("came_from=seed", ["B"]),
        ("commentary=yes", ["B"]),
        ("commentary=no", ["A", "F", "C", "E", "D"]),
        ("in_issue=yes", ["B"]),
        ("in_issue=no&date_from=2024-01-01", ["A", "F", "C"]),
        ("date_from=2024-01-15&date_to=2024-02-28", ["B", "F"]),
        ("tag=llm&category=cs.LG&came_from=arxiv", ["A"]),
    ])
    def test_filters(self, client, corpus, query, expected):
        assert _first_words(_titles(client.get(f"/papers/?{query}"))) == expected

    def test_pages_follow_a_cursor_and_a_new_paper_shifts_nothing(self, client, corpus):
        first = client.get("/papers/?per_page=2")
        assert _first_words(_titles(first)) == ["A", "B"]
        assert "6 papers" in first.content.decode()
        # A paper newer than everything arrives while the reader is on page 1.
        make_paper(title="N: newest", published=dt.date(2024, 5, 1), tags=[], texts={}, arxiv_id="2405.00007")
        second = client.get(_next_link(first))
        assert _first_words(_titles(second)) == ["F", "C"]
        third = client.get(_next_link(second))
        assert _first_words(_titles(third)) == ["E", "D"]
        assert _next_link(third) == ""
        assert 'rel="first"' in third.content.decode()

    def test_the_filters_stay_in_the_next_pages_link(self, client, corpus):
        link = _next_link(client.get("/papers/?came_from=arxiv&per_page=1&sort=newest"))
        assert "came_from=arxiv" in link and "after=" in link
        assert _first_words(_titles(client.get(link))) == ["E"]

    def test_htmx_gets_the_results_block_the_page_includes(self, client, corpus):
        page = client.get("/papers/?tag=llm").content.decode()
        block = client.get("/papers/?tag=llm", HTTP_HX_REQUEST="true")
        fragment = block.content.decode()
        assert block.status_code == 200 and "<html" not in fragment and "paper-filters" not in fragment
        assert fragment.strip() in page
        assert "HX-Request" in block["Vary"]

    def test_the_form_shows_the_chosen_filters(self, client, corpus):
        html = client.get("/papers/?category=cs.LG&text_lang=ko&sort=arxiv").content.decode()
        assert '<option value="cs.LG" selected>cs.LG · Machine Learning (2)</option>' in html
        assert '<option value="ko" selected>' in html and '<option value="arxiv" selected>' in html

    def test_the_nav_links_to_the_list(self, client, corpus):
        assert 'href="/papers/"' in client.get("/tags/").content.decode()


class TestBadInput:
    @pytest.mark.parametrize("query, message", [
        ("sort=oldest", "Select a valid choice"),
        ("tag=no-such-tag", "There is no tag “no-such-tag”."),
        ("category=cs.XX", "There is no arXiv category “cs.XX” here."),
        ("category=<script>", "There is no arXiv category “&lt;script&gt;” here."),
        ("text_lang=fr", "Select a valid choice"),
        ("came_from=mars", "Select a valid choice"),
        ("commentary=maybe", "Select a valid choice"),
        ("date_from=2024-13-45", "Enter a valid date."),
        ("date_from=2024-03-01&date_to=2024-01-01", "The end date is before the start date."),
        ("per_page=100000", "less than or equal to 100"),
        ("per_page=-1", "greater than or equal to 1"),
        ("after=garbage", "This page link is damaged"),
        ("after=2024-99-01~3", "This page link is damaged"),
        ("sort=arxiv&after=~99999999999999999999999", "This page link is damaged"),
    ])
    def test_a_bad_parameter_is_a_400_page_that_says_what_is_wrong(self, client, corpus, query, message):
        response = client.get(f"/papers/?{query}")
        assert response.status_code == 400
        html = response.content.decode()
        assert message in html and "These filters cannot be applied:" in html
        assert 'href="/papers/"' in html  # the way back

    def test_a_korean_reader_gets_it_in_korean(self, client, corpus):
        client.cookies["django_language"] = "ko"
        html = client.get("/papers/?tag=no-such-tag").content.decode()
        assert "태그" in html and "These filters cannot be applied:" not in html

    def test_a_page_past_the_end_is_a_404_page(self, client, corpus):
        response = client.get("/papers/?after=0001-01-01~1")
        assert response.status_code == 404
        assert "There are no more papers past this page." in response.content.decode()

    def test_a_chinese_reader_gets_the_404_in_chinese(self, client, corpus):
        client.cookies["django_language"] = "zh-hans"
        response = client.get("/authors/nobody-at-all/")
        assert response.status_code == 404
        html = response.content.decode()
        assert "There is no author" not in html and "作者" in html


def test_to_htmx_a_refused_filter_is_the_block_that_says_why(client, corpus):
    response = client.get("/papers/?tag=no-such-tag", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert "There is no tag “no-such-tag”." in html
