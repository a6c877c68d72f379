"""The embedded services and the settings helpers."""

import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection

from config import services
from config.settings import env_bool, env_int

ROOT = services.BASE_DIR


def test_ensure_started_reuses_the_running_servers():
    services.ensure_started()
    pid_before = (services.PG_DATA / "postmaster.pid").read_text().split()[0]
    services.ensure_started()
    assert (services.PG_DATA / "postmaster.pid").read_text().split()[0] == pid_before
    assert services._redis_ping()


@pytest.mark.django_db
def test_trigrams_exist_for_korean_and_chinese():
    # Under the C locale pg_trgm returns {} for Hangul and Han, and CJK keyword search finds nothing.
    with connection.cursor() as cursor:
        cursor.execute("SELECT show_trgm('합성 데이터'), show_trgm('检索增强生成')")
        ko, zh = cursor.fetchone()
    assert len(ko) >= 4 and len(zh) >= 4


@pytest.mark.django_db
def test_pgvector_is_0_8_with_iterative_scans_on():
    with connection.cursor() as cursor:
        cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
        (version,) = cursor.fetchone()
        cursor.execute("SHOW hnsw.iterative_scan")
        (mode,) = cursor.fetchone()
    assert tuple(int(x) for x in version.split(".")[:2]) >= (0, 8)
    assert mode == "relaxed_order"


def test_manage_py_works_with_no_configuration():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    done = subprocess.run([sys.executable, "manage.py", "showmigrations", "papers"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "0001_initial" in done.stdout


def test_env_bool_refuses_what_it_does_not_know(monkeypatch):
    monkeypatch.setenv("SOME_FLAG", "yes")
    with pytest.raises(ImproperlyConfigured, match="SOME_FLAG='yes': expected true or false"):
        env_bool("SOME_FLAG")
    monkeypatch.setenv("SOME_FLAG", "TRUE")
    assert env_bool("SOME_FLAG") is True
    monkeypatch.setenv("SOME_INT", "12a")
    with pytest.raises(ImproperlyConfigured, match="expected an integer"):
        env_int("SOME_INT", 1)


def test_deploy_check_warns_about_the_local_secret_key(settings):
    from django.core.checks import run_checks

    settings.SECRET_KEY_IS_LOCAL = True
    assert "papers.W001" in {m.id for m in run_checks(include_deployment_checks=True)}
    settings.SECRET_KEY_IS_LOCAL = False
    assert "papers.W001" not in {m.id for m in run_checks(include_deployment_checks=True)}


def test_llm_url_without_a_model_is_an_error(settings):
    from django.core.checks import run_checks

    settings.LLM_BASE_URL, settings.LLM_MODEL = "http://127.0.0.1:9/v1", ""
    assert "papers.E001" in {m.id for m in run_checks()}


def _psql_as_nobody(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([services._pg_bin("psql"), *args], user="nobody", group="nogroup", extra_groups=[],
                          capture_output=True, text=True, timeout=30, cwd="/")


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to act as another local user")
def test_another_local_user_cannot_reach_the_embedded_database():
    services.ensure_started()
    # The binary itself runs for that user, so a refusal below is the socket's doing.
    assert _psql_as_nobody("--version").returncode == 0
    denied = _psql_as_nobody("-h", str(services.PG_SOCKET_DIR), "-U", "postgres", "-d", "postgres", "-tAc", "SELECT 1")
    assert denied.returncode != 0
    assert "Permission denied" in denied.stderr
    # ...while the owner (the app) connects through the very same socket.
    mine = subprocess.run([services._pg_bin("psql"), "-h", str(services.PG_SOCKET_DIR), "-U", "postgres", "-d", "postgres",
                           "-tAc", "SELECT 1"], capture_output=True, text=True, timeout=30)
    assert mine.stdout.strip() == "1", mine.stderr


def test_the_sockets_are_private():
    services.ensure_started()
    assert services.PG_SOCKET_DIR.stat().st_mode & 0o777 == 0o700
    assert (services.PG_SOCKET_DIR / ".s.PGSQL.5432").stat().st_mode & 0o077 == 0
    assert services.REDIS_SOCKET.stat().st_mode & 0o077 == 0


def test_nothing_in_var_is_world_readable_or_writable():
    services.ensure_started()
    exposed = []
    for path in [services.VAR_DIR, *services.VAR_DIR.rglob("*")]:
        try:
            mode = path.lstat().st_mode
        except FileNotFoundError:  # a file removed while we walk (a socket lock, a temp file)
            continue
        if mode & 0o006:
            exposed.append(f"{path} {oct(mode & 0o777)}")
    assert not exposed


def test_secrets_are_created_private(tmp_path):
    path = tmp_path / "secret"
    services.write_private_file(path, "s3cret")
    assert path.stat().st_mode & 0o777 == 0o600
    path.chmod(0o644)
    services.write_private_file(path, "again")
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_text() == "again"
