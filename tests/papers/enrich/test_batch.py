"""Many papers enriched by one enrich_batch task on a real Celery worker: every paper's calls
in flight together, each paper's failures handled as its chain would handle them."""

from __future__ import annotations

import pytest
from django.core.management import call_command

from papers.models import EnrichmentStep, LLMCall, Paper, Tag
from tests.llm_server import Reply

DONE, FAILED = EnrichmentStep.Status.DONE, EnrichmentStep.Status.FAILED
LLM_STEPS = [("summarize", ""), ("translate", "ko"), ("translate", "zh"), ("tag", "")]


@pytest.fixture
def vocabulary(transactional_db):
    for slug in ("synthetic-data", "continued-pretraining", "benchmark", "multimodal"):
        Tag.objects.create(slug=slug, name=slug.replace("-", " "))


def test_one_papers_failures_do_not_stop_the_others_in_its_batch(
    celery_worker_process, vocabulary, arxiv_feed, llm_server, wait_for_enrichment
):
    llm_server.latency = 0.2
    # Only translation requests carry the paper as a JSON object ({"title": ...}).
    llm_server.script(Reply.error(500), match='"title": "LIME-M', times=None)
    llm_server.script(Reply.broken_json(), match='"title": "The Curse of Recursion', times=None)
    llm_server.script(Reply.rate_limited(retry_after=1), match="Title: Rephrasing the Web")
    arxiv_feed.serve("search_page1.atom", "search_page2.atom", "search_page3.atom")
    call_command("fetch_arxiv")  # 5 papers: one batch
    states = wait_for_enrichment(Paper.objects.values_list("pk", flat=True))
    by_title = {p.title.split(":")[0]: {(s, lang): st for (pk, s, lang), st in states.items() if pk == p.pk}
                for p in Paper.objects.all()}

    lime, curse = by_title["LIME-M"], by_title["The Curse of Recursion"]
    assert [lime[s] for s in LLM_STEPS] == [DONE, FAILED, FAILED, DONE]
    assert [curse[s] for s in LLM_STEPS] == [DONE, FAILED, FAILED, DONE]
    for title, steps in by_title.items():
        if title not in ("LIME-M", "The Curse of Recursion"):
            assert [steps[s] for s in LLM_STEPS] == [DONE] * 4, title
        assert steps[("embed", "")] in (DONE, EnrichmentStep.Status.SKIPPED)
    lime_paper = Paper.objects.get(arxiv_id="2409.06851")
    assert "HTTP 500" in lime_paper.enrichment_steps.get(step="translate", lang="ko").error
    assert not lime_paper.texts.filter(lang__in=["ko", "zh"]).exists()
    # Per language: (1 + LLM_MAX_RETRIES) requests per run of the step, 1 + ENRICH_MAX_RETRIES runs.
    assert sum('"title": "LIME-M' in p for p in llm_server.prompts()) == 2 * 3 * 2
    # Broken after its repair attempt is not retryable: two requests per language.
    assert sum('"title": "The Curse of Recursion' in p for p in llm_server.prompts()) == 2 * 2
    assert "invalid output after one repair attempt" in Paper.objects.get(title__startswith="The Curse").enrichment_steps.get(
        step="translate", lang="ko").error
    # The papers' calls were in flight together, under LLM_CONCURRENCY.
    assert 1 < llm_server.max_in_flight <= 8
    assert LLMCall.objects.filter(ok=True, cache_hit=False).count() == 5 * 4 - 2 - 2
