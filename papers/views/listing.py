"""The paper list (/papers/) with its filters, and the lists it gives every author and arXiv
category. One PaperListForm reads the query string, papers.listing.list_papers() picks the
page; HTMX asks for the results block only, which the full page includes."""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _

from papers import selectors
from papers.forms import PaperListForm
from papers.listing import list_papers
from papers.page_cache import cached_for_readers
from papers.views.browse import reading_context


@cached_for_readers
def paper_list(request: HttpRequest) -> HttpResponse:
    context = reading_context(request)
    categories = selectors.categories_with_counts(context["lang"])
    return _render_list(request, "papers/paper_list.html", context, form=PaperListForm(request.GET, categories=categories))


@cached_for_readers
def author_detail(request: HttpRequest, slug: str) -> HttpResponse:
    author = selectors.author_by_slug(slug)
    if author is None:
        raise Http404(_("There is no author at this address."))
    context = {**reading_context(request), "author": author}
    return _render_list(request, "papers/author_detail.html", context, form=PaperListForm(request.GET), author=author)


@cached_for_readers
def category_list(request: HttpRequest) -> HttpResponse:
    context = reading_context(request)
    return render(request, "papers/category_list.html", {**context, "categories": selectors.categories_with_counts(context["lang"])})


@cached_for_readers
def category_detail(request: HttpRequest, code: str) -> HttpResponse:
    context = reading_context(request)
    category = selectors.category(code, context["lang"])
    if category is None:
        raise Http404(_("There is no arXiv category “%(code)s” here.") % {"code": code})
    data = request.GET.copy()
    data["category"] = category.code
    return _render_list(request, "papers/category_detail.html", {**context, "category": category}, form=PaperListForm(data))


def _render_list(request: HttpRequest, template: str, context: dict, *, form: PaperListForm, author=None) -> HttpResponse:
    page = list_papers(**form.to_query(author=author)) if form.is_valid() else None
    if page is not None and not page.papers and not page.first:
        raise Http404(_("There are no more papers past this page. Start again from the first page."))
    # Filters change live: htmx asks for the results block; a plain GET (no JS) and htmx's
    # history restore get the whole page, at the same URL.
    partial = request.htmx and not request.htmx.history_restore_request
    # A refused filter is a 400 page; to htmx it is the block that says why (htmx swaps 2xx only).
    status = 200 if page is not None or partial else 400
    response = render(request, "papers/_paper_list.html" if partial else template, {**context, "form": form, "page": page}, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response
