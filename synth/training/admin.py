"""Admin for continued pretraining: the "Train" action on synthesis runs (SynthesisRunAdmin in
synth.synthesis.admin lists it), training runs and the evaluation questions. Actions only
call synth.training and enqueue."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from synth import training
from synth.models import EvalQuestion, TrainingRun
from synth.permissions import RUN_TRAINING
from synth.training.forms import TrainForm
from synth.training.tasks import enqueue_training


@admin.action(description=_("Train a model on the selected runs' synthetic texts"), permissions=["run_training"])
def train(modeladmin, request, queryset):
    """Asks for the base model and hyperparameters on an intermediate page, then only enqueues.
    The admin listing it has has_run_training_permission."""
    if "apply" in request.POST:
        form = TrainForm(request.POST)
        if form.is_valid():
            try:
                run = training.start_training(synthesis_runs=queryset, user=request.user, **form.cleaned_data)
            except training.TrainingError as e:
                modeladmin.message_user(request, str(e), messages.ERROR)
                return None
            enqueue_training(run.pk)
            modeladmin.message_user(request, _("Training run #%(pk)d queued.") % {"pk": run.pk}, messages.SUCCESS)
            return redirect("synth:training_run", pk=run.pk)
    else:
        form = TrainForm(initial=training.initial_hyperparameters())
    return TemplateResponse(request, "admin/synth/trainingrun/train.html", {
        **modeladmin.admin_site.each_context(request),
        "title": _("Train on synthetic texts"),
        "opts": modeladmin.model._meta,
        "runs": queryset.select_related("topic"),
        "form": form,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
    })


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    list_display = ["id", "topic", "base", "status", "stop_reason", "progress", "tokens_per_s", "created_at", "page_link"]
    list_filter = ["status", "stop_reason"]
    search_fields = ["topic__name", "base_model"]
    list_select_related = ["topic"]
    actions = ["cancel", "resume"]
    STATE = ["status", "cancel_requested", "stop_reason", "error", "attempts", "base_label", "device", "step", "max_steps", "resumed_from_step",
             "tokens_per_s", "mfu", "metrics_before", "metrics_after", "manifest", "artifacts_dir", "runner_token", "heartbeat_at",
             "created_by", "created_at", "started_at", "finished_at"]
    fieldsets = [
        (None, {"fields": ["page_link", "topic", "synthesis_runs", "base_model"]}),
        (_("Hyperparameters"), {"fields": training.HYPERPARAMETERS,
                                "description": _("Editable while the run is queued.")}),
        (_("State"), {"fields": STATE}),
    ]

    def get_readonly_fields(self, request, obj=None):
        fixed = ["page_link", "topic", "synthesis_runs", *self.STATE]
        if obj is not None and obj.status != TrainingRun.Status.QUEUED:
            fixed += ["base_model", *training.HYPERPARAMETERS]
        return fixed

    def has_add_permission(self, request):
        return False  # runs start from the synthesis runs' "train" action

    @admin.display(description=_("base model"))
    def base(self, run):
        return run.base_model or _("tiny (built-in)")

    @admin.display(description=_("steps"))
    def progress(self, run):
        return f"{run.step} / {run.max_steps or '?'}"

    @admin.display(description=_("page"))
    def page_link(self, run):
        if run.pk is None:
            return "-"
        return format_html('<a href="{}">{}</a>', reverse("synth:training_run", args=[run.pk]), _("progress"))

    def has_run_training_permission(self, request) -> bool:
        return request.user.has_perm(RUN_TRAINING)

    @admin.action(description=_("Cancel the selected training runs"), permissions=["run_training"])
    def cancel(self, request, queryset):
        for run in queryset:
            training.cancel_training(run)
        self.message_user(request, _("Cancel requested."), messages.SUCCESS)

    @admin.action(description=_("Resume the selected training runs"), permissions=["run_training"])
    def resume(self, request, queryset):
        resumed = 0
        for run in queryset:
            if training.resume_training(run):
                enqueue_training(run.pk)
                resumed += 1
        self.message_user(request, _("%(n)d run(s) queued again.") % {"n": resumed}, messages.SUCCESS)


@admin.register(EvalQuestion)
class EvalQuestionAdmin(admin.ModelAdmin):
    list_display = ["question", "topic", "right_answer", "origin", "source_title"]
    list_filter = ["topic", "origin"]
    search_fields = ["question", "source_title"]
    list_select_related = ["topic"]
    fields = ["topic", "question", "options", "answer", "source_title", "origin", "model", "source_key"]
    readonly_fields = ["source_key", "model"]

    @admin.display(description=_("right answer"))
    def right_answer(self, q):
        return q.options[q.answer] if isinstance(q.options, list) and q.answer < len(q.options) else "-"
