"""EntiGraph and rephrase runs against the scripted OpenAI-compatible server."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from django.db.models import Count

from papers.models import LLMCall
from synth import synthesis
from synth.models import SynthesisRun
from synth.synthesis import entigraph, pages
from synth.synthesis.runner import run_synthesis
from tests.llm_server import Reply

pytestmark = pytest.mark.django_db(transaction=True)


def start(topic, **kwargs) -> SynthesisRun:
    kwargs.setdefault("strategy", entigraph.ENTIGRAPH)
    kwargs.setdefault("target_tokens", 0)
    kwargs.setdefault("triples_per_document", 2)
    return synthesis.start_run(topic=topic, **kwargs)


def units(run, stage):
    return list(run.units.filter(stage=stage).order_by("position"))


def test_entigraph_run_writes_summaries_pairs_then_triples(synth_llm, topic):
    run = start(topic)
    assert run_synthesis(run.pk) == "done"
    run.refresh_from_db()

    docs = {d.title: d for d in run.documents.all()}
    assert set(docs) == {"Synthetic continued pretraining", "Rephrasing the Web"}
    # "the Llama 3 8B model" loses its article; "entigraph" is the same entity as "EntiGraph".
    assert docs["Synthetic continued pretraining"].entities == ["EntiGraph", "QuALITY", "Llama 3 8B model", "continued pretraining"]
    assert docs["Rephrasing the Web"].entities == ["WRAP", "C4", "Mistral", "perplexity"]
    assert docs["Rephrasing the Web"].summary == "A summary of Rephrasing the Web."

    assert len(units(run, "entities")) == 2
    pairs, triples = units(run, "pair"), units(run, "triple")
    assert len(pairs) == 12 and len(triples) == 4  # C(4,2) per document; 2 sampled triples per document
    assert {tuple(sorted(u.entities)) for u in pairs if u.document == docs["Rephrasing the Web"]} == {
        tuple(sorted(p)) for p in [("WRAP", "C4"), ("WRAP", "Mistral"), ("WRAP", "perplexity"), ("C4", "Mistral"),
                                   ("C4", "perplexity"), ("Mistral", "perplexity")]
    }
    assert all(u.status == "done" and u.attempts == 1 for u in run.units.all())
    # Pairs ran before triples, and the round-robin takes the two documents in turn.
    assert max(u.finished_at for u in pairs) <= min(u.finished_at for u in triples)
    assert [u.document.title for u in pairs[:4]] == ["Synthetic continued pretraining", "Rephrasing the Web"] * 2

    texts = {(t.kind, tuple(t.entities)): t.text for t in run.synthetic.all()}
    assert texts[("summary", ())] in {"A summary of Synthetic continued pretraining.", "A summary of Rephrasing the Web."}
    pair = next(u for u in pairs if set(u.entities) == {"WRAP", "C4"})
    assert pair.output.text == f"In Rephrasing the Web, {pair.entities[0]} and {pair.entities[1]} are related as the document describes."
    assert run.synthetic.filter(kind="pair").count() == 12 and run.synthetic.filter(kind="triple").count() == 4
    assert run.synthetic_documents == 2 + 12 + 4 == run.synthetic.count()
    assert run.synthetic_tokens == sum(run.synthetic.values_list("tokens", flat=True)) > 0
    assert run.calls == 18 == synth_llm.request_count

    # Prompts put the document first: every call for a document shares its prefix.
    scp_prompts = [r.body["messages"][1]["content"] for r in synth_llm.received if "Title: Synthetic continued" in r.prompt]
    block = scp_prompts[0].split("</document>")[0]
    assert len(scp_prompts) == 1 + 6 + 2 and all(p.startswith(block) for p in scp_prompts)
    assert all(p.index("</document>") < p.index("Entities:") for p in scp_prompts if "Entities:" in p)

    # The gateway recorded every call with tokens and cost, and the run totals them.
    calls = LLMCall.objects.filter(task_kind__startswith=f"synth:{run.pk}:")
    assert calls.count() == 18 and run.prompt_tokens == sum(calls.values_list("prompt_tokens", flat=True)) > 0
    assert run.cost_usd > 0


def test_same_seed_plans_the_same_order_and_another_seed_another(synth_llm, topic):
    first, second, third = start(topic, seed=7), start(topic, seed=7), start(topic, seed=8)
    for run in (first, second, third):
        run_synthesis(run.pk)

    def order(run):
        return [(u.document.title, tuple(u.entities)) for u in units(run, "pair") + units(run, "triple")]

    assert order(first) == order(second)
    assert order(first) != order(third)
    assert {u.key for u in first.units.all()} == {u.key for u in second.units.all()}


def test_rephrase_writes_each_style_per_document(synth_llm, topic):
    run = start(topic, strategy=entigraph.REPHRASE)
    assert run_synthesis(run.pk) == "done"
    kinds = sorted(run.synthetic.values_list("kind", flat=True))
    assert kinds == sorted(["encyclopedic", "easy", "qa"] * 2)
    assert run.synthetic.get(kind="qa", source__title="Rephrasing the Web").text == "Rephrasing the Web rewritten (questions and answers)."


def test_broken_json_is_repaired_once_then_recorded_and_the_run_goes_on(synth_llm, topic):
    # WRAP's entity call: broken twice (the call and the gateway's repair request). SCP's: once, then repaired.
    synth_llm.script(Reply.broken_json(), Reply.broken_json(), match="Title: Rephrasing the Web")
    synth_llm.script(Reply.broken_json(), match="Title: Synthetic continued pretraining")
    run = start(topic)
    assert run_synthesis(run.pk) == "done"

    wrap = run.units.get(stage="entities", document__title="Rephrasing the Web")
    assert wrap.status == "failed" and "invalid output" in wrap.error and "not JSON" in wrap.error
    scp = run.units.get(stage="entities", document__title="Synthetic continued pretraining")
    assert scp.status == "done"
    # The run went on with the document whose entities came back: 6 pairs and 2 triples.
    assert run.units.filter(stage="pair", status="done").count() == 6
    assert run.units.filter(stage="triple", status="done").count() == 2
    assert pages.recent_errors(run) == [wrap]

    # Resuming tries the failed unit again; now the server answers well and the rest follows.
    assert synthesis.resume_run(run)
    assert run_synthesis(run.pk) == "done"
    assert run.units.filter(status="done").count() == 2 + 12 + 4
    assert run.units.get(pk=wrap.pk).attempts == 2


def test_rate_limits_and_server_errors_are_retried(synth_llm, topic):
    synth_llm.script(Reply.rate_limited(retry_after=0), Reply.error(500), Reply.error(503))
    run = start(topic)
    assert run_synthesis(run.pk) == "done"
    assert run.units.filter(status="done").count() == 18
    assert sorted(r.status for r in synth_llm.received if r.status != 200) == [429, 500, 503]
    assert synth_llm.request_count == 18 + 3
    failed_calls = LLMCall.objects.filter(task_kind__startswith=f"synth:{run.pk}:", ok=False)
    assert failed_calls.count() == 3
    assert pages.recent_errors(run) == []


def test_a_unit_that_keeps_failing_is_recorded_and_the_run_goes_on(synth_llm, settings, topic):
    settings.LLM_MAX_RETRIES = 1
    synth_llm.script(Reply.error(500), match="- C4\n- Mistral", times=None)
    synth_llm.script(Reply.error(500), match="- Mistral\n- C4", times=None)
    run = start(topic, triples_per_document=0)
    assert run_synthesis(run.pk) == "done"
    failed = run.units.get(status="failed")
    assert set(failed.entities) == {"C4", "Mistral"} and "HTTP 500" in failed.error
    assert run.units.filter(status="done").count() == 2 + 12 - 1
    run.refresh_from_db()
    assert run.synthetic.count() == run.synthetic_documents == 2 + 11


def test_timeouts_are_retried_and_a_unit_that_always_times_out_fails(synth_llm, settings, topic):
    settings.LLM_TIMEOUT = 0.5
    settings.LLM_MAX_RETRIES = 1
    synth_llm.script(Reply.slow(2), match="Title: Synthetic continued pretraining")  # the entity call, once
    synth_llm.script(Reply.slow(2), match="- WRAP\n- C4", times=None)
    synth_llm.script(Reply.slow(2), match="- C4\n- WRAP", times=None)
    run = start(topic, triples_per_document=0)
    assert run_synthesis(run.pk) == "done"
    assert run.units.get(stage="entities", document__title="Synthetic continued pretraining").status == "done"
    failed = run.units.get(status="failed")
    assert set(failed.entities) == {"WRAP", "C4"} and "timed out" in failed.error
    assert run.units.filter(status="done").count() == 2 + 12 - 1


def test_empty_refused_truncated_and_duplicate_outputs_are_dropped_and_counted(synth_llm, topic):
    synth_llm.script(Reply.text(""), Reply.text(""), match="- WRAP\n- C4")
    synth_llm.script(Reply.text(""), Reply.text(""), match="- C4\n- WRAP")
    synth_llm.script(Reply.text("I'm sorry, but I can't help with that."), match="- Mistral\n- perplexity")
    synth_llm.script(Reply.text("I'm sorry, but I can't help with that."), match="- perplexity\n- Mistral")
    synth_llm.script(Reply.cut_off("C4 and Mistral are related because"), match="- C4\n- Mistral")
    synth_llm.script(Reply.cut_off("C4 and Mistral are related because"), match="- Mistral\n- C4")
    synth_llm.script(Reply.text("The same words twice."), match="- WRAP\n- Mistral")
    synth_llm.script(Reply.text("The same words twice."), match="- Mistral\n- WRAP")
    synth_llm.script(Reply.text("The same words twice."), match="- C4\n- perplexity")
    synth_llm.script(Reply.text("The same words twice."), match="- perplexity\n- C4")
    run = start(topic, triples_per_document=0)
    assert run_synthesis(run.pk) == "done"
    run.refresh_from_db()
    assert (run.dropped_empty, run.dropped_refused, run.dropped_truncated, run.dropped_duplicate) == (1, 1, 1, 1)
    assert run.synthetic.filter(text="The same words twice.").count() == 1
    assert not run.synthetic.filter(text__startswith="C4 and Mistral").exists()  # half a passage is never kept
    assert run.synthetic.count() == run.synthetic_documents == 2 + 12 - 4
    dropped = dict(run.units.exclude(dropped="").values_list("dropped").annotate(n=Count("id")))
    assert dropped == {"empty": 1, "refused": 1, "truncated": 1, "duplicate": 1}
    assert run.units.filter(status="done").count() == 14  # dropped units are done: a resume won't ask again


def test_call_cap_stops_the_run_at_exactly_that_many_calls(synth_llm, topic):
    run = start(topic, max_calls=7)
    assert run_synthesis(run.pk) == "budget"
    run.refresh_from_db()
    assert run.stop_reason == "call_cap"
    assert run.calls == 7 == synth_llm.request_count
    assert run.units.filter(status="done").count() == 7
    assert run.units.filter(stage="pair", status="done").count() == 5

    # Raising the cap and resuming goes on from there without asking for anything twice.
    SynthesisRun.objects.filter(pk=run.pk).update(max_calls=0)
    assert synthesis.resume_run(run)
    assert run_synthesis(run.pk) == "done"
    assert synth_llm.request_count == 18
    assert len({r.prompt for r in synth_llm.received}) == 18


def test_token_target_stops_after_the_unit_that_reaches_it(synth_llm, settings, topic):
    settings.SYNTH_CONCURRENCY = 1
    run = start(topic, target_tokens=1, triples_per_document=0)
    assert run_synthesis(run.pk) == "budget"
    run.refresh_from_db()
    assert run.stop_reason == "target"
    assert run.units.filter(status="done").count() == 1 == run.synthetic_documents
    assert synth_llm.request_count == 1

    first = run.synthetic.get()
    SynthesisRun.objects.filter(pk=run.pk).update(target_tokens=first.tokens * 3)
    assert synthesis.resume_run(run)
    assert run_synthesis(run.pk) == "budget"
    run.refresh_from_db()
    assert run.synthetic_documents == 3 and run.synthetic_tokens >= first.tokens * 3


def test_cancel_stops_a_running_run_and_resume_finishes_it(synth_llm, settings, topic, wait_until):
    settings.SYNTH_CONCURRENCY = 1
    synth_llm.latency = 0.1
    run = start(topic, triples_per_document=0)

    def editor_cancels_after_the_first_pair():  # another connection, as the run page's button would be
        try:
            wait_until(lambda: run.units.filter(stage="pair", status="done").exists())
            synthesis.cancel_run(run)
        finally:
            connection.close()

    editor = threading.Thread(target=editor_cancels_after_the_first_pair)
    editor.start()
    assert run_synthesis(run.pk) == "cancelled"
    editor.join()
    run.refresh_from_db()
    assert run.status == "cancelled" and not run.cancel_requested
    pending = run.units.filter(status="pending").count()
    assert 0 < pending < 12
    assert synthesis.can_resume(run) and synthesis.resume_run(run)
    assert run_synthesis(run.pk) == "done"
    assert run.units.filter(status="done").count() == 14


def test_a_resume_takes_over_from_a_runner_that_is_still_alive(synth_llm, settings, topic, wait_until):
    settings.SYNTH_CONCURRENCY = 2
    synth_llm.latency = 0.1
    run = start(topic, triples_per_document=0)
    first = {}

    def first_runner():
        try:
            first["status"] = run_synthesis(run.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=first_runner)
    thread.start()
    wait_until(lambda: run.units.filter(stage="pair", status="done").exists())
    assert synthesis.resume_run(run, force=True)  # e.g. a second delivery of the task
    assert run_synthesis(run.pk) == "done"
    thread.join()

    assert first["status"] == "superseded"  # it saw the new owner and stopped writing
    assert run.units.filter(status="done").count() == 14
    assert all(u.attempts == 1 for u in run.units.all())  # no unit written by both runners
    run.refresh_from_db()
    assert run.synthetic.count() == run.synthetic_documents == 14
