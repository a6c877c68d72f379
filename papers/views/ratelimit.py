"""How much one client may ask: django-ratelimit's counters in the cache, one budget per
group ("search" for the search page and the JSON API together, "ask" for questions on the
page and the API, "subscribe" for the subscribe form), per client address (an IPv6 client per /64: RATELIMIT_IPV6_MASK).

The cache fails open (config.cache), so with Redis down nobody is limited and nothing fails.
"""

from __future__ import annotations

import functools
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _
from django_ratelimit.core import is_ratelimited

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
# A peer with no usable address shares this one bucket with every other such peer.
UNKNOWN_CLIENT = "0.0.0.0"


def client_address(request: HttpRequest) -> str:
    """The address a request counts against (RATELIMIT_IP_META_KEY). X-Forwarded-For is read
    only from a peer in TRUSTED_PROXIES, and then from the right: each trusted proxy appends
    the address it was reached from, so the right-most hop that is not a trusted proxy is the
    client, and what lies left of it is whatever the client chose to write."""
    peer = _address(request.META.get("REMOTE_ADDR", ""))
    if peer is None or not _is_trusted(peer):
        return str(peer or UNKNOWN_CLIENT)
    client = peer
    for hop in reversed(request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")):
        address = _address(hop)
        if address is None:  # not written by a proxy of ours: stop at the last one that was
            break
        client = address
        if not _is_trusted(address):
            break
    return str(client)


def _address(text: str) -> Address | None:
    try:
        address = ipaddress.ip_address(text.strip().strip("[]"))
    except ValueError:
        return None
    # An IPv4 client seen through a dual-stack socket counts as itself, not as one of a /64.
    return getattr(address, "ipv4_mapped", None) or address


def _is_trusted(address: Address) -> bool:
    return any(address in ipaddress.ip_network(cidr) for cidr in settings.TRUSTED_PROXIES)


def client_rate(group: str, request: HttpRequest) -> str | None:
    """The group's rate in django-ratelimit's notation, read from the settings for each
    request; None (a limit of 0) turns the group's limit off."""
    limit, window = {
        "search": (settings.SEARCH_RATE_LIMIT, settings.SEARCH_RATE_WINDOW),
        "ask": (settings.ASK_RATE_LIMIT, settings.ASK_RATE_WINDOW),
        "subscribe": (settings.SUBSCRIBE_RATE_LIMIT, settings.SUBSCRIBE_RATE_WINDOW),
    }[group]
    return f"{limit}/{max(1, window)}s" if limit > 0 else None


def over_limit(request: HttpRequest, group: str) -> bool:
    """Count this request against the client's budget for group; True once it is spent."""
    return is_ratelimited(request, group=group, key="ip", rate=client_rate, increment=True)


def limit_per_client(group: str, *, methods: tuple[str, ...] = ("POST",)):
    """A view decorator: a request (of methods) over the client's budget for group gets the
    429 page instead of the view, so nothing the view would do (a mail sent) happens."""

    def decorator(view):
        @functools.wraps(view)
        def limited_view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method in methods and over_limit(request, group):
                return too_many_requests(request, group=group)
            return view(request, *args, **kwargs)

        return limited_view

    return decorator


def window_seconds(group: str) -> int:
    """For Retry-After: at most this long until the client's budget is whole again."""
    windows = {"search": settings.SEARCH_RATE_WINDOW, "ask": settings.ASK_RATE_WINDOW}
    return max(1, windows.get(group, settings.SUBSCRIBE_RATE_WINDOW))


def too_many_requests(request: HttpRequest, *, group: str) -> HttpResponse:
    message = _("Too many requests from your address. Please wait a while and try again.")
    response = render(request, "429.html", {"message": message}, status=429)
    response["Retry-After"] = str(window_seconds(group))
    return response
