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
