"""Every reading page, feed and API answer costs the same number of SQL queries with 10
papers as with 1,000 (rendered fresh: the page cache is emptied before each count)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from papers.authors import author_key
from papers.models import (
    Author, Commentary, Issue, IssueEditorial, IssueEntry, Link, Paper, PaperAuthor, PaperText, PaperVersion, Tag,
)
from papers.page_cache import new_generation

pytestmark = pytest.mark.django_db


def _add_papers(start: int, stop: int, *, issue: Issue, tag: Tag) -> None:
    """Papers start..stop-1 in bulk, each with titles and summaries in two languages, three
    authors, two tags, two categories, a link, a version, commentary and an issue entry."""
    papers = Paper.objects.bulk_create(
        Paper(title=f"Paper {i}", arxiv_id=f"2401.{10000 + i}", arxiv_version=1, published=dt.date(2024, 1, 1) + dt.timedelta(days=i % 28),
              categories=["cs.CL", "cs.LG"], came_from=Paper.Came.ARXIV if i % 2 else Paper.Came.SEED)
        for i in range(start, stop)
    )
    PaperText.objects.bulk_create(
        PaperText(paper=p, lang=lang, kind=kind, body=f"{kind} {lang} {p.title}")
        for p in papers for lang in ("ko", "en") for kind in ("title", "summary")
    )
    authors = Author.objects.bulk_create(
        Author(name=f"Author {p.pk}-{n}", key=author_key(f"Author {p.pk}-{n}"), slug=f"author-{p.pk}-{n}") for p in papers for n in range(3)
    )
    PaperAuthor.objects.bulk_create(
        PaperAuthor(paper=papers[i // 3], author=author, position=i % 3) for i, author in enumerate(authors)
    )
    extra = Tag.objects.bulk_create(Tag(slug=f"tag-{p.pk}", name=f"tag-{p.pk}") for p in papers)
    Paper.tags.through.objects.bulk_create(
        [Paper.tags.through(paper=p, tag=tag) for p in papers] + [Paper.tags.through(paper=p, tag=t) for p, t in zip(papers, extra)]
    )
    Link.objects.bulk_create(Link(paper=p, kind=Link.Kind.CODE, url=f"https://example.org/{p.pk}") for p in papers)
    PaperVersion.objects.bulk_create(PaperVersion(paper=p, version=1, title=p.title) for p in papers)
    comments = Commentary.objects.bulk_create(Commentary(lang="ko", author="note", body=f"comment {p.pk}") for p in papers)
    Commentary.papers.through.objects.bulk_create(
        Commentary.papers.through(commentary=c, paper=p) for c, p in zip(comments, papers)
    )
    IssueEntry.objects.bulk_create(IssueEntry(issue=issue, paper=p, position=i) for i, p in enumerate(papers, start))


def _count(client, url: str) -> int:
    new_generation()
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url)
    assert response.status_code == 200, url
    return len(ctx)


def test_queries_per_page_do_not_grow_with_the_corpus(client):
    issue = Issue.objects.create(week_start=dt.date(2024, 1, 29), week_end=dt.date(2024, 2, 4), status=Issue.Status.PUBLISHED)
    IssueEditorial.objects.create(issue=issue, lang="en", body="This week.")
    tag = Tag.objects.create(slug="llm", name="llm")
    _add_papers(0, 10, issue=issue, tag=tag)
    paper = Paper.objects.get(title="Paper 0")
    author = paper.authorships.get(position=0).author
    urls = [
        "/", "/papers/", "/papers/?sort=updated&category=cs.CL&text_lang=ko&commentary=yes&in_issue=yes",
        "/papers/?sort=arxiv&came_from=arxiv", f"/papers/{paper.pk}/", "/tags/", "/tags/llm/", "/categories/",
        "/categories/cs.CL/", f"/authors/{author.slug}/", "/issues/", "/issues/2024-01-29/", "/feeds/en/issues.rss",
        "/feeds/ko/tags/llm.atom", "/api/papers", f"/api/papers/{paper.pk}", "/api/issues/2024-01-29", "/api/tags",
        "/api/categories", f"/api/authors/{author.slug}",
    ]
    small = {url: _count(client, url) for url in urls}

    _add_papers(10, 1000, issue=issue, tag=tag)
    assert Paper.objects.count() == 1000
    large = {url: _count(client, url) for url in urls}

    assert large == small
    assert max(small.values()) <= 16, small
