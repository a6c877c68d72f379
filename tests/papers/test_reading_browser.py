"""A reader in headless Chromium: the home page, a paper, and switching its language."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"
OLMO_EN = "OLMo: Accelerating the Science of Language Models"
OLMO_KO = "OLMo: 언어 모델 과학의 가속화"


def test_reader_opens_home_follows_a_paper_and_switches_its_language(page, live_server, imported_seeds):
    page.goto(live_server.url + "/")
    expect(page.locator("h1")).to_contain_text("2024-01-29")
    expect(page).to_have_title(re.compile("Week of 2024-01-29"))
    # The stylesheet came through whitenoise: the header is laid out as a flex row.
    assert page.locator(".site-header-inner").evaluate("e => getComputedStyle(e).display") == "flex"
    page.screenshot(path=SCREENSHOTS / "home-en.png", full_page=True)

    page.get_by_role("link", name=OLMO_EN).click()
    expect(page).to_have_url(re.compile(r"/papers/\d+/$"))
    expect(page.locator("h1")).to_have_text(OLMO_EN)
    page.screenshot(path=SCREENSHOTS / "paper-en.png", full_page=True)

    page.get_by_role("button", name="한국어").click()
    expect(page.locator("h1")).to_have_text(OLMO_KO)
    expect(page.locator("html")).to_have_attribute("lang", "ko")
    expect(page.locator(".paper-summary .text-body")).to_contain_text("OLMo")
    expect(page.locator(".paper-summary .text-body")).to_have_attribute("lang", "ko")
    page.screenshot(path=SCREENSHOTS / "paper-ko.png", full_page=True)

    # The choice is remembered: the home page now lists the Korean titles.
    page.get_by_role("link", name="paper-digest").click()
    expect(page.get_by_role("link", name=OLMO_KO)).to_be_visible()
    page.screenshot(path=SCREENSHOTS / "home-ko.png")

    page.get_by_role("link", name=OLMO_KO).click()
    page.get_by_role("button", name="English").click()
    expect(page.locator("h1")).to_have_text(OLMO_EN)


def test_reader_sees_chinese_commentary_and_a_missing_language_notice(page, live_server, imported_seeds):
    page.set_viewport_size({"width": 390, "height": 844})  # a phone
    page.goto(live_server.url + "/tags/synthetic-data/")
    page.get_by_role("link", name="Synthetic continued pretraining").click()
    page.get_by_role("button", name="中文").click()
    expect(page.locator("html")).to_have_attribute("lang", "zh-hans")
    expect(page.locator(".paper-summary .missing")).to_have_text("还没有中文概要。")
    chinese = page.locator('.comment .text-body[lang="zh"]')
    expect(chinese).to_contain_text("合成数据")
    # Nothing overflows the phone's width.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.screenshot(path=SCREENSHOTS / "paper-zh-mobile.png", full_page=False)
    chinese.screenshot(path=SCREENSHOTS / "commentary-zh.png")
