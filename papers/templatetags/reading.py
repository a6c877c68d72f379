"""Template helpers for the reading pages: picking a paper's text for the reader's language
from prefetched rows, labelling where a text came from, and rendering stored text as safe HTML.

They only format what papers.selectors loaded; no helper here runs a query of its own
(as long as the page's selector prefetched `paper.texts`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

import nh3
from django import template
from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from papers.categories import category_name
from papers.languages import CJK_RANGES, CONTENT_LANGS, Lang, normalize_lang
from papers.enrich import EXTRACTIVE
from papers.models import Origin, PaperText

register = template.Library()

# Language names in the interface's language (the switch shows each language's own name).
LANG_NAMES = {"ko": gettext_lazy("Korean"), "zh": gettext_lazy("Chinese"), "en": gettext_lazy("English")}

_MISSING = {
    PaperText.Kind.TITLE: gettext_lazy("No %(language)s title yet."),
    PaperText.Kind.SUMMARY: gettext_lazy("No %(language)s summary yet."),
    PaperText.Kind.ABSTRACT: gettext_lazy("No %(language)s abstract yet."),
}


@dataclass(frozen=True)
class PickedText:
    """A paper's text of one kind for a wanted language, or the one shown instead."""

    kind: str
    lang: str
    text: PaperText | None  # in the wanted language
    fallback: PaperText | None  # in another language, when the wanted one is missing

    @property
    def shown(self) -> PaperText | None:
        return self.text or self.fallback

    @property
    def missing(self) -> bool:
        return self.text is None

    @property
    def notice(self) -> str:
        return _MISSING[self.kind] % {"language": lang_name(self.lang)}


@register.simple_tag
def pick_text(paper, kind: str, lang: str) -> PickedText:
    """{% pick_text paper "summary" lang as s %}: reads paper.texts.all(), which the page prefetched."""
    by_lang = {t.lang: t for t in paper.texts.all() if t.kind == kind}
    fallback_order = ["en"] + [code for code in CONTENT_LANGS if code != "en"]
    fallback = next((by_lang[code] for code in fallback_order if code != lang and code in by_lang), None)
    return PickedText(kind=kind, lang=lang, text=by_lang.get(lang), fallback=None if lang in by_lang else fallback)


@register.filter
def text_langs(paper) -> list[str]:
    """The content languages the paper has any text in, in the site's order."""
    have = {t.lang for t in paper.texts.all()}
    return [code for code in CONTENT_LANGS if code in have]


@register.filter
def lang_name(code: str) -> str:
    return str(LANG_NAMES.get(code, code))


@register.filter(name="category_name")
def category_name_filter(code: str, lang: str) -> str:
    return category_name(code, lang)


@register.filter
def lang_endonym(code: str) -> str:
    """The language's own name (한국어, 中文, English) for a content or interface code:
    the switch keeps each language in its own name whatever the interface language is."""
    content = normalize_lang(code)
    return Lang(content).label if content else code


@register.filter
def origin_label(obj) -> str:
    """Who wrote a text, commentary or editorial: a human (source document, editor) or a machine."""
    if obj.origin == Origin.MACHINE:
        model = getattr(obj, "model", "")
        if model == EXTRACTIVE:
            return _("Machine-made: sentences picked from the abstract (offline mode, no LLM)")
        return _("Machine-made (%(model)s)") % {"model": model} if model else _("Machine-made")
    if obj.origin == Origin.EDITOR:
        return _("Human: written by an editor")
    return _("Human: from the source document")


@register.simple_tag(takes_context=True)
def path_without_lang(context) -> str:
    """The current path minus ?lang=, so switching the interface language also switches the content."""
    request = context["request"]
    query = [(k, v) for k, v in request.GET.items() if k != "lang"]
    return request.path + (f"?{urlencode(query)}" if query else "")


# URLs end at whitespace, quotes, angle brackets and CJK text (Korean and Chinese prose often
# runs straight on after a link), with the CJK punctuation, symbols and full-width forms
# around it (U+3000-U+9FFF, U+FF00-U+FFEF); trailing sentence punctuation is not part of the link.
_URL = re.compile(rf"https?://[^\s<>\"'`{CJK_RANGES}\u3000-\u9fff\uff00-\uffef]+")
_URL_TRAILING = ".,;:!?)]}'\""
_LIST_ITEM = re.compile(r"^\s*[-*•]\s+")
_ALLOWED_TAGS = {"p", "br", "a", "ul", "li"}


def _linkify(line: str) -> str:
    parts, pos = [], 0
    for m in _URL.finditer(line):
        url = m.group(0).rstrip(_URL_TRAILING)
        parts.append(escape(line[pos:m.start()]))
        parts.append(f'<a href="{escape(url)}">{escape(url)}</a>')
        pos = m.start() + len(url)
    parts.append(escape(line[pos:]))
    return "".join(parts)


def _block(lines: list[str]) -> str:
    if all(_LIST_ITEM.match(line) for line in lines):
        items = "".join(f"<li>{_linkify(_LIST_ITEM.sub('', line))}</li>" for line in lines)
        return f"<ul>{items}</ul>"
    return "<p>" + "<br>".join(_linkify(line) for line in lines) + "</p>"


@register.filter
def rich(text: str) -> SafeString:
    """Stored plain text (seed, editor or LLM) as HTML: paragraphs, "- " lists and links.

    The text is escaped first, then nh3 keeps only the few tags built here, so markup in the
    text (a <script> in a commentary) is shown as text, never run."""
    blocks = []
    for chunk in re.split(r"\n\s*\n", (text or "").strip()):
        lines = [line.strip() for line in chunk.splitlines() if line.strip()]
        if lines:
            blocks.append(_block(lines))
    html = nh3.clean(
        "".join(blocks),
        tags=_ALLOWED_TAGS,
        attributes={"a": {"href"}},
        url_schemes={"http", "https"},
        link_rel="nofollow noopener noreferrer",
    )
    return mark_safe(html)  # noqa: S308 - sanitized by nh3 just above


@register.filter
def web_link(url: str) -> SafeString:
    """A stored URL as a link when it is http(s), else as plain text: a javascript: or data:
    URL written into a seed file or the admin must never become something a reader can click."""
    url = str(url).strip()
    if urlsplit(url).scheme.lower() in ("http", "https"):
        return format_html('<a href="{}" rel="nofollow noopener noreferrer">{}</a>', url, url)
    return escape(url)
