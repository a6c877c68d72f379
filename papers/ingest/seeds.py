"""Parsers for the seed document formats, and `import_file`/`import_paths` that store them.

Three shapes, detected from the text itself (never from the file name):
- weekly digest: a Korean translation of a "top ML papers of the week" post
  (개요 / <ko title> / <en title> / 논문 소개 / 논문 초록 / 논문 링크 / 더 읽어보기 / 원문);
- paper notes: a Korean blog note opening with a date (2024년 9월 12일), then per paper a title,
  (authors), the English abstract, Korean commentary and a line of #hashtags;
- essay: a Chinese article; page boilerplate is stripped and the rest is one commentary.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from django.db import transaction

from papers.ingest.records import (
    CommentaryRecord,
    IssueRecord,
    ParsedDocument,
    ParseError,
    PaperRecord,
    parse_arxiv_id,
)
from papers.languages import HAN, HANGUL

MAX_BYTES = 5 * 1024 * 1024

_URL = re.compile(r"https?://[^\s<>\"')\]]+")
_KO_DATE = re.compile(r"^(\d{4})년\s*(\d{1,2})월\s*(\d{1,2})일$")
_WEEK_IN_URL = re.compile(r"(\d{4})-(\d{2})-(\d{2})-(\d{2})-(\d{2})")
_GLUED_EN = re.compile(r"[.!?)\]。”\"']*\s*(?=[A-Za-z])")
_HASHTAG_LINE = re.compile(r"^#[^\s#]+(?:\s+#[^\s#]+)*$")
# Where the English half of a glued "Korean.English" paragraph begins: after a sentence end.
_EN_START = re.compile(r"(?<=[.!?)\]。”\"'])\s*(?=[A-Za-z0-9\"'(])|\n\s*(?=\S)")

# Digest section headings.
H_OVERVIEW, H_SUMMARY, H_ABSTRACT, H_LINK, H_MORE, H_ORIGINAL = "개요", "논문 소개", "논문 초록", "논문 링크", "더 읽어보기", "원문"

# Page furniture of the essay's source site: share prompts, ads and the list of related-post dates.
_ESSAY_BOILERPLATE = [
    re.compile(r"扫码|二维码|交个朋友|我要投稿|关注公众号|点击阅读原文"),
    re.compile(r"首选服务商|^产品[:：]|^承诺[:：]|已交付\d+\+?"),
    re.compile(r"^\d{4}-\d{2}-\d{2}$"),
]


def read_text(path: Path) -> str:
    """The file's text, or ParseError for what can't be a seed document."""
    data = path.read_bytes()
    if not data.strip():
        raise ParseError("empty file")
    if len(data) > MAX_BYTES:
        raise ParseError(f"too large ({len(data)} bytes, at most {MAX_BYTES})")
    if b"\x00" in data:
        raise ParseError("binary file (contains NUL bytes), expected UTF-8 text")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise ParseError(f"not UTF-8 text (invalid byte at offset {e.start})") from None
    return unicodedata.normalize("NFC", text.replace("\r\n", "\n").replace("\r", "\n"))


def detect_format(text: str) -> str:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    if any(ln == H_SUMMARY for ln in lines) and any(ln.startswith(H_ABSTRACT) for ln in lines):
        return "weekly_digest"
    if lines and _KO_DATE.match(lines[0]):
        return "paper_notes"
    han, hangul = len(HAN.findall(text)), len(HANGUL.findall(text))
    if han > 200 and han > 5 * hangul:
        return "essay"
    raise ParseError(
        "unknown format: expected a weekly digest (논문 소개 / 논문 초록 sections), "
        "a paper note opening with a Korean date (2024년 9월 12일), or a Chinese essay"
    )


def parse(text: str) -> ParsedDocument:
    fmt = detect_format(text)
    return {"weekly_digest": parse_weekly_digest, "paper_notes": parse_paper_notes, "essay": parse_essay}[fmt](text)


# --- helpers --------------------------------------------------------------------------


def split_ko_en(text: str) -> tuple[str, str]:
    """Split a paragraph that holds Korean followed by its English original, by script.

    The English half starts at the first sentence start after the last Hangul character;
    Latin words inside the Korean half (OLMo, RAG, 7b) stay Korean."""
    text = text.strip()
    hangul = list(HANGUL.finditer(text))
    if not hangul:
        return "", text
    end = hangul[-1].end()
    # Glued with no full stop ("...있습니다Large language models have..."): the English
    # starts right after the Korean, if what follows reads as a sentence, not a trailing name.
    glued = _GLUED_EN.match(text, end)
    if glued and len(text[glued.end():].split(".")[0].split()) >= 3:
        return text[: glued.end()].strip(), text[glued.end():].strip()
    m = _EN_START.search(text, end)
    if not m:
        return text, ""
    return text[: m.start()].strip(), text[m.end():].strip()


def split_title(line: str) -> tuple[str, str]:
    """'한국어 제목 / English Title' -> (ko, en); the split is the first ' / ' with no Hangul after it."""
    parts = line.split(" / ")
    for i in range(1, len(parts)):
        right = " / ".join(parts[i:])
        if not HANGUL.search(right):
            return " / ".join(parts[:i]).strip(), right.strip()
    raise ParseError(f"title line has no 'Korean / English' form: {line[:80]!r}")


def link_kind(url: str) -> str:
    host = urlparse(url).netloc.lower().removeprefix("www.")
    if host in ("github.com", "gitlab.com", "huggingface.co"):
        return "code"
    if host in ("x.com", "twitter.com", "news.ycombinator.com", "reddit.com", "discuss.pytorch.kr"):
        return "discussion"
    if host in ("arxiv.org", "openreview.net", "aclanthology.org"):
        return "paper"
    return "further_reading"


def _strip_bullet(line: str) -> str:
    return line[2:] if line.startswith("- ") else line


def _clean_url(url: str) -> str:
    return url.rstrip(".,;:")


# --- weekly digest --------------------------------------------------------------------


def parse_weekly_digest(text: str) -> ParsedDocument:
    lines = [ln.rstrip() for ln in text.splitlines()]
    lines = [ln for ln in lines if ln.strip()]
    doc = ParsedDocument(format="weekly_digest", lang="ko")
    overview: list[str] = []
    original: list[str] = []
    paper: dict | None = None
    papers: list[dict] = []
    section = None
    i = 0
    while i < len(lines):
        line = lines[i].strip()
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        if line == H_OVERVIEW and not papers and paper is None:
            section = "overview"
        elif nxt == H_SUMMARY and line not in (H_SUMMARY, H_ABSTRACT, H_LINK, H_MORE):
            paper = {"title": line, "summary": [], "abstract": [], "link": [], "more": []}
            papers.append(paper)
            section = None
        elif line == H_SUMMARY and paper is not None:
            section = "summary"
        elif line.startswith(H_ABSTRACT) and paper is not None:
            section = "abstract"
        elif line == H_LINK and paper is not None:
            section = "link"
        elif line == H_MORE and paper is not None:
            section = "more"
        elif line == H_ORIGINAL:
            section = "original"
        elif section == "overview":
            overview.append(line)
        elif section in ("summary", "abstract"):
            paper[section].append(_strip_bullet(line))
        elif section in ("link", "more"):
            if not _URL.match(line):
                raise ParseError(f"paper {paper['title'][:60]!r}: expected a URL under {section}, got {line[:60]!r}")
            paper[section].append(_clean_url(line))
        elif section == "original":
            if not _URL.match(line):
                break  # the blog's own footer (other posts in the category) follows the source links
            original.append(_clean_url(line))
        i += 1

    if not papers:
        raise ParseError("weekly digest has no papers")
    for p in papers:
        for key, heading in (("summary", H_SUMMARY), ("abstract", H_ABSTRACT), ("link", H_LINK)):
            if not p[key]:
                raise ParseError(f"truncated: paper {p['title'][:60]!r} has no {heading} section")
        doc.papers.append(_digest_paper(p))
    if not original:
        raise ParseError(f"truncated: no {H_ORIGINAL} (source links) section after the last paper")
    week = next((m for url in original if (m := _WEEK_IN_URL.search(url))), None)
    if week is None:
        raise ParseError(f"cannot tell the week: no source link under {H_ORIGINAL} has a date range like 2024-01-29-02-04")
    y, m1, d1, m2, d2 = (int(g) for g in week.groups())
    start = dt.date(y, m1, d1)
    end = dt.date(y + (1 if m2 < m1 else 0), m2, d2)
    doc.issue = IssueRecord(week_start=start, week_end=end, editorials={"ko": "\n".join(overview)}, source_urls=original)
    return doc


def _digest_paper(p: dict) -> PaperRecord:
    ko_title, en_title = split_title(p["title"])
    ko_summary, en_summary = split_ko_en("\n".join(p["summary"]))
    ko_abstract, en_abstract = split_ko_en("\n".join(p["abstract"]))
    ids = parse_arxiv_id(p["link"][0])
    record = PaperRecord(title=en_title)
    if ids:
        record.arxiv_id, record.arxiv_version = ids
    record.texts = {
        (lang, kind): body
        for (lang, kind), body in {
            ("ko", "title"): ko_title, ("en", "title"): en_title,
            ("ko", "summary"): ko_summary, ("en", "summary"): en_summary,
            ("ko", "abstract"): ko_abstract, ("en", "abstract"): en_abstract,
        }.items()
        if body
    }
    record.links = [("paper", url) for url in p["link"]] + [(link_kind(url), url) for url in p["more"]]
    return record


# --- paper notes ----------------------------------------------------------------------


def parse_paper_notes(text: str) -> ParsedDocument:
    lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
    y, m, d = (int(g) for g in _KO_DATE.match(lines[0]).groups())
    date = dt.date(y, m, d)
    doc = ParsedDocument(format="paper_notes", lang="ko")
    i = 1
    while i < len(lines):
        title = lines[i]
        if i + 2 >= len(lines):
            raise ParseError(f"truncated: note on {title[:60]!r} ends before its abstract")
        authors_line = lines[i + 1]
        if not (authors_line.startswith("(") and authors_line.endswith(")")):
            raise ParseError(f"note on {title[:60]!r}: expected '(authors)' on the next line, got {authors_line[:60]!r}")
        abstract = lines[i + 2]
        j = i + 3
        comment: list[str] = []
        while j < len(lines) and not _HASHTAG_LINE.match(lines[j]):
            comment.append(lines[j])
            j += 1
        if j >= len(lines):
            raise ParseError(f"truncated: note on {title[:60]!r} has no #hashtag line")
        record = PaperRecord(
            title=title,
            authors=[a.strip() for a in authors_line[1:-1].split(",") if a.strip()],
            texts={("en", "title"): title, ("en", "abstract"): abstract},
            tags=[t.lstrip("#") for t in lines[j].split()],
        )
        # URLs in the abstract (released code) and in the commentary (further reading) become links.
        record.links = [(link_kind(u), u) for u in map(_clean_url, _URL.findall(abstract + "\n" + "\n".join(comment)))]
        if comment:
            record.commentaries.append(
                CommentaryRecord(lang="ko", author="블로그 노트", body="\n".join(comment), key=f"note-{len(doc.papers)}", date=date)
            )
        doc.papers.append(record)
        i = j + 1
    if not doc.papers:
        raise ParseError("truncated: a date line and no notes")
    return doc


# --- essay ----------------------------------------------------------------------------


def parse_essay(text: str) -> ParsedDocument:
    kept = [
        ln.strip() for ln in text.splitlines()
        if ln.strip() and not any(p.search(ln.strip()) for p in _ESSAY_BOILERPLATE)
    ]
    if not kept:
        raise ParseError("essay has no text once page boilerplate is removed")
    body = "\n".join(kept)
    doc = ParsedDocument(format="essay", lang="zh")
    # The page names no author; "53AI" is the site it was published on.
    doc.commentaries.append(CommentaryRecord(lang="zh", author="53AI", body=body, key="essay"))
    return doc


# --- import ---------------------------------------------------------------------------


@dataclass
class ImportReport:
    path: Path
    format: str = ""
    created: int = 0
    updated: int = 0
    unchanged: bool = False
    error: str = ""

    def line(self) -> str:
        if self.error:
            return f"{self.path.name}: error: {self.error}"
        if self.unchanged:
            return f"{self.path.name}: unchanged ({self.format})"
        return f"{self.path.name}: {self.format}, {self.created} new, {self.updated} updated"


def import_file(path: Path) -> ImportReport:
    """Parse and store one file in one transaction; a bad file gets report.error and writes nothing."""
    from papers.ingest import upsert

    report = ImportReport(path=path)
    try:
        text = read_text(path)
        doc = parse(text)
    except (ParseError, OSError) as e:
        report.error = str(e)
        return report
    report.format = doc.format
    content_hash = hashlib.sha256(text.encode()).hexdigest()
    with transaction.atomic():
        result = upsert.store_document(name=path.name, content=text, content_hash=content_hash, doc=doc)
    report.created, report.updated, report.unchanged = result.created, result.updated, result.unchanged
    if result.error:
        report.error = result.error
    return report


def collect_paths(paths: list[Path]) -> list[Path]:
    files: list[Path] = []
    for path in paths:
        if path.is_dir():
            files.extend(sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith(".")))
        else:
            files.append(path)
    return files


def import_paths(paths: list[Path]) -> list[ImportReport]:
    """Import files and folders; essays go last so they can link the papers they discuss."""
    files = collect_paths(paths)
    reports = []
    for path in sorted(files, key=lambda p: (_looks_like_essay(p), p.name)):
        if not path.exists():
            reports.append(ImportReport(path=path, error="no such file"))
            continue
        reports.append(import_file(path))
    return reports


def _looks_like_essay(path: Path) -> bool:
    try:
        return detect_format(read_text(path)) == "essay"
    except (ParseError, OSError):
        return False
