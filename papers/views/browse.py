"""Reading pages for papers and tags. Each view reads its input, calls one selector and renders."""

from __future__ import annotations

from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from papers import languages, selectors
from papers.languages import CONTENT_LANGS, normalize_lang
from papers.models import Link, PaperText, Passage
from papers.page_cache import cached_for_readers
from papers.search import related_papers

PAPERS_PER_PAGE = 30


def reader_lang(request: HttpRequest) -> tuple[str, str]:
    """(content language, override): ?lang= for one page, else the interface language, which
    Django's set_language form remembers in a cookie. The override is "" when not given."""
    override = normalize_lang(request.GET.get("lang"))
    if override:
        return override, override
    return languages.reader_lang(), ""


def reading_context(request: HttpRequest) -> dict:
    lang, override = reader_lang(request)
    return {"lang": lang, "lang_override": override, "content_langs": CONTENT_LANGS}


@cached_for_readers
def paper_detail(request: HttpRequest, pk: int) -> HttpResponse:
    paper = selectors.paper_for_page(pk)
    if paper is None:
        raise Http404(_("There is no paper at this address."))
    links = paper.links.all()
    links_by_kind = {label: [link for link in links if link.kind == kind] for kind, label in Link.Kind.choices}
    context = reading_context(request)
    return render(request, "papers/paper_detail.html", {
        **context,
        "paper": paper,
        "links_by_kind": {label: group for label, group in links_by_kind.items() if group},
        "text_sections": [(PaperText.Kind.SUMMARY, _("Summary")), (PaperText.Kind.ABSTRACT, _("Abstract"))],
        "related": related_papers(paper, reader_lang=context["lang"]),
        # An answer's citation links here with ?passage=: the page quotes it at #passage-<id>.
        "cited_passage": _cited_passage(request, paper),
    })


def _cited_passage(request: HttpRequest, paper) -> Passage | None:
    raw = request.GET.get("passage", "")
    return paper.passages.filter(pk=int(raw)).first() if raw.isdigit() and len(raw) < 12 else None


@cached_for_readers
def tag_list(request: HttpRequest) -> HttpResponse:
    return render(request, "papers/tag_list.html", {**reading_context(request), "tags": selectors.tags_with_counts()})


@cached_for_readers
def tag_detail(request: HttpRequest, slug: str) -> HttpResponse:
    tag = selectors.tag_by_slug(slug)
    if tag is None:
        raise Http404(_("There is no tag at this address."))
    page = Paginator(selectors.papers_with_tag(tag), PAPERS_PER_PAGE).get_page(request.GET.get("page"))
    return render(request, "papers/tag_detail.html", {**reading_context(request), "tag": tag, "page": page})
