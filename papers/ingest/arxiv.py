"""The one arXiv client: HTTP to the arXiv API (ARXIV_API_URL) and its Atom feeds.

arXiv asks for at most one request every three seconds on one connection: a client makes
its requests one after another and waits ARXIV_MIN_INTERVAL between them. 5xx, 429,
timeouts and connection errors are retried with backoff (a Retry-After header wins).

A feed is checked whole before anything is written: truncated XML, an HTML page, arXiv's
error feed or an entry without id, title, abstract, authors or date raises ArxivError, and
a fetch writes all of its pages in one transaction or nothing.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import socket
import time
import xml.sax
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.error import HTTPError, URLError
from urllib.parse import urlencode
from urllib.request import Request, urlopen

import feedparser
from django.conf import settings
from django.db import transaction

from papers.backoff import backoff_delay, retry_after_seconds
from papers.categories import is_category_code
from papers.ingest.records import PaperRecord, parse_arxiv_id
from papers.ingest.upsert import find_paper, upsert_paper
from papers.models import Paper, PaperText, PaperVersion

log = logging.getLogger(__name__)

_ERROR_ID = re.compile(r"^https?://arxiv\.org/api/errors")
_RETRY_AFTER_MAX = 300.0  # seconds; a longer wait is left to the next run


class ArxivError(Exception):
    """The arXiv API could not be read, or answered with something that is not a usable feed."""


@dataclass
class Page:
    records: list[PaperRecord]
    total: int  # opensearch:totalResults
    start: int


@dataclass
class FetchReport:
    created: list[int] = field(default_factory=list)  # paper ids
    updated: list[int] = field(default_factory=list)
    unchanged: int = 0
    pages: int = 0

    @property
    def changed_ids(self) -> list[int]:
        """The papers enrichment should look at."""
        return self.created + self.updated

    def line(self) -> str:
        return f"{len(self.created)} new, {len(self.updated)} updated, {self.unchanged} unchanged ({self.pages} pages)"


class ArxivClient:
    """Requests one after another, at least `min_interval` seconds apart (arXiv's terms)."""

    def __init__(self, *, base_url: str | None = None, min_interval: float | None = None, timeout: float | None = None,
                 max_retries: int | None = None, sleep=time.sleep, clock=time.monotonic):
        self.base_url = base_url or settings.ARXIV_API_URL
        self.min_interval = settings.ARXIV_MIN_INTERVAL if min_interval is None else min_interval
        self.timeout = timeout or settings.ARXIV_TIMEOUT
        self.max_retries = settings.ARXIV_MAX_RETRIES if max_retries is None else max_retries
        self._sleep, self._clock = sleep, clock
        self._last_request_end: float | None = None
        self.requests = 0

    def query(self, *, search_query: str = "", id_list: list[str] = (), start: int = 0, max_results: int = 50,
              sort_by: str | None = None, sort_order: str = "descending") -> Page:
        params = {"search_query": search_query, "id_list": ",".join(id_list), "start": start, "max_results": max_results}
        if sort_by:
            params.update(sortBy=sort_by, sortOrder=sort_order)
        return parse_feed(self._get(params))

    def search(self, search_query: str, *, sort_by: str = "lastUpdatedDate", page_size: int | None = None,
               max_results: int | None = None) -> Iterator[Page]:
        """Pages of a query, newest first, until the results or `max_results` run out."""
        page_size = page_size or settings.ARXIV_PAGE_SIZE
        max_results = max_results or settings.ARXIV_MAX_RESULTS
        start = 0
        while start < max_results:
            page = self.query(search_query=search_query, start=start, max_results=min(page_size, max_results - start), sort_by=sort_by)
            yield page
            start += len(page.records)
            if not page.records or start >= page.total:
                return

    def _get(self, params: dict) -> bytes:
        url = f"{self.base_url}?{urlencode(params)}"
        attempt = 0
        while True:
            self._wait_turn()
            retry_after = None
            try:
                with urlopen(Request(url, headers={"User-Agent": f"paper-digest/0.1 (+{settings.SITE_URL})"}), timeout=self.timeout) as response:
                    return response.read()
            except HTTPError as e:
                body = e.read()
                if e.code < 500 and e.code != 429:
                    # arXiv answers a bad query with HTTP 400 and its error feed: say what it said.
                    raise ArxivError(f"HTTP {e.code} from arXiv: {_error_text(body) or e.reason}") from None
                retry_after = retry_after_seconds(e.headers.get("Retry-After"))
                problem = f"HTTP {e.code}"
            except (URLError, socket.timeout, TimeoutError, ConnectionError) as e:
                problem = f"cannot read {self.base_url}: {getattr(e, 'reason', e)}"
            finally:
                self.requests += 1
                self._last_request_end = self._clock()
            if attempt >= self.max_retries:
                raise ArxivError(f"{problem} from arXiv, {attempt + 1} attempts")
            if retry_after is not None and retry_after > _RETRY_AFTER_MAX:
                raise ArxivError(f"{problem} from arXiv with Retry-After {retry_after:.0f} s; try again later")
            wait = retry_after if retry_after is not None else backoff_delay(attempt, base=max(self.min_interval, 0.01))
            log.warning("arXiv: %s; retry %d of %d in %.2f s", problem, attempt + 1, self.max_retries, wait)
            self._sleep(wait)
            attempt += 1

    def _wait_turn(self) -> None:
        if self._last_request_end is None:
            return
        wait = self.min_interval - (self._clock() - self._last_request_end)
        if wait > 0:
            self._sleep(wait)


# --- the feed --------------------------------------------------------------------------


def parse_feed(data: bytes) -> Page:
    """One Atom page of the arXiv API, checked whole; ArxivError says what is wrong with it."""
    if not data.strip():
        raise ArxivError("empty response instead of an Atom feed")
    head = data[:1000].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html")):
        raise ArxivError(f"an HTML page instead of an Atom feed: {_html_title(data)!r}")
    feed = feedparser.parse(data)
    if feed.bozo and isinstance(feed.get("bozo_exception"), xml.sax.SAXException):
        # feedparser falls back to a lenient parser and returns what it found: never store that.
        raise ArxivError(f"malformed Atom feed ({feed.bozo_exception}); nothing stored")
    if not feed.version.startswith("atom"):
        raise ArxivError("not an Atom feed")
    for entry in feed.entries:
        if _ERROR_ID.match(entry.get("id", "")):
            raise ArxivError(f"arXiv API error: {_clean(entry.get('summary')) or entry.get('id')}")
    records = [_record(entry, n) for n, entry in enumerate(feed.entries, 1)]
    total = _int(feed.feed.get("opensearch_totalresults"), default=len(records))
    return Page(records=records, total=total, start=_int(feed.feed.get("opensearch_startindex"), default=0))


def _record(entry, n: int) -> PaperRecord:
    parsed = parse_arxiv_id(entry.get("id", ""))
    if parsed is None:
        raise ArxivError(f"entry {n}: no arXiv id (id {entry.get('id', '')!r})")
    arxiv_id, version = parsed
    missing = [
        name
        for name, value in (
            ("title", _clean(entry.get("title"))),
            ("abstract", _clean(entry.get("summary"))),
            ("authors", [a for a in entry.get("authors", []) if a.get("name")]),
            ("published date", entry.get("published_parsed")),
        )
        if not value
    ]
    if missing:
        raise ArxivError(f"entry {n} ({arxiv_id}) has no {', '.join(missing)}")
    title, abstract = _clean(entry.title), _clean(entry.summary)
    return PaperRecord(
        title=title,
        arxiv_id=arxiv_id,
        arxiv_version=version,
        authors=[_clean(a.name) for a in entry.authors if a.get("name")],
        published=_date(entry.published_parsed),
        updated=_date(entry.get("updated_parsed") or entry.published_parsed),
        texts={("en", "title"): title, ("en", "abstract"): abstract},
        links=[("paper", f"https://arxiv.org/abs/{arxiv_id}")],
        categories=_categories(entry),
    )


def _categories(entry) -> list[str]:
    primary = (entry.get("arxiv_primary_category") or {}).get("term", "")
    terms = [tag.get("term", "") for tag in entry.get("tags", [])]
    # Only arXiv's own scheme: the feed also carries ACM and MSC classes as categories.
    codes = [t for t in [primary, *terms] if is_category_code(t)]
    return list(dict.fromkeys(codes))


def _clean(text: str | None) -> str:
    # arXiv wraps titles and abstracts at ~80 columns with indentation.
    return " ".join((text or "").split())


def _date(parsed: time.struct_time) -> dt.date:
    return dt.date(parsed.tm_year, parsed.tm_mon, parsed.tm_mday)


def _int(value, *, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def _html_title(data: bytes) -> str:
    m = re.search(rb"<title[^>]*>(.*?)</title>", data, re.I | re.S)
    return _clean(m.group(1).decode("utf-8", "replace")) if m else "no title"


def _error_text(body: bytes) -> str:
    try:
        feed = feedparser.parse(body)
    except Exception:  # noqa: BLE001 - only used to word the error message
        return ""
    return "; ".join(_clean(e.get("summary")) for e in feed.get("entries", []) if _ERROR_ID.match(e.get("id", "")))


# --- fetching and storing --------------------------------------------------------------


def fetch_new(*, query: str | None = None, client: ArxivClient | None = None, max_results: int | None = None) -> FetchReport:
    """New and updated papers for the query, newest first, up to the first one already known.
    All pages are read before anything is written; a bad page means nothing is stored."""
    client = client or ArxivClient()
    records, pages = [], 0
    try:
        for page in client.search(query or settings.ARXIV_QUERY, max_results=max_results):
            pages += 1
            known_at = next((i for i, r in enumerate(page.records) if _is_known(r)), None)
            records.extend(page.records[:known_at])
            if known_at is not None:
                break
    except ArxivError as e:
        log.error("arXiv fetch failed after %d page(s), nothing stored: %s", pages, e)
        raise
    report = store_records(records)
    report.pages = pages
    log.info("arXiv fetch: %s", report.line())
    return report


def fetch_ids(ids: list[str], *, client: ArxivClient | None = None) -> FetchReport:
    """The latest version of the given papers (ids or abs/pdf URLs)."""
    parsed = [parse_arxiv_id(i) for i in ids]
    if bad := [i for i, p in zip(ids, parsed) if p is None]:
        raise ArxivError(f"not an arXiv id: {', '.join(bad)}")
    client = client or ArxivClient()
    try:
        page = client.query(id_list=[p[0] for p in parsed], max_results=len(parsed))
    except ArxivError as e:
        log.error("arXiv fetch of %s failed, nothing stored: %s", ", ".join(ids), e)
        raise
    report = store_records(page.records)
    report.pages = 1
    return report


@dataclass
class ResolveReport:
    resolved: list[int] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # "title: why"

    def line(self) -> str:
        return f"{len(self.resolved)} resolved, {len(self.unresolved)} left without an arXiv id"


def resolve_titles(*, client: ArxivClient | None = None) -> ResolveReport:
    """Find the arXiv id of papers known only by title (blog notes) and fill in id, authors,
    dates and abstract, when exactly one arXiv entry has the same title."""
    client = client or ArxivClient()
    report = ResolveReport()
    for paper in Paper.objects.filter(arxiv_id="").order_by("pk"):
        try:
            page = client.query(search_query=f'ti:"{_title_query(paper.title)}"', max_results=10)
        except ArxivError as e:
            log.error("arXiv title search for %r failed: %s", paper.title, e)
            report.unresolved.append(f"{paper.title}: {e}")
            continue
        matches = {r.arxiv_id: r for r in page.records if _same_title(r.title, paper.title)}
        if len(matches) != 1:
            why = "no entry with this exact title" if not matches else f"{len(matches)} entries with this title"
            report.unresolved.append(f"{paper.title}: {why}")
            continue
        (record,) = matches.values()
        if Paper.objects.filter(arxiv_id=record.arxiv_id).exclude(pk=paper.pk).exists():
            report.unresolved.append(f"{paper.title}: {record.arxiv_id} belongs to another paper")
            continue
        with transaction.atomic():
            # Give the paper its id first so the upsert finds it by id, whatever the title's case.
            Paper.objects.filter(pk=paper.pk).update(arxiv_id=record.arxiv_id)
            store_records([record])
        report.resolved.append(paper.pk)
    return report


def store_records(records: list[PaperRecord]) -> FetchReport:
    """Upsert the records in one transaction, keeping each paper's history of versions."""
    report = FetchReport()
    latest: dict[str, PaperRecord] = {}
    for record in records:  # a paper can appear twice when new entries shift the pages
        seen = latest.get(record.arxiv_id)
        if seen is None or (record.arxiv_version or 0) > (seen.arxiv_version or 0):
            latest[record.arxiv_id] = record
    with transaction.atomic():
        for record in latest.values():
            paper = find_paper(record)
            known = paper.arxiv_version if paper is not None else None
            if known and record.arxiv_version and record.arxiv_version < known:
                _remember_version(paper, record)  # an older version seen late: history only
                report.unchanged += 1
                continue
            if known and record.arxiv_version and record.arxiv_version > known:
                _remember_current(paper)  # what v(n) said, before v(n+1) replaces it
            paper, created, changed = upsert_paper(record, came_from=Paper.Came.ARXIV)
            _remember_version(paper, record)
            if created:
                report.created.append(paper.pk)
            elif changed:
                report.updated.append(paper.pk)
            else:
                report.unchanged += 1
    return report


def _is_known(record: PaperRecord) -> bool:
    return Paper.objects.filter(arxiv_id=record.arxiv_id, arxiv_version__gte=record.arxiv_version or 1).exists()


def _remember_version(paper: Paper, record: PaperRecord) -> None:
    if record.arxiv_version:
        PaperVersion.objects.get_or_create(
            paper=paper, version=record.arxiv_version,
            defaults={"updated": record.updated, "title": record.title[:500], "abstract": record.texts.get(("en", "abstract"), "")},
        )


def _remember_current(paper: Paper) -> None:
    abstract = PaperText.objects.filter(paper=paper, lang="en", kind="abstract").values_list("body", flat=True).first()
    PaperVersion.objects.get_or_create(
        paper=paper, version=paper.arxiv_version,
        defaults={"updated": paper.updated, "title": paper.title[:500], "abstract": abstract or ""},
    )


def _normal_title(title: str) -> str:
    return " ".join(re.sub(r"[^\w]+", " ", title.casefold()).split())


def _same_title(a: str, b: str) -> bool:
    return _normal_title(a) == _normal_title(b)


def _title_query(title: str) -> str:
    # Punctuation (colons, quotes) would end the phrase or the field in arXiv's query syntax.
    return " ".join(re.sub(r"[^\w\s-]+", " ", title).split())
