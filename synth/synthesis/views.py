"""The lab pages: topics (public) and synthesis runs (view permission to look, run_synthesis
to cancel or resume: synth.permissions)."""

from __future__ import annotations

from django.db.models import Count
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from synth import synthesis
from synth.corpus import topic_overview
from synth.models import SynthesisRun, Topic
from synth.permissions import RUN_SYNTHESIS, lab_permission_required
from synth.synthesis import pages
from synth.synthesis.export import export_filename, iter_jsonl
from synth.synthesis.tasks import enqueue_synthesis
from synth.synthesis.usage import llm_requests


def topic_list(request: HttpRequest) -> HttpResponse:
    topics = Topic.objects.annotate(run_count=Count("runs"))
    return render(request, "synth/topic_list.html", {"topics": topics})


def topic_detail(request: HttpRequest, pk: int) -> HttpResponse:
    topic = get_object_or_404(Topic, pk=pk)
    documents = topic_overview(topic)
    topic_runs = topic.runs.all()[:20] if request.user.has_perm(VIEW_RUN) else []
    return render(request, "synth/topic.html", {
        "topic": topic, "documents": documents, "total_tokens": sum(d["tokens"] for d in documents), "runs": topic_runs,
    })


VIEW_RUN = "synth.view_synthesisrun"


def _run_context(request: HttpRequest, run: SynthesisRun) -> dict:
    may_operate = request.user.has_perm(RUN_SYNTHESIS)  # no Cancel or Resume buttons for who may only look
    return {
        "run": run,
        "outcome": pages.outcome(run),
        "stages": pages.stage_progress(run),
        "entities": pages.entity_count(run),
        "requests": llm_requests(run),
        "errors": pages.recent_errors(run),
        "by_kind": pages.tokens_by_kind(run),
        "by_source": pages.tokens_by_source(run),
        "can_cancel": may_operate and synthesis.can_cancel(run),
        "can_resume": may_operate and synthesis.can_resume(run),
        "stalled": synthesis.is_stalled(run),
    }


@lab_permission_required(VIEW_RUN)
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(SynthesisRun.objects.select_related("topic"), pk=pk)
    # HTMX polls for the progress block only; a plain GET, no JS, gets the whole page.
    template = "synth/_run_progress.html" if request.htmx else "synth/run.html"
    return render(request, template, _run_context(request, run))


@lab_permission_required(RUN_SYNTHESIS)
@require_POST
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(SynthesisRun, pk=pk)
    synthesis.cancel_run(run)
    return _back_to_run(request, run)


@lab_permission_required(RUN_SYNTHESIS)
@require_POST
def run_resume(request: HttpRequest, pk: int) -> HttpResponse:
    run = get_object_or_404(SynthesisRun, pk=pk)
    if synthesis.resume_run(run):
        enqueue_synthesis(run.pk)
    return _back_to_run(request, run)


def _back_to_run(request: HttpRequest, run: SynthesisRun) -> HttpResponse:
    if request.htmx:  # the buttons live in the progress block: send it back, polling again if the run is active
        run.refresh_from_db()
        return render(request, "synth/_run_progress.html", _run_context(request, run))
    return redirect("synth:run", pk=run.pk)


@lab_permission_required(VIEW_RUN)
def run_export(request: HttpRequest, pk: int) -> StreamingHttpResponse:
    run = get_object_or_404(SynthesisRun, pk=pk)
    response = StreamingHttpResponse(iter_jsonl(run), content_type="application/jsonl; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{export_filename(run)}"'
    return response
