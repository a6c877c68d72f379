"""Bad input on the search page and the API: never a 500, a clear message where needed."""

import pytest

from papers.models import Paper

PAGE, API = "/search/", "/api/search"

# (query string parameters, what the message says)
REJECTED = [
    ({"q": ""}, "Type a few words"),
    ({"q": "x" * 10_000}, "at most 500 characters"),
    ({"q": "🤖🔥🚀"}, "type at least one letter or digit"),
    ({"q": "'; -- /* */ %_ ()"}, "type at least one letter or digit"),
    ({"q": "rag\x00"}, "Null characters are not allowed"),
    ({"q": "rag", "tag": "no-such-tag"}, "There is no tag “no-such-tag”"),
    ({"q": "rag", "tag": "x" * 5000}, "Tag"),
    ({"q": "rag", "lang": "klingon"}, "Unknown language “klingon”"),
    ({"q": "rag", "issue": "2019-01-07"}, "There is no issue for the week of 2019-01-07"),
    ({"q": "rag", "issue": "last week"}, "Enter a valid date"),
    ({"q": "rag", "date_from": "2024-13-45"}, "Enter a valid date"),
    ({"q": "rag", "date_from": "2024-03-01", "date_to": "2024-01-01"}, "The end date is before the start date"),
    ({"q": "rag", "k": "abc"}, "Enter a whole number"),
    ({"q": "rag", "k": "0"}, "greater than or equal to 1"),
    ({"q": "rag", "k": "100000000000000000000000"}, "less than or equal to 50"),
]

ACCEPTED = [
    "Robert'); DROP TABLE papers_paper;--",
    "(a+)+$ [unclosed \\ *? {2,} .* ^ |",
    "rag & !noise | <-> :* 'quoted'",
    "100% _under_score_ %%",
    "RAG 🤖 검색",
    "RAG 검색 增强 генерация retrieval",
    "ＲＡＧ　검색",  # full-width letters and an ideographic space
    "\u202eevil\u202c rag",  # bidi controls
    "a",
    "的",
]


@pytest.mark.parametrize("params, message", REJECTED, ids=[m[:30] for _, m in REJECTED])
class TestRejected:
    def test_api_answers_400_with_the_message(self, search_corpus, client, client_ip, params, message):
        response = client.get(API, params, REMOTE_ADDR=client_ip)
        assert response.status_code == 400
        assert message in response.json()["error"]

    def test_page_shows_the_message(self, search_corpus, client, client_ip, params, message):
        response = client.get(PAGE, params, REMOTE_ADDR=client_ip)
        assert response.status_code == 200
        if params.get("q") == "":
            message = "Type a few words in any language"  # an empty box is a hint, not an error
        assert message in response.content.decode()


@pytest.mark.parametrize("q", ACCEPTED)
class TestAccepted:
    def test_api_searches(self, search_corpus, client, client_ip, q):
        response = client.get(API, {"q": q, "k": 5}, REMOTE_ADDR=client_ip)
        assert response.status_code == 200
        assert len(response.json()["results"]) == 5

    def test_page_searches_and_escapes_the_query(self, search_corpus, client, client_ip, q):
        response = client.get(PAGE, {"q": q}, REMOTE_ADDR=client_ip)
        assert response.status_code == 200
        assert 'class="search-hit"' in response.content.decode()
        assert "<script" not in response.content.decode().split("<main>")[1].split("</main>")[0]


def test_the_sql_in_a_query_ran_nowhere(search_corpus, client, client_ip):
    before = Paper.objects.count()
    client.get(API, {"q": "x'); DELETE FROM papers_paper; --"}, REMOTE_ADDR=client_ip)
    assert Paper.objects.count() == before == 12


def test_invalid_utf8_in_the_url_is_searched_as_replacement_characters(search_corpus, client, client_ip):
    response = client.get(API + "?q=%ff%fe%20rag", REMOTE_ADDR=client_ip)
    assert response.status_code == 200


def test_unknown_parameters_are_ignored(search_corpus, client, client_ip):
    response = client.get(API, {"q": "rag", "foo": "bar", "k": "2"}, REMOTE_ADDR=client_ip)
    assert response.status_code == 200 and len(response.json()["results"]) == 2


def test_markup_in_the_query_is_escaped_on_the_page(search_corpus, client, client_ip):
    body = client.get(PAGE, {"q": '<script>alert(1)</script> rag'}, REMOTE_ADDR=client_ip).content.decode()
    assert "<script>alert(1)</script>" not in body and "&lt;script&gt;alert(1)&lt;/script&gt; rag" in body
