"""RSS and Atom of published issues, per content language and per tag (Django syndication)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.contrib.syndication.views import Feed
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation
from django.utils.feedgenerator import Atom1Feed
from django.utils.translation import gettext

from papers.issues import LocalizedIssue, issue_content, localize
from papers.languages import Lang, normalize_lang, ui_lang
from papers.models import Issue, Tag

ITEMS = 20  # newest issues per feed


@dataclass(frozen=True)
class _Scope:
    lang: str
    tag: Tag | None = None


@dataclass(frozen=True)
class _Item:
    issue: Issue
    view: LocalizedIssue


class IssuesRss(Feed):
    def get_object(self, request, lang: str, slug: str | None = None) -> _Scope:
        code = normalize_lang(lang)
        if code is None or code != lang.lower():
            raise Http404("unknown language")
        tag = get_object_or_404(Tag, slug=slug) if slug is not None else None
        return _Scope(lang=code, tag=tag)

    def __call__(self, request, *args, **kwargs):
        # Titles, labels and the feed's <language> (zh-hans for zh) in the feed's language,
        # whatever the reader's interface language.
        with translation.override(ui_lang(normalize_lang(kwargs.get("lang")) or Lang.EN)):
            return super().__call__(request, *args, **kwargs)

    def title(self, scope: _Scope) -> str:
        lang = Lang(scope.lang).label
        if scope.tag:
            return gettext("paper-digest: weekly ML papers tagged #%(tag)s (%(lang)s)") % {"tag": scope.tag.slug, "lang": lang}
        return gettext("paper-digest: weekly ML papers (%(lang)s)") % {"lang": lang}

    def link(self, scope: _Scope) -> str:
        return settings.SITE_URL + reverse("papers:archive")

    def description(self, scope: _Scope) -> str:
        return gettext("The week's machine learning papers, summarised.")

    def items(self, scope: _Scope) -> list[_Item]:
        issues = Issue.objects.filter(status=Issue.Status.PUBLISHED)
        if scope.tag:
            issues = issues.filter(entries__paper__tags=scope.tag).distinct()
        tags = {scope.tag.slug} if scope.tag else None
        # Items carry their scope: one Feed instance serves every request, so nothing
        # request-specific may be kept on self.
        return [
            _Item(issue=issue, view=localize(issue_content(issue), lang=scope.lang, tags=tags))
            for issue in issues.order_by("-week_start")[:ITEMS]
        ]

    def item_title(self, item: _Item) -> str:
        return gettext("ML papers of the week %(start)s – %(end)s") % {"start": item.issue.week_start, "end": item.issue.week_end}

    def item_link(self, item: _Item) -> str:
        return item.view.url

    def item_description(self, item: _Item) -> str:
        # Rendered with autoescape; the syndication framework escapes it once more for XML.
        return render_to_string("digest/feed_item.html", {"issue": item.view})

    def item_pubdate(self, item: _Item):
        return item.issue.published_at

    def item_updateddate(self, item: _Item):
        return item.issue.published_at

    def item_categories(self, item: _Item) -> list[str]:
        return sorted({t["slug"] for e in item.view.entries for t in e.tags})


class IssuesAtom(IssuesRss):
    feed_type = Atom1Feed

    def subtitle(self, scope: _Scope) -> str:
        return self.description(scope)


class TagIssuesRss(IssuesRss):
    pass


class TagIssuesAtom(IssuesAtom):
    pass
