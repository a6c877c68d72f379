"""GET /api/search: the JSON shape, filters, and the per-client rate limit."""

import pytest
from django.urls import reverse

from papers.models import Paper

API = "/api/search"


@pytest.fixture
def api(client, client_ip):
    def get(params: dict | None = None, **extra):
        return client.get(API, params or {}, REMOTE_ADDR=client_ip, **extra)

    return get


class TestApi:
    def test_url_name(self):
        assert reverse("papers:api_search") == API

    def test_ranked_results_with_arxiv_id_title_score_and_url(self, search_corpus, api):
        response = api({"q": "检索增强生成", "k": 3})
        assert response.status_code == 200 and response["Content-Type"] == "application/json"
        data = response.json()
        assert data["query"] == "检索增强生成" and data["k"] == 3 and data["semantic"] is True
        first = data["results"][0]
        crag = Paper.objects.get(arxiv_id="2401.15884")
        assert first["arxiv_id"] == "2401.15884"
        assert first["title"] == "Corrective Retrieval Augmented Generation"
        assert first["url"] == f"http://testserver/papers/{crag.pk}/"
        assert first["arxiv_url"] == "https://arxiv.org/abs/2401.15884"
        assert first["date"] == "2024-01-29"
        scores = [r["score"] for r in data["results"]]
        assert len(scores) == 3 and scores == sorted(scores, reverse=True) and scores[0] > 0

    def test_title_follows_the_interface_language(self, search_corpus, api):
        data = api({"q": "corrective retrieval", "k": 1}, HTTP_ACCEPT_LANGUAGE="ko").json()
        assert data["results"][0]["title"] == "CRAG: 자가 수정 검색 증강 생성"

    def test_json_keeps_korean_and_chinese_readable(self, search_corpus, api):
        body = api({"q": "검색 증강 생성", "k": 1}, HTTP_ACCEPT_LANGUAGE="ko").content.decode()
        assert "검색 증강 생성" in body and "\\u" not in body

    def test_default_k_is_ten(self, search_corpus, api):
        assert len(api({"q": "language models"}).json()["results"]) == 10

    def test_filters_apply(self, search_corpus, api):
        data = api({"q": "language models", "tag": "benchmark", "lang": "en"}).json()
        assert [r["title"] for r in data["results"]] == ["LIME-M: Less Is More for Evaluation of MLLMs"]
        assert data["results"][0]["tags"] == ["benchmark", "multimodal"]
        assert len(api({"q": "language models", "issue": "2024-01-31", "k": 50}).json()["results"]) == 10

    def test_only_get_and_head(self, search_corpus, client):
        assert client.post(API, {"q": "rag"}).status_code == 405


class TestRateLimit:
    def test_a_client_over_the_limit_gets_429_until_the_window_ends(self, search_corpus, client, settings, client_ip):
        settings.SEARCH_RATE_LIMIT = 3
        settings.SEARCH_RATE_WINDOW = 3600
        statuses = [client.get(API, {"q": "rag"}, REMOTE_ADDR=client_ip).status_code for _ in range(4)]
        assert statuses == [200, 200, 200, 429]
        limited = client.get(API, {"q": "rag"}, REMOTE_ADDR=client_ip)
        assert limited.status_code == 429 and limited["Retry-After"] == "3600"
        assert "Too many searches" in limited.json()["error"]

    def test_the_page_and_the_api_share_a_client_budget(self, search_corpus, client, settings, client_ip):
        settings.SEARCH_RATE_LIMIT = 2
        settings.SEARCH_RATE_WINDOW = 3600
        assert client.get("/search/", {"q": "rag"}, REMOTE_ADDR=client_ip).status_code == 200
        assert client.get(API, {"q": "rag"}, REMOTE_ADDR=client_ip).status_code == 200
        page = client.get("/search/", {"q": "rag"}, REMOTE_ADDR=client_ip)
        assert page.status_code == 429 and "Too many searches" in page.content.decode()

    def test_other_clients_are_not_limited(self, search_corpus, client, settings, client_ip):
        settings.SEARCH_RATE_LIMIT = 1
        settings.SEARCH_RATE_WINDOW = 3600
        assert client.get(API, {"q": "rag"}, REMOTE_ADDR=client_ip).status_code == 200
        assert client.get(API, {"q": "rag"}, REMOTE_ADDR=client_ip).status_code == 429
        neighbour = client_ip.rsplit(".", 1)[0] + ".251"  # a valid address no other test is given
        assert client.get(API, {"q": "rag"}, REMOTE_ADDR=neighbour).status_code == 200

    def test_zero_turns_the_limit_off(self, search_corpus, client, settings, client_ip):
        settings.SEARCH_RATE_LIMIT = 0
        assert {client.get(API, {"q": "rag"}, REMOTE_ADDR=client_ip).status_code for _ in range(5)} == {200}
