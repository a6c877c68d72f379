"""The papers app's outside world: the scripted OpenAI-compatible server (tests/llm_server.py)
and recorded arXiv Atom responses (tests/papers/arxiv/data/) served over real HTTP, plus the
settings that point both this process and the Celery worker process at them. Shared by the
gateway (llm/), enrichment (enrich/) and arXiv ingest (arxiv/) tests."""

from __future__ import annotations

import sys
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlparse

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run without `python -m` does not put the root on the path
    sys.path.insert(0, str(ROOT))

from tests import polling  # noqa: E402
from tests.llm_server import ScriptedLLMServer  # noqa: E402

DATA = Path(__file__).resolve().parent / "arxiv" / "data"

__all__ = ["FeedResponse", "ScriptedLLMServer"]


@pytest.fixture
def llm_server():
    with ScriptedLLMServer() as server:
        yield server


@dataclass
class FeedResponse:
    body: bytes
    status: int = 200
    headers: dict = field(default_factory=dict)
    content_type: str = "application/atom+xml; charset=utf-8"

    @classmethod
    def file(cls, name: str, **kwargs) -> FeedResponse:
        content_type = "text/html; charset=utf-8" if name.endswith(".html") else "application/atom+xml; charset=utf-8"
        return cls(body=(DATA / name).read_bytes(), content_type=content_type, **kwargs)


class ArxivFeedServer:
    """Answers GET /api/query with the scripted responses, in order, and records each
    request's parameters. An unscripted request gets a 404, so a test sees it."""

    def __init__(self):
        self.requests: list[dict[str, str]] = []
        self._queue: list[FeedResponse] = []
        self._lock = threading.Lock()
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        threading.Thread(target=self._httpd.serve_forever, name="arxiv-feed", daemon=True).start()

    @property
    def url(self) -> str:
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/api/query"

    def serve(self, *items: str | FeedResponse) -> None:
        with self._lock:
            self._queue.extend(FeedResponse.file(i) if isinstance(i, str) else i for i in items)

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

    def _next(self, params: dict) -> FeedResponse:
        with self._lock:
            self.requests.append(params)
            if self._queue:
                return self._queue.pop(0)
        return FeedResponse(body=b"unscripted request", status=404, content_type="text/plain")

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format, *args):
                pass

            def do_GET(self):
                url = urlparse(self.path)
                response = server._next(dict(parse_qsl(url.query, keep_blank_values=True)))
                self.send_response(response.status)
                self.send_header("Content-Type", response.content_type)
                self.send_header("Content-Length", str(len(response.body)))
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(response.body)

        return Handler


@pytest.fixture
def arxiv_feed():
    server = ArxivFeedServer()
    yield server
    server.stop()


@pytest.fixture
def pipeline_settings(settings, llm_server, arxiv_feed) -> dict:
    """Short timeouts and backoffs so faults resolve in seconds; returned as the worker's env."""
    values = {
        "LLM_BASE_URL": llm_server.url,
        "LLM_API_KEY": "test-key",
        "LLM_MODEL": "scripted-model",
        "LLM_TIMEOUT": 1.5,
        "LLM_MAX_RETRIES": 2,
        "LLM_BACKOFF_BASE": 0.05,
        "LLM_PRICE_INPUT_PER_MTOK": 0.15,
        "LLM_PRICE_OUTPUT_PER_MTOK": 0.6,
        "ENRICH_LANGUAGES": ["ko", "zh"],
        "ENRICH_MAX_RETRIES": 1,
        "ENRICH_RETRY_DELAY": 0.0,
        "ARXIV_API_URL": arxiv_feed.url,
        "ARXIV_MIN_INTERVAL": 0.01,
        "ARXIV_PAGE_SIZE": 2,
        "ARXIV_MAX_RESULTS": 100,
        "ARXIV_MAX_RETRIES": 2,
    }
    for name, value in values.items():
        setattr(settings, name, value)
    return {name: ",".join(v) if isinstance(v, list) else str(v) for name, v in values.items()}


@pytest.fixture
def celery_worker_env(pipeline_settings) -> dict:
    # Chains left in the test Redis database by an earlier, interrupted run must not reach this worker.
    from config.celery import app

    app.control.purge()
    return pipeline_settings


@pytest.fixture
def wait_for_enrichment():
    """Wait until every planned step of the papers has settled (done, skipped or failed)."""
    from papers.models import EnrichmentStep

    def wait(paper_ids, timeout: float = 120) -> dict:
        open_states = [EnrichmentStep.Status.PENDING, EnrichmentStep.Status.RUNNING]
        rows = EnrichmentStep.objects.filter(paper_id__in=list(paper_ids))
        polling.wait_until(lambda: rows.exists() and not rows.filter(status__in=open_states).exists(), timeout=timeout,
                           interval=0.2, describe=lambda: str(list(rows.values_list("paper_id", "step", "lang", "status", "error"))))
        return {(r.paper_id, r.step, r.lang): r.status for r in rows}

    return wait
