"""A dependency that is down (the database restarting, Redis gone) answers 503 with a page
that says to try again shortly, in the reader's language, instead of a 500."""

from __future__ import annotations

import logging
import time

import kombu.exceptions
import redis.exceptions
from django.db import DatabaseError, InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string

log = logging.getLogger("config.unavailable")

# Retry-After for readers and crawlers: make run restarts a dead server within a few seconds.
RETRY_AFTER_SECONDS = 5
UNAVAILABLE = (
    OperationalError,
    InterfaceError,
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    kombu.exceptions.OperationalError,
)
_LOG_EVERY_SECONDS = 30.0


def is_unavailable(exc: BaseException) -> bool:
    """A fault of a server we depend on, not of the request (a bad query is not one)."""
    if isinstance(exc, UNAVAILABLE):
        return True
    return isinstance(exc, DatabaseError) and isinstance(exc.__cause__, UNAVAILABLE)


class ServiceUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response
        self._last_logged = 0.0

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_unavailable(exception):
            return None
        now = time.monotonic()
        if now - self._last_logged > _LOG_EVERY_SECONDS:  # once per outage, not once per request
            self._last_logged = now
            log.warning("answering 503: %s: %s", type(exception).__name__, exception)
        # A page with no database and no cache behind it: nothing here may fail the same way.
        body = render_to_string("503.html", {"retry_after": RETRY_AFTER_SECONDS}, request=None)
        return HttpResponse(body, status=503, headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
