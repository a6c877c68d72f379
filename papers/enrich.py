"""Enrichment of papers, step by step: summarize, translate (one language at a time), tag.

Each step reads the paper fresh and is safe to repeat: prompts are built from the current
texts, so a rerun is answered from the LLM cache and writes nothing new, while a changed
abstract (a new arXiv version) gets new machine texts.

Human texts win: a text from a source document or an editor is never replaced by a machine
text, and a step with nothing left to write is skipped without calling the LLM.

Offline mode (no LLM_BASE_URL): an extractive summary labelled model="extractive", no
translations, no tag suggestions; the steps say so.

Each step is written once, as a generator: it reads the database, yields the keyword arguments
of the one llm.complete_json() call it needs, is sent the reply, writes, and returns
(status, note). Two drivers carry a step out:
- run_step(): one step in this process with the sync gateway (the per-step Celery tasks of a
  single paper's chain, `enrich_papers --inline`, the benchmark's baseline);
- enrich_batch(): many papers at once, each paper's summary before its other steps, all LLM calls
  in flight together through one llm.AsyncLLM (at most LLM_CONCURRENCY). The database work of
  the steps runs between the calls on a few threads of its own (_StepDatabase).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import itertools
import json
import logging
import re
import threading
from collections.abc import Generator
from concurrent.futures import ThreadPoolExecutor

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from papers import llm
from papers.ingest.upsert import upsert_text
from papers.models import EnrichmentStep, Origin, Paper, PaperText, Tag

log = logging.getLogger(__name__)

ORIGINAL_LANG = "en"  # arXiv papers are written in English; the other languages are translations
EXTRACTIVE = "extractive"  # PaperText.model of an offline summary, so pages can label it
OFFLINE_NOTE = "offline mode: no LLM configured"
LANG_NAMES = {"ko": "Korean", "zh": "Simplified Chinese", "en": "English"}
KINDS = (PaperText.Kind.TITLE, PaperText.Kind.SUMMARY, PaperText.Kind.ABSTRACT)

Status = EnrichmentStep.Status
# A step: yields the keyword arguments of llm.complete_json(), is sent its reply, returns (status, note).
StepFlow = Generator[dict, dict, tuple[str, str]]


def target_languages() -> list[str]:
    return [lang for lang in settings.ENRICH_LANGUAGES if lang != ORIGINAL_LANG]


def planned_steps() -> list[tuple[str, str]]:
    """(step, lang) in chain order: what the paper page lists."""
    return [("summarize", ""), *(("translate", lang) for lang in target_languages()), ("tag", ""), ("embed", "")]


# --- the steps -------------------------------------------------------------------------


def summarize(paper: Paper, lang: str = "") -> StepFlow:
    current = _text(paper, ORIGINAL_LANG, "summary")
    if current is not None and current.origin != Origin.MACHINE:
        return Status.SKIPPED, "the summary was written by a person"
    abstract = _original(paper, "abstract")
    if not abstract:
        return Status.SKIPPED, "no abstract to summarize"
    if not llm.is_configured():
        upsert_text(paper, lang=ORIGINAL_LANG, kind="summary", body=extractive_summary(abstract), origin=Origin.MACHINE, model=EXTRACTIVE)
        return Status.DONE, f"{OFFLINE_NOTE}: extractive summary"
    data = yield dict(
        task_kind="summarize",
        system=(
            "You write the short summary of a machine learning paper for a weekly digest: "
            "two or three plain sentences in English on what the paper does and finds. No markdown."
        ),
        user=f"Title: {paper.title}\n\nAbstract:\n{abstract}",
        schema={
            "type": "object",
            "properties": {"summary": {"type": "string", "minLength": 20, "maxLength": 1500}},
            "required": ["summary"],
            "additionalProperties": False,
        },
        max_tokens=400,
    )
    upsert_text(paper, lang=ORIGINAL_LANG, kind="summary", body=data["summary"], origin=Origin.MACHINE, model=llm.model_name())
    return Status.DONE, ""


def translate(paper: Paper, lang: str) -> StepFlow:
    """Title, summary and abstract into `lang`, in one call, written together or not at all."""
    if lang == ORIGINAL_LANG:
        return Status.SKIPPED, "the original language"
    originals = {kind: _original(paper, kind) for kind in KINDS}
    existing = {t.kind: t for t in PaperText.objects.filter(paper=paper, lang=lang)}
    todo = {
        kind: body
        for kind, body in originals.items()
        if body and (kind not in existing or existing[kind].origin == Origin.MACHINE)
    }
    if not todo:
        return Status.SKIPPED, "nothing to translate: the texts in this language were written by people"
    if not llm.is_configured():
        return Status.SKIPPED, f"{OFFLINE_NOTE}: no machine translation"
    language = LANG_NAMES[lang]
    data = yield dict(
        task_kind="translate",
        system=(
            f"You translate texts about machine learning research from English into {language}. "
            "Translate each field of the JSON object you are given, keeping technical terms, model names "
            "and numbers accurate; keep an English term in parentheses after its translation where readers "
            "would look it up. Reply with the same keys."
        ),
        user=json.dumps(todo, ensure_ascii=False),
        schema={
            "type": "object",
            "properties": {kind: {"type": "string", "minLength": 1, "maxLength": max(500, 3 * len(body))} for kind, body in todo.items()},
            "required": list(todo),
            "additionalProperties": False,
        },
        max_tokens=400 + 3 * sum(len(body) for body in todo.values()) // 2,
    )
    with transaction.atomic():  # all kinds or none: a half-translated paper is never shown
        for kind in todo:
            upsert_text(paper, lang=lang, kind=kind, body=data[kind], origin=Origin.MACHINE, model=llm.model_name())
    return Status.DONE, ""


def tag(paper: Paper, lang: str = "") -> StepFlow:
    """Tags from the existing vocabulary; tags are only added, never taken away."""
    vocabulary = dict(Tag.objects.values_list("slug", "name"))
    if not vocabulary:
        return Status.SKIPPED, "no tags to choose from yet"
    if not llm.is_configured():
        return Status.SKIPPED, f"{OFFLINE_NOTE}: no tag suggestions"
    text = "\n\n".join(filter(None, [paper.title, _original(paper, "summary"), _original(paper, "abstract")]))
    listing = "\n".join(f"- {slug}: {name}" for slug, name in sorted(vocabulary.items()))
    data = yield dict(
        task_kind="tag",
        system=(
            "You file machine learning papers under tags. Choose at most five tags from the list that "
            "clearly fit the paper; choose none if none fits. Use the tag slugs exactly as listed."
        ),
        user=f"Paper:\n{text}\n\nTags:\n{listing}",
        schema={
            "type": "object",
            "properties": {"tags": {"type": "array", "items": {"type": "string", "enum": sorted(vocabulary)}, "maxItems": 5}},
            "required": ["tags"],
            "additionalProperties": False,
        },
        max_tokens=200,
    )
    chosen = list(Tag.objects.filter(slug__in=data["tags"]))
    paper.tags.add(*chosen)
    return Status.DONE, ", ".join(sorted(t.slug for t in chosen))


STEPS = {"summarize": summarize, "translate": translate, "tag": tag}


def run_step(paper: Paper, step: str, lang: str = "") -> EnrichmentStep:
    """Run one step with the sync gateway and record its state for the paper page. An LLMError
    is recorded as the step's failure and raised again, so the task can decide whether to retry."""
    mark_step(paper, step, lang, Status.RUNNING)
    flow = STEPS[step](paper, lang)
    try:
        call, outcome = _advance(flow, None)
        while call is not None:
            call, outcome = _advance(flow, llm.complete_json(**call))
    except llm.LLMError as e:
        mark_step(paper, step, lang, Status.FAILED, str(e))
        raise
    except Exception as e:  # a bug, or a reply our database refuses: the page must not say "running" for ever
        mark_step(paper, step, lang, Status.FAILED, f"{type(e).__name__}: {e}")
        raise
    return mark_step(paper, step, lang, *outcome)


def run_all(paper: Paper) -> list[EnrichmentStep]:
    """Every step in this process, one after another (the command's --inline, the benchmark's
    baseline); a failed step is recorded and the next one runs."""
    results = []
    for step, lang in llm_steps():
        try:
            results.append(run_step(paper, step, lang))
        except Exception as e:  # recorded on the step by run_step
            log.error("paper %s: %s %s failed: %s", paper.pk, step, lang, e)
    return results


def enrich_batch(paper_ids: list[int]) -> None:
    """The LLM steps of many papers at once: each paper's summary, then its translations and
    tags together; every paper's calls in flight together (llm.AsyncLLM, at most LLM_CONCURRENCY). Records each step as
    run_step() does. A step that fails with a retryable LLMError is tried again after
    retry_delay() while the other papers go on; one that fails for good is recorded and its
    paper goes on with the next step, as in the chain. Offline mode runs the steps one
    after another, since none of them calls the LLM."""
    papers = list(Paper.objects.filter(pk__in=paper_ids).order_by("pk"))  # deleted after they were queued: gone
    if not llm.is_configured():
        for paper in papers:
            run_all(paper)
        return
    asyncio.run(_enrich_batch(papers))


def retry_delay(retries: int, *, retryable: bool, retry_after: float | None = None) -> float | None:
    """Seconds before running a failed step again after `retries` earlier retries, or None when
    it has failed for good (not retryable, or ENRICH_MAX_RETRIES spent). A Retry-After the
    gateway would not wait out is honoured here. The per-step tasks and enrich_batch() use it."""
    if not retryable or retries >= settings.ENRICH_MAX_RETRIES:
        return None
    return max(retry_after or 0, settings.ENRICH_RETRY_DELAY * 2**retries)


async def _enrich_batch(papers: list[Paper]) -> None:
    db = _StepDatabase()
    try:
        async with llm.AsyncLLM() as client:
            await asyncio.gather(*(_enrich_paper(paper, client, db) for paper in papers))
    finally:
        await db.close()


class _StepDatabase:
    """Threads for the steps' database work in enrich_batch, each with its own connection.

    With every call in flight at once, the steps' queries (reading texts, writing them,
    marking steps) are what the batch waits for; on the async ORM's single thread they were
    two thirds of a batch's time in bench/ingest.py. A step's database work between two
    calls runs on one thread (translate's atomic write stays in one transaction)."""

    THREADS = 6

    def __init__(self):
        self._pool = ThreadPoolExecutor(self.THREADS, thread_name_prefix="enrich-db")

    async def run(self, func, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(self._pool, functools.partial(func, *args, **kwargs))

    async def close(self) -> None:
        # One close per thread: each waits at the barrier until all THREADS are taken, so the
        # pool starts any thread it has not yet and no thread closes twice.
        barrier = threading.Barrier(self.THREADS)
        await asyncio.gather(*(self.run(_close_connection, barrier) for _ in range(self.THREADS)))
        self._pool.shutdown()


def _close_connection(barrier: threading.Barrier) -> None:
    barrier.wait()
    connection.close()


async def _enrich_paper(paper: Paper, client: llm.AsyncLLM, db: _StepDatabase) -> None:
    # The summary first: the translations and the tags start from it. Those need nothing from
    # each other, so they run together (the chain runs them one after another only because a
    # chain is a sequence).
    (first, *others) = llm_steps()
    await _run_step_with_retries(paper, *first, client, db)
    await asyncio.gather(*(_run_step_with_retries(paper, step, lang, client, db) for step, lang in others))


async def _run_step_with_retries(paper: Paper, step: str, lang: str, client: llm.AsyncLLM, db: _StepDatabase) -> None:
    for retries in itertools.count():
        try:
            await _run_step_async(paper, step, lang, client, db)
        except llm.LLMError as e:
            wait = retry_delay(retries, retryable=e.retryable, retry_after=e.retry_after)
            if wait is None:
                log.error("paper %s: %s %s failed for good: %s", paper.pk, step, lang, e)
                return
            note = f"retry {retries + 1} in {wait:.0f} s: {e}"
            await db.run(mark_step, paper, step, lang, Status.PENDING, note)
            await asyncio.sleep(wait)
        except Exception as e:  # a bug, or the database went away: recorded, and the paper's other steps run
            log.exception("paper %s: %s %s failed", paper.pk, step, lang)
            await db.run(mark_step, paper, step, lang, Status.FAILED, f"{type(e).__name__}: {e}")
            return
        else:
            return


async def _run_step_async(paper: Paper, step: str, lang: str, client: llm.AsyncLLM, db: _StepDatabase) -> None:
    """run_step() with the async gateway: the step's database work runs on `db`'s threads and
    its LLM call in the event loop."""
    flow, call, _ = await db.run(_start_step, paper, step, lang)
    try:
        while call is not None:
            call, _ = await db.run(_advance, flow, await client.complete_json(**call), finish=(paper, step, lang))
    except llm.LLMError as e:
        await db.run(mark_step, paper, step, lang, Status.FAILED, str(e))
        raise


def _start_step(paper: Paper, step: str, lang: str) -> tuple[StepFlow, dict | None, tuple[str, str] | None]:
    mark_step(paper, step, lang, Status.RUNNING)
    flow = STEPS[step](paper, lang)
    return flow, *_advance(flow, None, finish=(paper, step, lang))


def _advance(flow: StepFlow, reply: dict | None, *, finish: tuple | None = None) -> tuple[dict | None, tuple[str, str] | None]:
    """Run the step up to its next LLM call: (the call's arguments, None), or (None, (status, note))
    once it is done, and then record that outcome on the step `finish` names, if any."""
    try:
        return flow.send(reply), None
    except StopIteration as done:
        if finish is not None:
            mark_step(*finish, *done.value)
        return None, done.value


def llm_steps() -> list[tuple[str, str]]:
    """The planned steps this module runs, in chain order (embed is papers.embeddings')."""
    return [(step, lang) for step, lang in planned_steps() if step in STEPS]


def mark_step(paper: Paper | int, step: str, lang: str, status: str, note: str = "") -> EnrichmentStep:
    return _mark_steps([paper if isinstance(paper, int) else paper.pk], [(step, lang)], status, note)[0]


def mark_pending(paper_ids: list[int]) -> None:
    _mark_steps(paper_ids, planned_steps(), Status.PENDING)


def _mark_steps(paper_ids: list[int], steps: list[tuple[str, str]], status: str, note: str = "") -> list[EnrichmentStep]:
    # One INSERT ... ON CONFLICT DO UPDATE for all the rows: enrich_batch marks a step several
    # times per paper on one database thread, where update_or_create's four queries added up.
    rows = [EnrichmentStep(paper_id=pk, step=step, lang=lang, status=status, error=note) for pk in paper_ids for step, lang in steps]
    return EnrichmentStep.objects.bulk_create(
        rows, update_conflicts=True, unique_fields=["paper", "step", "lang"], update_fields=["status", "error", "updated_at"]
    )


def stalled_papers(*, older_than: dt.timedelta) -> list[int]:
    """Papers with a step pending or running, untouched for older_than: their message is gone."""
    return list(
        EnrichmentStep.objects.filter(status__in=[Status.PENDING, Status.RUNNING], updated_at__lt=timezone.now() - older_than)
        .order_by("paper_id").values_list("paper_id", flat=True).distinct()
    )


def needs_enrichment() -> list[int]:
    """Papers with a planned step that never ran or failed (enrich_papers --missing)."""
    planned = planned_steps()
    settled = {Status.DONE, Status.SKIPPED}
    done: dict[int, set] = {}
    for paper_id, step, lang in EnrichmentStep.objects.filter(status__in=settled).values_list("paper_id", "step", "lang"):
        done.setdefault(paper_id, set()).add((step, lang))
    return [pk for pk in Paper.objects.order_by("pk").values_list("pk", flat=True) if not set(planned) <= done.get(pk, set())]


# --- helpers of the steps --------------------------------------------------------------


def _text(paper: Paper, lang: str, kind: str) -> PaperText | None:
    return PaperText.objects.filter(paper=paper, lang=lang, kind=kind).first()


def _original(paper: Paper, kind: str) -> str:
    """The English text a translation starts from (the title falls back to Paper.title)."""
    text = _text(paper, ORIGINAL_LANG, kind)
    if text is not None and text.body.strip():
        return text.body.strip()
    return paper.title.strip() if kind == "title" else ""


_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9(\"'])")
_CONTRIBUTION = re.compile(r"\b(we (propose|introduce|present|show|find|release|develop)|this (paper|work)|our (method|approach|results?))\b", re.I)


def extractive_summary(abstract: str, *, max_sentences: int = 2, max_chars: int = 420) -> str:
    """The abstract's first sentence and its first statement of contribution ("We propose..."):
    the usual shape of an abstract makes these two the best short account without a model."""
    sentences = [s.strip() for s in _SENTENCE_END.split(" ".join(abstract.split())) if s.strip()]
    if not sentences:
        return ""
    chosen = [0]
    for i, sentence in enumerate(sentences[1:], 1):
        if len(chosen) >= max_sentences:
            break
        if _CONTRIBUTION.search(sentence):
            chosen.append(i)
    for i in range(1, len(sentences)):  # no contribution sentence: the lead sentences instead
        if len(chosen) >= max_sentences:
            break
        if i not in chosen:
            chosen.append(i)
    summary = ""
    for i in sorted(chosen):
        candidate = f"{summary} {sentences[i]}".strip()
        if summary and len(candidate) > max_chars:
            break
        summary = candidate
    return summary if len(summary) <= max_chars else summary[: max_chars - 1].rstrip() + "…"
