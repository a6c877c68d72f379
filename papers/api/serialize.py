"""Model rows (with papers.selectors' prefetches) to the API's schemas; no queries of their own."""

from __future__ import annotations

from django.http import HttpRequest

from papers.listing import PaperPage
from papers.models import Issue, Paper
from papers.templatetags.reading import pick_text, text_langs


def paper_summary(request: HttpRequest, paper: Paper, *, lang: str) -> dict:
    title = pick_text(paper, "title", lang).shown
    return {
        "id": paper.pk,
        "arxiv_id": paper.arxiv_id,
        "title": title.body if title else paper.title,
        "title_lang": title.lang if title else "",
        "original_title": paper.title,
        "url": request.build_absolute_uri(paper.get_absolute_url()),
        "arxiv_url": paper.arxiv_url,
        "date": paper.published or paper.id_month,
        "date_from_id": paper.published is None and paper.id_month is not None,
        "authors": [
            {"name": a.author.name, "slug": a.author.slug, "url": request.build_absolute_uri(a.author.get_absolute_url())}
            for a in paper.authorships.all()
        ],
        "tags": [tag.slug for tag in paper.tags.all()],
        "categories": paper.categories,
        "text_langs": text_langs(paper),
    }


def paper_page(request: HttpRequest, page: PaperPage, *, lang: str) -> dict:
    next_url = None
    if page.next_cursor:
        query = request.GET.copy()
        query["after"] = page.next_cursor
        next_url = request.build_absolute_uri(f"{request.path}?{query.urlencode()}")
    return {
        "count": page.total,
        "next": page.next_cursor or None,
        "next_url": next_url,
        "results": [paper_summary(request, paper, lang=lang) for paper in page.papers],
    }


def issue_ref(request: HttpRequest, issue: Issue) -> dict:
    return {"week_start": issue.week_start, "week_end": issue.week_end, "url": request.build_absolute_uri(issue.get_absolute_url())}


def paper_detail(request: HttpRequest, paper: Paper, *, lang: str) -> dict:
    return {
        **paper_summary(request, paper, lang=lang),
        "arxiv_version": paper.arxiv_version,
        "published": paper.published,
        "updated": paper.updated,
        "came_from": paper.came_from,
        "texts": [{"lang": t.lang, "kind": t.kind, "body": t.body, "origin": t.origin, "model": t.model} for t in paper.texts.all()],
        "versions": [{"version": v.version, "updated": v.updated, "title": v.title} for v in paper.versions.all()],
        "links": [{"kind": link.kind, "url": link.url} for link in paper.links.all()],
        "issues": [issue_ref(request, issue) for issue in paper.issues.all()],
        "commentary": [
            {"lang": c.lang, "author": c.author, "date": c.date, "origin": c.origin, "body": c.body} for c in paper.commentaries.all()
        ],
    }
