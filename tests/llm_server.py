"""A scripted OpenAI-compatible server over real HTTP, for tests and benchmarks.

It answers POST /v1/chat/completions in a thread on 127.0.0.1. By default every reply is
valid: for a JSON-schema request (response_format) an object built from the schema, else a
line of text. Tests script what the next matching requests get:

    server.script(Reply.rate_limited(retry_after=1))            # the next request: 429
    server.script(Reply.broken_json(), match="Chinese", times=2) # the next two that mention Chinese
    server.script(Reply.error(500), times=None)                  # every request from now on
    server.responder = lambda request: {...}                     # the content of normal replies
    server.script(Reply.stall_mid_stream(after_chars=40, seconds=5))  # a streamed reply that stops

A request with "stream": true is answered with server-sent events, as OpenAI streams: the
reply's content in pieces of STREAM_PIECE_CHARS, `stream_interval` seconds apart, after the
usual latency, then the usage (when stream_options asks for it) and [DONE].

It counts requests and calls in flight (max and time-weighted mean), for assertions and
for bench/ingest.py.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass(frozen=True)
class Reply:
    kind: str = "ok"  # ok | slow | status | broken_json | text | cut_off | stall
    status: int = 200
    delay: float = 0.0
    retry_after: str | None = None
    content: str | None = None
    after_chars: int = 0  # stall: what is sent before the stream stops

    @classmethod
    def ok(cls) -> Reply:
        return cls()

    @classmethod
    def slow(cls, seconds: float) -> Reply:
        return cls(kind="slow", delay=seconds)

    @classmethod
    def rate_limited(cls, retry_after: float | str = 1) -> Reply:
        return cls(kind="status", status=429, retry_after=str(retry_after))

    @classmethod
    def error(cls, status: int = 500) -> Reply:
        return cls(kind="status", status=status)

    @classmethod
    def broken_json(cls) -> Reply:
        return cls(kind="broken_json")

    @classmethod
    def text(cls, content: str) -> Reply:
        return cls(kind="text", content=content)

    @classmethod
    def stall_mid_stream(cls, *, after_chars: int, seconds: float) -> Reply:
        """A streamed reply that sends its first after_chars characters, then nothing for
        `seconds`, then closes the connection without finishing (a server that hangs or dies)."""
        return cls(kind="stall", delay=seconds, after_chars=after_chars)

    @classmethod
    def cut_off(cls, content: str) -> Reply:
        """A reply the server stopped at max_tokens (finish_reason "length")."""
        return cls(kind="cut_off", content=content)


@dataclass
class _Scripted:
    reply: Reply
    match: str | None
    times: int | None  # None: for ever


@dataclass
class Received:
    body: dict
    prompt: str  # system and user messages joined, for matching and assertions
    reply: Reply
    status: int = 0


STREAM_PIECE_CHARS = 16


class ScriptedLLMServer:
    def __init__(self, *, latency: float = 0.0, model: str = "scripted-model", stream_interval: float = 0.0):
        self.latency = latency  # seconds before every normal reply (bench: 0.3)
        self.stream_interval = stream_interval  # seconds between the pieces of a streamed reply
        self.model = model
        self.responder = None  # request body -> dict (JSON mode) or str; None: built from the schema
        self.received: list[Received] = []
        self._script: list[_Scripted] = []
        self._lock = threading.Lock()
        self._in_flight = 0
        self.max_in_flight = 0
        self._busy_area = 0.0  # integral of calls in flight over time
        self._last_change = None
        self._first_start = None
        self._last_end = None
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="scripted-llm", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def start(self) -> ScriptedLLMServer:
        self._thread.start()
        return self

    def configure(self, settings) -> None:
        """Point papers.llm (this process's settings) at this server."""
        settings.LLM_BASE_URL, settings.LLM_MODEL, settings.LLM_API_KEY = self.url, self.model, "test-key"

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> ScriptedLLMServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # --- scripting --------------------------------------------------------------------

    def script(self, *replies: Reply, match: str | None = None, times: int | None = 1) -> None:
        """Queue replies for the next requests whose prompt contains `match` (any request if None)."""
        with self._lock:
            for reply in replies:
                self._script.append(_Scripted(reply, match, times))

    def clear_script(self) -> None:
        with self._lock:
            self._script.clear()

    def reset_counts(self) -> None:
        with self._lock:
            self.received.clear()
            self.max_in_flight = 0
            self._busy_area, self._last_change, self._first_start, self._last_end = 0.0, None, None, None

    @property
    def request_count(self) -> int:
        return len(self.received)

    def prompts(self, status: int | None = None) -> list[str]:
        return [r.prompt for r in self.received if status is None or r.status == status]

    @property
    def mean_in_flight(self) -> float:
        """Calls in flight on average between the first request and the last reply."""
        with self._lock:
            if self._first_start is None or self._last_end is None or self._last_end <= self._first_start:
                return 0.0
            return self._busy_area / (self._last_end - self._first_start)

    # --- inside the handler -------------------------------------------------------------

    def _take(self, prompt: str) -> Reply:
        with self._lock:
            for item in self._script:
                if item.match is None or item.match in prompt:
                    if item.times is not None:
                        item.times -= 1
                        if item.times <= 0:
                            self._script.remove(item)
                    return item.reply
        return Reply.ok()

    def _enter(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._account(now)
            self._in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self._in_flight)
            if self._first_start is None:
                self._first_start = now

    def _leave(self) -> None:
        with self._lock:
            now = time.monotonic()
            self._account(now)
            self._in_flight -= 1
            self._last_end = now

    def _account(self, now: float) -> None:
        if self._last_change is not None:
            self._busy_area += self._in_flight * (now - self._last_change)
        self._last_change = now

    def _content(self, body: dict, prompt: str):
        if self.responder is not None:
            return self.responder(body)
        fmt = body.get("response_format") or {}
        schema = (fmt.get("json_schema") or {}).get("schema")
        if schema:
            return fake_from_schema(schema, prompt)
        return f"Scripted reply ({hashlib.sha256(prompt.encode()).hexdigest()[:8]})."


def fake_from_schema(schema: dict, prompt: str, name: str = "value"):
    """A value that satisfies `schema`, deterministic for the prompt. Enum items that the
    prompt mentions are preferred, so a tag suggestion picks tags named in the text."""
    digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
    kind = schema.get("type")
    if "enum" in schema:
        return schema["enum"][0]
    if kind == "object":
        props = schema.get("properties", {})
        return {key: fake_from_schema(sub, prompt, key) for key, sub in props.items()}
    if kind == "array":
        items = schema.get("items", {})
        if "enum" in items:
            lowered = prompt.lower()
            picked = [v for v in items["enum"] if str(v).lower().replace("-", " ") in lowered]
            picked = picked or items["enum"][:1]
            return picked[: schema.get("maxItems", len(picked))]
        return [fake_from_schema(items, prompt, name) for _ in range(max(1, schema.get("minItems", 1)))]
    if kind == "integer":
        return 1
    if kind == "number":
        return 0.5
    if kind == "boolean":
        return True
    text = f"Scripted {name} {digest}."
    return text[: schema.get("maxLength", len(text))]


def _handler_for(server: ScriptedLLMServer):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format, *args):  # keep test output clean
            pass

        def do_GET(self):
            if self.path.rstrip("/").endswith("/models"):
                self._send(200, {"object": "list", "data": [{"id": server.model, "object": "model", "owned_by": "tests"}]})
            else:
                self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if not self.path.rstrip("/").endswith("/chat/completions"):
                self._send(404, {"error": {"message": "not found", "type": "invalid_request_error"}})
                return
            prompt = "\n".join(str(m.get("content", "")) for m in body.get("messages", []))
            reply = server._take(prompt)
            record = Received(body=body, prompt=prompt, reply=reply)
            with server._lock:
                server.received.append(record)
            server._enter()
            try:
                record.status = self._answer(body, prompt, reply)
            except (BrokenPipeError, ConnectionResetError):
                record.status = -1  # the client gave up (a timeout): nothing to answer
            finally:
                server._leave()

        def _answer(self, body: dict, prompt: str, reply: Reply) -> int:
            if reply.kind == "status":
                headers = {"Retry-After": reply.retry_after} if reply.retry_after else {}
                kind = "rate_limit_error" if reply.status == 429 else "server_error"
                message = "Rate limit reached, try again later" if reply.status == 429 else "scripted server error"
                self._send(reply.status, {"error": {"message": message, "type": kind}}, headers)
                return reply.status
            time.sleep(reply.delay if reply.kind == "slow" else server.latency)
            if reply.kind == "stall" and not body.get("stream"):
                time.sleep(reply.delay)  # never answered in time
                return -1
            if reply.kind == "broken_json":
                content = '{"summary": "This reply stops in the mid'
            elif reply.kind in ("text", "cut_off"):
                content = reply.content
            else:
                content = server._content(body, prompt)
                if not isinstance(content, str):
                    content = json.dumps(content, ensure_ascii=False)
            if body.get("stream"):
                return self._stream(body, prompt, reply, content)
            completion = {
                "id": f"chatcmpl-{hashlib.sha256(prompt.encode()).hexdigest()[:12]}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": body.get("model", server.model),
                "choices": [{"index": 0, "finish_reason": "length" if reply.kind == "cut_off" else "stop",
                             "message": {"role": "assistant", "content": content}}],
                "usage": {
                    "prompt_tokens": len(prompt) // 4 + 1,
                    "completion_tokens": len(content) // 4 + 1,
                    "total_tokens": len(prompt) // 4 + len(content) // 4 + 2,
                },
            }
            self._send(200, completion)
            return 200

        def _stream(self, body: dict, prompt: str, reply: Reply, content: str) -> int:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Connection", "close")  # the end of the body is the end of the stream
            self.end_headers()
            self.close_connection = True
            chunk_id = f"chatcmpl-{hashlib.sha256(prompt.encode()).hexdigest()[:12]}"

            def event(delta: dict, finish: str | None = None, usage: dict | None = None) -> None:
                chunk = {"id": chunk_id, "object": "chat.completion.chunk", "created": int(time.time()),
                         "model": body.get("model", server.model),
                         "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if usage is None else [],
                         **({"usage": usage} if usage is not None else {})}
                self.wfile.write(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n".encode())
                self.wfile.flush()

            sent = content[: reply.after_chars] if reply.kind == "stall" else content
            for start in range(0, len(sent), STREAM_PIECE_CHARS):
                if start:
                    time.sleep(server.stream_interval)
                event({"content": sent[start:start + STREAM_PIECE_CHARS]})
            if reply.kind == "stall":
                time.sleep(reply.delay)
                return -1
            event({}, finish="length" if reply.kind == "cut_off" else "stop")
            if (body.get("stream_options") or {}).get("include_usage"):
                event({}, usage={"prompt_tokens": len(prompt) // 4 + 1, "completion_tokens": len(content) // 4 + 1,
                                 "total_tokens": len(prompt) // 4 + len(content) // 4 + 2})
            self.wfile.write(b"data: [DONE]\n\n")
            self.wfile.flush()
            return 200

        def _send(self, status: int, payload: dict, headers: dict | None = None) -> None:
            data = json.dumps(payload, ensure_ascii=False).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.end_headers()
            self.wfile.write(data)

    return Handler
