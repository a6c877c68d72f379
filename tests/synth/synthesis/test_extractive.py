"""The extractive baseline: the whole synthesize step with no LLM server at all."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from papers.models import LLMCall
from synth import synthesis
from synth.models import SynthesisRun, Topic
from synth.synthesis import entigraph
from synth.synthesis.runner import run_synthesis

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def offline(settings):
    settings.LLM_BASE_URL = ""  # offline mode: papers.llm refuses every call


def test_extractive_run_needs_no_server_and_is_labelled_a_baseline(offline, topic, tmp_path):
    run = synthesis.start_run(topic=topic, strategy=entigraph.EXTRACTIVE, target_tokens=0)
    assert run.model == "extractive" and run.is_baseline
    assert run_synthesis(run.pk) == "done"
    run.refresh_from_db()

    scp = run.documents.get(title="Synthetic continued pretraining")
    assert scp.entities[:2] == ["EntiGraph", "continued pretraining"]
    passages = list(run.synthetic.filter(source=scp))
    assert passages and all(p.kind == "extractive" for p in passages)
    # Each passage is the document's own sentences that mention its entity pair.
    sentences = entigraph.split_sentences(scp.text)
    for p in passages:
        header, body = p.text.split(": ", 1)
        assert header == " / ".join(p.entities)
        assert body and all(s in sentences for s in entigraph.split_sentences(body))
        assert all(entigraph.clean_entity(e).casefold() in body.casefold() for e in p.entities)
    pair = next(p for p in passages if set(p.entities) == {"EntiGraph", "QuALITY"})
    assert "On QuALITY, continued pretraining of the Llama 3 8B model on EntiGraph data improves accuracy." in pair.text
    assert run.synthetic_documents == run.synthetic.count() > 0 and run.calls == 0
    assert not LLMCall.objects.exists()

    out = tmp_path / "corpus.jsonl"
    call_command("export_corpus", str(run.pk), output=str(out))
    lines = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(lines) == run.synthetic_documents
    assert {line["strategy"] for line in lines} == {"extractive"} and all(line["baseline"] for line in lines)
    assert {line["source"]["title"] for line in lines} <= {"Synthetic continued pretraining", "Rephrasing the Web"}


def test_offline_mode_refuses_llm_strategies(offline, topic):
    with pytest.raises(synthesis.RunError, match="offline"):
        synthesis.start_run(topic=topic, strategy=entigraph.ENTIGRAPH)
    assert not SynthesisRun.objects.exists()


def test_synthesize_command_runs_the_extractive_baseline_here(offline, topic, capsys):
    call_command("synthesize", topic.name, strategy="extractive", target_tokens=0)
    run = SynthesisRun.objects.get()
    assert run.status == "done" and run.synthetic_documents > 0
    assert f"run {run.pk}: done" in capsys.readouterr().out


def test_a_topic_with_an_empty_corpus_fails_with_a_reason(offline, corpus):
    empty = Topic.objects.create(name="Nothing yet")
    run = synthesis.start_run(topic=empty, strategy=entigraph.EXTRACTIVE)
    assert run_synthesis(run.pk) == "failed"
    run.refresh_from_db()
    assert run.error == "The topic's corpus is empty." and not run.units.exists()
    assert run_synthesis(run.pk) == "skipped"  # a second delivery of the task does nothing


def test_synthesize_command_resumes_a_stopped_run(offline, topic, capsys):
    run = synthesis.start_run(topic=topic, strategy=entigraph.EXTRACTIVE, target_tokens=1)
    assert run_synthesis(run.pk) == "budget"
    SynthesisRun.objects.filter(pk=run.pk).update(target_tokens=0)
    call_command("synthesize", resume=run.pk)
    run.refresh_from_db()
    assert run.status == "done" and run.units.filter(status="pending").count() == 0
    assert f"run {run.pk}: done" in capsys.readouterr().out
