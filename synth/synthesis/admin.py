"""Admin for synthesis: topics with their "synthesize" action, synthesis runs and what they
wrote. Actions only call synth.synthesis and enqueue."""

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Count
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from papers import llm
from papers.admin import ReadOnlyAdmin
from synth import synthesis
from synth.permissions import RUN_SYNTHESIS, RUN_TRAINING
from synth.models import CorpusDocument, SynthesisRun, SynthesisUnit, SyntheticDocument, Topic
from synth.synthesis import entigraph, pages
from synth.synthesis.forms import SynthesizeForm, TopicForm
from synth.synthesis.tasks import enqueue_synthesis
from synth.training.admin import train


@admin.register(Topic)
class TopicAdmin(admin.ModelAdmin):
    form = TopicForm
    list_display = ["name", "tag_list", "paper_count", "languages", "run_count", "page_link"]
    search_fields = ["name", "description"]
    filter_horizontal = ["tags", "papers"]
    actions = ["synthesize"]

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(_papers=Count("papers", distinct=True), _runs=Count("runs", distinct=True))

    @admin.display(description=_("tags"))
    def tag_list(self, topic):
        return ", ".join(t.name for t in topic.tags.all())

    @admin.display(description=_("hand-picked papers"), ordering="_papers")
    def paper_count(self, topic):
        return topic._papers

    @admin.display(description=_("runs"), ordering="_runs")
    def run_count(self, topic):
        return topic._runs

    @admin.display(description=_("page"))
    def page_link(self, topic):
        return format_html('<a href="{}">{}</a>', reverse("synth:topic", args=[topic.pk]), _("documents"))

    def has_run_synthesis_permission(self, request) -> bool:
        return request.user.has_perm(RUN_SYNTHESIS)

    @admin.action(description=_("Synthesize a corpus for the selected topics"), permissions=["run_synthesis"])
    def synthesize(self, request, queryset):
        # Asks for the strategy and budget on an intermediate page, then only enqueues.
        if "apply" in request.POST:
            form = SynthesizeForm(request.POST)
            if form.is_valid():
                try:
                    started = [synthesis.start_run(topic=topic, user=request.user, **form.cleaned_data)
                               for topic in queryset]
                except synthesis.RunError as e:
                    self.message_user(request, str(e), messages.ERROR)
                    return None
                for run in started:
                    enqueue_synthesis(run.pk)
                self.message_user(request, _("%(n)d synthesis run(s) queued.") % {"n": len(started)}, messages.SUCCESS)
                if len(started) == 1:
                    return redirect("synth:run", pk=started[0].pk)
                return redirect("admin:synth_synthesisrun_changelist")
        else:
            default = entigraph.ENTIGRAPH if llm.is_configured() else entigraph.EXTRACTIVE
            form = SynthesizeForm(initial={"strategy": default})
        return TemplateResponse(request, "admin/synth/topic/synthesize.html", {
            **self.admin_site.each_context(request),
            "title": _("Synthesize a corpus"),
            "opts": self.model._meta,
            "topics": queryset,
            "form": form,
            "llm_configured": llm.is_configured(),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        })


@admin.register(SynthesisRun)
class SynthesisRunAdmin(admin.ModelAdmin):
    list_display = ["id", "topic", "strategy", "status", "outcome", "synthetic_tokens", "calls", "cost_usd", "created_at",
                    "links"]
    list_filter = ["status", "stop_reason", "strategy"]
    search_fields = ["topic__name"]
    list_select_related = ["topic"]
    actions = ["cancel", "resume", train]
    fieldsets = [
        (None, {"fields": ["links", "topic", "strategy", "model", "prompt_version", "seed", "max_entities",
                           "triples_per_document", "status", "cancel_requested", "outcome", "stop_reason", "error",
                           "attempts"]}),
        (_("Budget"), {"fields": ["target_tokens", "max_calls", "max_cost_usd"],
                       "description": _("May be raised on a stopped run before it is resumed.")}),
        (_("Counts"), {"fields": ["source_documents", "source_tokens", "calls", "prompt_tokens", "completion_tokens",
                                  "cached_tokens", "cost_usd", "synthetic_documents", "synthetic_tokens", "dropped_empty",
                                  "dropped_refused", "dropped_truncated", "dropped_duplicate"]}),
        (_("Runner"), {"fields": ["runner_token", "heartbeat_at", "created_by", "created_at", "started_at", "finished_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        budget = {"target_tokens", "max_calls", "max_cost_usd"}
        return [f for _name, opts in self.fieldsets for f in opts["fields"] if f not in budget]

    def has_add_permission(self, request):
        return False  # runs start from the topics' "synthesize" action

    @admin.display(description=_("links"))
    def links(self, run):
        if run.pk is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            reverse("synth:run", args=[run.pk]), _("progress"), reverse("synth:run_export", args=[run.pk]), _("JSONL"),
        )

    def has_run_synthesis_permission(self, request) -> bool:
        return request.user.has_perm(RUN_SYNTHESIS)

    def has_run_training_permission(self, request) -> bool:  # the "train" action
        return request.user.has_perm(RUN_TRAINING)

    @admin.display(description=_("outcome"))
    def outcome(self, run):
        o = pages.outcome(run)
        if o is None:
            return "-"
        return format_html("{}<br><small>{}</small>", o.summary, o.advice) if o.advice else o.summary

    @admin.action(description=_("Cancel the selected runs"), permissions=["run_synthesis"])
    def cancel(self, request, queryset):
        for run in queryset:
            synthesis.cancel_run(run)
        self.message_user(request, _("Cancel requested."), messages.SUCCESS)

    @admin.action(description=_("Resume the selected runs"), permissions=["run_synthesis"])
    def resume(self, request, queryset):
        resumed = 0
        for run in queryset:
            if synthesis.resume_run(run):
                enqueue_synthesis(run.pk)
                resumed += 1
        self.message_user(request, _("%(n)d run(s) queued again.") % {"n": resumed}, messages.SUCCESS)


@admin.register(SyntheticDocument)
class SyntheticDocumentAdmin(admin.ModelAdmin):
    list_display = ["id", "run", "kind", "source", "tokens"]
    list_filter = ["kind"]
    list_select_related = ["run__topic", "source"]
    search_fields = ["text"]
    readonly_fields = ["run", "source", "unit", "kind", "entities", "text", "tokens", "content_hash", "created_at"]

    def has_add_permission(self, request):
        return False


class RunRowAdmin(ReadOnlyAdmin):
    """Rows the runner writes: editors look, never edit (a changed row would break resume).
    Unlike papers' pipeline rows they may be deleted: the admin refuses to delete a run or a
    topic when the user may not delete every row that goes with it."""

    def has_delete_permission(self, request, obj=None):
        return admin.ModelAdmin.has_delete_permission(self, request, obj)


@admin.register(CorpusDocument)
class CorpusDocumentAdmin(RunRowAdmin):
    list_display = ["id", "run", "kind", "lang", "title", "tokens"]
    list_filter = ["kind", "lang"]
    list_select_related = ["run__topic"]
    search_fields = ["title", "text"]


@admin.register(SynthesisUnit)
class SynthesisUnitAdmin(RunRowAdmin):
    list_display = ["id", "run", "stage", "entities", "status", "attempts", "dropped", "finished_at"]
    list_filter = ["stage", "status", "dropped"]
    list_select_related = ["run__topic"]
    search_fields = ["error", "key"]
