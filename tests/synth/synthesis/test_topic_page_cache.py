"""The public topic page reads and counts every text of its topic: its table is cached, and
a write that changes it (a text, a paper, a commentary, the topic's choice of them) shows on
the next view. Query counts, not timing, show the cache at work."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from synth.corpus import count_tokens
from tests.factories import make_paper

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def private_cache(settings):
    settings.CACHES = {"default": {**settings.CACHES["default"], "KEY_PREFIX": f"topic-page-{uuid.uuid4().hex}"}}


def view(client, topic) -> tuple[str, list[str]]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("synth:topic", args=[topic.pk]))
    assert response.status_code == 200
    return response.content.decode(), [q["sql"] for q in queries.captured_queries]


def reads_texts(sqls: list[str]) -> bool:
    return any('"papers_papertext"' in sql for sql in sqls)


def total_tokens(html: str) -> int:
    return int(html.split('<span id="topic-total-tokens">', 1)[1].split("<", 1)[0])


def test_a_second_view_reads_no_texts(client, topic):
    first_html, first = view(client, topic)
    second_html, second = view(client, topic)
    assert reads_texts(first) and not reads_texts(second)
    assert len(second) < len(first)
    assert "Rephrasing the Web" in second_html and total_tokens(second_html) == total_tokens(first_html)


def test_an_edited_text_shows_on_the_next_view(client, topic, corpus):
    before = total_tokens(view(client, topic)[0])
    text = corpus["wrap"].texts.get(kind="abstract", lang="en")
    added = " Rephrased web text in many styles makes pretraining more data-efficient."
    text.body += added
    text.save()
    html, sqls = view(client, topic)
    assert reads_texts(sqls) and total_tokens(html) == before + count_tokens(text.body) - count_tokens(text.body[: -len(added)])


def test_a_paper_picked_by_hand_shows_on_the_next_view(client, topic, corpus):
    assert "LIME-M" not in view(client, topic)[0]
    topic.papers.add(corpus["lime"])
    assert "LIME-M" in view(client, topic)[0]


def test_a_new_paper_with_the_topics_tag_shows_on_the_next_view(client, topic, corpus):
    view(client, topic)
    make_paper(title="Scaling synthetic data", published=None, tags=[corpus["synthetic"]],
               texts={"en": {"abstract": "We scale synthetic data."}})
    assert "Scaling synthetic data" in view(client, topic)[0]


def test_a_topic_edit_shows_on_the_next_view(client, topic):
    assert "<td>summary</td>" not in view(client, topic)[0]
    topic.languages, topic.include_summaries = ["en", "ko"], True
    topic.save()
    assert "<td>summary</td><td>ko</td>" in view(client, topic)[0]


def test_with_redis_down_the_page_is_built_on_every_view(client, topic, settings):
    dead = Path(tempfile.mkdtemp(prefix="rd", dir="/tmp")) / "nobody.sock"
    settings.CACHES = {"default": {"BACKEND": "config.cache.FailOpenRedisCache", "LOCATION": f"unix://{dead}?db=0"}}
    first, second = view(client, topic), view(client, topic)
    assert reads_texts(first[1]) and reads_texts(second[1])
    assert "Rephrasing the Web" in second[0]
