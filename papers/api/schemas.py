"""What the API answers, as pydantic schemas (the OpenAPI schema is generated from them)."""

from __future__ import annotations

import datetime as dt

from ninja import Field, Schema


class Error(Schema):
    error: str
    fields: dict = {}


class AuthorRef(Schema):
    name: str
    slug: str
    url: str


class PaperSummary(Schema):
    id: int
    arxiv_id: str
    title: str  # in the reader's language when there is one (Accept-Language), else another
    title_lang: str
    original_title: str
    url: str
    arxiv_url: str
    date: dt.date | None  # arXiv's published date, else the month of the arXiv id
    date_from_id: bool
    authors: list[AuthorRef]
    tags: list[str]
    categories: list[str]
    text_langs: list[str]


class PaperPage(Schema):
    count: int
    next: str | None  # the cursor for ?after= (None on the last page)
    next_url: str | None
    results: list[PaperSummary]


class Text(Schema):
    lang: str
    kind: str
    body: str
    origin: str
    model: str


class Version(Schema):
    version: int
    updated: dt.date | None
    title: str


class LinkOut(Schema):
    kind: str
    url: str


class IssueRef(Schema):
    week_start: dt.date
    week_end: dt.date
    url: str


class CommentaryOut(Schema):
    lang: str
    author: str
    date: dt.date | None
    origin: str
    body: str


class PaperDetail(PaperSummary):
    arxiv_version: int | None
    published: dt.date | None
    updated: dt.date | None
    came_from: str
    texts: list[Text]
    versions: list[Version]
    links: list[LinkOut]
    issues: list[IssueRef]
    commentary: list[CommentaryOut]


class IssueSummary(IssueRef):
    published_at: dt.datetime | None
    paper_count: int


class Editorial(Schema):
    lang: str
    body: str


class IssueDetail(IssueRef):
    published_at: dt.datetime | None
    editorials: list[Editorial]
    papers: list[PaperSummary]


class TagOut(Schema):
    slug: str
    name: str
    paper_count: int
    url: str


class CategoryOut(Schema):
    code: str
    name: str
    paper_count: int
    url: str


class AuthorOut(Schema):
    name: str
    slug: str
    url: str
    papers: PaperPage


class SearchHit(Schema):
    arxiv_id: str
    title: str
    title_lang: str
    score: float
    url: str
    arxiv_url: str
    date: dt.date | None
    tags: list[str]
    matched_by: list[str]
    matched_lang: str = Field(description="the language of the text the paper matched in (ko, zh, en)")
    cross_lingual: bool = Field(description="whether that language is not the query's")
    snippet_html: str = Field(description="escaped text of the matched language, <mark> around the query's words")
    snippet_lang: str


class SearchResults(Schema):
    query: str
    k: int
    semantic: bool
    notice: str
    results: list[SearchHit]


class AnswerSentence(Schema):
    text: str
    citations: list[int] = Field(description="numbers of the sources it cites; only retrieved passages are kept")
    supported: bool = Field(description="false: no retrieved passage backs it")


class PaperLink(Schema):
    arxiv_id: str
    title: str
    url: str


class AnswerSource(Schema):
    n: int
    paper: PaperLink
    passage_id: int
    lang: str
    kind: str
    quote: str
    url: str = Field(description="the paper page at the quoted passage")


class AnswerLatency(Schema):
    first_output: int | None = Field(description="ms until the sources were shown")
    total: int | None = Field(description="ms until the answer was complete or failed")


class Answer(Schema):
    id: str
    question: str
    lang: str = Field(description="the language the answer is written in (the question's)")
    mode: str = Field(description="llm, or extractive without an LLM")
    status: str = Field(description="complete or failed; a failed answer is never shown as complete")
    found: bool = Field(description="false: not in the knowledge base (closest_papers says where to look)")
    message: str
    sentences: list[AnswerSentence]
    sources: list[AnswerSource]
    closest_papers: list[PaperLink]
    latency_ms: AnswerLatency


class Question(Schema):
    question: str = Field(description="in Korean, Chinese or English")
