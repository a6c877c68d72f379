"""What a search hit and a related paper show of a paper, and loading it for the ids a
search or related_papers() picked."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db import connection
from django.urls import reverse
from django.utils.safestring import SafeString

from papers.languages import script_lang
from papers.models import Commentary, Paper, PaperText, Tag
from papers.search.scope import paper_date
from papers.search.snippets import highlight, highlight_terms, snippet_source


@dataclass(frozen=True)
class SearchHit:
    paper: Paper
    title: str
    title_lang: str
    snippet: SafeString  # escaped text with <mark> around matched words, cleaned by nh3
    snippet_lang: str
    tags: list[Tag]
    date: dt.date | None
    score: float  # RRF score: higher is better; comparable within one result list only
    matched_by: tuple[str, ...]  # "meaning", "words"
    matched_lang: str  # the language of the text it matched by (its nearest text, else its words')
    query_lang: str  # the language the query is written in (by its script)

    @property
    def cross_lingual(self) -> bool:
        """Matched by a text in another language than the query's."""
        return self.matched_lang != self.query_lang

    @property
    def url(self) -> str:
        return reverse("papers:detail", args=[self.paper.pk])


@dataclass
class SearchResults:
    hits: list[SearchHit] = field(default_factory=list)
    semantic: bool = True  # False when the embeddings backend failed: word matches only (the page says so)
    # The ranked candidate lists that were fused, by name (paper ids, best first): the quality
    # bench reads each list's rank of the wanted paper, so a regression names the list at fault.
    lists: dict[str, list[int]] = field(default_factory=dict)

    def __iter__(self):
        return iter(self.hits)

    def __len__(self) -> int:
        return len(self.hits)


@dataclass(frozen=True)
class RelatedPaper:
    paper: Paper
    title: str
    title_lang: str
    date: dt.date | None
    similarity: float  # 1 - cosine distance of its nearest text to the page paper's mean vector

    @property
    def url(self) -> str:
        return reverse("papers:detail", args=[self.paper.pk])


@dataclass
class Shown:
    """What a hit or a related paper shows of a paper: its row (with .day), and its texts,
    commentary and tags as plain values."""

    paper: Paper
    texts: list[tuple[str, str, str]] = field(default_factory=list)  # (lang, kind, body)
    commentary: list[tuple[str, str]] = field(default_factory=list)  # (lang, body)
    tags: list[Tag] = field(default_factory=list)  # by slug


def papers_for_display(ids: list[int]) -> dict[int, Shown]:
    """Two queries whatever the number of papers: the papers with their date, then their
    texts, commentary and tags together. Three prefetch querysets cost 8 ms more per search
    in Django's SQL compiler and model building (bench/search.py), for the same rows."""
    shown = {p.pk: Shown(p) for p in Paper.objects.filter(pk__in=ids).annotate(day=paper_date())}
    through, tags = Commentary.papers.through._meta.db_table, Paper.tags.through._meta.db_table
    sql = f"""
        SELECT paper_id, 'text', lang, kind, body, id FROM {PaperText._meta.db_table}
        WHERE paper_id = ANY(%s) AND kind IN ('title', 'summary', 'abstract')
        UNION ALL
        SELECT cp.paper_id, 'commentary', c.lang, '', c.body, c.id FROM {Commentary._meta.db_table} c
        JOIN {through} cp ON cp.commentary_id = c.id WHERE cp.paper_id = ANY(%s)
        UNION ALL
        SELECT pt.paper_id, 'tag', g.slug, g.name, '', g.id FROM {Tag._meta.db_table} g
        JOIN {tags} pt ON pt.tag_id = g.id WHERE pt.paper_id = ANY(%s)
        ORDER BY 1, 2, 6
    """
    ids = list(shown)
    with connection.cursor() as cursor:
        cursor.execute(sql, [ids, ids, ids])
        for paper_id, source, lang, kind, body, pk in cursor.fetchall():
            if source == "text":
                shown[paper_id].texts.append((lang, kind, body))
            elif source == "commentary":
                shown[paper_id].commentary.append((lang, body))
            else:
                shown[paper_id].tags.append(Tag(pk=pk, slug=lang, name=kind))
    for item in shown.values():
        item.tags.sort(key=lambda t: t.slug)
    return shown


def title_for(shown: Shown, reader_lang: str) -> tuple[str, str]:
    """(title, lang): in the reader's language, else English, else the paper's own title."""
    titles = {lang: body for lang, kind, body in shown.texts if kind == PaperText.Kind.TITLE}
    for code in (reader_lang, "en"):
        if titles.get(code):
            return titles[code], code
    return shown.paper.title, "en"


def search_hits(ranked: list[tuple[int, float]], *, matched: dict[int, tuple[str, ...]], matched_lang: dict[int, str],
                q: str, lang: str, reader_lang: str) -> list[SearchHit]:
    """The hits for fused (paper id, score) pairs, in their order."""
    shown = papers_for_display([paper_id for paper_id, _ in ranked])
    terms = highlight_terms(q)
    query_lang = script_lang(q)
    hits = []
    for paper_id, score in ranked:
        item = shown[paper_id]
        title, title_lang = title_for(item, reader_lang)
        body, body_lang = snippet_source(item.texts, item.commentary, terms, lang=lang,
                                         matched_lang=matched_lang[paper_id], reader_lang=reader_lang)
        hits.append(SearchHit(
            paper=item.paper, title=title, title_lang=title_lang,
            snippet=highlight(body, terms), snippet_lang=body_lang,
            tags=item.tags, date=item.paper.day,
            score=score, matched_by=matched[paper_id],
            matched_lang=matched_lang[paper_id], query_lang=query_lang,
        ))
    return hits
