"""The one writer of parsed records: idempotent upserts keyed by the models' constraints.

Every parser (seed files, arXiv) hands dataclasses from ingest.records to these functions.
Run twice with the same input they change nothing; a changed input updates rows in place.
Texts written by an editor are never overwritten by an import.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify

from papers.authors import author_for, author_key
from papers.ingest.records import CommentaryRecord, IssueRecord, PaperRecord, ParsedDocument
from papers.models import (
    Author, Commentary, Issue, IssueEditorial, IssueEntry, Link, Origin, Paper, PaperAuthor, PaperText, SourceDocument, Tag,
)


@dataclass
class StoreResult:
    created: int = 0
    updated: int = 0
    unchanged: bool = False
    error: str = ""


def store_document(*, name: str, content: str, content_hash: str, doc: ParsedDocument) -> StoreResult:
    """Store a parsed source document and everything in it. Call inside a transaction."""
    same_content = SourceDocument.objects.filter(content_hash=content_hash).exclude(name=name).first()
    if same_content:
        return StoreResult(error=f"same content as {same_content.name}, which is already imported")
    source, created = SourceDocument.objects.get_or_create(
        name=name, defaults={"content_hash": content_hash, "format": doc.format, "lang": doc.lang, "content": content}
    )
    result = StoreResult(unchanged=not created and source.content_hash == content_hash)
    if not created and not result.unchanged:
        source.content_hash, source.content, source.format, source.lang = content_hash, content, doc.format, doc.lang
        source.save()

    papers = []
    for record in doc.papers:
        paper, was_created, changed = upsert_paper(record, source=source)
        papers.append(paper)
        result.created += was_created
        result.updated += changed and not was_created
    keep_keys = [c.key for r in doc.papers for c in r.commentaries] + [c.key for c in doc.commentaries]
    for record in doc.commentaries:
        if _upsert_commentary(record, source=source, papers=_mentioned_papers(record)):
            result.unchanged = False
    # A commentary that left the changed file goes with it, unless an editor has made it theirs.
    Commentary.objects.filter(source=source).exclude(key__in=keep_keys).exclude(origin=Origin.EDITOR).delete()

    if doc.issue is not None:
        upsert_issue(doc.issue, papers=papers, source=source)
    if result.created or result.updated:
        result.unchanged = False
    return result


def upsert_issue(record: IssueRecord, *, papers: list, source) -> Issue:
    """Create or update the issue of record.week_start: entries in the document's order, and
    its editorials (an editor's editorial is kept). An imported weekly issue was already published."""
    published_at = timezone.make_aware(dt.datetime.combine(record.week_end, dt.time(12)))
    issue, created = Issue.objects.get_or_create(
        week_start=record.week_start,
        defaults={"week_end": record.week_end, "status": Issue.Status.PUBLISHED, "published_at": published_at,
                  "source": source, "source_urls": record.source_urls},
    )
    if not created:
        issue.week_end, issue.source, issue.source_urls = record.week_end, source, record.source_urls
        issue.save(update_fields=["week_end", "source", "source_urls"])
    for lang, body in record.editorials.items():
        editorial = IssueEditorial.objects.filter(issue=issue, lang=lang).first()
        if editorial is None:
            IssueEditorial.objects.create(issue=issue, lang=lang, body=body, origin=Origin.SOURCE)
        elif editorial.origin != Origin.EDITOR and editorial.body != body:
            editorial.body = body
            editorial.save(update_fields=["body"])
    wanted = [p.pk for p in papers]
    current = list(issue.entries.order_by("position").values_list("paper_id", flat=True))
    if current != wanted:
        issue.entries.all().delete()
        IssueEntry.objects.bulk_create(IssueEntry(issue=issue, paper_id=pk, position=i) for i, pk in enumerate(wanted))
    return issue


def find_paper(record: PaperRecord) -> Paper | None:
    """The paper a record describes: by arXiv id, else by title (papers noted before their id is known)."""
    if record.arxiv_id:
        paper = Paper.objects.filter(arxiv_id=record.arxiv_id).first()
        if paper:
            return paper
    return Paper.objects.filter(title__iexact=record.title.strip()).filter(
        Q(arxiv_id="") | Q(arxiv_id=record.arxiv_id)
    ).first()


def upsert_paper(
    record: PaperRecord, *, source: SourceDocument | None = None, origin: str = Origin.SOURCE,
    came_from: str = Paper.Came.SEED,
) -> tuple[Paper, bool, bool]:
    """Create or update one paper with its authors, texts, links, tags and commentary.
    came_from says where a new paper entered the knowledge base (kept on updates).

    Returns (paper, created, changed)."""
    paper = find_paper(record)
    created = paper is None
    if created:
        paper = Paper(title=record.title.strip(), came_from=came_from)
    changed = _assign(
        paper,
        title=record.title.strip() or paper.title,
        arxiv_id=record.arxiv_id or paper.arxiv_id,
        arxiv_version=record.arxiv_version or paper.arxiv_version,
        published=record.published or paper.published,
        updated=record.updated or paper.updated,
        categories=record.categories or paper.categories,
    )
    if created or changed:
        paper.save()
    if source is not None:
        paper.sources.add(source)

    if record.authors:
        changed |= _set_authors(paper, record.authors)
    for (lang, kind), body in record.texts.items():
        changed |= upsert_text(paper, lang=lang, kind=kind, body=body, origin=origin, source=source)
    for position, (kind, url) in enumerate(record.links):
        _, link_created = Link.objects.get_or_create(paper=paper, url=url, defaults={"kind": kind, "position": position})
        changed |= link_created
    if record.tags:
        tags = [_tag(name) for name in record.tags]
        before = set(paper.tags.values_list("pk", flat=True))
        paper.tags.add(*tags)
        changed |= bool({t.pk for t in tags} - before)
    for commentary in record.commentaries:
        changed |= _upsert_commentary(commentary, source=source, papers=[paper])
    return paper, created, changed


def upsert_text(paper: Paper, *, lang: str, kind: str, body: str, origin: str, source=None, model: str = "") -> bool:
    """Write one (paper, lang, kind) text; an editor's text wins over imports and machines,
    and a machine never overwrites a human text. Returns whether anything changed.

    The row is locked while it is checked and written, so an editor's save that lands in
    between is seen (and kept) rather than overwritten by a decision made before it."""
    body = body.strip()
    with transaction.atomic():
        text = PaperText.objects.select_for_update().filter(paper=paper, lang=lang, kind=kind).first()
        if text is None:
            try:
                with transaction.atomic():  # a savepoint: two writers may both find no row
                    PaperText.objects.create(paper=paper, lang=lang, kind=kind, body=body, origin=origin, source=source, model=model)
                return True
            except IntegrityError:  # papertext_one_per_lang_kind: the other writer created it first
                text = PaperText.objects.select_for_update().get(paper=paper, lang=lang, kind=kind)
        if text.origin == Origin.EDITOR and origin != Origin.EDITOR:
            return False
        if origin == Origin.MACHINE and text.origin != Origin.MACHINE:
            return False
        if (text.body, text.origin, text.source_id, text.model) == (body, origin, getattr(source, "pk", None), model):
            return False
        text.body, text.origin, text.source, text.model = body, origin, source, model
        text.save()
        return True


def _assign(obj, **values) -> bool:
    changed = False
    for field, value in values.items():
        if getattr(obj, field) != value:
            setattr(obj, field, value)
            changed = True
    return changed


def _set_authors(paper: Paper, names: list[str]) -> bool:
    current = list(paper.authorships.order_by("position").values_list("author__key", flat=True))
    if current == [author_key(name) for name in names]:
        return False
    before = list(paper.authorships.values_list("author_id", flat=True))
    paper.authorships.all().delete()
    seen = set()
    for name in names:
        author = author_for(name, coauthors=names)
        if author.pk in seen:  # a name listed twice on one paper
            continue
        seen.add(author.pk)
        PaperAuthor.objects.create(paper=paper, author=author, position=len(seen) - 1)
    # A name the paper no longer lists, on no other paper, would be an author page of nothing.
    Author.objects.filter(pk__in=before, authorships__isnull=True).delete()
    return True


def _tag(name: str) -> Tag:
    slug = slugify(name, allow_unicode=True) or name
    tag, _ = Tag.objects.get_or_create(slug=slug, defaults={"name": name})
    return tag


def _upsert_commentary(record: CommentaryRecord, *, source, papers: list[Paper]) -> bool:
    values = {"lang": record.lang, "author": record.author, "body": record.body, "date": record.date}
    if source is None:
        commentary = Commentary.objects.create(origin=Origin.SOURCE, **values)
        changed = True
    else:
        commentary, changed = Commentary.objects.get_or_create(source=source, key=record.key, defaults=values)
        if not changed and commentary.origin != Origin.EDITOR and _assign(commentary, **values):
            commentary.save()
            changed = True
    before = set(commentary.papers.values_list("pk", flat=True))
    commentary.papers.add(*papers)
    return changed or bool({p.pk for p in papers} - before)


def _mentioned_papers(record: CommentaryRecord) -> list[Paper]:
    """Papers of the knowledge base an essay discusses: their full title, or the short name
    before the colon (SliceGPT, OLMo), appears in it as a whole word."""
    text = record.body.casefold()
    found = []
    for paper in Paper.objects.only("pk", "title"):
        names = {paper.title}
        short = paper.title.split(":")[0].strip()
        if len(short) >= 4 and short != paper.title:
            names.add(short)
        # Latin-letter boundaries: in Chinese text a title runs straight into Han characters.
        if any(re.search(rf"(?<![a-z0-9]){re.escape(n.casefold())}(?![a-z0-9])", text) for n in names):
            found.append(paper)
    return found
