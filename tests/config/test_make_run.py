"""`make run` under real faults: its own var/ and port, the embedded servers SIGKILLed while
it serves, then Ctrl-C. supervisord must start each dead server again and say so, the pages
must come back by themselves, and Ctrl-C must leave nothing running."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from config import services
from tests.polling import wait_until

ROOT = services.BASE_DIR


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


class MakeRun:
    def __init__(self, var_dir: Path, port: int):
        self.var_dir, self.port = var_dir, port
        self.url = f"http://127.0.0.1:{port}"
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
        env.update(VAR_DIR=str(var_dir), PORT=str(port), LLM_BASE_URL="", WORKER_CONCURRENCY="1")
        self.proc = subprocess.Popen([sys.executable, "-m", "config.run"], cwd=ROOT, env=env, text=True,
                                     stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
        self.lines: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.append(line)

    def output(self) -> str:
        return "".join(self.lines)

    def wait_for(self, predicate, timeout: float, what: str) -> None:
        def ready() -> bool:
            if self.proc.poll() is not None:
                raise AssertionError(f"make run exited ({self.proc.returncode}) waiting for {what}:\n{self.output()[-4000:]}")
            return predicate()

        wait_until(ready, timeout=timeout, interval=0.25, describe=lambda: f"timed out waiting for {what}:\n{self.output()[-4000:]}")

    def supervisorctl(self, *args: str) -> str:
        return subprocess.run([str(Path(sys.executable).parent / "supervisorctl"), "-c", str(self.var_dir / "supervisord.conf"),
                               *args], capture_output=True, text=True, timeout=60).stdout.strip()

    def supervised_pid(self, program: str) -> int:
        return int(self.supervisorctl("pid", program))


@pytest.fixture
def make_run():
    var_dir = Path(tempfile.mkdtemp(prefix="pd-run-", dir="/tmp")) / "var"  # short: unix socket paths
    run = MakeRun(var_dir, _free_port())
    try:
        run.wait_for(lambda: "paper-digest is running at" in run.output(), 600, "the banner")
        yield run
    finally:
        if run.proc.poll() is None:
            os.killpg(run.proc.pid, signal.SIGINT)
            try:
                run.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(run.proc.pid, signal.SIGKILL)
        shutil.rmtree(var_dir.parent, ignore_errors=True)


def test_dead_servers_are_restarted_and_pages_come_back_and_ctrl_c_stops_everything(make_run):
    run = make_run
    assert _status(run.url + "/") == 200

    # PostgreSQL SIGKILLed: supervisord notices, starts it again, and the pages recover unaided.
    postmaster = int((run.var_dir / "pg" / "postmaster.pid").read_text().split()[0])
    os.kill(postmaster, signal.SIGKILL)
    run.wait_for(lambda: "exited: postgres (terminated by SIGKILL" in run.output(), 30, "the console to say so")
    run.wait_for(lambda: run.supervised_pid("postgres") not in (0, postmaster), 30, "a new postgres")
    run.wait_for(lambda: _status(run.url + "/") == 200, 30, "the home page after the database came back")
    assert _status(run.url + "/papers/2409.07431/") in (200, 301, 302, 404)  # answers, whatever the route

    # While the database is down, pages kept in the cache are still served, and any other
    # page is a 503 that says to come back shortly, not a 500.
    run.supervisorctl("stop", "postgres")
    assert _status(run.url + "/") == 200  # kept by the page cache when it answered just now
    response = None
    try:
        ok = urllib.request.urlopen(run.url + "/issues/", timeout=10)
        raise AssertionError(f"{ok.status} with the database stopped: {run.supervisorctl('status')}")
    except urllib.error.HTTPError as e:
        response = e
    assert response.code == 503, (response.code, response.read().decode()[:2000], run.output()[-3000:])
    assert response.headers["Retry-After"] == "5"
    assert "try again shortly" in response.read().decode()
    run.supervisorctl("start", "postgres")
    run.wait_for(lambda: _status(run.url + "/") == 200, 30, "the home page after postgres was started again")

    # Redis SIGKILLed: the same for the broker and the cache; search answers again.
    redis_pid = run.supervised_pid("redis")
    os.kill(redis_pid, signal.SIGKILL)
    run.wait_for(lambda: "exited: redis (terminated by SIGKILL" in run.output(), 30, "the console to say so")
    run.wait_for(lambda: run.supervised_pid("redis") not in (0, redis_pid), 30, "a new redis")
    run.wait_for(lambda: _status(run.url + "/search/?q=synthetic+data") == 200, 30, "search after Redis came back")

    # Ctrl-C: every program stops, the embedded servers too.
    os.killpg(run.proc.pid, signal.SIGINT)
    assert run.proc.wait(timeout=90) == 0, run.output()[-4000:]
    assert "stopped." in run.output()
    assert not (run.var_dir / "pg" / "postmaster.pid").exists()
    assert not services._unix_socket_answers(run.var_dir / "redis.sock")
    assert not services._unix_socket_answers(run.var_dir / "supervisor.sock")
    assert _status(run.url + "/") == 0
