"""Every synth command that takes a topic takes it by id or by name, through one helper,
with a clear error for an unknown or ambiguous name."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from synth.management.arguments import topic_from_arg
from synth.models import SynthesisRun, Topic, TrainingRun

pytestmark = pytest.mark.django_db


@pytest.fixture
def topics(settings):
    settings.LLM_BASE_URL = ""
    return {name: Topic.objects.create(name=name) for name in ("Synthetic data", "Synthetic data 2", "Retrieval")}


def test_a_topic_is_found_by_id_by_name_ignoring_case_and_by_a_unique_beginning(topics):
    retrieval = topics["Retrieval"]
    assert topic_from_arg(str(retrieval.pk)) == retrieval
    assert topic_from_arg("Retrieval") == retrieval
    assert topic_from_arg("retrieval") == retrieval
    assert topic_from_arg("Retr") == retrieval
    assert topic_from_arg("Synthetic data") == topics["Synthetic data"]  # exact wins over a longer name


def test_an_unknown_name_lists_the_topics(topics):
    with pytest.raises(CommandError, match=r"no topic 'Nothing'; topics: #\d+ 'Synthetic data'"):
        topic_from_arg("Nothing")
    with pytest.raises(CommandError, match="name a topic"):
        topic_from_arg("")


def test_an_ambiguous_name_lists_the_candidates(topics):
    with pytest.raises(CommandError, match=r"topic name 'synth' is ambiguous: it fits #\d+ 'Synthetic data', "
                                           r"#\d+ 'Synthetic data 2'"):
        topic_from_arg("synth")


def test_a_number_that_is_an_id_and_a_name_is_ambiguous(topics):
    retrieval = topics["Retrieval"]
    numbered = Topic.objects.create(name=str(retrieval.pk))
    with pytest.raises(CommandError, match=f"'{retrieval.pk}' is ambiguous: the id of #{retrieval.pk} 'Retrieval' "
                                           f"and the name of #{numbered.pk}"):
        topic_from_arg(str(retrieval.pk))


def test_synthesize_takes_a_topic_by_id_or_name(topics):
    target = topics["Retrieval"]
    for ref in (str(target.pk), "retrieval"):
        call_command("synthesize", ref, "--strategy", "extractive", "--queue", stdout=StringIO())
    assert list(SynthesisRun.objects.values_list("topic_id", flat=True)) == [target.pk, target.pk]
    with pytest.raises(CommandError, match="is ambiguous"):
        call_command("synthesize", "synth", "--strategy", "extractive", "--queue", stdout=StringIO())


def test_generate_eval_questions_takes_a_topic_by_name(topics):
    # Offline, it stops at the LLM check: after the topic was found by its name.
    with pytest.raises(CommandError, match="no LLM is configured"):
        call_command("generate_eval_questions", "Retrieval")
    with pytest.raises(CommandError, match="no LLM is configured"):
        call_command("generate_eval_questions", str(topics["Retrieval"].pk))
    with pytest.raises(CommandError, match="no topic 'Nothing'"):
        call_command("generate_eval_questions", "Nothing")


def test_train_takes_a_topic_for_its_finished_synthesis_runs(finished_synthesis, cpt_settings, broker_queue):
    SynthesisRun.objects.create(topic=finished_synthesis.topic, strategy="extractive", status="running")
    out = StringIO()
    call_command("train", "--topic", finished_synthesis.topic.name, "--queue", stdout=out)
    run = TrainingRun.objects.get()
    assert list(run.synthesis_runs.all()) == [finished_synthesis]  # the finished run only
    assert out.getvalue().startswith(f"training run {run.pk} queued")
    with pytest.raises(CommandError, match="has no finished synthesis run"):
        call_command("train", "--topic", Topic.objects.create(name="Bare").name, "--queue")
