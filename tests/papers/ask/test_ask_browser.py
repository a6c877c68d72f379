"""Asking in headless Chromium: the question box on any page, the answer page filling in by
htmx polling without a reload while the worker writes, and a citation opening the paper at
the cited passage."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from papers.ask import write_answer
from papers.models import Answer
from tests.conftest import SCREENSHOTS
from tests.papers.ask.conftest import citing

pytestmark = pytest.mark.browser

QUESTION = "Which papers use synthetic data for continued pretraining, and what did they find?"


@pytest.fixture
def committed_corpus(transactional_db, ask_corpus):
    """The corpus committed: the live server reads it on its own connection."""
    return ask_corpus


def test_the_box_on_any_page_asks_and_the_answer_fills_in_without_a_reload(committed_corpus, live_server, page, settings):
    settings.LLM_BASE_URL = ""  # offline: the extractive answer
    page.goto(f"{live_server.url}/tags/")
    page.locator("#ask-q").fill(QUESTION)
    page.locator("#ask-q").press("Enter")
    expect(page).to_have_url(re.compile(r"/ask/[0-9a-f-]{36}/$"))
    expect(page.locator(".answer")).to_have_attribute("data-status", "pending")
    page.wait_for_function("window.htmx !== undefined")
    page.evaluate("window.notReloaded = true")

    write_answer(Answer.objects.get().pk)  # what the worker does meanwhile

    expect(page.locator(".answer")).to_have_attribute("data-status", "complete")
    expect(page.locator(".answer-label")).to_contain_text("Extractive answer")
    expect(page.locator(".answer-paper h3").first).to_have_text("Synthetic continued pretraining")
    expect(page.locator(".answer-paper mark").first).to_be_visible()
    assert page.evaluate("window.notReloaded") is True
    page.screenshot(path=SCREENSHOTS / "ask-extractive-en.png", full_page=True)


def test_a_citation_shows_its_passage_and_opens_the_paper_there(committed_corpus, live_server, page, llm_server):
    llm_server.responder = citing(("EntiGraph lifts closed-book QA accuracy on QuALITY to 56.2%.", [1]))
    page.goto(f"{live_server.url}/ask/")
    page.wait_for_function("window.htmx !== undefined")
    page.locator("#ask-question").fill(QUESTION)
    page.locator(".ask-form button").click()
    expect(page.locator(".answer")).to_have_attribute("data-status", "pending")  # swapped in by htmx
    expect(page).to_have_url(re.compile(r"/ask/[0-9a-f-]{36}/$"))

    write_answer(Answer.objects.get().pk)

    citation = page.locator(".answer-text a.citation")
    expect(citation).to_have_text("[1]")
    expect(citation).to_have_attribute("title", re.compile(r"^Synthetic continued pretraining: EntiGraph extracts"))
    page.locator(".answer-sources summary").first.click()
    expect(page.locator(".answer-sources blockquote").first).to_contain_text("455M synthetic tokens")
    page.screenshot(path=SCREENSHOTS / "ask-cited-en.png", full_page=True)
    citation.click()
    expect(page).to_have_url(re.compile(r"/papers/\d+/\?passage=\d+#passage-\d+$"))
    expect(page.locator(".cited-passage blockquote")).to_contain_text("56.2%")


def test_a_bad_question_shows_its_message_in_place(committed_corpus, live_server, page):
    page.goto(f"{live_server.url}/ask/")
    page.wait_for_function("window.htmx !== undefined")
    page.locator("#ask-question").fill("Как работает синтетическое предобучение?")
    page.locator(".ask-form button").click()
    expect(page.locator("#answer .ask-problem")).to_have_text("Please ask in Korean, Chinese or English.")
    expect(page).to_have_url(f"{live_server.url}/ask/")
