"""Anonymous reading pages come from the cache, per language, until a write changes them;
editors always get fresh pages; each reader gets their own CSRF token."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.contrib.auth.models import User
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from digest.issues import publish_issue
from papers.models import EnrichmentStep, Issue, IssueEntry, Paper, PaperText
from tests.factories import make_paper

# Writes commit, as in production: kept pages are forgotten when a write commits.
pytestmark = pytest.mark.django_db(transaction=True)


def _get(client, url: str, **extra) -> tuple[str, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url, **extra)
    assert response.status_code == 200, url
    return response.content.decode(), len(queries)


@pytest.fixture
def paper(imported_seeds) -> Paper:
    return Paper.objects.get(arxiv_id="2402.00838")


class TestCache:
    @pytest.mark.parametrize("url", ["/", "/papers/", "/tags/", "/categories/", "/issues/", "/feeds/en/issues.rss"])
    def test_a_second_reader_costs_no_query(self, client, imported_seeds, url):
        first, queries = _get(client, url)
        assert queries > 0
        again, queries = _get(Client(), url)
        assert queries == 0
        assert re.sub(r'[A-Za-z0-9]{64}', "", again) == re.sub(r'[A-Za-z0-9]{64}', "", first)

    def test_each_language_has_its_own_page(self, client, paper):
        english, _ = _get(client, f"/papers/{paper.pk}/")
        korean, _ = _get(Client(), f"/papers/{paper.pk}/", HTTP_ACCEPT_LANGUAGE="ko")
        assert "OLMo: Accelerating the Science of Language Models</h1>" in english
        assert "OLMo: 언어 모델 과학의 가속화</h1>" in korean

    def test_the_htmx_block_and_the_page_are_kept_apart(self, client, imported_seeds):
        page, _ = _get(client, "/papers/?tag=benchmark")
        block, _ = _get(client, "/papers/?tag=benchmark", HTTP_HX_REQUEST="true")
        assert "<html" in page and "<html" not in block
        assert "<html" in _get(client, "/papers/?tag=benchmark")[0]

    def test_a_new_text_shows_at_once(self, client, paper):
        _get(client, f"/papers/{paper.pk}/?lang=zh")
        PaperText.objects.create(paper=paper, lang="zh", kind="title", body="OLMo：加速语言模型科学")
        assert "OLMo：加速语言模型科学</h1>" in _get(client, f"/papers/{paper.pk}/?lang=zh")[0]

    def test_a_new_paper_shows_at_once_on_the_list_and_home(self, client, imported_seeds):
        _get(client, "/papers/")
        _get(client, "/")
        make_paper(title="A paper that just came in", published=dt.date(2030, 1, 1), tags=[], texts={}, arxiv_id="3001.00001")
        assert "A paper that just came in" in _get(client, "/papers/")[0]
        assert "A paper that just came in" in _get(client, "/")[0].split('class="new-arrivals"')[1]

    def test_a_publication_shows_at_once(self, client, imported_seeds):
        _get(client, "/")
        draft = Issue.objects.create(week_start=dt.date(2024, 2, 5), week_end=dt.date(2024, 2, 11))
        IssueEntry.objects.create(issue=draft, paper=Paper.objects.get(title="Synthetic continued pretraining"), position=0)
        assert "2024-02-05" not in _get(client, "/")[0]
        publish_issue(draft)
        assert "Week of 2024-02-05 – 2024-02-11" in _get(client, "/")[0]

    def test_an_edit_shows_at_once(self, client, paper):
        _get(client, "/papers/")
        paper.title = "OLMo (edited)"
        paper.save()
        PaperText.objects.filter(paper=paper, lang="en", kind="title").delete()
        assert "OLMo (edited)" in _get(client, "/papers/")[0]

    def test_editors_always_get_a_fresh_page(self, client, paper):
        _get(Client(), f"/papers/{paper.pk}/")
        EnrichmentStep.objects.create(paper=paper, step="embed", status=EnrichmentStep.Status.FAILED, error="endpoint down")
        client.force_login(User.objects.create_user(username="desk", password="s3cret-pass!", is_staff=True))
        html, queries = _get(client, f"/papers/{paper.pk}/")
        assert "endpoint down" in html and queries > 0

    def test_a_cached_page_carries_the_readers_own_csrf_token(self, imported_seeds):
        Client().get("/")  # kept with the first reader's token cut out
        reader = Client(enforce_csrf_checks=True)
        html = reader.get("/").content.decode()
        token = re.search(r'name="csrfmiddlewaretoken" value="([A-Za-z0-9]+)"', html).group(1)
        assert "@csrf@" not in html
        response = reader.post("/i18n/setlang/", {"language": "ko", "next": "/", "csrfmiddlewaretoken": token})
        assert response.status_code == 302 and response.cookies["django_language"].value == "ko"
