"""A topic's corpus: papers by tags and by hand, which texts, which languages."""

from __future__ import annotations

import pytest

from synth.corpus import count_tokens, snapshot_corpus, topic_documents
from synth.models import SynthesisRun, Topic

pytestmark = pytest.mark.django_db(transaction=True)


def keys(topic) -> list[tuple[str, str, str]]:
    return [(d.title, d.kind, d.lang) for d in topic_documents(topic)]


def test_tags_and_hand_picked_papers_with_every_kind_and_language(corpus):
    topic = Topic.objects.create(name="All of it")
    topic.tags.set([corpus["synthetic"]])
    topic.papers.set([corpus["lime"], corpus["scp"]])  # scp also comes by tag: it appears once
    assert keys(topic) == [
        ("Synthetic continued pretraining", "abstract", "en"),
        ("Synthetic continued pretraining", "summary", "ko"),
        ("Rephrasing the Web", "abstract", "en"),
        ("LIME-M: Less Is More for Evaluation of MLLMs", "abstract", "en"),
        ("Essay: Synthetic continued pretraining", "commentary", "zh"),
    ]
    docs = topic_documents(topic)
    assert [d.tokens for d in docs] == [count_tokens(d.text) for d in docs]
    assert docs[-1].paper_id == corpus["scp"].pk  # a commentary on one paper links to it


def test_texts_and_languages_can_be_left_out(corpus):
    topic = Topic.objects.create(name="Korean summaries", include_abstracts=False, include_commentary=False, languages=["ko"])
    topic.tags.set([corpus["synthetic"]])
    assert keys(topic) == [("Synthetic continued pretraining", "summary", "ko")]

    topic.languages = ["zh"]
    topic.include_commentary = True
    topic.save()
    assert keys(topic) == [("Essay: Synthetic continued pretraining", "commentary", "zh")]


def test_a_topic_without_tags_or_papers_has_no_documents(corpus):
    assert topic_documents(Topic.objects.create(name="Empty")) == []


def test_a_run_keeps_the_corpus_it_started_with(topic, corpus):
    run = SynthesisRun.objects.create(topic=topic, strategy="extractive", model="extractive")
    first = snapshot_corpus(run)
    assert [d.title for d in first] == ["Synthetic continued pretraining", "Rephrasing the Web"]
    topic.papers.add(corpus["lime"])  # the topic changes while the run is stopped
    assert [d.pk for d in snapshot_corpus(run)] == [d.pk for d in first]
    assert len(topic_documents(topic)) == 3
