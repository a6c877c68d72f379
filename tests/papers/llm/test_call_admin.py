"""The LLM call admin (totals per day and per task kind) and the re-run enrichment action."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.urls import reverse
from django.utils import timezone

from papers.models import EnrichmentStep, LLMCall, Paper, PaperText

pytestmark = pytest.mark.django_db


def make_calls():
    today = timezone.now()
    yesterday = today - dt.timedelta(days=1)
    rows = [
        ("summarize", today, True, False, 100, 50, "0.000045"),
        ("summarize", today, True, True, 0, 0, "0"),
        ("translate", today, True, False, 300, 400, "0.000285"),
        ("translate", yesterday, False, False, 0, 0, "0"),
        ("tag", yesterday, True, False, 80, 10, "0.000018"),
    ]
    for kind, when, ok, hit, tokens_in, tokens_out, cost in rows:
        call = LLMCall.objects.create(task_kind=kind, model="m", prompt_hash="h", ok=ok, cache_hit=hit, prompt_tokens=tokens_in,
                                      completion_tokens=tokens_out, cost_usd=Decimal(cost), latency_ms=300)
        LLMCall.objects.filter(pk=call.pk).update(created_at=when)


def test_changelist_shows_totals_per_day_and_per_task_kind(client, editor):
    make_calls()
    client.force_login(editor)
    response = client.get(reverse("admin:papers_llmcall_changelist"))
    assert response.status_code == 200
    totals = response.context["totals"]
    assert totals["overall"]["calls"] == 5 and totals["overall"]["cost_usd"] == Decimal("0.000348")
    by_kind = {row["task_kind"]: row for row in totals["by_kind"]}
    assert (by_kind["summarize"]["calls"], by_kind["summarize"]["cache_hits"]) == (2, 1)
    assert (by_kind["translate"]["failed"], by_kind["translate"]["completion_tokens"]) == (1, 400)
    assert [row["calls"] for row in totals["by_day"]] == [3, 2]  # newest day first
    page = response.content.decode()
    assert 'id="llm-totals-by-kind"' in page and 'id="llm-totals-by-day"' in page


def test_totals_follow_the_list_filters(client, editor):
    make_calls()
    client.force_login(editor)
    response = client.get(reverse("admin:papers_llmcall_changelist"), {"task_kind": "translate"})
    totals = response.context["totals"]
    assert totals["overall"]["calls"] == 2
    assert [row["task_kind"] for row in totals["by_kind"]] == ["translate"]


def test_llm_calls_cannot_be_added_or_edited(client, editor):
    make_calls()
    client.force_login(editor)
    assert client.get(reverse("admin:papers_llmcall_add")).status_code == 403
    call = LLMCall.objects.first()
    response = client.post(reverse("admin:papers_llmcall_change", args=[call.pk]), {"task_kind": "changed"})
    call.refresh_from_db()
    assert response.status_code == 403 and call.task_kind != "changed"


def test_rerun_action_runs_the_chain_again_on_the_worker(
    celery_worker_process, pipeline_settings, llm_server, wait_for_enrichment, editor, client
):
    paper = Paper.objects.create(title="Synthetic continued pretraining", arxiv_id="2409.07431")
    PaperText.objects.create(paper=paper, lang="en", kind="abstract", origin="source",
                             body="Pretraining is data-inefficient. We propose synthetic continued pretraining.")
    EnrichmentStep.objects.create(paper=paper, step="translate", lang="zh", status=EnrichmentStep.Status.FAILED, error="HTTP 500")
    client.force_login(editor)

    response = client.post(reverse("admin:papers_paper_changelist"),
                           {"action": "rerun_enrichment", "_selected_action": [paper.pk]}, follow=True)

    assert "1 paper queued for enrichment." in response.content.decode()
    states = wait_for_enrichment([paper.pk])
    assert states[(paper.pk, "translate", "zh")] == EnrichmentStep.Status.DONE
    assert paper.texts.filter(lang="zh", origin="machine").count() == 3
    # The paper's admin page shows the state of each step.
    page = client.get(reverse("admin:papers_paper_change", args=[paper.pk])).content.decode()
    assert "enrichment_steps-TOTAL_FORMS" in page and "translate" in page
