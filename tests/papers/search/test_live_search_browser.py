"""Live search in headless Chromium: type, results appear without a reload, URL follows."""

from urllib.parse import parse_qs, urlparse

import pytest
from django.core.management import call_command
from playwright.sync_api import expect

from papers.embeddings import embed_paper
from papers.models import Paper, PaperText, Tag

pytestmark = pytest.mark.browser


@pytest.fixture
def two_papers(transactional_db):
    """Committed (the live server has its own connection) and embedded, in an otherwise
    empty database: this package's seed corpus may still be there when only tests/papers/search runs."""
    call_command("flush", interactive=False, verbosity=0)
    rag = Paper.objects.create(title="Corrective Retrieval Augmented Generation", arxiv_id="2401.15884")
    PaperText.objects.create(paper=rag, lang="en", kind="title", body=rag.title)
    PaperText.objects.create(paper=rag, lang="ko", kind="title", body="CRAG: 자가 수정 검색 증강 생성")
    PaperText.objects.create(paper=rag, lang="en", kind="summary", body="A retrieval evaluator corrects retrieved documents for RAG.")
    moe = Paper.objects.create(title="MoE-LLaVA: Mixture of Experts for Large Vision-Language Models", arxiv_id="2401.15947")
    PaperText.objects.create(paper=moe, lang="en", kind="title", body=moe.title)
    moe.tags.add(Tag.objects.create(slug="multimodal", name="multimodal"))
    for paper in (rag, moe):
        embed_paper(paper)
    return rag, moe


def test_typing_shows_results_without_reload_and_updates_the_url(two_papers, live_server, page):
    page.goto(f"{live_server.url}/search/")
    page.wait_for_function("window.htmx !== undefined")
    page.evaluate("window.notReloaded = true")
    page.locator("#search-q").press_sequentially("retrieval augmented", delay=30)
    first = page.locator("#results .search-hit").first
    expect(first).to_contain_text("Corrective Retrieval Augmented Generation")
    expect(first.locator("mark").first).to_have_text("retrieval", ignore_case=True)
    expect(page).to_have_url(f"{live_server.url}/search/?q=retrieval%20augmented")  # no empty filters
    assert page.evaluate("window.notReloaded") is True

    # A filter joins the same request; the URL keeps both, so the search can be shared.
    page.locator("select[name=tag]").select_option("multimodal")
    expect(page.locator("#results .search-hit")).to_have_count(1)
    expect(page.locator("#results .search-hit")).to_contain_text("MoE-LLaVA")
    assert parse_qs(urlparse(page.url).query) == {"q": ["retrieval augmented"], "tag": ["multimodal"]}
    assert page.evaluate("window.notReloaded") is True

    # The shared URL opens the same results as a whole page.
    page.goto(page.url)
    expect(page.locator("#results .search-hit")).to_have_count(1)
    expect(page.locator("#search-q")).to_have_value("retrieval augmented")


def test_bad_input_shows_a_message_in_place(two_papers, live_server, page):
    page.goto(f"{live_server.url}/search/")
    page.wait_for_function("window.htmx !== undefined")
    page.locator("#search-q").fill("🤖🔥")
    page.locator("#search-q").press("Enter")
    expect(page.locator("#results .search-errors")).to_contain_text("type at least one letter or digit")


def test_the_box_on_any_page_shows_live_results_under_it(two_papers, live_server, page):
    page.goto(f"{live_server.url}/tags/")
    page.wait_for_function("window.htmx !== undefined")
    page.locator("#search-q").press_sequentially("mixture of experts", delay=30)
    panel = page.locator(".search-panel .search-hit").first
    expect(panel).to_contain_text("MoE-LLaVA")
    expect(page).to_have_url(f"{live_server.url}/search/?q=mixture%20of%20experts")
    panel.locator("a").first.click()
    expect(page).to_have_url(f"{live_server.url}/papers/{two_papers[1].pk}/")
