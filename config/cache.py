"""The cache backend: Django's Redis cache, failing open.

What lives in the cache can be done without: rate-limit counters (a client is let through),
query vectors (the query is embedded again), the topic pages' corpus overview (computed
again). So while Redis is unreachable the cache answers as Django's DummyCache does (every
get a miss, every write dropped, add() True) instead of failing the request, and says so in
the log once per outage, and once more when Redis answers again.
"""

from __future__ import annotations

import functools
import logging
import threading
import time
import uuid

import redis.exceptions
from django.core.cache.backends.base import DEFAULT_TIMEOUT
from django.core.cache import cache
from django.core.cache.backends.redis import RedisCache
from django.db import transaction

log = logging.getLogger("config.cache")

_UNREACHABLE = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
# After a failure the cache is not asked again for this long: a hung Redis would otherwise
# cost every request a socket timeout per cache call.
RETRY_SECONDS = 1.0


class _Reachability:
    """Whether one Redis answers, shared by the threads of a process: Django builds a cache
    backend per thread, and an outage must be logged once, not once per thread."""

    def __init__(self, location: str):
        self.location = location
        self.down_since: float | None = None
        self.retry_at = 0.0
        self._lock = threading.Lock()

    def skip(self) -> bool:
        return self.down_since is not None and time.monotonic() < self.retry_at

    def failed(self, error: Exception) -> None:
        with self._lock:
            now = time.monotonic()
            self.retry_at = now + RETRY_SECONDS
            if self.down_since is None:
                self.down_since = now
                log.warning("cache %s unreachable, serving without it until it answers: %s", self.location, error)

    def answered(self) -> None:
        if self.down_since is None:
            return
        with self._lock:
            if self.down_since is not None:
                log.warning("cache %s answers again after %.1f s", self.location, time.monotonic() - self.down_since)
                self.down_since = None


_reachability: dict[str, _Reachability] = {}
_reachability_lock = threading.Lock()


def _reachability_of(location: str) -> _Reachability:
    with _reachability_lock:
        return _reachability.setdefault(location, _Reachability(location))


class FailOpenRedisCache(RedisCache):
    def __init__(self, server, params):
        super().__init__(server, params)
        self._reachability = _reachability_of(",".join(self._servers))

    def _call(self, method, unreachable_answer, *args, **kwargs):
        if self._reachability.skip():
            return unreachable_answer
        try:
            answer = method(*args, **kwargs)
        except _UNREACHABLE as e:
            self._reachability.failed(e)
            return unreachable_answer
        self._reachability.answered()
        return answer

    def add(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().add, True, key, value, timeout, version)

    def get(self, key, default=None, version=None):
        return self._call(super().get, default, key, default, version)

    def set(self, key, value, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().set, None, key, value, timeout, version)

    def touch(self, key, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().touch, False, key, timeout, version)

    def delete(self, key, version=None):
        return self._call(super().delete, False, key, version)

    def get_many(self, keys, version=None):
        return self._call(super().get_many, {}, keys, version)

    def has_key(self, key, version=None):
        return self._call(super().has_key, False, key, version)

    def incr(self, key, delta=1, version=None):
        answer = self._call(super().incr, None, key, delta, version)
        if answer is None:  # as DummyCache: a key it cannot reach is a key it does not have
            raise ValueError(f"Key '{key}' not found.")
        return answer

    def set_many(self, data, timeout=DEFAULT_TIMEOUT, version=None):
        return self._call(super().set_many, [], data, timeout, version)

    def delete_many(self, keys, version=None):
        return self._call(super().delete_many, None, keys, version)

    def clear(self):
        return self._call(super().clear, False)


# --- generations: forgetting many cached entries with one write --------------------------


def new_generation_on_commit(key: str) -> None:
    """Put a new generation under `key` once the current transaction commits (at once outside
    one): entries kept under the old generation are never served again. Asked many times in
    one transaction (an import writing hundreds of rows), it writes once."""
    bump = _bumps.setdefault(key, functools.partial(_bump, key))
    connection = transaction.get_connection()
    # Django keeps the pending callbacks as (savepoint ids, callback, robust); a rolled-back
    # savepoint takes its own with it, so a callback found here will run at the commit.
    if connection.in_atomic_block and any(pending[1] is bump for pending in connection.run_on_commit):
        return
    transaction.on_commit(bump)


_bumps: dict[str, functools.partial] = {}


def _bump(key: str) -> None:
    cache.set(key, uuid.uuid4().hex, timeout=None)
