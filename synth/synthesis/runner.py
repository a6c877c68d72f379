"""Runs a SynthesisRun: plans each stage's units, performs them concurrently, stores results.

Shape: this (calling) thread owns the database work; the LLM calls run in an asyncio loop on a
second thread through papers.llm.AsyncLLM, whose semaphore caps the calls in flight
(SYNTH_CONCURRENCY). Finished units come back as futures and are written in small batches.

- Resumable: a unit is written as done together with its output in one transaction, and a
  restarted run only performs units still pending, so nothing finished is redone or lost.
  Calls that were in flight when a worker died are asked again and mostly hit the
  gateway's response cache.
- One owner (synth.jobs): each runner claims the run with a fresh token; a later runner (a
  resume, a redelivery) takes over, and the earlier one, if alive, sees the change at its
  next write and stops.
- The budget stops the run by counting: no unit is launched once the target tokens or a
  cap is reached; the units in flight finish and are kept.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from decimal import Decimal

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext_noop

from papers import llm
from synth import jobs
from synth.corpus import content_hash, count_tokens, snapshot_corpus
from synth.jobs import DATABASE_GONE, Superseded
from synth.models import CorpusDocument, SynthesisRun, SynthesisUnit, SyntheticDocument
from synth.synthesis import entigraph
from synth.synthesis.usage import refresh_usage, task_kind

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0  # how often the runner beats its heartbeat and looks for a cancel or a takeover
FLUSH_SECONDS = 0.5  # how long finished units may wait in memory before they are written
USAGE_SECONDS = 1.0  # how often the run's token and cost totals are refreshed from LLMCall
Reason = SynthesisRun.StopReason


def run_synthesis(run_id: int) -> str:
    """Run (or go on with) a synthesis run; returns its status when this runner stops."""
    token = jobs.new_token()
    # take_over: a redelivered task supersedes a runner that still beats; the old one stops.
    run = jobs.claim(SynthesisRun, run_id, token=token, stall_seconds=settings.SYNTH_STALL_SECONDS,
                     max_attempts=settings.SYNTH_MAX_ATTEMPTS, take_over=True)
    if run is None:
        return "skipped"  # finished, cancelled, gone or failed after too many attempts: a redelivered task does nothing
    try:
        documents = snapshot_corpus(run)
        SynthesisRun.objects.filter(pk=run.pk).update(
            source_documents=len(documents), source_tokens=sum(d.tokens for d in documents)
        )
        if not documents:
            return _finish(run, token, SynthesisRun.Status.FAILED, stop_reason=Reason.EMPTY_CORPUS,
                           error=gettext_noop("The topic's corpus is empty."))
        stop = ""
        with _Engine(run, token, documents) as engine:
            for stage in entigraph.STAGES[run.strategy]:
                _plan_stage(run, stage)
                stop = engine.drive(stage)
                if stop:
                    break
            tokens = engine.budget.tokens
        if stop == Reason.CANCELLED:
            return _finish(run, token, SynthesisRun.Status.CANCELLED, stop_reason=stop)
        if stop:
            return _finish(run, token, SynthesisRun.Status.BUDGET, stop_reason=stop)
        # Every planned unit ran. Below a target that means the topic ran out of entity pairs
        # and triples (or documents to rephrase): the run page says so and what to change.
        reached = run.target_tokens and tokens >= run.target_tokens
        return _finish(run, token, SynthesisRun.Status.DONE, stop_reason=Reason.TARGET if reached else Reason.EXHAUSTED)
    except Superseded:
        log.info("synthesis run %s: taken over by another runner", run_id)
        return "superseded"
    except DATABASE_GONE as e:
        # Nothing can be written now (a restart, a lost connection). The run stays 'running'
        # and goes silent, so beat's resume_stalled_runs takes it up once the database is back;
        # units whose outcome was not written yet stay pending and run again then.
        log.warning("synthesis run %s: the database went away, beat resumes the run: %s", run_id, e)
        raise
    except Exception as e:
        _finish(run, token, SynthesisRun.Status.FAILED, stop_reason=Reason.ERROR, error=f"{type(e).__name__}: {e}")
        raise


def _finish(run: SynthesisRun, token: str, status: str, *, stop_reason: str, error: str = "") -> str:
    refresh_usage(run)
    jobs.finish(SynthesisRun, run.pk, token, status, stop_reason=stop_reason, error=error)
    log.info("synthesis run %s: %s %s", run.pk, status, stop_reason or error)
    return status


def _plan_stage(run: SynthesisRun, stage: str) -> None:
    """Create the stage's units; planning again (a resume) finds the same keys and adds nothing."""
    documents = list(run.documents.all())
    sources = [entigraph.Source(d.pk, d.title, d.text, d.content_hash, tuple(d.entities)) for d in documents]
    hashes = {d.pk: d.content_hash for d in documents}
    planned = entigraph.plan_stage(run.strategy, stage, sources, seed=run.seed, triples_per_document=run.triples_per_document)
    units = [
        SynthesisUnit(
            run=run, document_id=p.document_id, stage=stage, entities=list(p.entities), style=p.style, position=i,
            key=entigraph.unit_key(prompt_version=run.prompt_version, model=run.model, document_hash=hashes[p.document_id],
                                   stage=stage, entities=p.entities, style=p.style),
        )
        for i, p in enumerate(planned)
    ]
    SynthesisUnit.objects.bulk_create(units, ignore_conflicts=True, batch_size=1000)


# --- the engine: one stage at a time ------------------------------------------------------


@dataclass(frozen=True)
class _Unit:
    id: int
    document_id: int
    stage: str
    entities: tuple[str, ...]
    style: str


@dataclass
class _Outcome:
    unit: _Unit
    status: str = SynthesisUnit.Status.DONE
    text: str = ""  # the synthetic text ("" when the unit writes none, e.g. extractive entities)
    kind: str = ""
    dropped: str = ""  # empty | refused | truncated | duplicate: the unit is done, its text not kept
    error: str = ""
    doc_entities: list[str] | None = None  # the entity stage's result for its document
    doc_summary: str = ""
    launched_call: bool = False


@dataclass
class _Budget:
    target_tokens: int
    max_calls: int
    max_cost: Decimal
    tokens: int
    calls: int
    cost: Decimal = field(default=Decimal(0))

    def stop_reason(self) -> str:
        if self.target_tokens and self.tokens >= self.target_tokens:
            return Reason.TARGET
        if self.max_calls and self.calls >= self.max_calls:
            return Reason.CALL_CAP
        if self.max_cost and self.cost >= self.max_cost:
            return Reason.COST_CAP
        return ""


def _drain(outbox: queue.SimpleQueue) -> list[_Outcome]:
    items = []
    while True:
        try:
            items.append(outbox.get_nowait())
        except queue.Empty:
            return items


class _Engine:
    def __init__(self, run: SynthesisRun, token: str, documents: list[CorpusDocument]):
        self.run, self.token = run, token
        self.uses_llm = run.strategy != entigraph.EXTRACTIVE
        self.documents = {d.pk: d for d in documents}
        self.budget = _Budget(
            target_tokens=run.target_tokens, max_calls=run.max_calls, max_cost=run.max_cost_usd,
            tokens=run.synthetic_tokens, calls=run.calls, cost=run.cost_usd,
        )
        self.seen_hashes = set(run.synthetic.values_list("content_hash", flat=True))
        # Extractive units are instant CPU work: one at a time, so a budget stops at the exact unit.
        self.concurrency = max(1, settings.SYNTH_CONCURRENCY) if self.uses_llm else 1
        self.llm: llm.AsyncLLM | None = None

    def __enter__(self) -> _Engine:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name=f"synth-run-{self.run.pk}", daemon=True)
        self.thread.start()
        if self.uses_llm:
            self.llm = llm.AsyncLLM(limit=self.concurrency)
            self._await(self.llm.__aenter__())
        return self

    def __exit__(self, *exc) -> None:
        try:
            self._await(self._shutdown())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join()
            self.loop.close()

    async def _shutdown(self) -> None:
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self.llm is not None:
            await self.llm.__aexit__(None, None, None)
        # The gateway's async ORM calls ran on asgiref's one shared thread; close its connection.
        await sync_to_async(connections.close_all)()

    def _await(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def drive(self, stage: str) -> str:
        """Perform the stage's pending units; returns why it stopped early, or "" when all ran.

        The loop thread launches and judges units (_pump); this thread only writes what it
        hands over, every FLUSH_SECONDS, and looks for a cancel every POLL_SECONDS."""
        rows = (self.run.units.filter(stage=stage, status=SynthesisUnit.Status.PENDING).order_by("position")
                .values_list("id", "document_id", "stage", "entities", "style"))
        units = [_Unit(i, d, s, tuple(e), st) for i, d, s, e, st in rows]
        outbox: queue.SimpleQueue[_Outcome] = queue.SimpleQueue()
        pump = asyncio.run_coroutine_threadsafe(self._pump(units, outbox), self.loop)
        stop, last_poll, last_usage = "", time.monotonic(), time.monotonic()
        while stop != Reason.CANCELLED:
            try:
                stop = pump.result(timeout=FLUSH_SECONDS)
                break
            except concurrent.futures.TimeoutError:
                pass
            self._flush(_drain(outbox))
            now = time.monotonic()
            if now - last_poll >= POLL_SECONDS:
                last_poll = now
                if self._cancel_requested():
                    # Units in flight are cancelled and stay pending for a resume.
                    self._await(self._cancel(pump))
                    stop = Reason.CANCELLED
            if self.uses_llm and now - last_usage >= USAGE_SECONDS:
                self.budget.cost, last_usage = refresh_usage(self.run), now
        self._flush(_drain(outbox))
        if self.uses_llm:
            self.budget.cost = refresh_usage(self.run)
        return stop

    async def _cancel(self, pump: concurrent.futures.Future) -> None:
        pump.cancel()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _pump(self, units: list[_Unit], outbox: queue.SimpleQueue) -> str:
        """Keep up to SYNTH_CONCURRENCY units in flight (no more, so a budget stop overshoots by
        at most that many), judge each as it ends and hand it over. Returns the stop reason,
        or "" when every unit ran (a budget reached on the last one stops the next stage)."""
        pending = deque(units)
        running: dict[asyncio.Task, _Unit] = {}
        stop = ""
        try:
            while True:
                stop = stop or self.budget.stop_reason()
                while not stop and pending and len(running) < self.concurrency:
                    unit = pending.popleft()
                    if self.uses_llm:
                        self.budget.calls += 1  # counted at launch, so the cap is never overshot
                    running[asyncio.create_task(self._perform(unit))] = unit
                    stop = self.budget.stop_reason() if self.budget.max_calls else ""
                if not running:
                    return stop if pending else ""
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in done:
                    outbox.put(self._judge(self._outcome(task, running.pop(task))))
        finally:
            for task in running:
                task.cancel()

    def _outcome(self, task: asyncio.Task, unit: _Unit) -> _Outcome:
        try:
            return task.result()
        except DATABASE_GONE:
            raise  # not this unit's failure: the whole run stops (run_synthesis)
        except Exception as e:  # a bug or a database hiccup in one unit: record it, go on with the run
            log.exception("synthesis run %s: unit %s failed", self.run.pk, unit.id)
            return _Outcome(unit, status=SynthesisUnit.Status.FAILED, error=f"{type(e).__name__}: {e}",
                            launched_call=self.uses_llm)

    # --- one unit ---------------------------------------------------------------------

    async def _perform(self, unit: _Unit) -> _Outcome:
        if not self.uses_llm:
            return self._perform_extractive(unit)
        run, doc = self.run, self.documents[unit.document_id]
        source = entigraph.Source(doc.pk, doc.title, doc.text, doc.content_hash, tuple(doc.entities))
        kind = task_kind(run, unit.stage)
        try:
            if unit.stage == entigraph.ENTITIES:
                value = await self.llm.complete_json(
                    task_kind=kind, system=entigraph.SYSTEM, user=entigraph.entities_prompt(source, limit=run.max_entities),
                    schema=entigraph.ENTITIES_SCHEMA, max_tokens=800, model=run.model,
                )
                entities = entigraph.dedupe_entities(value["entities"], limit=run.max_entities)
                summary = value["summary"].strip()
                return _Outcome(unit, text=summary, kind=SyntheticDocument.Kind.SUMMARY, doc_entities=entities,
                                doc_summary=summary, launched_call=True)
            if unit.stage == entigraph.REPHRASE_STAGE:
                prompt, out_kind = entigraph.rephrase_prompt(source, unit.style), unit.style
            else:
                prompt, out_kind = entigraph.relation_prompt(source, unit.entities), unit.stage
            text = await self.llm.complete(task_kind=kind, system=entigraph.SYSTEM, user=prompt,
                                           max_tokens=settings.SYNTH_MAX_OUTPUT_TOKENS, model=run.model)
        except llm.LLMError as e:
            if e.reason in (llm.LLMError.EMPTY, llm.LLMError.TRUNCATED):  # a reply came, but no whole text to keep
                return _Outcome(unit, dropped=e.reason, launched_call=True)
            return _Outcome(unit, status=SynthesisUnit.Status.FAILED, error=str(e), launched_call=True)
        return _Outcome(unit, text=text.strip(), kind=out_kind, launched_call=True)

    def _perform_extractive(self, unit: _Unit) -> _Outcome:
        doc = self.documents[unit.document_id]
        if unit.stage == entigraph.ENTITIES:
            return _Outcome(unit, doc_entities=entigraph.extract_entities(doc.text, limit=self.run.max_entities))
        passage = entigraph.extractive_passage(doc.text, unit.entities)
        return _Outcome(unit, text=passage, kind=SyntheticDocument.Kind.EXTRACTIVE, dropped="" if passage else "empty")

    def _judge(self, outcome: _Outcome) -> _Outcome:
        """Drop empty, refused, truncated and duplicate texts; count kept tokens for the budget."""
        if outcome.status != SynthesisUnit.Status.DONE or outcome.dropped or not outcome.kind:
            return outcome
        outcome.dropped = entigraph.drop_reason(outcome.text)
        if not outcome.dropped:
            digest = content_hash(outcome.text)
            if digest in self.seen_hashes:
                outcome.dropped = "duplicate"
            else:
                self.seen_hashes.add(digest)
                self.budget.tokens += count_tokens(outcome.text)
        return outcome

    # --- writing ----------------------------------------------------------------------

    def _cancel_requested(self) -> bool:
        if not jobs.beat(SynthesisRun, self.run.pk, self.token):
            raise Superseded
        return jobs.cancel_requested(SynthesisRun, self.run.pk)

    def _flush(self, outcomes: list[_Outcome]) -> None:
        if not outcomes:
            return
        now = timezone.now()
        groups: dict[tuple[str, str, str], list[int]] = {}  # (status, error, dropped) -> unit ids
        texts, docs = [], []
        counts = {"calls": 0, "synthetic_documents": 0, "synthetic_tokens": 0, "dropped_empty": 0,
                  "dropped_refused": 0, "dropped_truncated": 0, "dropped_duplicate": 0}
        for o in outcomes:
            u = o.unit
            groups.setdefault((o.status, o.error[:2000], o.dropped), []).append(u.id)
            counts["calls"] += int(o.launched_call)
            if o.dropped:
                counts[f"dropped_{o.dropped}"] += 1
            elif o.status == SynthesisUnit.Status.DONE and o.kind:
                tokens = count_tokens(o.text)
                texts.append(SyntheticDocument(run_id=self.run.pk, source_id=u.document_id, unit_id=u.id, kind=o.kind,
                                               entities=list(u.entities), text=o.text, tokens=tokens,
                                               content_hash=content_hash(o.text)))
                counts["synthetic_documents"] += 1
                counts["synthetic_tokens"] += tokens
            if o.doc_entities is not None:
                doc = self.documents[u.document_id]
                doc.entities, doc.summary = o.doc_entities, o.doc_summary
                docs.append(doc)
        with transaction.atomic():
            # The row lock orders this write against a takeover: after a resume has claimed the
            # run, an old runner can no longer write anything.
            jobs.assert_owner(SynthesisRun, self.run.pk, self.token, lock=True)
            SyntheticDocument.objects.bulk_create(texts)
            # One UPDATE per outcome (nearly always one or two a flush): bulk_update's CASE per
            # row cost more than all the LLM calls' bookkeeping together.
            for (status, error, dropped), ids in groups.items():
                SynthesisUnit.objects.filter(pk__in=ids).update(
                    status=status, attempts=F("attempts") + 1, error=error, dropped=dropped, finished_at=now)
            if docs:
                CorpusDocument.objects.bulk_update(docs, ["entities", "summary"])
            SynthesisRun.objects.filter(pk=self.run.pk).update(
                heartbeat_at=now, **{name: F(name) + n for name, n in counts.items() if n}
            )
