"""A run says why it stopped and what to change: a tiny topic synthesized with the extractive
baseline runs out of entity pairs far below its target, and the run page, the admin list
and `manage.py synthesize` say so instead of a bare "done"."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from papers.models import Paper, PaperText
from synth import synthesis
from synth.models import SynthesisRun, Topic
from synth.synthesis.runner import run_synthesis

pytestmark = pytest.mark.django_db(transaction=True)

OUT_OF_PAIRS = "ran out of entity pairs before the target"
ADVICE = "Add papers to the topic, or start a new run with more entities per document."


@pytest.fixture
def tiny_topic(settings) -> Topic:
    settings.LLM_BASE_URL = ""  # the extractive baseline needs no LLM
    paper = Paper.objects.create(title="Quxville")
    PaperText.objects.create(paper=paper, lang="en", kind="abstract",
                             body="EntiGraph was built in Quxville. The Quxville lab trains EntiGraph models.")
    topic = Topic.objects.create(name="Tiny", languages=["en"], include_summaries=False, include_commentary=False)
    topic.papers.add(paper)
    return topic


def test_a_run_that_runs_out_of_pairs_says_so_and_what_to_change(tiny_topic, staff):
    run = synthesis.start_run(topic=tiny_topic, strategy="extractive", target_tokens=100_000)
    assert run_synthesis(run.pk) == "done"
    run.refresh_from_db()
    assert run.stop_reason == SynthesisRun.StopReason.EXHAUSTED
    assert 0 < run.synthetic_tokens < 100_000

    page = staff.get(f"/lab/runs/{run.pk}/").content.decode()
    assert 'data-reason="exhausted"' in page
    assert f"{OUT_OF_PAIRS}: {run.synthetic_tokens} of 100000 target tokens (0%)" in page
    assert ADVICE in page

    listing = staff.get("/admin/synth/synthesisrun/").content.decode()
    assert OUT_OF_PAIRS in listing and ADVICE in listing
    assert OUT_OF_PAIRS in staff.get("/admin/synth/synthesisrun/?stop_reason=exhausted").content.decode()
    assert OUT_OF_PAIRS not in staff.get("/admin/synth/synthesisrun/?stop_reason=target").content.decode()


def test_reaching_the_target_and_having_none_are_not_reported_as_shortfalls(tiny_topic, staff):
    reached = synthesis.start_run(topic=tiny_topic, strategy="extractive", target_tokens=1)
    open_ended = synthesis.start_run(topic=tiny_topic, strategy="extractive", target_tokens=0)
    assert run_synthesis(reached.pk) in ("done", "budget")
    assert run_synthesis(open_ended.pk) == "done"
    reached.refresh_from_db()
    open_ended.refresh_from_db()
    assert reached.stop_reason == "target" and open_ended.stop_reason == "exhausted"
    for run in (reached, open_ended):
        page = staff.get(f"/lab/runs/{run.pk}/").content.decode()
        assert OUT_OF_PAIRS not in page and 'id="outcome-advice"' not in page
    assert "target tokens reached" in staff.get(f"/lab/runs/{reached.pk}/").content.decode()
    assert "every planned unit ran" in staff.get(f"/lab/runs/{open_ended.pk}/").content.decode()


def test_an_empty_topic_fails_with_what_to_change(settings, staff):
    settings.LLM_BASE_URL = ""
    topic = Topic.objects.create(name="Empty")
    run = synthesis.start_run(topic=topic, strategy="extractive", target_tokens=10)
    assert run_synthesis(run.pk) == "failed"
    page = staff.get(f"/lab/runs/{run.pk}/").content.decode()
    assert 'data-reason="empty_corpus"' in page
    assert "Add papers or tags to the topic, or check its languages and kinds of text." in page


def test_the_synthesize_command_reports_the_reason_and_the_advice(tiny_topic):
    out = StringIO()
    call_command("synthesize", "Tiny", "--strategy", "extractive", "--target-tokens", "100000", stdout=out)
    first, advice = out.getvalue().splitlines()[:2]
    assert first.startswith("run ") and f": done ({OUT_OF_PAIRS}: " in first
    assert advice == ADVICE
