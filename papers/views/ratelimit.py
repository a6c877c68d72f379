"""The searches a client may make: a fixed-window counter per client address in the Redis
cache, shared by the search page and the JSON API."""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def client_of(request: HttpRequest) -> str:
    """The client a request counts against."""
    # Behind a reverse proxy, have it set REMOTE_ADDR (e.g. gunicorn --forwarded-allow-ips);
    # trusting X-Forwarded-For here would let any client pick its own rate-limit bucket.
    return request.META.get("REMOTE_ADDR") or "unknown"


def allow_search(*, client: str) -> bool:
    """False once the client has made SEARCH_RATE_LIMIT searches in the current
    SEARCH_RATE_WINDOW seconds (0 turns the limit off)."""
    limit, window = settings.SEARCH_RATE_LIMIT, max(1, settings.SEARCH_RATE_WINDOW)
    if limit <= 0:
        return True
    key = f"search:rate:{client}:{int(time.time() // window)}"
    cache.add(key, 0, timeout=window + 1)
    try:
        return cache.incr(key) <= limit
    except ValueError:  # the key expired between add and incr: a fresh window
        cache.add(key, 1, timeout=window + 1)
        return True
