"""The offline answer (no LLM), and the fallback shown beside a failed one: the retrieved
passages themselves, the question's words highlighted, grouped by paper, best paper first."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.utils.safestring import SafeString

from papers.search import highlight, highlight_terms

QUOTE_CHARS = 400


@dataclass
class PaperPassages:
    paper_id: int
    title: str
    title_lang: str
    url: str  # the paper page at its first passage here
    quotes: list[tuple[int, str, SafeString]] = field(default_factory=list)  # (source number, lang, highlighted)


def by_paper(question: str, sources: list[dict]) -> list[PaperPassages]:
    terms = highlight_terms(question)
    groups: dict[int, PaperPassages] = {}
    for source in sources:
        group = groups.setdefault(source["paper_id"], PaperPassages(
            paper_id=source["paper_id"], title=source["title"], title_lang=source["title_lang"], url=source["url"]))
        group.quotes.append((source["n"], source["lang"], highlight(source["quote"], terms, width=QUOTE_CHARS)))
    return list(groups.values())
