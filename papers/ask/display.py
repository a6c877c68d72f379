"""A stored answer as the reader sees it (the page's fragment) and as the JSON API returns it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext as _

from papers.ask.extractive import PaperPassages, by_paper
from papers.models import Answer


@dataclass
class ShownAnswer:
    answer: Answer
    status: str  # the row's status, except that a row left unfinished too long shows as failed
    message: str = ""
    sentences: list[dict] = field(default_factory=list)  # each with "sources": the cited source dicts
    cited: list[dict] = field(default_factory=list)  # the sources the sentences cite, in order
    passages: list[PaperPassages] = field(default_factory=list)  # extractive answer, or the fallback
    closest: list[dict] = field(default_factory=list)  # papers, when the answer is not in the knowledge base

    @property
    def finished(self) -> bool:
        return self.status in (Answer.Status.COMPLETE, Answer.Status.FAILED)


def show(answer: Answer) -> ShownAnswer:
    status = answer.status
    if not answer.finished and answer.created_at < timezone.now() - timedelta(seconds=settings.ASK_STALE_SECONDS):
        status = Answer.Status.FAILED  # its worker died or never came: stop the page waiting
    shown = ShownAnswer(answer=answer, status=status, message=answer.error)
    if status == Answer.Status.FAILED and not shown.message:
        shown.message = _("The answer could not be written. Please try again.")
    by_number = {s["n"]: s for s in answer.sources}
    if status == Answer.Status.COMPLETE and not answer.found:
        shown.message = _("Not in the knowledge base: no passage of its papers answers this question.")
        shown.closest = list({s["paper_id"]: {"paper_id": s["paper_id"], "title": s["title"], "title_lang": s["title_lang"],
                                              "url": s["url"].split("?")[0], "arxiv_id": s["arxiv_id"]}
                              for s in answer.sources}.values())
        return shown
    if answer.mode == Answer.Mode.LLM and answer.sentences:
        shown.sentences = [{**s, "sources": [by_number[n] for n in s["citations"]]} for s in answer.sentences]
        cited = dict.fromkeys(n for s in answer.sentences for n in s["citations"])
        shown.cited = [by_number[n] for n in cited]
    elif answer.mode == Answer.Mode.EXTRACTIVE or status == Answer.Status.FAILED or not shown.finished:
        shown.passages = by_paper(answer.question, answer.sources)
    return shown


def payload(answer: Answer, *, absolute) -> dict:
    """The JSON API's answer. absolute: turns a path into a full URL (request.build_absolute_uri)."""
    shown = show(answer)

    def source(s: dict) -> dict:
        return {"n": s["n"], "paper": {"arxiv_id": s["arxiv_id"], "title": s["title"], "url": absolute(s["url"].split("?")[0])},
                "passage_id": s["passage_id"], "lang": s["lang"], "kind": s["kind"], "quote": s["quote"], "url": absolute(s["url"])}

    return {
        "id": str(answer.uid),
        "question": answer.question,
        "lang": answer.lang,
        "mode": answer.mode,
        "status": shown.status,
        "found": answer.found,
        "message": shown.message,
        "sentences": [{"text": s["text"], "citations": s["citations"], "supported": s["supported"]} for s in shown.sentences],
        "sources": [source(s) for s in (shown.cited or answer.sources if shown.finished else [])] if answer.found else [],
        "closest_papers": [{"arxiv_id": p["arxiv_id"], "title": p["title"], "url": absolute(p["url"])} for p in shown.closest],
        "latency_ms": {"first_output": answer.first_output_ms, "total": answer.total_ms},
    }
