"""The one gateway to the chat LLM (papers.embeddings is the one for the embeddings endpoint).

Any OpenAI-compatible server (LLM_BASE_URL); empty LLM_BASE_URL is offline mode and every
call raises LLMError. What a call does:
- JSON mode: the reply must be one JSON object matching the caller's JSON Schema; an
  invalid reply gets one repair attempt, then LLMError(retryable=False, reason="invalid").
- Text mode: an empty reply gets one repair attempt, then LLMError(reason="empty"); a reply
  cut off at max_tokens is LLMError(reason="truncated") at once (the same limit would cut
  the next one too), so no caller ever takes half a text for a whole one.
- 429, 5xx, timeouts and connection errors are retried with backoff (a Retry-After header
  wins); when the retries are spent, LLMError(retryable=True) lets a task retry later.
- Replies are cached by model + prompt hash in LLMCall, so a rerun costs nothing.
- Every call, cache hits and failures included, is one LLMCall row (tokens, latency, cost);
  AsyncLLM writes its rows in batches from a thread of its own (_CallRecorder).

Sync callers (Celery tasks) use complete()/complete_json(). Async callers that fan out many
calls use one AsyncLLM, which shares a client and caps the calls in flight with a semaphore:

    async with AsyncLLM(limit=16) as llm:
        results = await asyncio.gather(*(llm.complete_json(...) for pair in pairs), return_exceptions=True)
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import json
import logging
import queue
import re
import threading
import time
from dataclasses import dataclass, replace
from decimal import Decimal

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
    return _run_sync(req, _parse_text)


def complete_json(
    *, task_kind: str, system: str, user: str, schema: dict, max_tokens: int = 800, model: str | None = None
) -> dict:
    """A JSON object validated against `schema` (a JSON Schema subset: object, array, string,
    integer, number, boolean; properties, required, additionalProperties, items, enum,
    minLength, maxLength, minItems, maxItems)."""
    req = _request(task_kind=task_kind, system=system, user=user, schema=schema, max_tokens=max_tokens, model=model)
    return _run_sync(req, lambda text: _parse_json(text, schema))


class AsyncLLM:
    """One client and one semaphore for many concurrent calls (synthesis fans out this way)."""

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

    def _record(self, **fields) -> None:
        self._recorder.add(LLMCall(**fields))

    async def complete(self, *, task_kind: str, system: str, user: str, max_tokens: int = 800, model: str | None = None) -> str:
        req = _request(task_kind=task_kind, system=system, user=user, schema=None, max_tokens=max_tokens, model=model)
        return await self._run(req, _parse_text)

    async def complete_json(
        self, *, task_kind: str, system: str, user: str, schema: dict, max_tokens: int = 800, model: str | None = None
    ) -> dict:
        req = _request(task_kind=task_kind, system=system, user=user, schema=schema, max_tokens=max_tokens, model=model)
        return await self._run(req, lambda text: _parse_json(text, schema))

    async def _run(self, req: _Request, parse):
        # The same steps as _run_sync, with the async ORM and client.
        cached = await _cached_query(req).afirst()
        if cached is not None:
            try:
                value = parse(cached)
            except _InvalidOutput:
                pass  # cached under an older validator; ask again
            else:
                self._record(**_fields(req, ok=True, cache_hit=True))
                return value
        reply = await self._send(req)
        try:
            value = _parsed(req, reply, parse)
        except _InvalidOutput as bad:
            self._record(**_fields(req, reply=reply, ok=False, error=f"invalid output: {bad}"))
            if not _worth_repairing(req, bad):
                raise _gave_up(req, bad, repaired=False) from None
            req = req.repair(reply.text, str(bad))
            reply = await self._send(req)
            try:
                value = _parsed(req, reply, parse)
            except _InvalidOutput as bad:
                self._record(**_fields(req, reply=reply, ok=False, error=f"invalid output: {bad}"))
                raise _gave_up(req, bad, repaired=True) from None
        self._record(**_fields(req, reply=reply, ok=True))
        return value

    async def _send(self, req: _Request) -> _Reply:
        attempt = 0
        while True:
            async with self._slots:  # the slot is held for the request only, not for a backoff wait
                started = time.monotonic()
                try:
                    completion = await self._client.chat.completions.create(**req.params())
                except openai.OpenAIError as e:
                    error, latency = _error_from(e), _ms_since(started)
                else:
                    return _reply_from(completion, started)
            self._record(**_fields(req, ok=False, error=str(error), latency_ms=latency))
            wait = _retry_wait(error, attempt, req)
            if wait is None:
                raise error
            await asyncio.sleep(wait)
            attempt += 1


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


# --- one call, sync ----------------------------------------------------------------------


def _run_sync(req: _Request, parse):
    cached = _cached_query(req).first()
    if cached is not None:
        try:
            value = parse(cached)
        except _InvalidOutput:
            pass  # cached under an older validator; ask again
        else:
            LLMCall.objects.create(**_fields(req, ok=True, cache_hit=True))
            return value
    _require_configured()
    client = _client()
    reply = _send_sync(client, req)
    try:
        value = _parsed(req, reply, parse)
    except _InvalidOutput as bad:
        LLMCall.objects.create(**_fields(req, reply=reply, ok=False, error=f"invalid output: {bad}"))
        if not _worth_repairing(req, bad):
            raise _gave_up(req, bad, repaired=False) from None
        req = req.repair(reply.text, str(bad))
        reply = _send_sync(client, req)
        try:
            value = _parsed(req, reply, parse)
        except _InvalidOutput as bad:
            LLMCall.objects.create(**_fields(req, reply=reply, ok=False, error=f"invalid output: {bad}"))
            raise _gave_up(req, bad, repaired=True) from None
    LLMCall.objects.create(**_fields(req, reply=reply, ok=True))
    return value


def _client() -> openai.OpenAI:
    """The sync client for the current settings, built on first use, never at import."""
    options = _client_options()
    return _cached_client(options["base_url"], options["api_key"], options["timeout"])


@functools.lru_cache(maxsize=4)
def _cached_client(base_url: str, api_key: str, timeout: float) -> openai.OpenAI:
    # Building a client costs ~90 ms here and a kept-alive connection saves a handshake per call,
    # so each process keeps one per configuration. Retries are ours (max_retries=0): each attempt is recorded.
    return openai.OpenAI(base_url=base_url, api_key=api_key, timeout=timeout, max_retries=0)


def _send_sync(client: openai.OpenAI, req: _Request) -> _Reply:
    attempt = 0
    while True:
        started = time.monotonic()
        try:
            completion = client.chat.completions.create(**req.params())
        except openai.OpenAIError as e:
            error = _error_from(e)
            LLMCall.objects.create(**_fields(req, ok=False, error=str(error), latency_ms=_ms_since(started)))
            wait = _retry_wait(error, attempt, req)
            if wait is None:
                raise error from e
            time.sleep(wait)
            attempt += 1
        else:
            return _reply_from(completion, started)


# --- the parts both paths share ----------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    task_kind: str
    model: str
    messages: tuple[dict, ...]
    schema: dict | None
    max_tokens: int
    key: str  # the prompt hash: with the model, the cache key

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


def _request(*, task_kind: str, system: str, user: str, schema: dict | None, max_tokens: int, model: str | None) -> _Request:
    if schema is not None:
        system = (
            f"{system}\n\nReply with one JSON object that matches this JSON Schema, and nothing else:\n"
            f"{json.dumps(schema, ensure_ascii=False, sort_keys=True)}"
        )
    messages = ({"role": "system", "content": system}, {"role": "user", "content": user})
    model = model or settings.LLM_MODEL
    payload = json.dumps({"messages": messages, "schema": schema, "max_tokens": max_tokens}, ensure_ascii=False, sort_keys=True)
    key = hashlib.sha256(payload.encode()).hexdigest()
    return _Request(task_kind=task_kind, model=model, messages=messages, schema=schema, max_tokens=max_tokens, key=key)


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
    usage = completion.usage
    details = getattr(usage, "prompt_tokens_details", None) if usage else None
    choice = completion.choices[0] if completion.choices else None
    text = (choice.message.content or "") if choice else ""
    return _Reply(
        text=text,
        truncated=choice is not None and choice.finish_reason == "length",
        prompt_tokens=(usage.prompt_tokens or 0) if usage else 0,
        completion_tokens=(usage.completion_tokens or 0) if usage else 0,
        cached_tokens=(getattr(details, "cached_tokens", 0) or 0) if details else 0,
        latency_ms=_ms_since(started),
    )


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


def _parse_json(text: str, schema: dict) -> dict:
    text = text.strip()
    if m := _FENCE.match(text):  # local models often wrap JSON in a code fence
        text = m.group(1)
    try:
        value = json.loads(text)
    except json.JSONDecodeError as e:
        raise _InvalidOutput(f"not JSON ({e.msg} at line {e.lineno} column {e.colno})") from None
    _validate(value, schema, "$")
    return value


_TYPES = {"object": dict, "array": list, "string": str, "boolean": bool, "integer": int, "number": (int, float)}


def _validate(value, schema: dict, path: str) -> None:
    kind = schema.get("type")
    if kind:
        expected = _TYPES[kind]
        if not isinstance(value, expected) or (kind in ("integer", "number") and isinstance(value, bool)):
            raise _InvalidOutput(f"{path}: expected {kind}, got {type(value).__name__}")
    if "enum" in schema and value not in schema["enum"]:
        raise _InvalidOutput(f"{path}: {str(value)[:80]!r} is not one of the allowed values")
    if isinstance(value, str):
        if len(value.strip()) < schema.get("minLength", 0):
            raise _InvalidOutput(f"{path}: shorter than {schema['minLength']} characters")
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise _InvalidOutput(f"{path}: longer than {schema['maxLength']} characters")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            raise _InvalidOutput(f"{path}: fewer than {schema['minItems']} items")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise _InvalidOutput(f"{path}: more than {schema['maxItems']} items")
        for i, item in enumerate(value):
            _validate(item, schema.get("items", {}), f"{path}[{i}]")
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        for name in schema.get("required", []):
            if name not in value:
                raise _InvalidOutput(f"{path}: missing {name!r}")
        if schema.get("additionalProperties") is False and (extra := set(value) - set(properties)):
            raise _InvalidOutput(f"{path}: unexpected {sorted(extra)}")
        for name, sub in properties.items():
            if name in value:
                _validate(value[name], sub, f"{path}.{name}")
