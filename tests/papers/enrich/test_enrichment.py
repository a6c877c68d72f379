"""The enrichment chain executed by a real Celery worker process, against the scripted
OpenAI-compatible server and recorded arXiv feeds."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from papers import enrich
from papers.models import EnrichmentStep, LLMCall, Origin, Paper, PaperText, Tag
from papers.tasks import enqueue_enrichment, fetch_new_arxiv
from tests.llm_server import Reply

PAGES = ("search_page1.atom", "search_page2.atom", "search_page3.atom")
DONE, SKIPPED, FAILED = EnrichmentStep.Status.DONE, EnrichmentStep.Status.SKIPPED, EnrichmentStep.Status.FAILED
LLM_STEPS = [("summarize", ""), ("translate", "ko"), ("translate", "zh"), ("tag", "")]


@pytest.fixture
def vocabulary(transactional_db):
    for slug, name in [("synthetic-data", "synthetic data"), ("continued-pretraining", "continued pretraining"),
                       ("benchmark", "benchmark"), ("multimodal", "multimodal")]:
        Tag.objects.create(slug=slug, name=name)


def texts_of(paper: Paper) -> dict:
    return {(t.lang, t.kind): (t.body, t.origin, t.model) for t in paper.texts.all()}


def settled(states: dict, paper_id: int) -> dict:
    return {(step, lang): status for (pk, step, lang), status in states.items() if pk == paper_id}


def requests_about(llm_server, words: str) -> int:
    return sum(words in prompt for prompt in llm_server.prompts(status=200))


def test_new_papers_get_summaries_and_translations_exactly_once(
    celery_worker_process, vocabulary, arxiv_feed, llm_server, wait_for_enrichment
):
    arxiv_feed.serve(*PAGES)
    call_command("fetch_arxiv")  # stores 5 papers, queues 5 chains for the worker
    papers = list(Paper.objects.order_by("pk"))
    states = wait_for_enrichment([p.pk for p in papers])

    assert len(papers) == 5
    for paper in papers:
        steps = settled(states, paper.pk)
        assert [steps[s] for s in LLM_STEPS] == [DONE] * 4, steps
        assert steps[("embed", "")] in (DONE, SKIPPED)  # papers.embeddings: done, or skipped without an embedding model
        texts = texts_of(paper)
        assert texts[("en", "summary")][1:] == (Origin.MACHINE, "scripted-model")
        for lang in ("ko", "zh"):
            for kind in ("title", "summary", "abstract"):
                assert texts[(lang, kind)][1:] == (Origin.MACHINE, "scripted-model")
        assert texts[("en", "abstract")][1] == Origin.SOURCE
        assert len(texts) == 9
    # One summary, two translations and one tag suggestion per paper, and nothing else.
    assert llm_server.request_count == 5 * 4
    assert LLMCall.objects.filter(ok=True, cache_hit=False).count() == 20
    assert requests_about(llm_server, "Rephrasing the Web") == 4
    translations = [r for r in llm_server.received if "Korean" in r.prompt]
    assert len(translations) == 5
    assert set(json.loads(translations[0].body["messages"][1]["content"])) == {"title", "summary", "abstract"}
    # Tags come from the vocabulary only.
    cpt = Paper.objects.get(arxiv_id="2409.07431")
    assert "continued-pretraining" in set(cpt.tags.values_list("slug", flat=True))
    assert Tag.objects.count() == 4


def test_rerun_makes_no_new_llm_calls(celery_worker_process, vocabulary, arxiv_feed, llm_server, wait_for_enrichment):
    arxiv_feed.serve("search_page1.atom", "search_page2.atom", "search_page3.atom")
    call_command("fetch_arxiv")
    ids = list(Paper.objects.values_list("pk", flat=True))
    wait_for_enrichment(ids)
    requests, texts = llm_server.request_count, {p.pk: texts_of(p) for p in Paper.objects.all()}
    modified = dict(PaperText.objects.values_list("pk", "modified_at"))

    call_command("enrich_papers", "--all")
    states = wait_for_enrichment(ids)

    assert all(status in (DONE, SKIPPED) for status in states.values())
    assert llm_server.request_count == requests
    assert {p.pk: texts_of(p) for p in Paper.objects.all()} == texts
    assert dict(PaperText.objects.values_list("pk", "modified_at")) == modified  # not even rewritten
    assert LLMCall.objects.filter(cache_hit=True).count() == 20
    assert LLMCall.objects.filter(cache_hit=False).count() == 20


def test_human_texts_are_never_overwritten(celery_worker_process, vocabulary, llm_server, wait_for_enrichment):
    paper = Paper.objects.create(title="Synthetic continued pretraining", arxiv_id="2409.07431", arxiv_version=1)
    for lang, kind, body, origin in [
        ("en", "abstract", "Pretraining is data-inefficient. We propose synthetic continued pretraining with EntiGraph.", Origin.SOURCE),
        ("en", "summary", "An editor's summary of EntiGraph.", Origin.EDITOR),
        ("ko", "title", "합성 지속 사전학습", Origin.SOURCE),
        ("ko", "summary", "편집자가 쓴 요약입니다.", Origin.EDITOR),
    ]:
        PaperText.objects.create(paper=paper, lang=lang, kind=kind, body=body, origin=origin)
    human = {k: v for k, v in texts_of(paper).items()}

    enqueue_enrichment([paper.pk])
    steps = settled(wait_for_enrichment([paper.pk]), paper.pk)

    assert steps[("summarize", "")] == SKIPPED
    assert steps[("translate", "ko")] == DONE and steps[("translate", "zh")] == DONE
    texts = texts_of(paper)
    assert {k: texts[k] for k in human} == human
    assert texts[("ko", "abstract")][1] == Origin.MACHINE
    assert {texts[("zh", kind)][1] for kind in ("title", "summary", "abstract")} == {Origin.MACHINE}
    korean = next(r for r in llm_server.received if "into Korean" in r.prompt)
    assert set(json.loads(korean.body["messages"][1]["content"])) == {"abstract"}  # only what is missing
    assert requests_about(llm_server, "short summary") == 0


def test_rate_limits_server_errors_and_slow_answers_are_ridden_out(
    celery_worker_process, vocabulary, arxiv_feed, llm_server, wait_for_enrichment
):
    llm_server.script(Reply.rate_limited(retry_after=1), match="short summary")
    llm_server.script(Reply.error(500), Reply.error(503), match="into Korean")
    llm_server.script(Reply.slow(4), match="file machine learning papers")  # past LLM_TIMEOUT (1.5 s)
    arxiv_feed.serve("id_2409.07431.atom")
    call_command("fetch_arxiv", "--id", "2409.07431")
    paper = Paper.objects.get()
    steps = settled(wait_for_enrichment([paper.pk]), paper.pk)

    assert [steps[s] for s in LLM_STEPS] == [DONE] * 4
    assert len(texts_of(paper)) == 9
    failures = sorted(LLMCall.objects.filter(ok=False).values_list("error", flat=True))
    assert [e.split(" from")[0] for e in failures] == ["HTTP 429", "HTTP 500", "HTTP 503", "timed out after 1.5 s"]


def test_broken_json_twice_fails_the_step_and_writes_nothing_half(
    celery_worker_process, vocabulary, arxiv_feed, llm_server, wait_for_enrichment
):
    llm_server.script(Reply.broken_json(), match="Simplified Chinese", times=2)
    arxiv_feed.serve("id_2409.07431.atom")
    call_command("fetch_arxiv", "--id", "2409.07431")
    paper = Paper.objects.get()
    steps = settled(wait_for_enrichment([paper.pk]), paper.pk)

    assert steps[("translate", "zh")] == FAILED
    step = paper.enrichment_steps.get(step="translate", lang="zh")
    assert "invalid output after one repair attempt" in step.error
    assert not paper.texts.filter(lang="zh").exists()  # not one of the three
    # The chain went on: the other steps did their work.
    assert (steps[("summarize", "")], steps[("translate", "ko")], steps[("tag", "")]) == (DONE, DONE, DONE)
    assert paper.texts.filter(lang="ko").count() == 3
    assert requests_about(llm_server, "Simplified Chinese") == 2  # a non-retryable failure: not retried

    # Re-running only the failed step now succeeds (the broken replies were never cached).
    enqueue_enrichment([paper.pk])
    steps = settled(wait_for_enrichment([paper.pk]), paper.pk)
    assert steps[("translate", "zh")] == DONE and paper.texts.filter(lang="zh").count() == 3


def test_persistent_server_errors_fail_the_step_after_the_task_retries(
    celery_worker_process, vocabulary, arxiv_feed, llm_server, wait_for_enrichment
):
    llm_server.script(Reply.error(500), match="into Korean", times=None)
    arxiv_feed.serve("id_2409.07431.atom")
    call_command("fetch_arxiv", "--id", "2409.07431")
    paper = Paper.objects.get()
    steps = settled(wait_for_enrichment([paper.pk]), paper.pk)

    assert steps[("translate", "ko")] == FAILED
    assert "HTTP 500" in paper.enrichment_steps.get(step="translate", lang="ko").error
    assert not paper.texts.filter(lang="ko").exists()
    # (1 + LLM_MAX_RETRIES) requests per run of the task, and the task ran 1 + ENRICH_MAX_RETRIES times.
    assert sum("into Korean" in p for p in llm_server.prompts()) == 3 * 2
    assert steps[("translate", "zh")] == DONE and steps[("tag", "")] == DONE


def test_daily_job_fetches_what_is_new_and_re_enriches_a_new_version(
    celery_worker_process, vocabulary, arxiv_feed, llm_server, wait_for_enrichment
):
    arxiv_feed.serve("search_page1.atom", "search_page2.atom", "search_page3.atom")
    assert fetch_new_arxiv.delay().get(timeout=60) == "5 new, 0 updated, 0 unchanged (3 pages)"
    wait_for_enrichment(Paper.objects.values_list("pk", flat=True))
    cpt = Paper.objects.get(arxiv_id="2409.07431")
    before = texts_of(cpt)
    lime_before = texts_of(Paper.objects.get(arxiv_id="2409.06851"))
    llm_server.reset_counts()

    arxiv_feed.serve("search_newer.atom")
    assert fetch_new_arxiv.delay().get(timeout=60) == "2 new, 1 updated, 0 unchanged (1 pages)"
    wait_for_enrichment(Paper.objects.values_list("pk", flat=True))

    after = texts_of(cpt)
    assert after[("en", "summary")] != before[("en", "summary")]  # summarized again from the v2 abstract
    assert after[("ko", "abstract")] != before[("ko", "abstract")]
    assert cpt.versions.count() == 2 and Paper.objects.count() == 7
    assert texts_of(Paper.objects.get(arxiv_id="2409.06851")) == lime_before
    assert requests_about(llm_server, "LIME-M") == 0  # the known paper was not touched
    assert llm_server.request_count == 3 * 4  # two new papers and one new version


class TestOfflineMode:
    @pytest.fixture
    def celery_worker_env(self, pipeline_settings, settings):
        settings.LLM_BASE_URL = ""
        return {**pipeline_settings, "LLM_BASE_URL": ""}

    def test_offline_gives_extractive_summaries_and_no_translations(
        self, celery_worker_process, vocabulary, arxiv_feed, llm_server, wait_for_enrichment
    ):
        arxiv_feed.serve("id_2409.07431.atom")
        call_command("fetch_arxiv", "--id", "2409.07431")
        paper = Paper.objects.get()
        steps = settled(wait_for_enrichment([paper.pk]), paper.pk)

        assert steps[("summarize", "")] == DONE
        summary = paper.texts.get(lang="en", kind="summary")
        assert (summary.origin, summary.model) == (Origin.MACHINE, enrich.EXTRACTIVE)
        assert summary.body.startswith("Pretraining on large unstructured corpora") and "We propose" in summary.body
        assert steps[("translate", "ko")] == steps[("translate", "zh")] == steps[("tag", "")] == SKIPPED
        assert "offline mode" in paper.enrichment_steps.get(step="translate", lang="ko").error
        assert not paper.texts.filter(lang__in=["ko", "zh"]).exists()
        assert llm_server.request_count == 0 and not LLMCall.objects.exists()


class TestEnrichPapersCommand:
    def test_inline_runs_every_step_in_this_process(self, db, pipeline_settings, llm_server, capsys):
        paper = Paper.objects.create(title="Synthetic continued pretraining", arxiv_id="2409.07431")
        PaperText.objects.create(paper=paper, lang="en", kind="abstract", origin=Origin.SOURCE,
                                 body="Pretraining is data-inefficient. We propose synthetic continued pretraining.")
        call_command("enrich_papers", "--inline", str(paper.pk))
        steps = {(s.step, s.lang): s.status for s in paper.enrichment_steps.all()}
        assert [steps[s] for s in LLM_STEPS] == [DONE, DONE, DONE, SKIPPED]  # no tags exist: nothing to choose from
        assert steps[("embed", "")] in (DONE, SKIPPED)
        assert paper.texts.count() == 1 + 1 + 3 + 3
        assert llm_server.request_count == 3
        assert "summarize done" in capsys.readouterr().out

    def test_default_picks_papers_with_unsettled_steps(self, db, pipeline_settings, settings):
        settings.LLM_BASE_URL = ""
        finished = Paper.objects.create(title="Finished")
        fresh = Paper.objects.create(title="Fresh")
        failed = Paper.objects.create(title="Failed once")
        for paper in (finished, failed):
            for step, lang in enrich.planned_steps():
                enrich.mark_step(paper, step, lang, DONE)
        enrich.mark_step(failed, "translate", "zh", FAILED, "HTTP 500")
        assert enrich.needs_enrichment() == [fresh.pk, failed.pk]

    def test_unknown_paper_is_refused(self, db, pipeline_settings):
        from django.core.management import CommandError

        with pytest.raises(CommandError, match="no such paper: 999999"):
            call_command("enrich_papers", "999999")


def test_a_reply_the_database_refuses_fails_its_step_and_the_chain_goes_on(
    celery_worker_process, vocabulary, arxiv_feed, llm_server, wait_for_enrichment
):
    # Valid JSON by the schema, but PostgreSQL stores no NUL character: an error that is not the LLM's.
    llm_server.script(Reply.text(json.dumps({"summary": "A summary with a NUL \u0000 in it."})), match="short summary")
    arxiv_feed.serve("id_2409.07431.atom")
    call_command("fetch_arxiv", "--id", "2409.07431")
    paper = Paper.objects.get()
    steps = settled(wait_for_enrichment([paper.pk]), paper.pk)

    assert steps[("summarize", "")] == FAILED  # not "running" for ever
    error = EnrichmentStep.objects.get(paper=paper, step="summarize").error
    assert "NUL" in error or "0x00" in error, error
    assert [steps[s] for s in LLM_STEPS[1:]] == [DONE] * 3  # the rest of the chain ran
    assert steps[("embed", "")] in (DONE, SKIPPED)
    assert ("en", "summary") not in texts_of(paper)


def test_steps_whose_message_was_lost_are_queued_again_by_beat(
    celery_worker_process, vocabulary, llm_server, wait_for_enrichment, broker_queue
):
    """A broker that restarts empty loses queued chains: the steps stay 'pending' with no
    message anywhere. Beat's job finds them after ENRICH_STALL_SECONDS and queues them again;
    a paper whose steps are merely recent is left alone."""
    import datetime as dt

    from django.utils import timezone

    from papers.tasks import resume_stalled_enrichment

    def paper(title: str) -> Paper:
        p = Paper.objects.create(title=title)
        PaperText.objects.create(paper=p, lang="en", kind="abstract", origin=Origin.SOURCE,
                                 body=f"{title}. We study synthetic data for continued pretraining.")
        return p

    lost, recent = paper("Lost in the broker"), paper("Queued a moment ago")
    enrich.mark_pending([lost.pk, recent.pk])  # what enqueue_enrichment writes; the messages are gone
    EnrichmentStep.objects.filter(paper=lost).update(updated_at=timezone.now() - dt.timedelta(hours=3))

    assert resume_stalled_enrichment() == [lost.pk]
    steps = settled(wait_for_enrichment([lost.pk]), lost.pk)
    assert [steps[s] for s in LLM_STEPS] == [DONE] * 4
    assert set(EnrichmentStep.objects.filter(paper=recent).values_list("status", flat=True)) == {"pending"}
    assert resume_stalled_enrichment() == []  # nothing stalled any more
