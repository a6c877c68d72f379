"""The search page (HTMX live results). It reads a SearchForm and calls
papers.search.search_papers(), within the client's budget (papers.views.ratelimit), as GET
/api/search does (papers.api.routes); bad input gets a message, never a 500."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _

from papers.forms import SearchForm
from papers.languages import reader_lang
from papers.search import search_papers
from papers.views.ratelimit import over_limit


def too_many_searches() -> str:
    return _("Too many searches from your address. Please wait a minute and try again.")


def words_only() -> str:
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
    context = {"form": form, "results": results, "limited": limited, "limited_message": too_many_searches() if limited else ""}
    response = render(request, template, context, status=429 if limited else 200)
    patch_vary_headers(response, ["HX-Request"])  # caches must not serve the fragment as the page
    return response
