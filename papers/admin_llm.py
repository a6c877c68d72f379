"""Admin for the pipeline's records: LLM calls with totals per day and per task kind, the
state of each paper's enrichment steps, and the "re-run enrichment" action for papers.

papers/admin.py imports this module and adds the action and the inline to PaperAdmin.
"""

from django.contrib import admin
from django.db.models import Avg, Count, Q, Sum
from django.db.models.functions import TruncDate
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from papers.models import EnrichmentStep, LLMCall
from papers.tasks import enqueue_enrichment

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


class EnrichmentStepInline(admin.TabularInline):
    """The pipeline's state for a paper, step by step (PaperAdmin.inlines)."""

    model = EnrichmentStep
    extra = 0
    fields = ["step", "lang", "status", "error", "updated_at"]
    readonly_fields = fields
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.action(description=_("Re-run enrichment (summarize, translate, tag, embed)"))
def rerun_enrichment(modeladmin, request, queryset):
    """Queue the chain again; unchanged texts are answered from the LLM cache, so only
    failed or changed steps cost a call."""
    ids = list(queryset.values_list("pk", flat=True))
    enqueue_enrichment(ids)
    modeladmin.message_user(
        request, ngettext("%(count)d paper queued for enrichment.", "%(count)d papers queued for enrichment.", len(ids)) % {"count": len(ids)}
    )
