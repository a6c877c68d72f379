"""papers.llm against the scripted OpenAI-compatible server over real HTTP."""

from __future__ import annotations

import asyncio
import logging

import pytest

from papers import llm
from papers.models import LLMCall
from tests.llm_server import Reply

SCHEMA = {
    "type": "object",
    "properties": {"summary": {"type": "string", "minLength": 5}},
    "required": ["summary"],
    "additionalProperties": False,
}


def ask(user: str = "Summarize: models trained on their own outputs forget the tails.") -> dict:
    return llm.complete_json(task_kind="summarize", system="You summarize papers.", user=user, schema=SCHEMA)


@pytest.mark.django_db
class TestCompleteJson:
    def test_valid_reply_is_returned_and_recorded_with_tokens_and_cost(self, pipeline_settings, llm_server):
        data = ask()
        assert data["summary"].startswith("Scripted summary")
        call = LLMCall.objects.get()
        assert (call.task_kind, call.model, call.ok, call.cache_hit) == ("summarize", "scripted-model", True, False)
        assert call.prompt_tokens > 0 and call.completion_tokens > 0 and call.cost_usd > 0
        assert call.response and len(call.prompt_hash) == 64
        sent = llm_server.received[0].body
        assert sent["response_format"]["json_schema"]["schema"] == SCHEMA
        assert sent["model"] == "scripted-model" and sent["temperature"] == 0

    def test_rerun_is_answered_from_the_cache_without_a_request(self, pipeline_settings, llm_server):
        first = ask()
        second = ask()
        assert first == second
        assert llm_server.request_count == 1
        hit = LLMCall.objects.get(cache_hit=True)
        assert hit.cost_usd == 0 and hit.prompt_tokens == 0

    def test_another_model_is_not_served_from_the_cache(self, pipeline_settings, llm_server, settings):
        ask()
        settings.LLM_MODEL = "another-model"
        ask()
        assert llm_server.request_count == 2

    def test_429_waits_for_retry_after_then_succeeds(self, pipeline_settings, llm_server, caplog):
        llm_server.script(Reply.rate_limited(retry_after=1))
        with caplog.at_level(logging.WARNING, logger="papers.llm"):
            data = ask()
        assert data["summary"]
        assert [r.status for r in llm_server.received] == [429, 200]
        assert "in 1.00 s (Retry-After)" in caplog.text
        failed = LLMCall.objects.get(ok=False)
        assert "HTTP 429" in failed.error

    def test_retry_after_longer_than_allowed_is_left_to_the_task(self, pipeline_settings, llm_server, settings):
        settings.LLM_RETRY_AFTER_MAX = 5
        llm_server.script(Reply.rate_limited(retry_after=120))
        with pytest.raises(llm.LLMError) as err:
            ask()
        assert err.value.retryable and err.value.retry_after == 120
        assert llm_server.request_count == 1

    def test_500_is_retried_with_backoff(self, pipeline_settings, llm_server):
        llm_server.script(Reply.error(500), Reply.error(502))
        assert ask()["summary"]
        assert [r.status for r in llm_server.received] == [500, 502, 200]
        assert LLMCall.objects.filter(ok=False).count() == 2 and LLMCall.objects.filter(ok=True).count() == 1

    def test_persistent_500_gives_a_retryable_error_after_the_retries(self, pipeline_settings, llm_server):
        llm_server.script(Reply.error(500), times=None)
        with pytest.raises(llm.LLMError) as err:
            ask()
        assert err.value.retryable and "HTTP 500" in str(err.value)
        assert llm_server.request_count == 1 + int(pipeline_settings["LLM_MAX_RETRIES"])
        assert not LLMCall.objects.filter(ok=True).exists()

    def test_400_is_not_retried(self, pipeline_settings, llm_server):
        llm_server.script(Reply.error(400))
        with pytest.raises(llm.LLMError) as err:
            ask()
        assert not err.value.retryable
        assert llm_server.request_count == 1

    def test_slow_reply_past_the_timeout_is_retried(self, pipeline_settings, llm_server):
        llm_server.script(Reply.slow(4))  # LLM_TIMEOUT is 1.5 s in these tests
        assert ask()["summary"]
        assert llm_server.request_count == 2
        assert "timed out" in LLMCall.objects.get(ok=False).error

    def test_broken_json_is_repaired_once(self, pipeline_settings, llm_server):
        llm_server.script(Reply.broken_json())
        assert ask()["summary"].startswith("Scripted summary")
        repair = llm_server.received[1].body["messages"]
        assert repair[-2]["role"] == "assistant" and "not valid" in repair[-1]["content"]
        assert LLMCall.objects.filter(ok=False, error__startswith="invalid output").count() == 1
        # The repaired answer is cached under the original prompt: a rerun sends nothing.
        ask()
        assert llm_server.request_count == 2

    def test_broken_json_twice_is_a_visible_failure(self, pipeline_settings, llm_server, caplog):
        llm_server.script(Reply.broken_json(), times=2)
        with pytest.raises(llm.LLMError) as err:
            ask()
        assert not err.value.retryable and "after one repair attempt" in str(err.value)
        assert "invalid output after one repair attempt" in caplog.text
        assert llm_server.request_count == 2
        assert not LLMCall.objects.filter(ok=True).exists()

    def test_json_that_breaks_the_schema_is_repaired(self, pipeline_settings, llm_server):
        llm_server.script(Reply.text('{"summary": "ok", "extra": 1}'))
        assert ask()["summary"].startswith("Scripted summary")
        assert "unexpected ['extra']" in LLMCall.objects.get(ok=False).error

    def test_code_fenced_json_is_accepted(self, pipeline_settings, llm_server):
        llm_server.script(Reply.text('```json\n{"summary": "A fenced reply."}\n```'))
        assert ask() == {"summary": "A fenced reply."}

    def test_offline_mode_raises_without_a_request(self, pipeline_settings, llm_server, settings):
        settings.LLM_BASE_URL = ""
        assert not llm.is_configured()
        with pytest.raises(llm.LLMError, match="offline mode"):
            ask()
        assert llm_server.request_count == 0


@pytest.mark.django_db
def test_plain_completion_is_cached_too(pipeline_settings, llm_server):
    first = llm.complete(task_kind="note", system="Be brief.", user="Say something.")
    second = llm.complete(task_kind="note", system="Be brief.", user="Say something.")
    assert first == second and first.startswith("Scripted reply")
    assert llm_server.request_count == 1


@pytest.mark.django_db
def test_json_cut_off_at_max_tokens_is_asked_again(pipeline_settings, llm_server):
    llm_server.script(Reply.cut_off('{"summary": "A reply that ran out of'))
    assert ask()["summary"].startswith("Scripted summary")
    assert "cut off at max_tokens (800)" in LLMCall.objects.get(ok=False).error
    assert llm_server.request_count == 2


@pytest.mark.django_db
def test_text_cut_off_at_max_tokens_is_an_error_not_a_text(pipeline_settings, llm_server):
    # Valid-looking words, but the server stopped mid-sentence: no caller may take it for a whole text.
    llm_server.script(Reply.cut_off("EntiGraph relates QuALITY and the Llama model by"))
    with pytest.raises(llm.LLMError) as err:
        llm.complete(task_kind="note", system="Be brief.", user="Relate them.", max_tokens=12)
    assert err.value.reason == llm.LLMError.TRUNCATED and not err.value.retryable
    assert "cut off at max_tokens (12)" in str(err.value)
    assert llm_server.request_count == 1  # the same limit would cut a second try too
    call = LLMCall.objects.get()
    assert not call.ok and call.completion_tokens > 0  # its tokens still count toward cost
    # Not cached: the next call asks again.
    assert llm.complete(task_kind="note", system="Be brief.", user="Relate them.", max_tokens=12).startswith("Scripted")


@pytest.mark.django_db
def test_empty_text_is_asked_once_more_then_reported_as_empty(pipeline_settings, llm_server):
    llm_server.script(Reply.text("  "), times=2)
    with pytest.raises(llm.LLMError) as err:
        llm.complete(task_kind="note", system="Be brief.", user="Say nothing.")
    assert err.value.reason == llm.LLMError.EMPTY and "after one repair attempt" in str(err.value)
    assert llm_server.request_count == 2


@pytest.mark.django_db(transaction=True)
def test_async_calls_share_one_client_under_a_semaphore(pipeline_settings, llm_server):
    llm_server.latency = 0.3
    llm_server.script(Reply.rate_limited(retry_after=0), match="paper 3")
    llm_server.script(Reply.broken_json(), match="paper 5")

    async def main():
        async with llm.AsyncLLM(limit=3) as client:
            return await asyncio.gather(*(
                client.complete_json(task_kind="entities", system="List.", user=f"paper {i}", schema=SCHEMA) for i in range(8)
            ))

    results = asyncio.run(main())
    assert len(results) == 8 and all(r["summary"] for r in results)
    assert 1 < llm_server.max_in_flight <= 3
    assert LLMCall.objects.filter(ok=True, cache_hit=False).count() == 8
    # A second run is all cache hits.
    asyncio.run(main())
    assert llm_server.request_count == 8 + 2  # the 429 and the broken reply cost one extra request each
