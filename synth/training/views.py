"""The training run page: status, live progress, loss curve, metrics, artifacts. The view
permission to look, run_training to cancel or resume (synth.permissions)."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from synth import training
from synth.models import TrainingRun
from synth.permissions import RUN_TRAINING, lab_permission_required
from synth.training import pages
from synth.training.tasks import enqueue_training

VIEW_RUN = "synth.view_trainingrun"


def _context(request: HttpRequest, run: TrainingRun) -> dict:
    may_operate = request.user.has_perm(RUN_TRAINING)  # no Cancel or Resume buttons for who may only look
    return {
        "run": run,
        "outcome": pages.outcome(run),
        "chart": pages.loss_chart(run.loss_history),
        "metrics": pages.metric_rows(run),
        "comparison": pages.topic_comparison(run),
        "artifacts": pages.artifacts(run),
        "can_cancel": may_operate and training.can_cancel(run),
        "can_resume": may_operate and training.can_resume(run),
        "stalled": training.is_stalled(run),
        "tiny_overrides": training.TINY_OVERRIDES if run.is_tiny else {},
    }


@lab_permission_required(VIEW_RUN)
def training_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun.objects.select_related("topic"), pk=pk)
    # HTMX polls for the progress block only; a plain GET, no JS, gets the whole page.
    template = "synth/_training_progress.html" if request.htmx else "synth/training_run.html"
    return render(request, template, _context(request, run))


@lab_permission_required(RUN_TRAINING)
@require_POST
def training_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    training.cancel_training(run)
    return _back_to_run(request, run)


@lab_permission_required(RUN_TRAINING)
@require_POST
def training_resume(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    if training.resume_training(run):
        enqueue_training(run.pk)
    return _back_to_run(request, run)


def _back_to_run(request: HttpRequest, run: TrainingRun) -> HttpResponse:
    if request.htmx:  # the buttons live in the progress block: send it back, polling again if the run is active
        run.refresh_from_db()
        return render(request, "synth/_training_progress.html", _context(request, run))
    return redirect("synth:training_run", pk=run.pk)
