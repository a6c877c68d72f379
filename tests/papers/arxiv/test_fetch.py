"""papers.ingest.arxiv against recorded Atom responses served over local HTTP."""

from __future__ import annotations

import datetime as dt
import logging

import pytest
from django.core.management import call_command

from papers.ingest import arxiv
from papers.models import Link, Paper, PaperText, PaperVersion
from tests.papers.conftest import FeedResponse

pytestmark = pytest.mark.django_db

PAGES = ("search_page1.atom", "search_page2.atom", "search_page3.atom")


def snapshot() -> tuple:
    return (Paper.objects.count(), PaperText.objects.count(), PaperVersion.objects.count(), Link.objects.count())


class TestFetchNew:
    def test_pages_are_read_until_the_results_end(self, pipeline_settings, arxiv_feed):
        arxiv_feed.serve(*PAGES)
        report = arxiv.fetch_new(query="cat:cs.CL")
        assert (len(report.created), len(report.updated), report.pages) == (5, 0, 3)
        assert [r["start"] for r in arxiv_feed.requests] == ["0", "2", "4"]
        assert {r["max_results"] for r in arxiv_feed.requests} == {"2"}
        assert arxiv_feed.requests[0]["search_query"] == "cat:cs.CL"
        assert arxiv_feed.requests[0]["sortBy"] == "lastUpdatedDate" and arxiv_feed.requests[0]["sortOrder"] == "descending"

        paper = Paper.objects.get(arxiv_id="2401.16380")
        # Wrapped lines of the feed become one line.
        assert paper.title == "Rephrasing the Web: A Recipe for Compute and Data-Efficient Language Modeling"
        assert (paper.arxiv_version, paper.published, paper.updated) == (1, dt.date(2024, 1, 29), dt.date(2024, 1, 29))
        assert list(paper.authorships.values_list("author__name", flat=True))[:2] == ["Pratyush Maini", "Skyler Seto"]
        abstract = paper.texts.get(lang="en", kind="abstract")
        assert abstract.origin == "source" and "\n" not in abstract.body and abstract.body.startswith("Large language models")
        assert paper.links.get().url == "https://arxiv.org/abs/2401.16380"
        assert PaperVersion.objects.get(paper=paper).version == 1
        assert Paper.objects.get(arxiv_id="2409.07431").authorships.get(position=3).author.name == "Emmanuel Candès"

    def test_second_run_stops_at_known_entries_and_duplicates_nothing(self, pipeline_settings, arxiv_feed):
        arxiv_feed.serve(*PAGES)
        arxiv.fetch_new()
        before = snapshot()
        arxiv_feed.serve("search_page1.atom")
        report = arxiv.fetch_new()
        assert (report.created, report.updated, report.pages) == ([], [], 1)
        assert len(arxiv_feed.requests) == 4  # one page, then it stopped at a known entry
        assert snapshot() == before

    def test_new_version_updates_in_place_and_keeps_history(self, pipeline_settings, arxiv_feed):
        arxiv_feed.serve(*PAGES)
        arxiv.fetch_new()
        paper = Paper.objects.get(arxiv_id="2409.07431")
        v1_abstract = paper.texts.get(lang="en", kind="abstract").body
        count = Paper.objects.count()

        arxiv_feed.serve("search_newer.atom")
        report = arxiv.fetch_new()
        assert len(report.created) == 2 and report.updated == [paper.pk]
        assert len(arxiv_feed.requests) == 4  # the first page held a known entry: no second page
        assert Paper.objects.count() == count + 2
        paper.refresh_from_db()
        assert (paper.arxiv_version, paper.updated) == (2, dt.date(2024, 10, 3))
        assert "455M synthetic tokens" in paper.texts.get(lang="en", kind="abstract").body
        history = {v.version: v for v in paper.versions.all()}
        assert set(history) == {1, 2}
        assert history[1].abstract == v1_abstract and "455M" in history[2].abstract
        assert paper.links.count() == 1

    def test_older_version_seen_late_changes_nothing(self, pipeline_settings, arxiv_feed):
        arxiv_feed.serve("id_2409.07431.atom")
        arxiv.fetch_ids(["2409.07431"])
        # A page that still lists v1 (arXiv's search index lags behind id lookups).
        report = arxiv.store_records(arxiv.parse_feed(FeedResponse.file("search_page1.atom").body).records)
        paper = Paper.objects.get(arxiv_id="2409.07431")
        assert paper.arxiv_version == 2 and "455M" in paper.texts.get(lang="en", kind="abstract").body
        assert set(paper.versions.values_list("version", flat=True)) == {1, 2}
        assert paper.pk not in report.updated


class TestBadFeeds:
    @pytest.mark.parametrize(
        "bad, message",
        [
            (FeedResponse.file("truncated.atom"), "malformed Atom feed"),
            (FeedResponse.file("error_page.html"), "an HTML page instead of an Atom feed: 'arXiv is temporarily unavailable'"),
            (FeedResponse.file("missing_fields.atom"), "entry 2 (2401.16380) has no title"),
            (FeedResponse.file("error_feed.atom"), "arXiv API error: incorrect id format for 2409.0743"),
            (FeedResponse.file("error_feed.atom", status=400), "HTTP 400 from arXiv: incorrect id format for 2409.0743"),
            (FeedResponse(body=b""), "empty response"),
        ],
        ids=["truncated", "html", "missing-fields", "error-feed", "error-feed-400", "empty"],
    )
    def test_bad_second_page_is_logged_and_nothing_is_written(self, pipeline_settings, arxiv_feed, caplog, bad, message):
        arxiv_feed.serve("search_page1.atom", bad)
        with pytest.raises(arxiv.ArxivError) as err, caplog.at_level(logging.ERROR, logger="papers.ingest.arxiv"):
            arxiv.fetch_new()
        assert message in str(err.value)
        assert "nothing stored" in caplog.text and message in caplog.text
        assert snapshot() == (0, 0, 0, 0)  # page 1 was fine, but a run is stored whole or not at all

    def test_503_with_retry_after_is_waited_out(self, pipeline_settings, arxiv_feed, caplog):
        arxiv_feed.serve(FeedResponse.file("error_page.html", status=503, headers={"Retry-After": "1"}), "id_2409.07431.atom")
        with caplog.at_level(logging.WARNING, logger="papers.ingest.arxiv"):
            report = arxiv.fetch_new()
        assert len(report.created) == 1
        assert "HTTP 503; retry 1 of 2 in 1.00 s" in caplog.text

    def test_persistent_503_is_an_error_and_writes_nothing(self, pipeline_settings, arxiv_feed):
        busy = FeedResponse(body=b"busy", status=503, headers={"Retry-After": "0"}, content_type="text/plain")
        arxiv_feed.serve("search_page1.atom", busy, busy, busy)
        with pytest.raises(arxiv.ArxivError, match="HTTP 503 from arXiv, 3 attempts"):
            arxiv.fetch_new()
        assert snapshot() == (0, 0, 0, 0)

    def test_unreachable_server_is_an_error(self, pipeline_settings, settings):
        settings.ARXIV_API_URL = "http://127.0.0.1:9/api/query"  # discard port: nothing listens
        with pytest.raises(arxiv.ArxivError, match="cannot read"):
            arxiv.fetch_ids(["2409.07431"])


def test_requests_are_spaced_by_the_minimum_interval(pipeline_settings, arxiv_feed):
    waits = []
    client = arxiv.ArxivClient(min_interval=3.0, sleep=waits.append)  # records the waits instead of sleeping
    arxiv_feed.serve(*PAGES)
    list(client.search("cat:cs.CL"))
    assert client.requests == 3
    assert len(waits) == 2 and all(2.0 < w <= 3.0 for w in waits)


class TestCommands:
    def test_fetch_by_id_stores_the_latest_version(self, pipeline_settings, arxiv_feed, capsys):
        arxiv_feed.serve("id_2409.07431.atom")
        call_command("fetch_arxiv", "--id", "2409.07431", "--no-enrich")
        assert arxiv_feed.requests[0]["id_list"] == "2409.07431"
        paper = Paper.objects.get(arxiv_id="2409.07431")
        assert paper.arxiv_version == 2 and paper.title == "Synthetic continued pretraining"
        assert "1 new, 0 updated" in capsys.readouterr().out

    def test_bad_id_is_refused_before_any_request(self, pipeline_settings, arxiv_feed):
        from django.core.management import CommandError

        with pytest.raises(CommandError, match="not an arXiv id: 24x9"):
            call_command("fetch_arxiv", "--id", "24x9", "--no-enrich")
        assert arxiv_feed.requests == []

    def test_resolve_titles_fills_in_the_blog_papers(self, pipeline_settings, arxiv_feed, imported_seeds):
        blog = Paper.objects.filter(arxiv_id="").order_by("pk")
        titles = list(blog.values_list("title", flat=True))
        assert "Synthetic continued pretraining" in titles and "LIME-M: Less Is More for Evaluation of MLLMs" in titles
        responses = {"Synthetic continued pretraining": "title_synthetic_cpt.atom", "LIME-M: Less Is More for Evaluation of MLLMs": "title_lime_m.atom"}
        arxiv_feed.serve(*(responses.get(t, "empty.atom") for t in titles))
        commentary_before = {p.pk: p.commentaries.count() for p in blog}
        count = Paper.objects.count()

        call_command("fetch_arxiv", "--resolve-titles", "--no-enrich")

        assert Paper.objects.count() == count  # filled in, not duplicated
        cpt = Paper.objects.get(arxiv_id="2409.07431")
        assert cpt.arxiv_version == 2 and cpt.published == dt.date(2024, 9, 11)
        assert cpt.authorships.count() == 5
        assert "455M" in cpt.texts.get(lang="en", kind="abstract").body
        lime = Paper.objects.get(arxiv_id="2409.06851")
        assert lime.authorships.first().author.name == "Kang Zhu"
        assert {p.pk: p.commentaries.count() for p in Paper.objects.filter(pk__in=commentary_before)} == commentary_before
        assert {r["search_query"] for r in arxiv_feed.requests} >= {'ti:"Synthetic continued pretraining"', 'ti:"LIME-M Less Is More for Evaluation of MLLMs"'}

    def test_resolve_titles_leaves_uncertain_matches_alone(self, pipeline_settings, arxiv_feed):
        Paper.objects.create(title="Scaling Data-Constrained Language Models")
        Paper.objects.create(title="A title nobody wrote")
        arxiv_feed.serve("title_ambiguous.atom", "empty.atom")
        report = arxiv.resolve_titles()
        assert report.resolved == []
        assert any("2 entries with this title" in line for line in report.unresolved)
        assert any("no entry with this exact title" in line for line in report.unresolved)
        assert set(Paper.objects.values_list("arxiv_id", flat=True)) == {""}
