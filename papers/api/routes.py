"""The API's endpoints: each reads its input through the pages' form, calls the pages'
selector or service and serialises the rows (papers.api.serialize)."""

from __future__ import annotations

import datetime as dt
import json

from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils.translation import gettext as _
from ninja import Query, Router, Status

from papers import ask, selectors
from papers.ask.display import payload
from papers.api import schemas
from papers.api.serialize import issue_ref, paper_detail, paper_page, paper_summary
from papers.forms import PaperListForm, SearchForm
from papers.languages import reader_lang
from papers.listing import list_papers
from papers.search import search_papers
from papers.views.ratelimit import over_limit, window_seconds
from papers.views.ask import too_many_questions
from papers.views.search import too_many_searches, words_only

# Every operation's URL name starts with api_: the routes share the papers namespace with the pages.
router = Router()

NOT_FOUND = {404: schemas.Error}
BAD = {400: schemas.Error}
# PostgreSQL's integer ids end here; a larger one names no paper (a 404, not a database error).
MAX_ID = 2**31 - 1


def _refused(form) -> Status:
    return Status(400, {"error": " ".join(form.messages()), "fields": form.errors.get_json_data()})


class PaperFilters(schemas.Schema):
    """The filters of /papers/, as strings: PaperListForm checks them as it does for the page."""

    sort: str | None = None  # newest | updated | arxiv
    tag: str | None = None  # a tag's slug
    category: str | None = None  # an arXiv category, e.g. cs.CL
    text_lang: str | None = None  # ko | zh | en
    came_from: str | None = None  # seed | arxiv | editor
    commentary: str | None = None  # yes | no
    in_issue: str | None = None  # yes | no
    date_from: str | None = None  # YYYY-MM-DD
    date_to: str | None = None
    per_page: str | None = None  # 1 to 100
    after: str | None = None  # the `next` cursor of the page before


def _list(request: HttpRequest, filters: PaperFilters, *, fixed: dict | None = None, author=None):
    data = {name: value for name, value in filters.dict().items() if value is not None}
    form = PaperListForm({**data, **(fixed or {})})
    if not form.is_valid():
        return _refused(form)
    page = list_papers(**form.to_query(author=author))
    if not page.papers and not page.first:
        return Status(404, {"error": "There are no more papers past this cursor."})
    return Status(200, paper_page(request, page, lang=reader_lang()))


@router.get("/papers", response={200: schemas.PaperPage, **BAD, **NOT_FOUND}, url_name="api_papers",
            summary="Every paper, filtered and sorted")
def papers(request: HttpRequest, filters: Query[PaperFilters]):
    return _list(request, filters)


@router.get("/papers/{paper_id}", response={200: schemas.PaperDetail, **BAD, **NOT_FOUND}, url_name="api_paper",
            summary="One paper with all its texts")
def paper(request: HttpRequest, paper_id: int):
    found = selectors.paper_for_page(paper_id) if 0 < paper_id <= MAX_ID else None
    if found is None:
        return Status(404, {"error": "There is no paper with this id."})
    return paper_detail(request, found, lang=reader_lang())


@router.get("/issues", response=list[schemas.IssueSummary], url_name="api_issues",
            summary="Published weekly issues, newest first")
def issues(request: HttpRequest):
    return [
        {**issue_ref(request, issue), "published_at": issue.published_at, "paper_count": issue.paper_count}
        for issue in selectors.published_issues()
    ]


@router.get("/issues/{week}", response={200: schemas.IssueDetail, **BAD, **NOT_FOUND}, url_name="api_issue",
            summary="One published issue")
def issue(request: HttpRequest, week: str):
    try:
        found = selectors.issue_for_week(dt.date.fromisoformat(week))
    except ValueError:
        found = None
    if found is None:
        return Status(404, {"error": "There is no published issue starting on this day (YYYY-MM-DD, a Monday)."})
    lang = reader_lang()
    return {
        **issue_ref(request, found),
        "published_at": found.published_at,
        "editorials": [{"lang": e.lang, "body": e.body} for e in found.editorial_list],
        "papers": [paper_summary(request, entry.paper, lang=lang) for entry in found.ordered_entries],
    }


@router.get("/tags", response=list[schemas.TagOut], url_name="api_tags",
            summary="Editors' tags with their paper counts")
def tags(request: HttpRequest):
    return [
        {"slug": t.slug, "name": t.name, "paper_count": t.paper_count, "url": request.build_absolute_uri(reverse("papers:tag", args=[t.slug]))}
        for t in selectors.tags_with_counts()
    ]


@router.get("/categories", response=list[schemas.CategoryOut], url_name="api_categories",
            summary="arXiv categories, named in the reader's language")
def categories(request: HttpRequest):
    return [
        {"code": c.code, "name": c.name, "paper_count": c.paper_count, "url": request.build_absolute_uri(reverse("papers:category", args=[c.code]))}
        for c in selectors.categories_with_counts(reader_lang())
    ]


@router.get("/authors/{slug}", response={200: schemas.AuthorOut, **BAD, **NOT_FOUND}, url_name="api_author",
            summary="An author and their papers")
def author(request: HttpRequest, slug: str, filters: Query[PaperFilters]):
    found = selectors.author_by_slug(slug)
    if found is None:
        return Status(404, {"error": "There is no author with this slug."})
    listed = _list(request, filters, author=found)
    if listed.status_code != 200:
        return listed
    url = request.build_absolute_uri(found.get_absolute_url())
    return {"name": found.name, "slug": found.slug, "url": url, "papers": listed.value}


class SearchParams(schemas.Schema):
    """The search box and its filters, checked by SearchForm as on the search page."""

    q: str | None = None
    k: str | None = None  # results, 1 to 50 (10)
    tag: str | None = None
    lang: str | None = None  # the language of the matching text: ko | zh | en
    date_from: str | None = None
    date_to: str | None = None
    issue: str | None = None  # any day of an issue's week


@router.get("/search", response={200: schemas.SearchResults, **BAD, 429: schemas.Error}, url_name="api_search",
            summary="Search by meaning and by words")
def search(request: HttpRequest, response: HttpResponse, params: Query[SearchParams]):
    if over_limit(request, "search"):
        response["Retry-After"] = str(window_seconds("search"))
        return Status(429, {"error": too_many_searches()})
    form = SearchForm({name: value for name, value in params.dict().items() if value is not None}, require_query=True)
    if not form.is_valid():
        return _refused(form)
    results = search_papers(**form.cleaned_data, reader_lang=reader_lang())
    return {
        "query": form.cleaned_data["q"],
        "k": form.cleaned_data["k"],
        "semantic": results.semantic,
        "notice": "" if results.semantic else words_only(),
        "results": [
            {
                "arxiv_id": hit.paper.arxiv_id,
                "title": hit.title,
                "title_lang": hit.title_lang,
                "score": round(hit.score, 6),
                "url": request.build_absolute_uri(hit.url),
                "arxiv_url": hit.paper.arxiv_url,
                "date": hit.date,
                "tags": [tag.slug for tag in hit.tags],
                "matched_by": list(hit.matched_by),
                # The language of the text it matched in, and whether that is not the query's.
                "matched_lang": hit.matched_lang,
                "cross_lingual": hit.cross_lingual,
                "snippet_html": str(hit.snippet),  # escaped text, <mark> around the query's words
                "snippet_lang": hit.snippet_lang,
            }
            for hit in results
        ],
    }


# The body is read here rather than by a schema parameter: a form field q is accepted beside
# JSON, and every malformed body gets the same readable 400 as a bad question.
ASK_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": schemas.Question.model_json_schema()},
    "application/x-www-form-urlencoded": {"schema": {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}},
}}}


@router.post("/ask", response={200: schemas.Answer, **BAD, 429: schemas.Error}, url_name="api_ask",
             summary="Ask the knowledge base: a cited answer in the question's language", openapi_extra=ASK_BODY)
def ask_question(request: HttpRequest, response: HttpResponse):
    if over_limit(request, "ask"):
        response["Retry-After"] = str(window_seconds("ask"))
        return Status(429, {"error": too_many_questions()})
    question = _question_of(request)
    if question is None:
        return Status(400, {"error": _('Send JSON like {"question": "..."}.')})
    try:
        answer = ask.answer_now(question)
    except ask.QuestionError as e:
        return Status(400, {"error": str(e)})
    return payload(answer, absolute=request.build_absolute_uri)


def _question_of(request: HttpRequest) -> str | None:
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return request.POST.get("q")
    try:
        body = json.loads(request.body or b"{}")
    except (ValueError, UnicodeDecodeError):
        return None
    question = body.get("question") if isinstance(body, dict) else None
    return question if isinstance(question, str) else None
