"""The JSON API's answers over the seed corpus plus papers fetched from arXiv."""

from __future__ import annotations

import pytest

from papers.ingest import arxiv
from papers.models import Issue, Paper

pytestmark = pytest.mark.django_db


@pytest.fixture
def corpus(imported_seeds, pipeline_settings, arxiv_feed):
    arxiv_feed.serve("search_page1.atom", "search_page2.atom", "search_page3.atom")
    arxiv.fetch_new()
    arxiv_feed.serve("search_newer.atom")
    arxiv.fetch_new()


class TestPapers:
    def test_the_list_pages_with_the_same_filters_as_the_page(self, client, corpus):
        first = client.get("/api/papers", {"came_from": "arxiv", "per_page": 2}).json()
        assert first["count"] == Paper.objects.filter(came_from="arxiv").count() > 2
        assert len(first["results"]) == 2 and first["next"]
        rest = client.get(first["next_url"]).json()
        ids = [p["id"] for p in first["results"] + rest["results"]]
        assert len(ids) == len(set(ids)) == first["count"]
        assert all("cs.CL" in p["categories"] or p["categories"] for p in first["results"])

    def test_one_paper_with_all_its_texts_versions_and_links(self, client, corpus):
        paper = Paper.objects.get(arxiv_id="2409.07431")
        data = client.get(f"/api/papers/{paper.pk}").json()
        assert data["arxiv_id"] == "2409.07431" and data["came_from"] == "seed"
        assert [v["version"] for v in data["versions"]] == [1, 2]
        assert {(t["lang"], t["kind"]) for t in data["texts"]} >= {("en", "abstract"), ("en", "title")}
        assert {link["url"] for link in data["links"]} >= {"https://arxiv.org/abs/2409.07431"}
        assert data["authors"][0] == {"name": "Zitong Yang", "slug": "zitong-yang", "url": "http://testserver/authors/zitong-yang/"}
        assert any(c["lang"] == "zh" for c in data["commentary"])

    def test_an_id_only_paper_is_dated_by_its_ids_month(self, client, corpus):
        olmo = Paper.objects.get(arxiv_id="2402.00838")
        data = client.get(f"/api/papers/{olmo.pk}").json()
        assert (data["date"], data["date_from_id"], data["published"]) == ("2024-02-01", True, None)

    def test_titles_follow_the_readers_language(self, client, corpus):
        olmo = Paper.objects.get(arxiv_id="2402.00838")
        data = client.get(f"/api/papers/{olmo.pk}", HTTP_ACCEPT_LANGUAGE="ko").json()
        assert data["title"] == "OLMo: 언어 모델 과학의 가속화" and data["title_lang"] == "ko"

    @pytest.mark.parametrize("query", ["sort=oldest", "tag=nope", "per_page=1000", "date_from=yesterday", "after=%00"])
    def test_bad_filters_are_400_with_the_pages_message(self, client, corpus, query):
        response = client.get(f"/api/papers?{query}")
        assert response.status_code == 400 and response["Content-Type"] == "application/json"
        assert response.json()["error"] and response.json()["fields"]

    @pytest.mark.parametrize("path", ["/api/papers/0", "/api/papers/99999999999999999999", "/api/authors/nobody",
                                      "/api/issues/2020-01-06", "/api/issues/not-a-day"])
    def test_unknown_things_are_404(self, client, corpus, path):
        assert client.get(path).status_code == 404

    def test_a_malformed_id_is_400_not_422(self, client, corpus):
        assert client.get("/api/papers/abc").status_code == 400


class TestTheRest:
    def test_issues_tags_categories_and_authors(self, client, corpus):
        issues = client.get("/api/issues").json()
        assert [i["week_start"] for i in issues] == ["2024-01-29"] and issues[0]["paper_count"] == 10
        issue = client.get("/api/issues/2024-01-29").json()
        assert issue["papers"][0]["original_title"].startswith("OLMo") and {e["lang"] for e in issue["editorials"]} == {"ko"}
        assert {"benchmark", "synthetic-data"} <= {t["slug"] for t in client.get("/api/tags").json()}
        categories = client.get("/api/categories", HTTP_ACCEPT_LANGUAGE="zh-hans").json()
        assert {"code": "cs.CL", "name": "计算与语言"}.items() <= next(c for c in categories if c["code"] == "cs.CL").items()
        author = client.get("/api/authors/zitong-yang").json()
        assert author["name"] == "Zitong Yang" and author["papers"]["results"][0]["arxiv_id"] == "2409.07431"

    def test_drafts_stay_out_of_the_api(self, client, corpus):
        Issue.objects.create(week_start="2024-02-05", week_end="2024-02-11")
        assert client.get("/api/issues/2024-02-05").status_code == 404

    def test_the_docs_and_the_schema(self, client, corpus):
        docs = client.get("/api/docs")
        assert docs.status_code == 200 and "swagger-ui" in docs.content.decode()
        schema = client.get("/api/openapi.json").json()
        assert {"/api/papers", "/api/papers/{paper_id}", "/api/search", "/api/authors/{slug}"} <= set(schema["paths"])
