"""The search page (HTMX live results) and GET /api/search. Both read a SearchForm and call
papers.search.search_papers(), within the client's budget (papers.views.ratelimit); bad
input gets a message, never a 500."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_safe

from papers.forms import SearchForm
from papers.languages import reader_lang
from papers.search import search_papers
from papers.views.ratelimit import over_limit, window_seconds


def _too_many() -> str:
    return _("Too many searches from your address. Please wait a minute and try again.")


def _words_only() -> str:
    return _("Search by meaning is unavailable right now; these results match your words only.")


def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    results, limited = None, False
    if form.is_bound:
        limited = over_limit(request, "search")
        if not limited and form.is_valid() and form.cleaned_data["q"]:
            results = search_papers(**form.cleaned_data, reader_lang=reader_lang())
    # Live search asks for the results block only; a plain GET (no JS) and htmx's history
    # restore after a cache miss get the whole page.
    partial = request.htmx and not request.htmx.history_restore_request
    template = "papers/_results.html" if partial else "papers/search.html"
    context = {"form": form, "results": results, "limited": limited, "limited_message": _too_many() if limited else ""}
    response = render(request, template, context, status=429 if limited else 200)
    patch_vary_headers(response, ["HX-Request"])  # caches must not serve the fragment as the page
    return response


@require_safe
def api_search(request: HttpRequest) -> JsonResponse:
    """GET /api/search?q=...&k=10&tag=&lang=&date_from=&date_to=&issue= -> ranked papers."""
    if over_limit(request, "search"):
        return JsonResponse({"error": _too_many()}, status=429, headers={"Retry-After": str(window_seconds("search"))})
    form = SearchForm(request.GET, require_query=True)
    if not form.is_valid():
        return JsonResponse({"error": " ".join(form.messages()), "fields": form.errors.get_json_data()}, status=400)
    results = search_papers(**form.cleaned_data, reader_lang=reader_lang())
    return JsonResponse(
        {
            "query": form.cleaned_data["q"],
            "k": form.cleaned_data["k"],
            "semantic": results.semantic,
            # The page's words for a search by words alone (embeddings down or too slow).
            "notice": "" if results.semantic else _words_only(),
            "results": [
                {
                    "arxiv_id": hit.paper.arxiv_id,
                    "title": hit.title,
                    "title_lang": hit.title_lang,
                    "score": round(hit.score, 6),
                    "url": request.build_absolute_uri(hit.url),
                    "arxiv_url": hit.paper.arxiv_url,
                    "date": hit.date.isoformat() if hit.date else None,
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
        },
        json_dumps_params={"ensure_ascii": False},
    )
