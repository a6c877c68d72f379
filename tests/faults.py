"""Faults the tests cause for real, shared by the test packages."""

from __future__ import annotations

import datetime as dt


def end_sessions_opened_since(moment: dt.datetime) -> int:
    """End every database session opened since `moment` but the test's own (a worker's), as a
    PostgreSQL restart ends them; returns how many were ended."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
                       "AND pid <> pg_backend_pid() AND backend_start >= %s", [moment])
        return cursor.rowcount
