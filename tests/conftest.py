"""The test world: the real embedded PostgreSQL + pgvector and Redis that the project
starts, a real Celery worker process, and named people."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from config import services

ROOT = Path(__file__).resolve().parent.parent
SEEDS_DIR = ROOT / "data" / "seeds"
# Tests use their own Redis database so a running `make run` worker never takes their tasks.
TEST_REDIS_DB = int(os.environ.get("TEST_REDIS_DB", "15"))

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # live_server + Playwright's sync API


_STARTED_BY_THIS_RUN: set[str] = set()


def pytest_configure(config):
    if not os.environ.get("DATABASE_URL") or not os.environ.get("REDIS_URL"):
        services.keep_files_private()
        _STARTED_BY_THIS_RUN.update(
            services.ensure_started(postgres=not os.environ.get("DATABASE_URL"), redis=not os.environ.get("REDIS_URL"))
        )
    from django.conf import settings

    if not os.environ.get("REDIS_URL"):
        url = services.redis_url(TEST_REDIS_DB)
        settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = url
        from config.celery import app

        app.conf.broker_url = app.conf.result_backend = url


def pytest_unconfigure(config):
    # Servers this run started stop with it (a deleted clone leaves no orphans); servers that
    # were running before (a `make run` beside the tests) are left as they were.
    if _STARTED_BY_THIS_RUN and not services.is_supervised():
        services.stop_all()


@pytest.fixture
def seeds_dir() -> Path:
    return SEEDS_DIR


@pytest.fixture
def seed_path():
    def find(prefix: str) -> Path:
        return next(SEEDS_DIR.glob(f"{prefix}_*.txt"))

    return find


@pytest.fixture
def imported_seeds(db):
    from django.core.management import call_command

    call_command("import_seeds", str(SEEDS_DIR), verbosity=0)


def _test_database_url() -> str:
    from django.db import connection

    s = connection.settings_dict
    if s["HOST"].startswith("/"):
        return f"postgresql://{s['USER']}@/{s['NAME']}?host={s['HOST']}"
    return f"postgresql://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def purge_test_broker(client=None) -> None:
    """Empty the test Redis database's queues (config.celery's) and the unacked messages
    kombu keeps for redelivery: a stopping worker puts its prefetched ones back."""
    from config.celery import app

    if client is None:
        with app.connection_for_write() as conn:
            return purge_test_broker(conn.default_channel.client)
    client.delete(*(q.name for q in app.conf.task_queues), "unacked", "unacked_index", "unacked_mutex")


@pytest.fixture
def broker_queue():
    """Reads a queue of the test Redis database (`broker_queue("llm")` -> the messages);
    the queues are empty when the test starts and again when it ends."""
    from config.celery import app

    with app.connection_for_write() as conn:
        client = conn.default_channel.client
        purge_test_broker(client)
        yield lambda name: [json.loads(m) for m in client.lrange(name, 0, -1)]
        purge_test_broker(client)


@pytest.fixture
def celery_worker_env() -> dict:
    """Extra environment for the worker process (settings such as LLM_BASE_URL); a test
    package overrides this fixture to point the worker at its own servers."""
    return {}


@pytest.fixture
def celery_worker_process(transactional_db, celery_worker_env):
    """A real `celery worker` process on the test database and the test Redis database.

    Yields a handle with .proc, .kill() and .restart(); tests that depend on the worker's
    behaviour (acks, redelivery, a kill mid-task and a restart) use this instead of an
    in-process worker."""
    from django.conf import settings

    env = {
        **os.environ,
        **celery_worker_env,
        "DATABASE_URL": _test_database_url(),
        "REDIS_URL": settings.CELERY_BROKER_URL,
    }
    cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "default,llm,gpu",
           "--concurrency", "2", "--pool", "prefork", "-l", "INFO", "--without-heartbeat", "--without-gossip",
           "--without-mingle"]
    log_path = ROOT / "var" / f"test-worker-{os.getpid()}.log"

    class Worker:
        def __init__(self):
            self.log_path = log_path
            self.proc: subprocess.Popen | None = None
            self._log = None

        def start(self, timeout: float = 60) -> None:
            self._log = open(self.log_path, "w")
            self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT,
                                         start_new_session=True)
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline:
                if "ready." in self.log_path.read_text():
                    return
                if self.proc.poll() is not None:
                    raise RuntimeError(f"worker exited: {self.log_path.read_text()[-2000:]}")
                time.sleep(0.1)
            raise TimeoutError(f"worker not ready: {self.log_path.read_text()[-2000:]}")

        def kill(self) -> None:
            """SIGKILL the whole worker (parent and pool children), as an OOM killer would."""
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self._log.close()

        def restart(self) -> None:
            """A new worker process, as a supervisor starts one after a crash."""
            if self.proc.poll() is None:
                self.stop()
            self.start()

        def stop(self) -> None:
            if self.proc.poll() is None:
                os.killpg(self.proc.pid, signal.SIGTERM)
                try:
                    self.proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.killpg(self.proc.pid, signal.SIGKILL)
            self._log.close()

    worker = Worker()
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        purge_test_broker()  # what the stopped worker put back must not reach the next test


SCREENSHOTS = ROOT / "var" / "screenshots"


@pytest.fixture(scope="session")
def live_server(live_server, django_db_setup, django_db_blocker):
    """pytest-django's live server. Its request threads can outlive the tests (Chromium keeps
    connections open), and one of them still held a database session at the end, so the
    test database could not be dropped: sessions left over are ended once the server is done."""
    yield live_server
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                       "WHERE datname = current_database() AND pid <> pg_backend_pid()")


@pytest.fixture
def page(live_server):
    """A page in headless Chromium (Debian's package) for the browser tests; screenshots go
    to var/screenshots/."""
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=shutil.which("chromium"),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 900})
        page = context.new_page()
        page.set_default_timeout(15_000)
        yield page
        browser.close()


@pytest.fixture(autouse=True)
def default_language():
    """The site's language: a request in another one (LocaleMiddleware) leaves its language
    active in the thread after the test that made it."""
    from django.conf import settings
    from django.utils import translation

    translation.activate(settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def fresh_page_cache():
    """Reading pages kept by an earlier test were rendered from rows its rollback removed."""
    from papers.page_cache import new_generation

    new_generation()


@pytest.fixture
def editor(db):
    """Staff in the "Editor" group (papers.roles)."""
    from papers.roles import EDITOR
    from tests.factories import staff_member

    return staff_member("editor", groups=(EDITOR,))


@pytest.fixture
def lab_operator(db):
    """Staff in the "Lab operator" group (synth.permissions)."""
    from synth.permissions import LAB_OPERATOR
    from tests.factories import staff_member

    return staff_member("lab-operator", groups=(LAB_OPERATOR,))
