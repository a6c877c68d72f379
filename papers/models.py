"""The knowledge base: papers, their authors, tags, texts in several languages, commentary,
links, the documents they were imported from, and the weekly issues that collect them."""

from __future__ import annotations

import datetime as dt

from django.contrib.postgres.fields import ArrayField
from django.contrib.postgres.indexes import GinIndex
from django.db import models
from django.db.models import Case, Q, Value, When
from django.db.models.functions import Cast, Coalesce, Right, Substr
from django.urls import reverse
from django.utils.translation import gettext_lazy as _
from pgvector.django import HnswIndex, VectorField

from papers.languages import Lang


class Origin(models.TextChoices):
    SOURCE = "source", _("source document")
    EDITOR = "editor", _("editor")
    MACHINE = "machine", _("machine")


class Author(models.Model):
    """A name as it appears on papers. Imports match authors by `key` (papers.authors.author_key:
    case, accents, dots and hyphens do not count); two people with one name share an author
    until an editor splits them, and imports then pick between them by shared coauthors."""

    name = models.CharField(_("name"), max_length=200)
    key = models.CharField(_("matching key"), max_length=200, db_index=True, editable=False)
    slug = models.SlugField(_("slug"), max_length=220, unique=True, allow_unicode=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("author")
        verbose_name_plural = _("authors")

    def __str__(self) -> str:
        return self.name

    def get_absolute_url(self) -> str:
        return reverse("papers:author", kwargs={"slug": self.slug})


class Tag(models.Model):
    slug = models.SlugField(_("slug"), max_length=80, unique=True, allow_unicode=True)
    name = models.CharField(_("name"), max_length=80)

    class Meta:
        ordering = ["slug"]
        verbose_name = _("tag")
        verbose_name_plural = _("tags")

    def __str__(self) -> str:
        return self.name


class SourceDocument(models.Model):
    """A file the knowledge base was imported from, kept whole so a re-parse needs no disk."""

    class Format(models.TextChoices):
        WEEKLY_DIGEST = "weekly_digest", _("weekly digest (Korean translation)")
        PAPER_NOTES = "paper_notes", _("paper notes (blog)")
        ESSAY = "essay", _("essay")
        ARXIV = "arxiv", _("arXiv API")

    name = models.CharField(_("name"), max_length=255, unique=True)
    content_hash = models.CharField(_("SHA-256"), max_length=64, unique=True)
    format = models.CharField(_("format"), max_length=32, choices=Format.choices)
    lang = models.CharField(_("language"), max_length=8, choices=Lang.choices)
    content = models.TextField(_("content"))
    imported_at = models.DateTimeField(_("imported at"), auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = _("source document")
        verbose_name_plural = _("source documents")

    def __str__(self) -> str:
        return self.name


def month_of_arxiv_id():
    """The first day of the month an arXiv id was issued in: 2402.00838 is February 2024,
    hep-th/9901001 January 1999 (two-digit years from 91 are 19xx). NULL for other ids.
    A database expression so the listing can sort and filter by it and the page can show it."""
    new_style = r"^[0-9]{2}(0[1-9]|1[0-2])\.[0-9]{4,5}$"
    old_style = r"/[0-9]{2}(0[1-9]|1[0-2])[0-9]{3}$"
    old_digits = Right("arxiv_id", 7)
    old_yy = Cast(Substr(old_digits, 1, 2), models.IntegerField())

    def make_date(year, month):
        return models.Func(year, month, Value(1), function="make_date", output_field=models.DateField())

    return Case(
        When(arxiv_id__regex=new_style,
             then=make_date(Cast(Substr("arxiv_id", 1, 2), models.IntegerField()) + 2000,
                            Cast(Substr("arxiv_id", 3, 2), models.IntegerField()))),
        When(arxiv_id__regex=old_style,
             then=make_date(Case(When(Q(arxiv_id__regex=r"/9[1-9]"), then=old_yy + 1900), default=old_yy + 2000),
                            Cast(Substr(old_digits, 3, 2), models.IntegerField()))),
        default=None,
        output_field=models.DateField(),
    )


# Undated papers sort after every dated one instead of being NULLs the keyset has to skip.
UNDATED = dt.date(1, 1, 1)


class Paper(models.Model):
    class Came(models.TextChoices):
        SEED = "seed", _("seed document")
        ARXIV = "arxiv", _("arXiv")
        EDITOR = "editor", _("editor")

    arxiv_id = models.CharField(
        _("arXiv id"), max_length=32, blank=True, default="",
        help_text=_("Without version, e.g. 2402.00838; empty until known."),
    )
    arxiv_version = models.PositiveSmallIntegerField(_("arXiv version"), null=True, blank=True)
    title = models.CharField(
        _("original title"), max_length=500,
        help_text=_("The title in the paper's own language; translations are paper texts."),
    )
    published = models.DateField(_("published"), null=True, blank=True)
    updated = models.DateField(_("updated"), null=True, blank=True)
    id_month = models.GeneratedField(
        expression=month_of_arxiv_id(), output_field=models.DateField(), db_persist=True,
        verbose_name=_("month of the arXiv id"),
    )
    # What the listing sorts and filters by: the arXiv published date, else the id's month.
    dated = models.GeneratedField(
        expression=Coalesce("published", month_of_arxiv_id(), Value(UNDATED)),
        output_field=models.DateField(), db_persist=True, verbose_name=_("date"),
    )
    categories = ArrayField(
        models.CharField(max_length=32), verbose_name=_("arXiv categories"), default=list, blank=True,
        help_text=_("The primary category first, as the arXiv feed lists them."),
    )
    came_from = models.CharField(
        _("came from"), max_length=16, choices=Came.choices, default=Came.EDITOR,
        help_text=_("Where the paper first entered the knowledge base."),
    )
    authors = models.ManyToManyField(Author, through="PaperAuthor", related_name="papers", verbose_name=_("authors"))
    tags = models.ManyToManyField(Tag, blank=True, related_name="papers", verbose_name=_("tags"))
    sources = models.ManyToManyField(SourceDocument, blank=True, related_name="papers", verbose_name=_("sources"))
    created_at = models.DateTimeField(auto_now_add=True)
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-published", "-id"]
        verbose_name = _("paper")
        verbose_name_plural = _("papers")
        # papers.roles: re-running enrichment spends the LLM budget.
        permissions = [("run_enrichment", _("Can re-run enrichment (spends the LLM budget)"))]
        constraints = [
            # The ingest upsert keys papers on their arXiv id once they have one.
            models.UniqueConstraint(fields=["arxiv_id"], condition=~Q(arxiv_id=""), name="paper_unique_arxiv_id"),
        ]
        indexes = [
            models.Index(fields=["title"], name="paper_title_idx"),  # seed upsert matches id-less papers by title
            # papers.listing: the default sort, newest first, and its keyset pages.
            models.Index(fields=["-dated", "-id"], name="paper_dated_idx"),
            GinIndex(fields=["categories"], name="paper_categories_gin"),  # papers.listing's category filter
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def arxiv_url(self) -> str:
        if not self.arxiv_id:
            return ""
        version = f"v{self.arxiv_version}" if self.arxiv_version else ""
        return f"https://arxiv.org/abs/{self.arxiv_id}{version}"

    def get_absolute_url(self) -> str:
        return reverse("papers:detail", kwargs={"pk": self.pk})


class PaperAuthor(models.Model):
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="authorships")
    author = models.ForeignKey(Author, on_delete=models.CASCADE, related_name="authorships")
    position = models.PositiveSmallIntegerField()

    class Meta:
        ordering = ["paper", "position"]
        constraints = [
            models.UniqueConstraint(fields=["paper", "position"], name="paperauthor_one_per_position"),
            models.UniqueConstraint(fields=["paper", "author"], name="paperauthor_once_per_paper"),
        ]

    def __str__(self) -> str:
        return f"{self.paper} #{self.position}: {self.author}"


class PaperVersion(models.Model):
    """The history of a paper's arXiv versions (the arXiv fetcher appends, never rewrites)."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveSmallIntegerField()
    updated = models.DateField(null=True, blank=True)
    title = models.CharField(max_length=500, blank=True)
    abstract = models.TextField(blank=True)
    seen_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["paper", "version"]
        constraints = [models.UniqueConstraint(fields=["paper", "version"], name="paperversion_unique")]

    def __str__(self) -> str:
        return f"{self.paper.arxiv_id}v{self.version}"


class PaperText(models.Model):
    class Kind(models.TextChoices):
        TITLE = "title", _("title")
        SUMMARY = "summary", _("summary")
        ABSTRACT = "abstract", _("abstract")

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="texts")
    lang = models.CharField(_("language"), max_length=8, choices=Lang.choices)
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    body = models.TextField(_("text"))
    origin = models.CharField(_("origin"), max_length=16, choices=Origin.choices, default=Origin.SOURCE)
    source = models.ForeignKey(SourceDocument, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    model = models.CharField(_("model"), max_length=120, blank=True, help_text=_("The LLM that wrote a machine text."))
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["paper", "kind", "lang"]
        verbose_name = _("paper text")
        verbose_name_plural = _("paper texts")
        # Re-importing or re-enriching must update the text, never add a second one.
        constraints = [models.UniqueConstraint(fields=["paper", "lang", "kind"], name="papertext_one_per_lang_kind")]

    def __str__(self) -> str:
        return f"{self.paper} [{self.lang} {self.kind}]"

    @property
    def is_machine(self) -> bool:
        return self.origin == Origin.MACHINE


class Link(models.Model):
    class Kind(models.TextChoices):
        PAPER = "paper", _("paper")
        CODE = "code", _("code")
        PROJECT = "project", _("project")
        DISCUSSION = "discussion", _("discussion")
        FURTHER_READING = "further_reading", _("further reading")

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="links")
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    url = models.URLField(_("URL"), max_length=500)
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        ordering = ["paper", "position"]
        constraints = [models.UniqueConstraint(fields=["paper", "url"], name="link_unique_per_paper")]

    def __str__(self) -> str:
        return self.url


class Commentary(models.Model):
    """An opinion on one or more papers: a blog note's remarks, an essay, an editor's note."""

    papers = models.ManyToManyField(Paper, related_name="commentaries", blank=True, verbose_name=_("papers"))
    lang = models.CharField(_("language"), max_length=8, choices=Lang.choices)
    author = models.CharField(_("author or source"), max_length=200)
    body = models.TextField(_("text"))
    date = models.DateField(_("date"), null=True, blank=True)
    origin = models.CharField(_("origin"), max_length=16, choices=Origin.choices, default=Origin.SOURCE)
    source = models.ForeignKey(SourceDocument, null=True, blank=True, on_delete=models.CASCADE, related_name="commentaries")
    key = models.CharField(max_length=64, blank=True, help_text=_("Its place in the source document (for re-import)."))
    modified_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-date", "id"]
        verbose_name = _("commentary")
        verbose_name_plural = _("commentaries")
        constraints = [
            # A re-import of a source updates its commentary in place.
            models.UniqueConstraint(fields=["source", "key"], condition=Q(source__isnull=False), name="commentary_unique_in_source"),
        ]

    def __str__(self) -> str:
        return f"{self.author} ({self.lang}, {self.date or '-'})"


class EnrichmentStep(models.Model):
    """The state of one pipeline step for one paper (and language), shown on the paper page."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        SKIPPED = "skipped", _("skipped")
        FAILED = "failed", _("failed")

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="enrichment_steps")
    step = models.CharField(max_length=32)  # summarize | translate | tag | embed
    lang = models.CharField(max_length=8, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["paper", "step", "lang"]
        constraints = [models.UniqueConstraint(fields=["paper", "step", "lang"], name="enrichmentstep_unique")]

    def __str__(self) -> str:
        return f"{self.paper} {self.step} {self.lang}: {self.status}"


class LLMCall(models.Model):
    """Every call through papers.llm: tokens, latency and cost, for the admin's totals."""

    task_kind = models.CharField(max_length=32)  # summarize | translate | tag | entities | ...
    model = models.CharField(max_length=120)
    prompt_hash = models.CharField(max_length=64, db_index=True)  # the response cache key, with model
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    cached_tokens = models.PositiveIntegerField(default=0)
    latency_ms = models.PositiveIntegerField(default=0)
    cost_usd = models.DecimalField(max_digits=12, decimal_places=6, default=0)
    ok = models.BooleanField(default=True)
    error = models.TextField(blank=True)
    response = models.TextField(blank=True)
    cache_hit = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("LLM call")
        verbose_name_plural = _("LLM calls")

    def __str__(self) -> str:
        return f"{self.task_kind} {self.model} {self.created_at:%Y-%m-%d %H:%M}"


class Embedding(models.Model):
    """One vector for one searchable text of a paper. The model and dimension are stored so a
    model change re-embeds instead of mixing spaces."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="embeddings")
    text = models.ForeignKey(PaperText, null=True, blank=True, on_delete=models.CASCADE, related_name="embeddings")
    commentary = models.ForeignKey(Commentary, null=True, blank=True, on_delete=models.CASCADE, related_name="embeddings")
    lang = models.CharField(max_length=8, choices=Lang.choices)
    kind = models.CharField(max_length=16)  # title | summary | abstract | commentary
    model = models.CharField(max_length=120)
    dim = models.PositiveSmallIntegerField()
    content_hash = models.CharField(max_length=64)  # re-embed only when the text changed
    vector = VectorField(dimensions=384)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["text", "model"], condition=Q(text__isnull=False), name="embedding_one_per_text_model"),
            models.UniqueConstraint(
                fields=["commentary", "paper", "model"], condition=Q(commentary__isnull=False), name="embedding_one_per_commentary_model"
            ),
        ]
        indexes = [
            # papers.search: nearest neighbours by cosine distance.
            HnswIndex(name="embedding_vector_hnsw", fields=["vector"], m=16, ef_construction=64, opclasses=["vector_cosine_ops"]),
            # papers.search.lists.nearest_papers walks each text language on its own: a rare
            # language's few rows are read by this index and sorted, where an HNSW walk
            # filtered to them would visit most of the graph (46 ms at 60,000 rows, now 1 ms).
            models.Index(name="embedding_lang_model", fields=["lang", "model"]),
        ]

    def __str__(self) -> str:
        return f"{self.paper} [{self.lang} {self.kind}] {self.model}"


# --- Weekly issues: a dated, curated collection of papers with editorials ---------------
# The seed documents are weekly issues, and papers are browsed, searched and dated by the
# issue they appear in, so issues live here; digest/ builds, publishes and mails them.


class Issue(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        PUBLISHED = "published", _("published")

    week_start = models.DateField(_("week starts"), unique=True)  # a Monday
    week_end = models.DateField(_("week ends"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    source = models.ForeignKey(SourceDocument, null=True, blank=True, on_delete=models.SET_NULL, related_name="issues")
    source_urls = models.JSONField(_("original URLs"), default=list, blank=True)
    papers = models.ManyToManyField(Paper, through="IssueEntry", related_name="issues")
    # What readers and subscribers get, fixed at publication (digest.issues.publish_issue) so
    # later enrichment runs never change a published issue; null for drafts.
    frozen_content = models.JSONField(_("content as published"), null=True, blank=True, editable=False)

    class Meta:
        ordering = ["-week_start"]
        verbose_name = _("issue")
        verbose_name_plural = _("issues")
        # Home and archive list published issues newest first.
        indexes = [models.Index(fields=["status", "-week_start"], name="issue_status_week_idx")]

    def __str__(self) -> str:
        return f"{self.week_start:%Y-%m-%d} – {self.week_end:%Y-%m-%d}"

    def get_absolute_url(self) -> str:
        return reverse("papers:issue", kwargs={"week": self.week_start.isoformat()})


class IssueEditorial(models.Model):
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="editorials")
    lang = models.CharField(_("language"), max_length=8, choices=Lang.choices)
    body = models.TextField(_("editorial"))
    origin = models.CharField(_("origin"), max_length=16, choices=Origin.choices, default=Origin.SOURCE)

    class Meta:
        ordering = ["issue", "lang"]
        constraints = [models.UniqueConstraint(fields=["issue", "lang"], name="issueeditorial_one_per_lang")]

    def __str__(self) -> str:
        return f"{self.issue} [{self.lang}]"


class IssueEntry(models.Model):
    issue = models.ForeignKey(Issue, on_delete=models.CASCADE, related_name="entries")
    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="issue_entries")
    position = models.PositiveSmallIntegerField(_("position"))

    class Meta:
        ordering = ["issue", "position"]
        verbose_name = _("entry")
        verbose_name_plural = _("entries")
        constraints = [models.UniqueConstraint(fields=["issue", "paper"], name="issueentry_paper_once")]

    def __str__(self) -> str:
        return f"{self.issue} #{self.position}: {self.paper}"


# --- Asking the knowledge base: passages to cite, and the answers written from them -------


class Passage(models.Model):
    """A few sentences of one text or commentary of a paper: what an answer cites and links
    to. Rewritten (papers.ask.passages) whenever the text it was cut from changes."""

    paper = models.ForeignKey(Paper, on_delete=models.CASCADE, related_name="passages")
    text = models.ForeignKey(PaperText, null=True, blank=True, on_delete=models.CASCADE, related_name="passages")
    commentary = models.ForeignKey(Commentary, null=True, blank=True, on_delete=models.CASCADE, related_name="passages")
    lang = models.CharField(max_length=8, choices=Lang.choices)
    kind = models.CharField(max_length=16)  # summary | abstract | commentary
    position = models.PositiveSmallIntegerField()  # order within its text
    body = models.TextField()
    source_hash = models.CharField(max_length=64)  # of the whole text it was cut from: a change re-splits it
    model = models.CharField(max_length=120, blank=True)  # the embeddings model of vector; "" until embedded
    vector = VectorField(dimensions=384, null=True, blank=True)

    class Meta:
        ordering = ["paper", "kind", "lang", "position"]
        constraints = [
            models.UniqueConstraint(fields=["text", "position"], condition=Q(text__isnull=False), name="passage_one_per_text_position"),
            models.UniqueConstraint(
                fields=["commentary", "paper", "position"], condition=Q(commentary__isnull=False),
                name="passage_one_per_commentary_position",
            ),
        ]
        indexes = [
            # papers.search.passages: nearest passages by cosine distance.
            HnswIndex(name="passage_vector_hnsw", fields=["vector"], m=16, ef_construction=64, opclasses=["vector_cosine_ops"]),
        ]

    def __str__(self) -> str:
        return f"{self.paper} [{self.lang} {self.kind} #{self.position}]"


class Answer(models.Model):
    """One question and the answer written for it, filled in by the worker while the reader's
    page polls it. Only a finished answer is ever COMPLETE; a failed or cut-off one is FAILED."""

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting for a worker")
        STREAMING = "streaming", _("being written")
        COMPLETE = "complete", _("complete")
        FAILED = "failed", _("failed")

    class Mode(models.TextChoices):
        LLM = "llm", _("written by the LLM")
        EXTRACTIVE = "extractive", _("extractive (no LLM)")

    uid = models.UUIDField(unique=True)  # the public id in URLs: answers are not enumerable
    question = models.TextField()
    question_hash = models.CharField(max_length=64, db_index=True)  # with lang and mode: the answer cache key
    lang = models.CharField(max_length=8, choices=Lang.choices)  # the language the answer is written in
    mode = models.CharField(max_length=16, choices=Mode.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    found = models.BooleanField(default=True)  # False: "not in the knowledge base"
    # [{"text", "citations": [n], "dropped": [n], "supported"}]; while STREAMING, the sentences written so far
    sentences = models.JSONField(default=list, blank=True)
    sources = models.JSONField(default=list, blank=True)  # the retrieved passages, numbered from 1
    error = models.TextField(blank=True)
    first_output_ms = models.PositiveIntegerField(null=True, blank=True)  # until the reader saw the sources
    first_token_ms = models.PositiveIntegerField(null=True, blank=True)  # until the LLM's first words arrived
    total_ms = models.PositiveIntegerField(null=True, blank=True)  # until complete or failed
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("answer")
        verbose_name_plural = _("answers")

    def __str__(self) -> str:
        return f"{self.question[:60]} ({self.lang}, {self.status})"

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.COMPLETE, self.Status.FAILED)
