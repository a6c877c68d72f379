"""When to try an outside system again: shared by the LLM gateway and the arXiv client."""

from __future__ import annotations

import datetime as dt
import random
from email.utils import parsedate_to_datetime


def retry_after_seconds(value: str | None) -> float | None:
    """Seconds asked for by a Retry-After header (delta-seconds or an HTTP date), or None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=dt.timezone.utc)
    return max(0.0, (when - dt.datetime.now(dt.timezone.utc)).total_seconds())


def backoff_delay(attempt: int, *, base: float, cap: float = 60.0) -> float:
    """Exponential backoff with jitter for retry number `attempt` (0 for the first retry).
    The jitter keeps many workers that failed together from retrying together."""
    delay = min(cap, base * 2**attempt)
    return delay * random.uniform(0.75, 1.0)
