"""The topic page, the run page (HTMX and plain), its buttons, the JSONL download and the
admin's "synthesize" action."""

from __future__ import annotations

import json

import pytest
from django.test import Client
from django.urls import reverse

from synth import synthesis
from synth.models import SynthesisRun
from synth.synthesis import entigraph
from synth.synthesis.runner import run_synthesis
from synth.synthesis.tasks import enqueue_synthesis

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def finished_run(topic, settings) -> SynthesisRun:
    settings.LLM_BASE_URL = ""
    run = synthesis.start_run(topic=topic, strategy=entigraph.EXTRACTIVE, target_tokens=0)
    run_synthesis(run.pk)
    run.refresh_from_db()
    return run


def test_topic_page_lists_documents_and_token_counts(client, topic, finished_run):
    response = client.get(reverse("synth:topic", args=[topic.pk]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Synthetic continued pretraining" in html and "Rephrasing the Web" in html
    assert f'<span id="topic-total-tokens">{finished_run.source_tokens}</span>' in html
    assert reverse("synth:run", args=[finished_run.pk]) not in html  # runs are for staff


def test_run_page_is_for_staff_only(client, finished_run):
    response = client.get(reverse("synth:run", args=[finished_run.pk]))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_run_page_shows_progress_counts_and_chart(staff, finished_run):
    html = staff.get(reverse("synth:run", args=[finished_run.pk])).content.decode()
    pairs = finished_run.units.filter(stage="pair").count()
    assert f'<progress id="progress-pair" max="{pairs}" value="{pairs}">' in html
    assert f'<td class="num" id="synthetic-tokens">{finished_run.synthetic_tokens}</td>' in html
    assert 'class="baseline-label"' in html
    assert '<svg class="token-chart" id="chart-kind"' in html and "extractive pair (baseline)" in html
    assert "every 1s" not in html  # finished: nothing to poll
    assert "<html" in html


def test_htmx_gets_the_progress_block_that_polls_while_the_run_is_active(staff, topic, settings, llm_queue):
    settings.LLM_BASE_URL = ""
    run = synthesis.start_run(topic=topic, strategy=entigraph.EXTRACTIVE, target_tokens=0)
    enqueue_synthesis(run.pk)
    html = staff.get(reverse("synth:run", args=[run.pk]), headers={"HX-Request": "true"}).content.decode()
    assert html.lstrip().startswith('<div id="run-progress" data-status="queued"')
    assert 'hx-trigger="every 1s"' in html and "<html" not in html
    assert [m["headers"]["task"] for m in llm_queue()] == ["synth.tasks.synthesize_run"]


def test_cancel_and_resume_are_posts_with_csrf(lab_operator, topic, settings, llm_queue):
    settings.LLM_BASE_URL = ""
    run = synthesis.start_run(topic=topic, strategy=entigraph.EXTRACTIVE, target_tokens=0)
    enqueue_synthesis(run.pk)
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(lab_operator)
    cancel = reverse("synth:run_cancel", args=[run.pk])
    assert browser.get(cancel).status_code == 405
    assert browser.post(cancel).status_code == 403  # no CSRF token
    page = browser.get(reverse("synth:run", args=[run.pk]))
    token = page.cookies["csrftoken"].value
    assert f'action="{cancel}"' in page.content.decode()

    assert browser.post(cancel, {"csrfmiddlewaretoken": token}).status_code == 302
    run.refresh_from_db()
    assert run.status == "cancelled"  # it was still queued: cancelled at once

    resume = reverse("synth:run_resume", args=[run.pk])
    response = browser.post(resume, {"csrfmiddlewaretoken": token}, headers={"HX-Request": "true"})
    run.refresh_from_db()
    assert run.status == "queued" and 'hx-trigger="every 1s"' in response.content.decode()
    assert len(llm_queue()) == 2


def test_jsonl_download(staff, finished_run):
    response = staff.get(reverse("synth:run_export", args=[finished_run.pk]))
    assert response["Content-Type"].startswith("application/jsonl")
    assert f"synth-run-{finished_run.pk}-extractive.jsonl" in response["Content-Disposition"]
    lines = [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]
    assert len(lines) == finished_run.synthetic_documents
    assert {tuple(line["entities"]) for line in lines} == {tuple(e) for e in finished_run.synthetic.values_list("entities", flat=True)}


def test_admin_action_asks_for_strategy_and_budget_then_only_enqueues(staff, topic, llm_queue, settings):
    settings.LLM_BASE_URL = "http://127.0.0.1:9/v1"  # configured; nothing is called before a worker runs the task
    changelist = reverse("admin:synth_topic_changelist")
    form = staff.post(changelist, {"action": "synthesize", "_selected_action": [topic.pk]})
    assert form.status_code == 200 and b'id="synthesize-form"' in form.content
    assert f'value="{synthesis.default_target_tokens(topic)}"'.encode() not in form.content  # blank means 100x

    response = staff.post(changelist, {
        "action": "synthesize", "_selected_action": [topic.pk], "apply": "1", "strategy": "entigraph",
        "target_tokens": "", "max_calls": "500", "max_cost_usd": "1.5", "seed": "3", "max_entities": "8",
        "triples_per_document": "4",
    })
    run = SynthesisRun.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("synth:run", args=[run.pk])
    assert (run.status, run.strategy, run.model, run.max_calls, run.seed, run.max_entities) == (
        "queued", "entigraph", settings.LLM_MODEL, 500, 3, 8)
    assert run.target_tokens == synthesis.default_target_tokens(topic) > 0
    assert not run.units.exists()  # the action only enqueued
    assert [m["headers"]["argsrepr"] for m in llm_queue()] == [f"({run.pk},)"]

    admin_page = staff.get(reverse("admin:synth_synthesisrun_change", args=[run.pk])).content.decode()
    assert reverse("synth:run_export", args=[run.pk]) in admin_page
