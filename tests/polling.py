"""Waiting for something another thread or process does: poll a condition, never sleep a
fixed time (a test that asserts on timing fails on a busy machine)."""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_until(condition: Callable[[], object], *, timeout: float = 30.0, interval: float = 0.05,
               describe: Callable[[], str] = lambda: "condition not met") -> None:
    """Return once condition() is true; TimeoutError with describe() after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(describe())
        time.sleep(interval)
