"""/ask/ (the question box's page; HTMX swaps the answer fragment, a plain form and page
refreshes work without JS), /ask/<id>/ (one answer, polled while it is written) and
POST /api/ask (papers.api.routes, answered inline). Each counts against the client's "ask" budget; bad
input gets a message in the reader's language, never a 500."""

from __future__ import annotations

import uuid

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_safe

from papers import ask
from papers.ask.display import show
from papers.models import Answer
from papers.tasks import enqueue_answer
from papers.views.ratelimit import over_limit, window_seconds

POLL_SECONDS = 1


def too_many_questions() -> str:
    return _("Too many questions from your address. Please wait a minute and try again.")


@require_http_methods(["GET", "HEAD", "POST"])
def ask_page(request: HttpRequest) -> HttpResponse:
    """The form; a question sent (POST, or GET ?q= for a shared link) starts its answer."""
    question = request.POST.get("q") if request.method == "POST" else request.GET.get("q")
    if question is None:
        return _render(request, {"question": ""})
    if over_limit(request, "ask"):
        response = _render(request, {"question": question[:200], "problem": too_many_questions()}, status=429)
        response["Retry-After"] = str(window_seconds("ask"))
        return response
    try:
        answer, created = ask.start_answer(question)
    except ask.QuestionError as e:
        return _render(request, {"question": question[:2000], "problem": str(e)}, status=400)
    if created:
        enqueue_answer(answer.pk)
    url = reverse("papers:answer", args=[answer.uid])
    if request.htmx:
        response = _render(request, {"question": answer.question, "shown": show(answer)})
        response["HX-Push-Url"] = url
        return response
    return redirect(url, permanent=False)  # a refresh of the answer's page never asks again


@require_safe
def answer_detail(request: HttpRequest, uid: uuid.UUID) -> HttpResponse:
    answer = Answer.objects.filter(uid=uid).first()
    if answer is None:
        raise Http404("No such answer")
    return _render(request, {"question": answer.question, "shown": show(answer)})


def _render(request: HttpRequest, context: dict, *, status: int = 200) -> HttpResponse:
    partial = request.htmx and not request.htmx.history_restore_request
    template = "papers/_answer.html" if partial else "papers/ask.html"
    response = render(request, template, {**context, "poll_seconds": POLL_SECONDS}, status=status)
    patch_vary_headers(response, ["HX-Request"])
    return response

