"""A reader subscribes through the form in headless Chromium and confirms from the mail."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from digest.models import Subscriber

from .conftest import links_in

pytestmark = pytest.mark.browser

SCREENSHOTS = Path(__file__).resolve().parents[2] / "var" / "screenshots"


def test_reader_subscribes_through_the_form_and_confirms(page, live_server, smtp_server, tags, settings):
    settings.SITE_URL = live_server.url  # links in the mail point at this server

    page.goto(live_server.url + "/")
    page.get_by_role("link", name="Subscribe").first.click()
    expect(page.locator("h1")).to_have_text("Get the weekly issue by email")

    # A typo first: the form says what is wrong and keeps what was chosen.
    page.get_by_label("Email address").fill("minji@example")
    page.get_by_label("한국어").check()
    page.get_by_label("#benchmark").check()
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("alert")).to_contain_text("Enter a valid email address")
    expect(page.get_by_label("한국어")).to_be_checked()
    expect(page.get_by_label("#benchmark")).to_be_checked()
    page.screenshot(path=SCREENSHOTS / "digest-subscribe-error.png", full_page=True)

    page.get_by_label("Email address").fill("minji@example.org")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.locator("h1")).to_have_text("Check your inbox")
    page.screenshot(path=SCREENSHOTS / "digest-subscribe-sent.png", full_page=True)
    subscriber = Subscriber.objects.get(email="minji@example.org")
    assert (subscriber.status, subscriber.lang) == ("pending", "ko")
    assert [t.slug for t in subscriber.tags.all()] == ["benchmark"]

    smtp_server.wait_for(lambda: smtp_server.to("minji@example.org"))
    [confirmation] = smtp_server.to("minji@example.org")
    link = next(url for url in links_in(confirmation.text) if "/subscribe/confirm/" in url)
    assert urlsplit(link).netloc == urlsplit(live_server.url).netloc

    page.goto(link)
    expect(page.locator("h1")).to_have_text("Confirm your subscription")
    subscriber.refresh_from_db()
    assert subscriber.status == "pending"  # opening the link is not enough
    page.get_by_role("button", name="Confirm my subscription").click()  # a real POST with the CSRF token
    expect(page.locator("h1")).to_have_text("You are subscribed")
    expect(page.get_by_role("link", name="Change language or tags")).to_have_attribute("href", re.compile("/subscribe/preferences/"))
    page.screenshot(path=SCREENSHOTS / "digest-confirmed.png", full_page=True)
    subscriber.refresh_from_db()
    assert subscriber.status == "confirmed"
