"""A lab operator in headless Chromium starts a synthesis run from the admin and watches the run
page's progress bars fill (HTMX polling) while a real Celery worker process does the run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from django.urls import reverse
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = Path(__file__).resolve().parents[3] / "var" / "screenshots"


def test_a_lab_operator_starts_a_run_from_the_admin_and_sees_the_progress_bars_reach_the_end(
    synth_llm_env, topic, lab_operator, celery_worker_process, llm_queue, live_server, page
):
    synth_llm_env.latency = 0.1  # slow enough that the page sees the run in progress
    page.goto(live_server.url + "/admin/login/")
    page.fill("#id_username", "lab-operator")
    page.fill("#id_password", "s3cret-pass!")
    page.click("input[type=submit]")

    page.goto(live_server.url + reverse("admin:synth_topic_changelist"))
    page.check(f"input[name=_selected_action][value='{topic.pk}']")
    page.select_option("select[name=action]", "synthesize")
    page.click("button[name=index]")
    expect(page.locator("#synthesize-form")).to_be_visible()
    page.select_option("#id_strategy", "entigraph")
    page.fill("#id_target_tokens", "0")
    page.fill("#id_triples_per_document", "2")
    page.click("input[name=apply]")

    expect(page).to_have_url(re.compile(r"/lab/runs/\d+/$"))
    page.evaluate("window.notReloaded = true")  # HTMX swaps the block; the page itself stays
    expect(page.locator("#run-progress")).to_have_attribute("data-status", "done", timeout=90_000)
    for stage, total in (("entities", "2"), ("pair", "12"), ("triple", "4")):
        bar = page.locator(f"#progress-{stage}")
        assert (bar.get_attribute("value"), bar.get_attribute("max")) == (total, total)
    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#run-status")).to_have_text("done")
    expect(page.locator("#synthetic-documents")).to_have_text("18")
    expect(page.locator("#chart-kind rect")).to_have_count(3)  # summaries, pairs, triples
    page.screenshot(path=SCREENSHOTS / "synth-run-done.png", full_page=True)
