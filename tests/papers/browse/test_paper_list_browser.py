"""The paper list in headless Chromium: filters that update the list and the URL as they
change (htmx), and the same form and pages without JavaScript."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"
LIME = "LIME-M: Less Is More for Evaluation of MLLMs"


def _titles(page) -> list[str]:
    return page.locator("#paper-results .paper-card-title a").all_inner_texts()


def test_filters_update_the_list_and_the_url_live(page, live_server, imported_seeds):
    page.goto(live_server.url + "/papers/")
    expect(page.locator("#paper-results .count")).to_have_text("12 papers")
    page.evaluate("window.stillTheSamePage = true")

    page.locator('select[name="tag"]').select_option("benchmark")
    expect(page.locator("#paper-results .count")).to_have_text("1 paper")
    assert _titles(page) == [LIME]
    expect(page).to_have_url(re.compile(r"/papers/\?.*tag=benchmark"))
    assert "date_from" not in page.url and "category" not in page.url  # empty filters stay out of the URL
    assert page.evaluate("window.stillTheSamePage") is True  # swapped in place, not reloaded

    page.locator('select[name="tag"]').select_option("")
    page.locator('select[name="in_issue"]').select_option("no")
    expect(page.locator("#paper-results .count")).to_have_text("2 papers")
    expect(page).to_have_url(re.compile(r"in_issue=no"))
    page.screenshot(path=SCREENSHOTS / "papers-filtered.png", full_page=True)

    # An impossible date range: the message replaces the list, in place.
    page.locator('input[name="date_from"]').fill("2024-03-01")
    expect(page.locator("#paper-results .count")).to_have_text("0 papers")
    page.locator('input[name="date_to"]').fill("2024-01-01")
    expect(page.locator("#paper-results .form-errors")).to_contain_text("The end date is before the start date.")
    assert page.evaluate("window.stillTheSamePage") is True

    # The URL was shared: opened fresh, it shows the same filtered list.
    shared = page.url
    other = page.context.new_page()
    other.goto(shared)
    expect(other.locator("#paper-results .form-errors")).to_contain_text("The end date is before the start date.")
    expect(other.locator('select[name="in_issue"]')).to_have_value("no")


def test_without_javascript_the_form_and_the_pages_work(page, live_server, imported_seeds):
    context = page.context.browser.new_context(java_script_enabled=False, locale="ko-KR")
    reader = context.new_page()
    reader.goto(live_server.url + "/papers/?per_page=5")
    expect(reader.locator("#paper-results .paper-card")).to_have_count(5)
    reader.get_by_role("link", name="논문 더 보기").click()
    expect(reader.locator("#paper-results .paper-card")).to_have_count(5)
    reader.get_by_role("link", name="논문 더 보기").click()
    expect(reader.locator("#paper-results .paper-card")).to_have_count(2)
    expect(reader.get_by_role("link", name="논문 더 보기")).to_have_count(0)

    reader.goto(live_server.url + "/papers/")
    reader.locator('select[name="tag"]').select_option("benchmark")
    reader.locator('select[name="sort"]').select_option("arxiv")
    reader.get_by_role("button", name="적용").click()
    expect(reader).to_have_url(re.compile(r"tag=benchmark"))
    expect(reader.locator("#paper-results .paper-card")).to_have_count(1)
    expect(reader.locator('select[name="tag"]')).to_have_value("benchmark")
    expect(reader.locator('select[name="sort"]')).to_have_value("arxiv")
    reader.screenshot(path=SCREENSHOTS / "papers-no-js-ko.png", full_page=True)

    reader.goto(live_server.url + "/papers/?tag=no-such-tag")
    expect(reader.locator(".form-errors")).to_contain_text("“no-such-tag” 태그가 없습니다")
    context.close()
