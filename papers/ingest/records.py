"""What every parser produces: plain dataclasses, written to the database by ingest.upsert."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field

_ARXIV_URL = re.compile(r"arxiv\.org/(?:abs|pdf)/(?P<id>\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v(?P<v>\d+))?", re.I)
_ARXIV_ID = re.compile(r"^(?:arxiv:)?(?P<id>\d{4}\.\d{4,5}|[a-z\-]+(?:\.[A-Z]{2})?/\d{7})(?:v(?P<v>\d+))?$", re.I)


class ParseError(ValueError):
    """A document could not be parsed; the message says what was wrong, for one error line."""


def parse_arxiv_id(text: str) -> tuple[str, int | None] | None:
    """The one place that normalises arXiv ids: ('2401.15024', 1) from an id or abs/pdf URL."""
    text = text.strip()
    m = _ARXIV_URL.search(text) or _ARXIV_ID.match(text)
    if not m:
        return None
    version = int(m.group("v")) if m.group("v") else None
    return m.group("id"), version


@dataclass
class CommentaryRecord:
    lang: str
    author: str
    body: str
    key: str  # its place in the source document, so a re-import updates it in place
    date: dt.date | None = None
    mentions: list[str] = field(default_factory=list)  # paper titles or names it discusses


@dataclass
class PaperRecord:
    title: str  # the original (English) title
    arxiv_id: str = ""
    arxiv_version: int | None = None
    authors: list[str] = field(default_factory=list)
    published: dt.date | None = None
    updated: dt.date | None = None
    texts: dict[tuple[str, str], str] = field(default_factory=dict)  # (lang, kind) -> body
    links: list[tuple[str, str]] = field(default_factory=list)  # (kind, url), in order
    tags: list[str] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)  # arXiv's, the primary one first
    commentaries: list[CommentaryRecord] = field(default_factory=list)


@dataclass
class IssueRecord:
    week_start: dt.date
    week_end: dt.date
    editorials: dict[str, str] = field(default_factory=dict)  # lang -> body
    source_urls: list[str] = field(default_factory=list)


@dataclass
class ParsedDocument:
    format: str  # SourceDocument.Format
    lang: str
    papers: list[PaperRecord] = field(default_factory=list)
    issue: IssueRecord | None = None  # the papers, in order, are its entries
    commentaries: list[CommentaryRecord] = field(default_factory=list)  # not tied to one paper (essays)
