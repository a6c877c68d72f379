"""The reading pages over the seed corpus: home, archive, issue, paper, tags; languages,
labels, 404s, safe rendering of stored text, and a constant number of SQL queries."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from digest.issues import publish_issue
from django.contrib.auth.models import User

from papers import embeddings
from papers.authors import author_for
from papers.models import (
    Commentary, Embedding, Issue, IssueEditorial, IssueEntry, Link, Origin, Paper, PaperAuthor, PaperText, Tag,
)

pytestmark = pytest.mark.django_db

OLMO_EN = "OLMo: Accelerating the Science of Language Models"
OLMO_KO = "OLMo: 언어 모델 과학의 가속화"


def _html(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


def _h1(html: str) -> str:
    return re.search(r"<h1[^>]*>(.*?)</h1>", html, re.S).group(1).strip()


@pytest.fixture
def olmo(imported_seeds) -> Paper:
    return Paper.objects.get(arxiv_id="2402.00838")


@pytest.fixture
def scp(imported_seeds) -> Paper:
    return Paper.objects.get(title="Synthetic continued pretraining")


@pytest.fixture
def korean_reader(client):
    client.cookies["django_language"] = "ko"  # what Django's set_language form leaves behind
    return client


class TestHome:
    def test_it_shows_the_latest_published_issue_with_its_papers_in_order(self, client, imported_seeds):
        html = _html(client.get("/")).split('class="new-arrivals"')[0]
        assert "2024-01-29 – 2024-02-04" in html
        assert "<title>paper-digest · Week of 2024-01-29</title>" in html
        titles = re.findall(r'<h3 class="paper-card-title">\s*<a [^>]*>(.*?)</a>', html)
        assert len(titles) == 10
        assert titles[0] == OLMO_EN and titles[-1].startswith("SliceGPT")

    def test_it_shows_the_korean_editorial_to_a_korean_reader(self, korean_reader, imported_seeds):
        html = _html(korean_reader.get("/"))
        assert "DAIR.AI에서 매주 공개하는 ML 논문들" in html
        assert "No Korean editorial" not in html
        assert OLMO_KO in html

    def test_it_says_plainly_when_the_editorial_is_missing_in_the_readers_language(self, client, imported_seeds):
        html = _html(client.get("/"))
        assert "No English editorial for this issue yet." in html
        assert "Read the Korean editorial" in html  # the one there is stays reachable

    def test_a_newer_draft_is_not_the_home_issue(self, client, imported_seeds):
        Issue.objects.create(week_start=dt.date(2024, 2, 5), week_end=dt.date(2024, 2, 11), status=Issue.Status.DRAFT)
        html = _html(client.get("/"))
        assert "2024-01-29 – 2024-02-04" in html and "2024-02-05" not in html

    def test_it_says_so_when_nothing_is_published(self, client):
        html = _html(client.get("/"))
        assert "No issue has been published yet." in html


class TestIssuePages:
    def test_archive_lists_published_issues_with_their_paper_counts(self, client, imported_seeds):
        Issue.objects.create(week_start=dt.date(2024, 2, 5), week_end=dt.date(2024, 2, 11), status=Issue.Status.DRAFT)
        html = _html(client.get("/issues/"))
        assert 'href="/issues/2024-01-29/"' in html and "10 papers" in html
        assert "2024-02-05" not in html

    def test_issue_page_shows_its_week_and_entries(self, client, imported_seeds):
        html = _html(client.get("/issues/2024-01-29/"))
        assert "<title>Issue of the week of 2024-01-29 · paper-digest</title>" in html
        assert "10 papers this week" in html and OLMO_EN in html
        assert "https://discuss.pytorch.kr/t/2024-01-29-02-04-ml-top-ml-papers-of-the-week/3434" in html

    def test_a_day_inside_the_week_redirects_to_the_issue(self, client, imported_seeds):
        response = client.get("/issues/2024-01-31/")
        assert response.status_code == 302 and response["Location"] == "/issues/2024-01-29/"

    @pytest.mark.parametrize("week", ["2023-01-02", "2024-13-45", "latest", "2024-01-29x", "9999999999"])
    def test_unknown_or_malformed_week_is_404(self, client, imported_seeds, week):
        assert client.get(f"/issues/{week}/").status_code == 404

    def test_a_draft_is_404_for_readers_and_previewed_for_editors(self, client, editor):
        Issue.objects.create(week_start=dt.date(2024, 2, 5), week_end=dt.date(2024, 2, 11))
        assert client.get("/issues/2024-02-05/").status_code == 404
        client.force_login(editor)
        assert "Draft: not published yet" in _html(client.get("/issues/2024-02-05/"))

    def test_only_http_source_urls_become_links(self, client, imported_seeds):
        issue = Issue.objects.get(week_start=dt.date(2024, 1, 29))
        issue.source_urls = ["https://example.org/weekly", "javascript:alert(document.cookie)", "data:text/html,<b>x</b>"]
        issue.save()
        html = _html(client.get("/issues/2024-01-29/"))
        assert '<a href="https://example.org/weekly"' in html
        assert 'href="javascript:' not in html and 'href="data:' not in html
        assert "javascript:alert(document.cookie)" in html and "&lt;b&gt;" in html  # shown as text


class TestPublishedSnapshot:
    def test_a_published_issue_reads_as_published_while_the_paper_page_moves_on(self, client, olmo):
        publish_issue(Issue.objects.get())  # freezes the seed issue's content
        PaperText.objects.create(paper=olmo, lang="zh", kind="title", body="OLMo：加速语言模型科学",
                                 origin=Origin.MACHINE, model="gpt-4o-mini")
        client.cookies["django_language"] = "zh-hans"
        issue_html = _html(client.get("/issues/2024-01-29/"))
        assert "OLMo：加速语言模型科学" not in issue_html
        # The snapshot had no Chinese title for OLMo: it shows in English, and says why.
        assert OLMO_EN in issue_html and "本期发布时还没有中文文本，以英文显示。" in issue_html
        assert "按 " in issue_html and "发布时的内容显示" in issue_html
        assert issue_html.count('class="paper-card"') == 10
        assert _h1(_html(client.get(f"/papers/{olmo.pk}/"))) == "OLMo：加速语言模型科学"


class TestPaperPage:
    def test_it_shows_the_english_title_to_an_english_reader(self, client, olmo):
        html = _html(client.get(f"/papers/{olmo.pk}/"))
        assert _h1(html) == OLMO_EN
        assert f"<title>{OLMO_EN} · paper-digest</title>" in html

    def test_it_shows_the_korean_texts_to_a_korean_reader(self, korean_reader, olmo):
        html = _html(korean_reader.get(f"/papers/{olmo.pk}/"))
        assert _h1(html) == OLMO_KO
        korean_summary = olmo.texts.get(lang="ko", kind="summary").body
        korean_abstract = olmo.texts.get(lang="ko", kind="abstract").body
        assert korean_summary[:40] in html and korean_abstract[:40] in html
        assert f"원제: {OLMO_EN}" in html

    def test_lang_parameter_overrides_the_interface_language(self, korean_reader, olmo):
        html = _html(korean_reader.get(f"/papers/{olmo.pk}/?lang=en"))
        assert _h1(html) == OLMO_EN
        assert f'href="/papers/{olmo.pk}/">내 언어로 돌아가기' in html

    def test_the_language_switch_remembers_the_choice(self, client, olmo):
        html = _html(client.get(f"/papers/{olmo.pk}/?lang=en"))
        # The switch goes back to the page without ?lang=, so the new choice shows at once.
        assert f'name="next" type="hidden" value="/papers/{olmo.pk}/"' in html
        response = client.post("/i18n/setlang/", {"language": "ko", "next": f"/papers/{olmo.pk}/"})
        assert response.status_code == 302 and response["Location"] == f"/papers/{olmo.pk}/"
        assert _h1(_html(client.get(response["Location"]))) == OLMO_KO
        assert OLMO_KO in _html(client.get("/"))  # every page, not just this one

    def test_it_labels_human_texts_and_machine_texts(self, client, olmo):
        PaperText.objects.create(paper=olmo, lang="zh", kind="summary", body="介绍开放语言模型 OLMo。",
                                 origin=Origin.MACHINE, model="qwen2.5-7b")
        PaperText.objects.filter(paper=olmo, lang="en", kind="abstract").update(origin=Origin.EDITOR)
        html = _html(client.get(f"/papers/{olmo.pk}/?lang=zh"))
        assert "介绍开放语言模型 OLMo。" in html
        assert "Machine-made (qwen2.5-7b)" in html
        assert "No Chinese summary yet." not in html
        english = _html(client.get(f"/papers/{olmo.pk}/?lang=en"))
        assert "Human: from the source document" in english  # title, summary
        assert "Human: written by an editor" in english  # the abstract

    def test_it_says_plainly_when_a_language_is_missing(self, client, olmo, scp):
        html = _html(client.get(f"/papers/{olmo.pk}/?lang=zh"))
        assert "No Chinese title yet." in html
        assert "No Chinese summary yet. Shown in English instead." in html
        assert _h1(html) == OLMO_EN
        html = _html(client.get(f"/papers/{scp.pk}/?lang=ko"))
        assert "No Korean summary yet." in html  # no summary in any language: nothing shown instead
        assert "Shown in English instead." in html  # the abstract falls back to English

    def test_it_shows_the_arxiv_link_with_version_and_links_grouped_by_kind(self, client, imported_seeds):
        slicegpt = Paper.objects.get(arxiv_id="2401.15024")
        html = _html(client.get(f"/papers/{slicegpt.pk}/"))
        assert '<a class="arxiv-link" href="https://arxiv.org/abs/2401.15024v1">arXiv:2401.15024v1</a>' in html
        groups = re.findall(r"<dt>(.*?)</dt>\s*((?:<dd>.*?</dd>\s*)+)", html.split('class="paper-links"')[1], re.S)
        assert [name for name, _ in groups] == ["Paper", "Code", "Discussion"]
        assert "https://github.com/microsoft/TransformerCompression" in groups[1][1]

    def test_it_shows_authors_in_order_tags_and_commentary_with_language_source_and_date(self, client, scp):
        html = _html(client.get(f"/papers/{scp.pk}/"))
        authors = re.search(r'<dd class="authors">(.*?)</dd>', html).group(1)
        assert re.sub(r"<[^>]+>", "", authors) == "Zitong Yang, Neil Band, Shuangping Li, Emmanuel Candès, Tatsunori Hashimoto"
        assert '<a class="author" href="/authors/zitong-yang/">Zitong Yang</a>' in authors
        assert 'href="/tags/synthetic-data/">#synthetic-data</a>' in html
        comments = html.split('class="commentary"')[1]
        korean = re.search(r'블로그 노트</span>\s*<span class="lang-chip" lang="ko">Korean</span>\s*'
                           r'<time datetime="2024-09-12">', comments)
        assert korean, comments[:800]
        assert re.search(r'53AI</span>\s*<span class="lang-chip" lang="zh">Chinese</span>', comments)
        assert '<div class="text-body" lang="zh"><p>最近看国内对合成数据的研究讨论也变得多' in comments
        assert comments.index("블로그 노트") < comments.index("53AI")  # dated first, undated last

    def test_it_lists_the_issues_the_paper_appears_in(self, client, olmo, scp):
        assert 'href="/issues/2024-01-29/">Week of 2024-01-29 – 2024-02-04' in _html(client.get(f"/papers/{olmo.pk}/"))
        assert "In the weekly issues" not in _html(client.get(f"/papers/{scp.pk}/"))

    def test_script_in_a_commentary_is_rendered_inert(self, client, olmo):
        commentary = Commentary.objects.create(
            lang="en", author='<b onmouseover="alert(1)">Mallory</b>', origin=Origin.EDITOR,
            body='<script>alert("pwned")</script>\n<img src=x onerror=alert(2)> see javascript:alert(3) '
                 "and https://example.org/a?b=1&c=2.",
        )
        commentary.papers.add(olmo)
        html = _html(client.get(f"/papers/{olmo.pk}/"))
        assert "<script>alert" not in html and "<img" not in html and "<b onmouseover" not in html
        assert '&lt;script&gt;alert("pwned")&lt;/script&gt;' in html  # shown as text
        assert 'href="javascript' not in html
        assert ('<a href="https://example.org/a?b=1&amp;c=2" rel="nofollow noopener noreferrer">'
                "https://example.org/a?b=1&amp;c=2</a>.") in html

    def test_it_labels_an_offline_extractive_summary_and_shows_the_pipeline_state(self, client, scp):
        from papers.models import EnrichmentStep

        PaperText.objects.create(paper=scp, lang="en", kind="summary", body="Pretraining is data-inefficient.",
                                 origin=Origin.MACHINE, model="extractive")
        EnrichmentStep.objects.create(paper=scp, step="summarize", status=EnrichmentStep.Status.DONE)
        EnrichmentStep.objects.create(paper=scp, step="translate", lang="ko", status=EnrichmentStep.Status.FAILED,
                                      error="LLM returned invalid JSON twice")
        html = _html(client.get(f"/papers/{scp.pk}/"))
        assert "sentences picked from the abstract (offline mode, no LLM)" in html
        assert "paper-pipeline" not in html  # the queue is editors' business
        client.force_login(User.objects.create_user(username="desk", password="s3cret-pass!", is_staff=True))
        html = _html(client.get(f"/papers/{scp.pk}/"))
        assert 'class="step step-failed"' in html and "LLM returned invalid JSON twice" in html
        assert 'class="step step-done"' in html

    @pytest.mark.parametrize("pk", ["999999", "99999999999999999999"])
    def test_unknown_paper_is_404(self, client, imported_seeds, pk):
        assert client.get(f"/papers/{pk}/").status_code == 404


class TestTagPages:
    def test_tag_list_shows_every_tag_with_its_paper_count(self, client, imported_seeds):
        html = _html(client.get("/tags/"))
        for slug in ["benchmark", "multimodal", "synthetic-data", "continual-pretraining"]:
            assert f'href="/tags/{slug}/">#{slug}</a>' in html
        assert "1 paper" in html

    def test_tag_page_lists_the_papers_with_that_tag(self, client, imported_seeds):
        html = _html(client.get("/tags/benchmark/"))
        assert "<title>#benchmark · paper-digest</title>" in html
        assert "LIME-M: Less Is More for Evaluation of MLLMs" in html
        assert "Synthetic continued pretraining" not in html

    def test_a_korean_tag_has_its_page(self, client, olmo):
        olmo.tags.add(Tag.objects.create(slug="합성-데이터", name="합성 데이터"))
        html = _html(client.get(f"/papers/{olmo.pk}/"))
        url = re.search(r'<a class="tag" href="([^"]+)">#합성 데이터</a>', html).group(1)
        assert OLMO_EN in _html(client.get(url))

    def test_unknown_tag_is_404(self, client, imported_seeds):
        assert client.get("/tags/no-such-tag/").status_code == 404


def _add_papers(n: int, *, issue: Issue, tag: Tag, start: int) -> None:
    """n papers, each with two languages of title and summary, three authors, a tag, a link and commentary."""
    for i in range(start, start + n):
        paper = Paper.objects.create(title=f"Paper {i}", arxiv_id=f"2401.{10000 + i}", arxiv_version=1,
                                     published=dt.date(2024, 1, 1))
        for lang in ("ko", "en"):
            for kind in ("title", "summary"):
                PaperText.objects.create(paper=paper, lang=lang, kind=kind, body=f"{kind} {lang} {i}")
        # A vector, so the paper page's related papers (papers.search) run their queries too.
        Embedding.objects.create(paper=paper, text=paper.texts.get(lang="en", kind="title"), lang="en", kind="title",
                                 model=embeddings.model_name(), dim=384, content_hash=f"{i:064d}",
                                 vector=[1.0, i / 12] + [0.0] * 382)
        for position in range(3):
            author = author_for(f"Author {i}-{position}")
            PaperAuthor.objects.create(paper=paper, author=author, position=position)
        paper.tags.add(tag, Tag.objects.create(slug=f"tag-{i}", name=f"tag-{i}"))
        Link.objects.create(paper=paper, kind=Link.Kind.CODE, url=f"https://example.org/{i}")
        Commentary.objects.create(lang="ko", author="note", body=f"comment {i}").papers.add(paper)
        IssueEntry.objects.create(issue=issue, paper=paper, position=i)


def _add_to_one_paper(paper: Paper, n: int, *, start: int) -> None:
    """n more authors, links, tags, commentaries and issues for one paper."""
    for i in range(start, start + n):
        author = author_for(f"Coauthor {i}")
        PaperAuthor.objects.create(paper=paper, author=author, position=100 + i)
        Link.objects.create(paper=paper, kind=Link.Kind.FURTHER_READING, url=f"https://example.org/more/{i}")
        paper.tags.add(Tag.objects.create(slug=f"extra-{i}", name=f"extra-{i}"))
        Commentary.objects.create(lang="zh", author=f"critic {i}", body=f"评论 {i}").papers.add(paper)
        week = dt.date(2023, 1, 2) + dt.timedelta(weeks=i)
        issue = Issue.objects.create(week_start=week, week_end=week + dt.timedelta(days=6), status=Issue.Status.PUBLISHED)
        IssueEntry.objects.create(issue=issue, paper=paper, position=0)
        IssueEditorial.objects.create(issue=issue, lang="en", body=f"editorial {i}")


def _queries(client, url: str) -> int:
    with CaptureQueriesContext(connection) as ctx:
        _html(client.get(url))
    return len(ctx)


@pytest.mark.django_db(transaction=True)  # writes commit, so the kept pages are forgotten as in production
class TestQueryCounts:
    """Every page runs the same number of queries with 2 papers as with 12."""

    def test_pages_stay_at_a_constant_number_of_queries(self, client):
        issue = Issue.objects.create(week_start=dt.date(2024, 1, 29), week_end=dt.date(2024, 2, 4),
                                     status=Issue.Status.PUBLISHED)
        IssueEditorial.objects.create(issue=issue, lang="en", body="This week.")
        tag = Tag.objects.create(slug="llm", name="llm")
        _add_papers(2, issue=issue, tag=tag, start=0)
        paper = Paper.objects.get(title="Paper 0")
        _add_to_one_paper(paper, 2, start=0)
        urls = ["/", "/issues/", "/issues/2024-01-29/", f"/papers/{paper.pk}/", "/tags/", "/tags/llm/"]
        small = {url: _queries(client, url) for url in urls}

        _add_papers(10, issue=issue, tag=tag, start=2)
        _add_to_one_paper(paper, 10, start=2)
        large = {url: _queries(client, url) for url in urls}

        assert large == small
        assert max(small.values()) <= 14, small  # the paper page: 7, plus 6 for its related papers
        html = _html(client.get("/"))
        assert html.count('class="paper-card"') == 12  # the bigger corpus really is on the page
        paper_page = _html(client.get(f"/papers/{paper.pk}/"))
        assert paper_page.count("critic ") == 12 and "related-papers" in paper_page
