"""The training run page (staff): status, live progress, loss curve, metrics, artifacts."""

from __future__ import annotations

from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from synth import training
from synth.models import TrainingRun
from synth.training import pages


def _context(run: TrainingRun) -> dict:
    return {
        "run": run,
        "chart": pages.loss_chart(run.loss_history),
        "metrics": pages.metric_rows(run),
        "artifacts": pages.artifacts(run),
        "can_cancel": training.can_cancel(run),
        "stalled": training.is_stalled(run),
        "tiny_overrides": training.TINY_OVERRIDES if run.is_tiny else {},
    }


@staff_member_required
def training_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun.objects.select_related("topic"), pk=pk)
    # HTMX polls for the progress block only; a plain GET, no JS, gets the whole page.
    template = "synth/_training_progress.html" if request.htmx else "synth/training_run.html"
    return render(request, template, _context(run))


@staff_member_required
@require_POST
def training_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(TrainingRun, pk=pk)
    training.cancel_training(run)
    if request.htmx:
        return render(request, "synth/_training_progress.html", _context(run))
    return redirect("synth:training_run", pk=run.pk)
