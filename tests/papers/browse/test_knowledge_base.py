"""Authors, arXiv categories, dates, home's new arrivals and the editors' path to the next
draft; and a crawl from / that reaches every paper, author and category of the seeds plus
papers fetched from arXiv (recorded feeds over local HTTP)."""

from __future__ import annotations

import datetime as dt
import re
from collections import deque

import pytest
from django.contrib.auth.models import Permission, User
from django.utils import timezone

from papers.authors import author_for, author_key
from papers.ingest import arxiv
from papers.ingest.records import PaperRecord
from papers.ingest.upsert import upsert_paper
from papers.models import Author, EnrichmentStep, Issue, IssueEntry, Paper
from tests.factories import make_paper

pytestmark = pytest.mark.django_db

PAGES = ("search_page1.atom", "search_page2.atom", "search_page3.atom")


@pytest.fixture
def fetched(imported_seeds, pipeline_settings, arxiv_feed):
    """The seed corpus plus what a fetch from arXiv brings in."""
    arxiv_feed.serve(*PAGES)
    return arxiv.fetch_new(query="cat:cs.CL")


@pytest.fixture
def staff(db) -> User:
    """An editor who is staff, not a superuser, and may change papers."""
    user = User.objects.create_user(username="desk", password="s3cret-pass!", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_paper", "change_paper"]))
    return user


class TestAuthors:
    @pytest.mark.parametrize("a, b", [
        ("Zheng-Xin Yong", "Zheng Xin Yong"),
        ("Emmanuel Candès", "Emmanuel Candes"),
        ("dirk  groeneveld", "Dirk Groeneveld"),
        ("Ａｌｉ Ｆａｒｈａｄｉ", "Ali Farhadi"),  # full-width letters from a CJK source
    ])
    def test_spellings_of_one_name_are_one_key(self, a, b):
        assert author_key(a) == author_key(b)

    def test_initials_are_not_a_full_name(self):
        assert author_key("J. Smith") != author_key("John Smith")

    def test_the_same_person_from_a_seed_file_and_from_arxiv_is_one_author(self, db):
        seed, _, _ = upsert_paper(PaperRecord(title="One", authors=["Zheng Xin Yong", "Emmanuel Candes"]))
        fetched, _, _ = upsert_paper(PaperRecord(title="Two", arxiv_id="2409.00001", authors=["Emmanuel Candès", "Zheng-Xin Yong"]),
                                     came_from=Paper.Came.ARXIV)
        assert Author.objects.count() == 2
        candes = Author.objects.get(key="emmanuel candes")
        assert set(candes.papers.all()) == {seed, fetched}
        assert fetched.came_from == "arxiv" and seed.came_from == "seed"

    def test_two_people_one_name_once_split_by_an_editor_stay_apart_by_their_coauthors(self, db):
        upsert_paper(PaperRecord(title="Vision", authors=["Wei Zhang", "Alice Vision"]))
        first = Author.objects.get(name="Wei Zhang")
        # An editor split the name: a second Wei Zhang, who writes with Bob Speech.
        second = Author.objects.create(name="Wei Zhang", key=author_key("Wei Zhang"), slug="wei-zhang-speech")
        upsert_paper(PaperRecord(title="Speech 1", authors=["Bob Speech"]))
        Paper.objects.get(title="Speech 1").authorships.create(author=second, position=1)
        assert author_for("Wei Zhang", coauthors=["Bob Speech", "Wei Zhang"]) == second
        assert author_for("Wei Zhang", coauthors=["Alice Vision"]) == first
        assert author_for("Wei Zhang") == first  # no coauthor to go by: the older one
        assert Author.objects.filter(key="wei zhang").count() == 2

    def test_an_author_page_lists_their_papers_and_says_how_names_are_matched(self, client, imported_seeds):
        paper = Paper.objects.get(title="Synthetic continued pretraining")
        author = paper.authorships.get(position=0).author
        html = client.get(f"/papers/{paper.pk}/").content.decode()
        assert f'<a class="author" href="/authors/{author.slug}/">{author.name}</a>' in html
        page = client.get(f"/authors/{author.slug}/")
        assert page.status_code == 200
        text = page.content.decode()
        assert "<h1>Zitong Yang</h1>" in text and "Synthetic continued pretraining" in text
        assert "two people with the same name share this page" in text

    def test_an_accented_name_gets_a_unicode_slug_that_resolves(self, client, imported_seeds):
        author = Author.objects.get(name="Emmanuel Candès")
        assert client.get(author.get_absolute_url()).status_code == 200

    def test_unknown_author_is_404(self, client, imported_seeds):
        assert client.get("/authors/no-such-person/").status_code == 404


class TestCategories:
    def test_fetched_papers_keep_their_arxiv_categories_primary_first(self, fetched):
        paper = Paper.objects.get(arxiv_id="2401.16380")
        assert paper.categories[0] == "cs.CL"
        assert all(re.match(r"^[a-z\-]+\.[A-Za-z\-]+$", c) for p in Paper.objects.all() for c in p.categories)

    def test_categories_page_names_them_in_the_readers_language(self, client, fetched):
        html = client.get("/categories/").content.decode()
        assert 'href="/categories/cs.CL/"' in html and "Computation and Language" in html
        client.cookies["django_language"] = "ko"
        assert "계산 언어학" in client.get("/categories/").content.decode()
        client.cookies["django_language"] = "zh-hans"
        assert "计算与语言" in client.get("/categories/cs.CL/").content.decode()

    def test_a_category_page_lists_its_papers_and_not_the_others(self, client, fetched):
        html = client.get("/categories/cs.CL/").content.decode()
        assert "Rephrasing the Web" in html
        assert "OLMo" not in html  # a seed paper, never fetched: no category

    @pytest.mark.parametrize("code", ["cs.XX", "not a category", "<b>"])
    def test_unknown_category_is_404(self, client, fetched, code):
        assert client.get(f"/categories/{code}/").status_code == 404


class TestDates:
    def test_a_paper_known_by_its_id_alone_shows_the_month_of_its_id(self, client, imported_seeds):
        olmo = Paper.objects.get(arxiv_id="2402.00838")
        assert olmo.published is None
        html = client.get(f"/papers/{olmo.pk}/").content.decode()
        assert '<time datetime="2024-02"' in html and ">2024-02</time>" in html
        assert "unknown" not in html.split("paper-meta")[1].split("</dl>")[0]

    def test_fetched_papers_show_arxivs_published_and_updated_dates(self, client, pipeline_settings, arxiv_feed):
        arxiv_feed.serve(*PAGES)
        arxiv.fetch_new()
        arxiv_feed.serve("search_newer.atom")
        arxiv.fetch_new()
        paper = Paper.objects.get(arxiv_id="2409.07431")
        html = client.get(f"/papers/{paper.pk}/").content.decode()
        assert f'<time datetime="{paper.published:%Y-%m-%d}">' in html
        assert paper.updated != paper.published and f"{paper.updated:%Y-%m-%d}</time>" in html

    @pytest.mark.parametrize("arxiv_id, month", [
        ("2402.00838", dt.date(2024, 2, 1)), ("0704.0001", dt.date(2007, 4, 1)),
        ("hep-th/9901001", dt.date(1999, 1, 1)), ("cs/0501001", dt.date(2005, 1, 1)), ("", None),
    ])
    def test_the_month_an_id_implies(self, db, arxiv_id, month):
        paper = make_paper(title=f"id {arxiv_id}", published=None, tags=[], texts={}, arxiv_id=arxiv_id)
        paper.refresh_from_db()
        assert paper.id_month == month


class TestHome:
    def test_it_shows_the_papers_that_came_in_since_the_last_issue(self, client, fetched):
        html = client.get("/").content.decode()
        section = html.split('class="new-arrivals"')[1]
        # The seed issue was published on its week's end (2024-02-04); everything came in today.
        assert "papers came in since the last issue" in section
        assert "Rephrasing the Web" in section or "Synthetic continued pretraining" in section
        assert 'href="/papers/?in_issue=no"' in section
        assert "Pick papers for the next draft issue" not in section  # editors only

    def test_nothing_new_says_so(self, client, imported_seeds):
        Issue.objects.update(published_at=timezone.now() + dt.timedelta(minutes=1))
        assert "Nothing new since the last issue." in client.get("/").content.decode()

    def test_an_editor_goes_from_new_arrivals_to_the_next_draft(self, client, fetched, staff):
        client.force_login(staff)
        html = client.get("/").content.decode()
        link = re.search(r'<a class="button" href="([^"]+)">Pick papers for the next draft issue</a>', html).group(1)
        changelist = client.get(link.replace("&amp;", "&"))
        assert changelist.status_code == 200
        new = [p for p in Paper.objects.filter(issue_entries__isnull=True)]
        response = client.post("/admin/papers/paper/", {
            "action": "add_to_next_draft", "_selected_action": [p.pk for p in new],
        })
        assert response.status_code == 302
        draft = Issue.objects.get(status=Issue.Status.DRAFT)
        assert draft.week_start == dt.date(2024, 2, 5)  # the week after the latest issue
        assert set(draft.entries.values_list("paper_id", flat=True)) == {p.pk for p in new}
        # Again: nothing is added twice.
        client.post("/admin/papers/paper/", {"action": "add_to_next_draft", "_selected_action": [p.pk for p in new]})
        assert IssueEntry.objects.filter(issue=draft).count() == len(new)


class TestPipelineIsForEditors:
    @pytest.fixture
    def paper(self, imported_seeds) -> Paper:
        paper = Paper.objects.get(arxiv_id="2402.00838")
        EnrichmentStep.objects.create(paper=paper, step="embed", status=EnrichmentStep.Status.DONE)
        EnrichmentStep.objects.create(paper=paper, step="summarize", status=EnrichmentStep.Status.SKIPPED)
        return paper

    def test_a_reader_sees_where_texts_came_from_and_nothing_of_the_queue(self, client, paper):
        html = client.get(f"/papers/{paper.pk}/").content.decode()
        assert "paper-pipeline" not in html and "step-done" not in html
        assert 'class="origin' in html

    def test_staff_see_the_pipeline(self, client, paper, staff):
        client.force_login(staff)
        html = client.get(f"/papers/{paper.pk}/").content.decode()
        assert 'class="step step-done"' in html and 'class="step step-skipped"' in html


class TestCrawl:
    def test_a_crawl_from_home_reaches_every_paper_author_and_category(self, client, fetched):
        seen, queue = set(), deque(["/"])
        while queue:
            url = queue.popleft()
            response = client.get(url)
            assert response.status_code == 200, url
            for href in re.findall(r'href="(/[^"#]*)"', response.content.decode()):
                href = href.replace("&amp;", "&")
                path = href.split("?")[0]
                # The reading pages, one language: no admin, feeds, forms or other languages.
                if path.startswith(("/admin", "/feeds", "/i18n", "/static", "/lab", "/subscribe", "/search", "/api")):
                    continue
                if "lang=" in href or href in seen:
                    continue
                seen.add(href)
                queue.append(href)
        paths = {href.split("?")[0] for href in seen}
        assert {p.get_absolute_url() for p in Paper.objects.all()} <= paths
        assert {a.get_absolute_url() for a in Author.objects.all()} <= paths
        codes = {c for p in Paper.objects.all() for c in p.categories}
        assert len(codes) >= 2 and {f"/categories/{c}/" for c in codes} <= paths
        assert Paper.objects.filter(came_from="arxiv").count() == len(fetched.created) == 2
