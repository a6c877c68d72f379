"""What the reading side shows, kept until the next write to the knowledge base: rendered
pages for readers who are not signed in, and search results (papers.search).

A page is kept per URL (path and query), interface language, and htmx block or whole page,
with the generation it was rendered under, and served only while that generation is current.
Every write to what the pages show replaces the generation (forget_pages, connected in
papers.apps: a new paper, a new or edited text, a publication, an issue's entries...), so a
page is never older than the last write. Editors (signed in) always get a fresh page: theirs
show drafts and the pipeline.

Pages carry the reader's CSRF token (the language switch is a POST form, htmx sends it as a
header); it is cut out before a page is kept and the reader's own put back when it is served.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest, HttpResponse
from django.middleware.csrf import get_token
from django.utils.translation import get_language

from config.cache import new_generation_on_commit

PAGE_SECONDS = 600  # a safety net: writes replace the generation long before this
_GENERATION = "pages:generation"
_TOKEN = re.compile(rb'(name="csrfmiddlewaretoken" value="|"X-CSRFToken": ")[A-Za-z0-9]{32,64}(")')
_PLACEHOLDER = b"\\1@csrf@\\2"
_KEPT_HEADERS = ("Content-Type", "Vary", "Content-Language")


def forget_pages() -> None:
    """Every kept page is stale once the write commits. One new generation then is enough: a
    reader keeps a page under the generation it read before rendering, so a page rendered from
    the rows before the commit is kept under the old one and never served again."""
    new_generation_on_commit(_GENERATION)


def new_generation() -> None:
    """Forget every kept page now, outside any transaction (a fresh start for a test)."""
    cache.set(_GENERATION, uuid.uuid4().hex, timeout=None)


def kept(key: str) -> tuple[str, object | None]:
    """The current generation, and what is kept under key if it was kept under that
    generation (else None). One round trip."""
    found = cache.get_many([_GENERATION, key])
    generation = found.get(_GENERATION)
    if generation is None:
        generation = uuid.uuid4().hex
        cache.add(_GENERATION, generation, timeout=None)
    entry = found.get(key)
    if entry is not None and entry[0] == generation:
        return generation, entry[1]
    return generation, None


def keep(key: str, generation: str, value: object, seconds: int = PAGE_SECONDS) -> None:
    """Keep value under key for the generation read before computing it (kept()): a write
    that commits meanwhile has replaced the generation, so the value is never served."""
    cache.set(key, (generation, value), seconds)


def _key(request: HttpRequest) -> str:
    htmx = request.htmx and not request.htmx.history_restore_request
    parts = [request.get_full_path(), get_language() or "", "htmx" if htmx else "page",
             "offline" if not settings.LLM_BASE_URL else "llm"]
    return "pages:v2:" + hashlib.sha256("\n".join(parts).encode()).hexdigest()  # v2: (generation, page) entries


def cached_for_readers(view):
    """Serve the view's 200 answers to anonymous GET and HEAD requests from the cache."""

    @functools.wraps(view)
    def cached_view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        if request.method not in ("GET", "HEAD") or request.user.is_authenticated:
            return view(request, *args, **kwargs)
        key = _key(request)
        generation, page = kept(key)
        if page is not None:
            status, content, headers = page
            if b"@csrf@" in content:  # a feed has no form: no token, and no cookie set for one
                content = content.replace(b"@csrf@", get_token(request).encode())
            response = HttpResponse(content, status=status)
            for name, value in headers.items():
                response[name] = value
            return response
        response = view(request, *args, **kwargs)
        if response.status_code == 200 and not response.streaming and not response.cookies.get("sessionid"):
            headers = {name: response[name] for name in _KEPT_HEADERS if response.has_header(name)}
            keep(key, generation, (200, _TOKEN.sub(_PLACEHOLDER, response.content), headers))
        return response

    return cached_view
