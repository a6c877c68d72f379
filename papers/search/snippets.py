"""What a hit quotes: the text to take a snippet from, and the snippet itself with the
query's words marked."""

from __future__ import annotations

import re

import nh3
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from papers.languages import is_cjk
from papers.models import PaperText
from papers.search.query import query_terms

SNIPPET_CHARS = 240


def snippet_source(texts: list[tuple[str, str, str]], commentary: list[tuple[str, str]], terms: list[re.Pattern], *,
                   lang: str, matched_lang: str, reader_lang: str) -> tuple[str, str]:
    """(body, lang) of the text to quote, from a paper's (lang, kind, body) texts and
    (lang, body) commentary: the one matching most query words; on a tie, the language the
    paper matched in (a Korean query that found an English-only paper by meaning quotes its
    English text, marking the words the two share: Korean ML writing keeps LoRA, GPU), then
    the reader's, a summary before an abstract before commentary."""
    kinds = {PaperText.Kind.SUMMARY: 0, PaperText.Kind.ABSTRACT: 1}
    candidates = [(body, code, kinds[kind]) for code, kind, body in texts if kind in kinds]
    candidates += [(body, code, 2) for code, body in commentary]
    if lang:
        candidates = [c for c in candidates if c[1] == lang] or candidates
    if not candidates:
        return "", reader_lang

    def preference(candidate):
        body, code, kind = candidate
        matched = sum(1 for term in terms if term.search(body))
        return (-matched, code != matched_lang, code != reader_lang, code != "en", kind)

    body, code, _ = min(candidates, key=preference)
    return body, code


def highlight_terms(q: str) -> list[re.Pattern]:
    """One pattern per query word, for marking it in a snippet. Latin-script words match from
    a word's start, with a crude stem ("pretraining" marks "pretrained"); Korean and Chinese
    words also match by every two-character piece, since particles and compounds glue onto
    words (데이터로 / 데이터를). Each pattern is a lookahead, so overlapping pieces all match."""
    patterns = []
    for term in query_terms(q):
        if is_cjk(term):
            pieces = {term} | {term[i:i + 2] for i in range(len(term) - 1)}
            alternatives = "|".join(re.escape(p) for p in sorted(pieces, key=len, reverse=True))
        elif len(term) >= 2:
            stem = term[: max(4, len(term) - 3)] if len(term) > 5 else term
            alternatives = rf"(?<!\w){re.escape(stem)}\w*"
        else:
            continue
        patterns.append(re.compile(f"(?=({alternatives}))", re.IGNORECASE))
    return patterns


def highlight(text: str, terms: list[re.Pattern], *, width: int = SNIPPET_CHARS) -> SafeString:
    """A window of `text` around its densest matches, escaped, with <mark> around matches."""
    text = " ".join(text.split())
    spans = _merged(m.span(1) for term in terms for m in term.finditer(text))
    start = 0
    if spans:
        # The match whose window holds the most matches, starting a little before it.
        anchor = max(spans, key=lambda s: sum(1 for o in spans if s[0] <= o[0] < s[0] + width * 3 // 4))[0]
        start = max(0, anchor - width // 4)
        # Korean and Chinese may be cut anywhere; other text at a space.
        if start and not is_cjk(text[start]):
            space = text.find(" ", start, anchor)
            start = space + 1 if space != -1 else start
    end = min(len(text), start + width)
    if end < len(text) and not is_cjk(text[end - 1]):
        space = text.rfind(" ", start + width // 2, end)
        end = space if space != -1 else end
    pieces = ["…" if start else ""]
    pos = start
    for a, b in spans:
        if b <= start or a >= end:
            continue
        a, b = max(a, start), min(b, end)
        pieces += [escape(text[pos:a]), "<mark>", escape(text[a:b]), "</mark>"]
        pos = b
    pieces += [escape(text[pos:end]), "…" if end < len(text) else ""]
    return mark_safe(nh3.clean("".join(pieces), tags={"mark"}, attributes={}))  # noqa: S308 - cleaned by nh3


def _merged(spans) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for a, b in sorted(spans):
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(b, merged[-1][1]))
        else:
            merged.append((a, b))
    return merged
