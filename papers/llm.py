"""The one gateway to the chat LLM (papers.embeddings is the one for the embeddings endpoint).

Any OpenAI-compatible server (LLM_BASE_URL); empty LLM_BASE_URL is offline mode and every
call raises LLMError. What a call does:
- JSON mode: the reply must be one JSON object matching the caller's JSON Schema (checked
  by jsonschema); an invalid reply gets one repair attempt, then
  LLMError(retryable=False, reason="invalid").
- Text mode: an empty reply gets one repair attempt, then LLMError(reason="empty"); a reply
  cut off at max_tokens is LLMError(reason="truncated") at once (the same limit would cut
  the next one too), so no caller ever takes half a text for a whole one.
- 429, 5xx, timeouts and connection errors are retried with backoff (a Retry-After header
  wins); when the retries are spent, LLMError(retryable=True) lets a task retry later.
- Replies are cached by model + prompt hash in LLMCall, so a rerun costs nothing.
- Streaming (sync, JSON mode): with on_text, the reply is streamed and on_text sees the text
  so far after each piece; what the call returns is still the whole reply, checked as above.
  A stream that stops early or stalls past LLM_TIMEOUT is a failed attempt, retried as such.
- Every call, cache hits and failures included, is one LLMCall row (tokens, latency, cost);
  AsyncLLM writes its rows in batches from a thread of its own (_CallRecorder).

Sync callers (Celery tasks) use complete()/complete_json(). Async callers that fan out many
calls use one AsyncLLM, which shares a client and caps the calls in flight with a semaphore:

    async with AsyncLLM(limit=16) as llm:
        results = await asyncio.gather(*(llm.complete_json(...) for pair in pairs), return_exceptions=True)

How the two share one flow: _flow() is a generator that holds every decision (cache, retries,
backoff, repair, what to record) and does no I/O. It yields a step (_Lookup, _Send, _Record,
_Wait) and is sent back the step's answer. _run_sync() carries out the steps with the sync
ORM, openai.OpenAI and time.sleep; AsyncLLM._run() with the async ORM, openai.AsyncOpenAI,
the semaphore and asyncio.sleep. A change to what a call does is made once, in _flow().
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import itertools
import json
import logging
import queue
import re
import threading
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field, replace
from decimal import Decimal

import jsonschema
import openai
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connection, connections

from papers.backoff import backoff_delay, retry_after_seconds
from papers.models import LLMCall

log = logging.getLogger(__name__)

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.S)


class LLMError(Exception):
    """The one error the gateway raises. retryable: the same call may succeed later
    (rate limit, server error, timeout); retry_after: seconds the server asked for;
    reason: what was wrong with a reply that did come (EMPTY, TRUNCATED, INVALID), or ""."""

    EMPTY, TRUNCATED, INVALID = "empty", "truncated", "invalid"

    def __init__(self, message: str, *, retryable: bool = False, retry_after: float | None = None, reason: str = ""):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.reason = reason


class _InvalidOutput(ValueError):
    def __init__(self, message: str, *, reason: str = LLMError.INVALID):
        super().__init__(message)
        self.reason = reason


def is_configured() -> bool:
    """False in offline mode (no LLM_BASE_URL): callers fall back and the pages say so."""
    return bool(settings.LLM_BASE_URL)


def model_name() -> str:
    return settings.LLM_MODEL


def complete(*, task_kind: str, system: str, user: str, max_tokens: int = 800, model: str | None = None) -> str:
    """A plain-text reply."""
    req = _request(task_kind=task_kind, system=system, user=user, schema=None, max_tokens=max_tokens, model=model)
    return _run_sync(_flow(req, _parse_text))


def complete_json(
    *, task_kind: str, system: str, user: str, schema: dict, max_tokens: int = 800, model: str | None = None,
    on_text: Callable[[str], None] | None = None,
) -> dict:
    """A JSON object valid under `schema`, a JSON Schema (draft 2020-12, checked by jsonschema).
    One difference from the standard: minLength does not count leading and trailing
    whitespace, so a reply of spaces is no text. on_text: stream the reply, calling it with
    the text so far (of the current attempt) as it comes; a cached reply is not streamed."""
    req = _request(task_kind=task_kind, system=system, user=user, schema=schema, max_tokens=max_tokens, model=model,
                   on_text=on_text)
    return _run_sync(_flow(req, functools.partial(_parse_json, validator=_validator(schema))))


class AsyncLLM:
    """One client and one semaphore for many concurrent calls (synthesis and enrichment
    batches fan out this way)."""

    def __init__(self, *, limit: int | None = None):
        self.limit = limit or settings.LLM_CONCURRENCY
        self._client: openai.AsyncOpenAI | None = None
        self._slots: asyncio.Semaphore | None = None
        self._recorder: _CallRecorder | None = None

    async def __aenter__(self) -> AsyncLLM:
        _require_configured()
        # aiohttp's connection pool, not httpx's: with dozens of calls in flight, httpx scans
        # every pooled connection on each request and took a third of the event loop's time.
        self._client = openai.AsyncOpenAI(**_client_options(), max_retries=0, http_client=openai.DefaultAioHttpClient())
        self._slots = asyncio.Semaphore(self.limit)
        self._recorder = _CallRecorder()
        return self

    async def __aexit__(self, *exc) -> None:
        await self._client.close()
        await asyncio.to_thread(self._recorder.close)  # every row is written when this returns
        await sync_to_async(_release_connections)()

    async def complete(self, *, task_kind: str, system: str, user: str, max_tokens: int = 800, model: str | None = None) -> str:
        req = _request(task_kind=task_kind, system=system, user=user, schema=None, max_tokens=max_tokens, model=model)
        return await self._run(_flow(req, _parse_text))

    async def complete_json(
        self, *, task_kind: str, system: str, user: str, schema: dict, max_tokens: int = 800, model: str | None = None
    ) -> dict:
        req = _request(task_kind=task_kind, system=system, user=user, schema=schema, max_tokens=max_tokens, model=model)
        return await self._run(_flow(req, functools.partial(_parse_json, validator=_validator(schema))))

    async def _run(self, flow: _Flow):
        answer = None
        while True:
            try:
                step = flow.send(answer)
            except StopIteration as done:
                return done.value
            answer = await self._do(step)

    async def _do(self, step: _Step):
        if isinstance(step, _Send):
            async with self._slots:  # the slot is held for the request only, not for a backoff wait
                started = time.monotonic()
                try:
                    completion = await self._client.chat.completions.create(**step.req.params())
                except openai.OpenAIError as e:
                    return _Failure(_error_from(e), cause=e, latency_ms=_ms_since(started))
                return _reply_from(completion, started)
        if isinstance(step, _Lookup):
            return await _cached_query(step.req).afirst()
        if isinstance(step, _Record):
            self._recorder.add(LLMCall(**step.fields))
        elif isinstance(step, _Wait):
            await asyncio.sleep(step.seconds)
        return None


def _run_sync(flow: _Flow):
    answer = None
    while True:
        try:
            step = flow.send(answer)
        except StopIteration as done:
            return done.value
        answer = _do_sync(step)


def _do_sync(step: _Step):
    if isinstance(step, _Send) and step.req.on_text is not None:
        return _send_streamed(step.req)
    if isinstance(step, _Send):
        started = time.monotonic()
        try:
            completion = _client().chat.completions.create(**step.req.params())
        except openai.OpenAIError as e:
            return _Failure(_error_from(e), cause=e, latency_ms=_ms_since(started))
        return _reply_from(completion, started)
    if isinstance(step, _Lookup):
        return _cached_query(step.req).first()
    if isinstance(step, _Record):
        LLMCall.objects.create(**step.fields)
    elif isinstance(step, _Wait):
        time.sleep(step.seconds)
    return None


def _send_streamed(req: _Request) -> _Reply | _Failure:
    """One attempt as a stream: req.on_text sees the text so far after each piece."""
    started = time.monotonic()
    pieces: list[str] = []
    finish, usage = None, None
    try:
        with _client().chat.completions.create(**req.params(), stream=True, stream_options={"include_usage": True}) as stream:
            for chunk in stream:
                usage = chunk.usage or usage
                for choice in chunk.choices:
                    if choice.delta is not None and choice.delta.content:
                        pieces.append(choice.delta.content)
                        req.on_text("".join(pieces))
                    finish = choice.finish_reason or finish
    except openai.OpenAIError as e:
        return _Failure(_error_from(e), cause=e, latency_ms=_ms_since(started))
    if finish is None:  # the connection closed mid-reply: not a reply, whatever came of it
        return _Failure(LLMError("the reply's stream ended before the reply did", retryable=True), cause=None,
                        latency_ms=_ms_since(started))
    return _Reply(text="".join(pieces), truncated=finish == "length", latency_ms=_ms_since(started), **_usage_fields(usage))


# --- the flow of one call, written once ----------------------------------------------------


@dataclass(frozen=True)
class _Lookup:
    """Answered with the cached reply text for the request, or None."""

    req: _Request


@dataclass(frozen=True)
class _Send:
    """Answered with a _Reply, or a _Failure when the request did not get one."""

    req: _Request


@dataclass(frozen=True)
class _Record:
    """Write one LLMCall row with these fields; answered with None."""

    fields: dict


@dataclass(frozen=True)
class _Wait:
    seconds: float


_Step = _Lookup | _Send | _Record | _Wait
_Flow = Generator[_Step, object, object]


@dataclass(frozen=True)
class _Failure:
    error: LLMError
    cause: openai.OpenAIError | None
    latency_ms: int


def _flow(req: _Request, parse: Callable[[str], object]) -> _Flow:
    """One call: the cache, then the request (with its retries), then the reply checked by
    `parse`, with one repair attempt. Returns what `parse` returned or raises LLMError."""
    cached = yield _Lookup(req)
    if cached is not None:
        try:
            value = parse(cached)
        except _InvalidOutput:
            pass  # cached under an older validator; ask again
        else:
            yield _Record(_fields(req, ok=True, cache_hit=True))
            return value
    _require_configured()
    reply = yield from _send(req)
    try:
        value = _parsed(req, reply, parse)
    except _InvalidOutput as bad:
        yield _Record(_fields(req, reply=reply, ok=False, error=f"invalid output: {bad}"))
        if not _worth_repairing(req, bad):
            raise _gave_up(req, bad, repaired=False) from None
        req = req.repair(reply.text, str(bad))
        reply = yield from _send(req)
        try:
            value = _parsed(req, reply, parse)
        except _InvalidOutput as bad:
            yield _Record(_fields(req, reply=reply, ok=False, error=f"invalid output: {bad}"))
            raise _gave_up(req, bad, repaired=True) from None
    yield _Record(_fields(req, reply=reply, ok=True))
    return value


def _send(req: _Request) -> Generator[_Step, object, _Reply]:
    """The request until it gets a reply: every failed attempt is recorded, and retried
    after a wait while _retry_wait allows."""
    for attempt in itertools.count():
        answer = yield _Send(req)
        if isinstance(answer, _Reply):
            return answer
        yield _Record(_fields(req, ok=False, error=str(answer.error), latency_ms=answer.latency_ms))
        wait = _retry_wait(answer.error, attempt, req)
        if wait is None:
            raise answer.error from answer.cause
        yield _Wait(wait)


class _CallRecorder:
    """Writes AsyncLLM's LLMCall rows in batches, from a thread with its own connection.

    With many calls in flight, one INSERT per call through the async ORM (which runs every
    query on one shared thread, one at a time) became the ceiling on calls per second. Rows
    wait at most RECORD_SECONDS; a killed process loses at most those, which costs only
    their cache entries (the calls are asked again). Adding a row never blocks and never
    fails, so a cancelled caller cannot leave a half-written batch."""

    RECORD_SECONDS = 0.2

    def __init__(self):
        self._rows: queue.SimpleQueue[LLMCall] = queue.SimpleQueue()
        self._closing = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="llm-call-recorder", daemon=True)
        self._thread.start()

    def add(self, row: LLMCall) -> None:
        self._rows.put(row)

    def close(self) -> None:
        self._closing.set()
        self._thread.join()

    def _loop(self) -> None:
        try:
            while not self._closing.wait(self.RECORD_SECONDS):
                self._write()
            self._write()
        finally:
            connection.close()  # this thread's own

    def _write(self) -> None:
        batch = []
        while True:
            try:
                batch.append(self._rows.get_nowait())
            except queue.Empty:
                break
        if not batch:
            return
        try:
            LLMCall.objects.bulk_create(batch, batch_size=500)
        except Exception:  # the database is down: the calls were made, only their records are lost
            log.exception("could not record %d LLM calls", len(batch))


def _release_connections() -> None:
    # Run from asyncio.run() outside any sync context, the async ORM works on asgiref's own
    # thread, whose connection would stay open (and block dropping a test database).
    for conn in connections.all(initialized_only=True):
        if not conn.in_atomic_block:
            conn.close()


def _client() -> openai.OpenAI:
    """The sync client for the current settings, built on first use, never at import."""
    options = _client_options()
    return _cached_client(options["base_url"], options["api_key"], options["timeout"])


@functools.lru_cache(maxsize=4)
def _cached_client(base_url: str, api_key: str, timeout: float) -> openai.OpenAI:
    # Building a client costs ~90 ms here and a kept-alive connection saves a handshake per call,
    # so each process keeps one per configuration. Retries are ours (max_retries=0): each attempt is recorded.
    return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)


# --- the request, the reply and their checks -----------------------------------------------


@dataclass(frozen=True)
class _Request:
    task_kind: str
    model: str
    messages: tuple[dict, ...]
    schema: dict | None
    max_tokens: int
    key: str  # the prompt hash: with the model, the cache key
    on_text: Callable[[str], None] | None = field(default=None, compare=False, repr=False)  # streamed when set

    def params(self) -> dict:
        params = {"model": self.model, "messages": list(self.messages), "max_tokens": self.max_tokens, "temperature": 0}
        if self.schema is not None:
            # Servers that ignore response_format still see the schema in the system prompt,
            # and the reply is validated here either way.
            params["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": re.sub(r"[^a-zA-Z0-9_-]", "_", self.task_kind), "schema": self.schema},
            }
        return params

    def repair(self, bad_output: str, problem: str) -> _Request:
        ask = f"That reply was not valid: {problem}. Reply again with only the corrected JSON object."
        if self.schema is None:
            ask = f"That reply was not usable: {problem}. Reply again."
        messages = self.messages + ({"role": "assistant", "content": bad_output}, {"role": "user", "content": ask})
        return replace(self, messages=messages)  # same key: the repaired answer serves later cache hits


@dataclass(frozen=True)
class _Reply:
    text: str
    truncated: bool  # finish_reason "length": the server stopped at max_tokens
    prompt_tokens: int
    completion_tokens: int
    cached_tokens: int
    latency_ms: int


def _request(*, task_kind: str, system: str, user: str, schema: dict | None, max_tokens: int, model: str | None,
             on_text: Callable[[str], None] | None = None) -> _Request:
    if schema is not None:
        system = (
            f"{system}\n\nReply with one JSON object that matches this JSON Schema, and nothing else:\n"
            f"{json.dumps(schema, ensure_ascii=False, sort_keys=True)}"
        )
    messages = ({"role": "system", "content": system}, {"role": "user", "content": user})
    model = model or settings.LLM_MODEL
    payload = json.dumps({"messages": messages, "schema": schema, "max_tokens": max_tokens}, ensure_ascii=False, sort_keys=True)
    key = hashlib.sha256(payload.encode()).hexdigest()
    return _Request(task_kind=task_kind, model=model, messages=messages, schema=schema, max_tokens=max_tokens, key=key,
                    on_text=on_text)


def _require_configured() -> None:
    if not is_configured():
        raise LLMError("no LLM configured (LLM_BASE_URL is empty): offline mode", retryable=False)


def _client_options() -> dict:
    # Built from the settings of the moment, never at import: tests and workers set them late.
    return {"base_url": settings.LLM_BASE_URL, "api_key": settings.LLM_API_KEY or "unused", "timeout": settings.LLM_TIMEOUT}


def _cached_query(req: _Request):
    return (
        LLMCall.objects.filter(model=req.model, prompt_hash=req.key, ok=True, cache_hit=False)
        .order_by("-created_at")
        .values_list("response", flat=True)
    )


def _error_from(e: openai.OpenAIError) -> LLMError:
    if isinstance(e, openai.APITimeoutError):
        return LLMError(f"timed out after {settings.LLM_TIMEOUT:g} s", retryable=True)
    if isinstance(e, openai.APIConnectionError):
        return LLMError(f"cannot reach the LLM server at {settings.LLM_BASE_URL}: {e}", retryable=True)
    if isinstance(e, openai.APIStatusError):
        status = e.status_code
        retry_after = retry_after_seconds(e.response.headers.get("retry-after"))
        # 408 and 409 are worth another try; any other 4xx will fail the same way again.
        retryable = status == 429 or status >= 500 or status in (408, 409)
        return LLMError(f"HTTP {status} from the LLM server: {e.message}", retryable=retryable, retry_after=retry_after)
    return LLMError(f"LLM client error: {e}", retryable=False)


def _retry_wait(error: LLMError, attempt: int, req: _Request) -> float | None:
    """Seconds to wait before retry number `attempt`, or None to give up now."""
    if not error.retryable or attempt >= settings.LLM_MAX_RETRIES:
        return None
    if error.retry_after is not None:
        if error.retry_after > settings.LLM_RETRY_AFTER_MAX:
            return None  # too long to hold a worker: the task retries later (LLMError.retry_after)
        wait, why = error.retry_after, "Retry-After"
    else:
        wait, why = backoff_delay(attempt, base=settings.LLM_BACKOFF_BASE), "backoff"
    log.warning("%s: %s; retry %d of %d in %.2f s (%s)", req.task_kind, error, attempt + 1, settings.LLM_MAX_RETRIES, wait, why)
    return wait


def _parsed(req: _Request, reply: _Reply, parse):
    if reply.truncated:
        raise _InvalidOutput(f"cut off at max_tokens ({req.max_tokens})", reason=LLMError.TRUNCATED)
    return parse(reply.text)


def _worth_repairing(req: _Request, bad: _InvalidOutput) -> bool:
    # A text cut off at max_tokens would be cut off again; a JSON object may come back shorter.
    return not (bad.reason == LLMError.TRUNCATED and req.schema is None)


def _gave_up(req: _Request, problem: _InvalidOutput, *, repaired: bool) -> LLMError:
    after = "after one repair attempt" if repaired else "(not worth a repair attempt)"
    log.error("%s: invalid output %s: %s", req.task_kind, after, problem)
    return LLMError(f"{req.task_kind}: invalid output {after}: {problem}", retryable=False, reason=problem.reason)


def _reply_from(completion, started: float) -> _Reply:
    choice = completion.choices[0] if completion.choices else None
    text = (choice.message.content or "") if choice else ""
    return _Reply(text=text, truncated=choice is not None and choice.finish_reason == "length",
                  latency_ms=_ms_since(started), **_usage_fields(completion.usage))


def _usage_fields(usage) -> dict:
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    return {
        "prompt_tokens": (usage.prompt_tokens or 0) if usage else 0,
        "completion_tokens": (usage.completion_tokens or 0) if usage else 0,
        "cached_tokens": (getattr(details, "cached_tokens", 0) or 0) if details else 0,
    }


def _fields(req: _Request, *, ok: bool, reply: _Reply | None = None, error: str = "", cache_hit: bool = False, latency_ms: int = 0) -> dict:
    fields = {"task_kind": req.task_kind[:32], "model": req.model[:120], "prompt_hash": req.key, "ok": ok, "error": error, "cache_hit": cache_hit}
    if reply is not None:
        fields.update(
            prompt_tokens=reply.prompt_tokens,
            completion_tokens=reply.completion_tokens,
            cached_tokens=reply.cached_tokens,
            latency_ms=reply.latency_ms,
            cost_usd=_cost(reply),
            response=reply.text,
        )
    else:
        fields["latency_ms"] = latency_ms
    return fields


def _cost(reply: _Reply) -> Decimal:
    dollars = (
        Decimal(reply.prompt_tokens) * Decimal(str(settings.LLM_PRICE_INPUT_PER_MTOK))
        + Decimal(reply.completion_tokens) * Decimal(str(settings.LLM_PRICE_OUTPUT_PER_MTOK))
    ) / Decimal(1_000_000)
    return dollars.quantize(Decimal("0.000001"))


def _ms_since(started: float) -> int:
    return int((time.monotonic() - started) * 1000)


def _parse_text(text: str) -> str:
    if not text.strip():
        raise _InvalidOutput("empty reply", reason=LLMError.EMPTY)
    return text.strip()


def _parse_json(text: str, *, validator: jsonschema.protocols.Validator) -> dict:
    text = text.strip()
    if m := _FENCE.match(text):  # local models often wrap JSON in a code fence
        text = m.group(1)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise _InvalidOutput(f"not JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    if problems := [_problem(e) for e in sorted(validator.iter_errors(value), key=lambda e: list(e.path))]:
        # Every problem at once, so that the repair attempt can fix them all.
        raise _InvalidOutput("; ".join(problems[:5]) + (f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""))
    return value


def _min_length_stripped(validator, min_length, instance, schema):
    # The one change to the standard: leading and trailing whitespace do not count, or a
    # reply of spaces would pass as a summary.
    if validator.is_type(instance, "string") and len(instance.strip()) < min_length:
        yield jsonschema.ValidationError(f"shorter than {min_length} characters")


_Validator = jsonschema.validators.extend(jsonschema.Draft202012Validator, {"minLength": _min_length_stripped})


@functools.lru_cache(maxsize=64)
def _cached_validator(schema_json: str) -> jsonschema.protocols.Validator:
    # Not checked against the metaschema: at a few ms a schema (and translations have one per
    # paper) that cost more event-loop time than the rest of a call. A broken schema still fails
    # loudly (jsonschema.SchemaError or a TypeError) on the first reply it checks.
    return _Validator(json.loads(schema_json))


def _validator(schema: dict) -> jsonschema.protocols.Validator:
    return _cached_validator(json.dumps(schema, sort_keys=True))


def _problem(error: jsonschema.ValidationError) -> str:
    """One line for the log and for the repair prompt: where, and what is wrong, without
    repeating a long value back (jsonschema's own messages quote it whole)."""
    value, expected = error.instance, error.validator_value
    message = {
        "type": lambda: f"expected {expected}, got {type(value).__name__}",
        "enum": lambda: f"{str(value)[:80]!r} is not one of the allowed values",
        "maxLength": lambda: f"longer than {expected} characters",
        "minItems": lambda: f"fewer than {expected} items",
        "maxItems": lambda: f"more than {expected} items",
        "additionalProperties": lambda: f"unexpected {sorted(set(value) - set(error.schema.get('properties', {})))}",
    }.get(error.validator, lambda: error.message[:200])()
    return f"{error.json_path}: {message}"


