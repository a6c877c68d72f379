"""RSS and Atom of published issues, per language and per tag, valid to a feed reader."""

import datetime as dt

import feedparser
import pytest
from django.urls import reverse

from digest.issues import build_issue
from tests.factories import make_paper

from .conftest import WEEK

pytestmark = pytest.mark.django_db


def _parse(client, name: str, **kwargs):
    response = client.get(reverse(f"digest:{name}", kwargs=kwargs))
    assert response.status_code == 200
    feed = feedparser.parse(response.content)
    assert feed.bozo == 0, feed.get("bozo_exception")
    return response, feed


@pytest.mark.parametrize("name,version", [("feed_rss", "rss20"), ("feed_atom", "atom10")])
def test_feed_is_valid_and_lists_published_issues(client, published_issue, name, version):
    response, feed = _parse(client, name, lang="en")
    assert feed.version == version
    assert [e.title for e in feed.entries] == ["ML papers of the week 2024-01-29 – 2024-02-04"]
    entry = feed.entries[0]
    assert entry.link == "http://localhost:8000/issues/2024-01-29/"
    assert "Synthetic continued pretraining" in entry.summary
    assert {t.term for t in entry.tags} == {"synthetic-data", "benchmark", "multimodal"}


def test_korean_feed_is_in_korean_with_marked_fallback(client, published_issue):
    response, feed = _parse(client, "feed_rss", lang="ko")
    assert feed.feed.language == "ko"
    summary = feed.entries[0].summary
    assert "합성 지속 사전학습" in summary
    assert "Only in English" in summary and "영어로 표시: 아직 번역 없음" in summary


def test_tag_feed_has_only_that_tags_papers(client, published_issue, tags):
    for name, version in (("tag_feed_rss", "rss20"), ("tag_feed_atom", "atom10")):
        _, feed = _parse(client, name, lang="en", slug="multimodal")
        assert feed.version == version
        summary = feed.entries[0].summary
        assert "A multimodal benchmark" in summary
        assert "Synthetic continued pretraining" not in summary
        assert "#multimodal" in feed.feed.title


def test_tag_feed_leaves_out_issues_without_the_tag(client, published_issue, tags):
    from papers.models import Tag

    Tag.objects.create(slug="robotics", name="robotics")
    _, feed = _parse(client, "tag_feed_atom", lang="en", slug="robotics")
    assert feed.entries == []


def test_drafts_are_not_in_feeds(client, published_issue, tags):
    make_paper(title="Next week's paper", published=WEEK + dt.timedelta(days=7), tags=[], texts={})
    draft = build_issue(week=WEEK + dt.timedelta(days=7))
    assert draft.status == "draft"
    _, feed = _parse(client, "feed_atom", lang="en")
    assert len(feed.entries) == 1


def test_unknown_language_or_tag_is_404(client, published_issue):
    assert client.get("/feeds/fr/issues.rss").status_code == 404
    assert client.get("/feeds/en/tags/no-such-tag.atom").status_code == 404
