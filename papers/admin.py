"""Admin for the knowledge base: declared, not coded. Editors curate papers, texts, links and
commentary here; pipeline records (LLM calls, embeddings) are read-only. At the end: the
pipeline's records, LLM calls with totals per day and per task kind, the state of each
paper's enrichment steps and the "re-run enrichment" action."""

from django.contrib import admin
from django.db import models
from django.db.models import Avg, Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from papers.forms import EditedTextForm
from papers import issues
from papers.authors import author_key
from papers.models import (
    Answer,
    Author,
    Commentary,
    Embedding,
    EnrichmentStep,
    Link,
    LLMCall,
    Paper,
    PaperAuthor,
    PaperText,
    PaperVersion,
    Passage,
    SourceDocument,
    Tag,
)
from papers.tasks import enqueue_embedding, enqueue_enrichment


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by the pipeline: viewable, never edited by hand."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class PaperAuthorInline(admin.TabularInline):
    model = PaperAuthor
    extra = 0
    autocomplete_fields = ["author"]
    ordering = ["position"]


class PaperTextInline(admin.StackedInline):
    model = PaperText
    form = EditedTextForm
    extra = 0
    fields = [("lang", "kind", "origin", "model"), "body", "source"]
    raw_id_fields = ["source"]


class LinkInline(admin.TabularInline):
    model = Link
    extra = 0
    fields = ["position", "kind", "url"]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}  # a scheme-less link means https


class PaperVersionInline(admin.TabularInline):
    model = PaperVersion
    extra = 0
    fields = ["version", "updated", "title", "seen_at"]
    readonly_fields = ["seen_at"]


class CommentaryInline(admin.StackedInline):
    model = Commentary.papers.through
    extra = 0
    raw_id_fields = ["commentary"]
    verbose_name = _("commentary")
    verbose_name_plural = _("commentaries")


class EnrichmentStepInline(admin.TabularInline):
    """The pipeline's state for a paper, step by step (PaperAdmin.inlines)."""

    model = EnrichmentStep
    extra = 0
    fields = ["step", "lang", "status", "error", "updated_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.action(description=_("Re-run enrichment (summarize, translate, tag, embed)"), permissions=["run_enrichment"])
def rerun_enrichment(modeladmin, request, queryset):
    """Queue the enrichment again; unchanged texts are answered from the LLM cache, so only
    failed or changed steps cost a call."""
    ids = list(queryset.values_list("pk", flat=True))
    enqueue_enrichment(ids)
    modeladmin.message_user(
        request, ngettext("%(count)d paper queued for enrichment.", "%(count)d papers queued for enrichment.", len(ids)) % {"count": len(ids)}
    )


@admin.action(description=_("Add to the next draft issue"))
def add_to_next_draft(modeladmin, request, queryset):
    """Editors' path from new arrivals (home's "new since the last issue") to the next issue."""
    draft, added = issues.add_to_next_draft(list(queryset.order_by("-dated", "-pk").values_list("pk", flat=True)))
    modeladmin.message_user(request, ngettext(
        "%(count)d paper added to the draft issue of %(week)s.", "%(count)d papers added to the draft issue of %(week)s.", added,
    ) % {"count": added, "week": draft.week_start.isoformat()})


class InIssueFilter(admin.SimpleListFilter):
    title = _("in an issue")
    parameter_name = "in_issue"

    def lookups(self, request, model_admin):
        return [("yes", _("in an issue")), ("no", _("not in an issue yet"))]

    def queryset(self, request, queryset):
        if self.value() in ("yes", "no"):
            return queryset.filter(issue_entries__isnull=self.value() == "no").distinct()
        return queryset


@admin.register(Paper)
class PaperAdmin(admin.ModelAdmin):
    list_display = ["title", "arxiv_id", "arxiv_version", "published", "came_from", "created_at"]
    list_filter = [InIssueFilter, "came_from", "published", "tags", "texts__lang", "texts__origin"]
    search_fields = ["title", "arxiv_id", "authors__name", "texts__body"]
    date_hierarchy = "published"
    filter_horizontal = ["tags", "sources"]
    readonly_fields = ["created_at", "modified_at"]
    inlines = [PaperAuthorInline, PaperTextInline, LinkInline, CommentaryInline, PaperVersionInline, EnrichmentStepInline]
    actions = [rerun_enrichment, add_to_next_draft]

    def has_run_enrichment_permission(self, request) -> bool:
        return request.user.has_perm("papers.run_enrichment")

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        if any(f.has_changed() for f in formsets if f.model in (PaperText, Commentary)):
            enqueue_embedding([form.instance.pk])  # search vectors and cited passages follow the edit


@admin.register(Author)
class AuthorAdmin(admin.ModelAdmin):
    """Splitting two people who share a name: add a second author with the name and a slug
    of its own, and move the other person's papers to it (Paper authors)."""

    list_display = ["name", "slug", "key"]
    prepopulated_fields = {"slug": ["name"]}
    search_fields = ["name"]

    def save_model(self, request, obj, form, change):
        obj.key = author_key(obj.name)  # imports match authors by this key
        super().save_model(request, obj, form, change)


@admin.register(PaperAuthor)
class PaperAuthorAdmin(admin.ModelAdmin):
    list_display = ["paper", "position", "author"]
    list_select_related = ["paper", "author"]
    search_fields = ["paper__title", "author__name"]
    autocomplete_fields = ["paper", "author"]


@admin.register(Tag)
class TagAdmin(admin.ModelAdmin):
    list_display = ["slug", "name"]
    search_fields = ["slug", "name"]
    prepopulated_fields = {"slug": ["name"]}


@admin.register(SourceDocument)
class SourceDocumentAdmin(admin.ModelAdmin):
    list_display = ["name", "format", "lang", "imported_at", "short_hash"]
    list_filter = ["format", "lang"]
    search_fields = ["name", "content_hash"]
    readonly_fields = ["content_hash", "imported_at"]

    @admin.display(description=_("SHA-256"))
    def short_hash(self, obj):
        return obj.content_hash[:12]


@admin.register(PaperText)
class PaperTextAdmin(admin.ModelAdmin):
    form = EditedTextForm
    list_display = ["paper", "lang", "kind", "origin", "model", "excerpt", "modified_at"]
    list_filter = ["lang", "kind", "origin"]
    list_select_related = ["paper"]
    search_fields = ["body", "paper__title", "paper__arxiv_id"]
    raw_id_fields = ["paper", "source"]

    @admin.display(description=_("text"))
    def excerpt(self, obj):
        return Truncator(obj.body).chars(80)

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        if form.has_changed():
            enqueue_embedding([obj.paper_id])


@admin.register(Link)
class LinkAdmin(admin.ModelAdmin):
    list_display = ["url", "kind", "paper", "position"]
    list_filter = ["kind"]
    list_select_related = ["paper"]
    search_fields = ["url", "paper__title"]
    raw_id_fields = ["paper"]


@admin.register(Commentary)
class CommentaryAdmin(admin.ModelAdmin):
    form = EditedTextForm
    list_display = ["author", "lang", "date", "origin", "excerpt", "source"]
    list_filter = ["lang", "origin", "date"]
    list_select_related = ["source"]
    search_fields = ["author", "body", "papers__title"]
    autocomplete_fields = ["papers"]
    raw_id_fields = ["source"]

    @admin.display(description=_("text"))
    def excerpt(self, obj):
        return Truncator(obj.body).chars(80)

    def save_related(self, request, form, formsets, change):
        before = set(form.instance.papers.values_list("pk", flat=True)) if change else set()
        super().save_related(request, form, formsets, change)
        if form.has_changed():  # the papers it left lose its passages, the others get them again
            enqueue_embedding(before | set(form.instance.papers.values_list("pk", flat=True)))


@admin.register(PaperVersion)
class PaperVersionAdmin(admin.ModelAdmin):
    list_display = ["paper", "version", "updated", "seen_at"]
    list_select_related = ["paper"]
    search_fields = ["paper__title", "paper__arxiv_id", "title"]
    raw_id_fields = ["paper"]


@admin.register(EnrichmentStep)
class EnrichmentStepAdmin(admin.ModelAdmin):
    list_display = ["paper", "step", "lang", "status", "updated_at"]
    list_filter = ["status", "step", "lang"]
    list_select_related = ["paper"]
    search_fields = ["paper__title", "error"]
    raw_id_fields = ["paper"]


@admin.register(Embedding)
class EmbeddingAdmin(ReadOnlyAdmin):
    list_display = ["paper", "lang", "kind", "model", "dim", "created_at"]
    list_filter = ["lang", "kind", "model"]
    list_select_related = ["paper"]
    search_fields = ["paper__title"]
    exclude = ["vector"]  # 384 floats help nobody in a form


@admin.register(Passage)
class PassageAdmin(ReadOnlyAdmin):
    list_display = ["paper", "lang", "kind", "position", "model"]
    list_filter = ["lang", "kind", "model"]
    list_select_related = ["paper"]
    search_fields = ["paper__title", "body"]
    exclude = ["vector"]


@admin.register(Answer)
class AnswerAdmin(ReadOnlyAdmin):
    """The questions readers asked and what they got: for reviewing unanswered questions."""

    list_display = ["question", "lang", "mode", "status", "found", "first_output_ms", "total_ms", "created_at"]
    list_filter = ["status", "found", "lang", "mode"]
    search_fields = ["question"]
    date_hierarchy = "created_at"


# --- the pipeline's records: LLM calls, enrichment steps ---------------------------------

TOTALS = {
    "calls": Count("id"),
    "failed": Count("id", filter=Q(ok=False)),
    "cache_hits": Count("id", filter=Q(cache_hit=True)),
    "prompt_tokens": Sum("prompt_tokens"),
    "completion_tokens": Sum("completion_tokens"),
    "cost_usd": Sum("cost_usd"),
    "mean_latency_ms": Avg("latency_ms", filter=Q(cache_hit=False)),
}


def usage_totals(queryset, *, days: int = 31) -> dict:
    """Totals of LLM calls overall, per day (newest first) and per task kind."""
    return {
        "overall": queryset.aggregate(**TOTALS),
        "by_day": list(queryset.annotate(day=TruncDate("created_at")).values("day").annotate(**TOTALS).order_by("-day")[:days]),
        "by_kind": list(queryset.values("task_kind").annotate(**TOTALS).order_by("task_kind")),
    }


@admin.register(LLMCall)
class LLMCallAdmin(admin.ModelAdmin):
    list_display = ["created_at", "task_kind", "model", "ok", "cache_hit", "prompt_tokens", "completion_tokens",
                    "latency_ms", "cost_usd"]
    list_filter = ["task_kind", "ok", "cache_hit", "model", "created_at"]
    search_fields = ["prompt_hash", "error"]
    date_hierarchy = "created_at"
    readonly_fields = [f.name for f in LLMCall._meta.fields]

    def has_add_permission(self, request):
        return False  # written by papers.llm only

    def has_change_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        cl = getattr(response, "context_data", {}).get("cl")
        if cl is not None:  # the totals follow the filters and the search of the list
            response.context_data["totals"] = usage_totals(cl.queryset.order_by())
        return response
