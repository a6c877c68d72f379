"""Reading pages for weekly issues: home (the latest published issue), the archive, one issue."""

from __future__ import annotations

import datetime as dt

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _

from papers import issues, selectors
from papers.languages import CONTENT_LANGS
from papers.page_cache import cached_for_readers
from papers.views.browse import reader_lang

ISSUES_PER_PAGE = 52


def _issue_context(request: HttpRequest, issue) -> dict:
    lang, override = reader_lang(request)
    context = {"lang": lang, "lang_override": override, "content_langs": CONTENT_LANGS, "issue": issue}
    if issue is not None:
        context["editorial"], context["other_editorials"] = selectors.editorial_in(issue, lang)
        if issue.frozen_content:
            # Published issues read as they were published: later enrichment (a new machine
            # translation, a re-tag) changes the paper pages, never the issue.
            context["snapshot"] = issues.localize(issues.issue_content(issue), lang=lang)
    return context


@cached_for_readers
def home(request: HttpRequest) -> HttpResponse:
    context = _issue_context(request, selectors.latest_issue())
    context["new_papers"], context["new_count"], context["new_since"] = selectors.new_since_last_issue()
    return render(request, "papers/home.html", context)


@cached_for_readers
def archive(request: HttpRequest) -> HttpResponse:
    page = Paginator(selectors.published_issues(), ISSUES_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "papers/archive.html", {"page": page})


@cached_for_readers
def issue_detail(request: HttpRequest, week: str) -> HttpResponse:
    try:
        day = dt.date.fromisoformat(week)
    except ValueError:
        raise Http404(_("Not a date: issues are at /issues/YYYY-MM-DD/.")) from None
    # Editors preview drafts; readers see published issues only.
    drafts = request.user.is_staff
    issue = selectors.issue_for_week(day, include_drafts=drafts)
    if issue is None:
        containing = selectors.issue_week_containing(day, include_drafts=drafts)
        if containing is None:
            raise Http404(_("There is no issue for that week."))
        return redirect(containing)
    return render(request, "papers/issue.html", _issue_context(request, issue))
