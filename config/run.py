"""`make run`: the whole app on one machine.

Hands the embedded PostgreSQL and Redis to supervisord, migrates, imports the demo corpus,
makes sure an admin login exists, then has supervisord run the web server, one Celery worker
(queues default, llm and gpu) and Celery beat until Ctrl-C, which stops all of them and the
embedded servers. Whatever dies meanwhile is started again, and the console says so.
"""

from __future__ import annotations

import os
import secrets
import signal
import subprocess
import sys
import time

from config import services

PORT = os.environ.get("PORT", "8000")
HOST = os.environ.get("HOST", "127.0.0.1")


def _prepare() -> str:
    """Migrate, import the seeds and ensure an admin; return a line about the admin login."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    call_command("import_seeds", str(settings.SEEDS_DIR))
    call_command("collectstatic", interactive=False, verbosity=0)  # whitenoise serves from STATIC_ROOT
    _enrich_new_papers()
    _cut_missing_passages()
    _ensure_demo_topic()

    User = get_user_model()
    username = os.environ.get("ADMIN_USERNAME", "admin")
    password_file = services.VAR_DIR / "admin-password"
    if not User.objects.filter(username=username).exists():
        password = os.environ.get("ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        if not os.environ.get("ADMIN_PASSWORD"):
            services.write_private_file(password_file, password + "\n")
    if password_file.exists():
        return f"admin login: {username} / {password_file.read_text().strip()}  (kept in {password_file})"
    return f"admin login: {username} (password from ADMIN_PASSWORD, or: python manage.py changepassword {username})"


def _enrich_new_papers() -> None:
    """Papers the pipeline never saw (the demo corpus on a first run) go through it in the
    background: summaries (extractive offline), translations with an LLM, tags, and the
    embeddings that search by meaning needs. The site is up meanwhile."""
    from papers.models import Paper
    from papers.tasks import enqueue_enrichment

    enqueue_enrichment(list(Paper.objects.filter(enrichment_steps__isnull=True).values_list("pk", flat=True)))


def _cut_missing_passages() -> None:
    """Papers embedded by an older version have no passages for answers to cite: their embed
    step runs again, which cuts them (their search vectors are unchanged)."""
    from papers.ask.passages import papers_without_passages
    from papers.tasks import enqueue_embedding

    enqueue_embedding(papers_without_passages())


def _ensure_demo_topic() -> None:
    """A first run gets one topic over the demo corpus, so "Synthesize" can be tried at once."""
    from papers.models import Tag
    from synth.models import Topic

    if Topic.objects.exists():
        return
    topic = Topic.objects.create(
        name="Synthetic data",
        description="Papers on synthetic data for pretraining (the demo corpus's #synthetic-data tag).",
    )
    topic.tags.set(Tag.objects.filter(slug__in=["synthetic-data", "continual-pretraining"]))


def _app_programs() -> dict[str, list[str]]:
    bin_dir = os.path.dirname(sys.executable)
    return {
        "web": [os.path.join(bin_dir, "gunicorn"), "config.wsgi", "-b", f"{HOST}:{PORT}", "--workers", "2",
                "--threads", "4", "--access-logfile", "-", "--no-control-socket"],
        "worker": [os.path.join(bin_dir, "celery"), "-A", "config", "worker", "-Q", "default,llm,gpu",
                   "--concurrency", os.environ.get("WORKER_CONCURRENCY", "2"), "-l", "INFO"],
        "beat": [os.path.join(bin_dir, "celery"), "-A", "config", "beat", "-l", "INFO",
                 "-s", str(services.VAR_DIR / "celerybeat-schedule")],
    }


def main() -> int:
    postgres, redis = not os.environ.get("DATABASE_URL"), not os.environ.get("REDIS_URL")
    services.keep_files_private()
    # One BLAS/OpenMP thread per process: the query embedding runs in every web thread, and
    # oversubscribed threads cut /api/search throughput about fourfold (bench/search.py).
    env = {"OMP_NUM_THREADS": os.environ.get("OMP_NUM_THREADS", "1")}
    conf = services.supervisor_config(_app_programs(), env=env, postgres=postgres, redis=redis)
    supervisord = subprocess.Popen(
        [os.path.join(os.path.dirname(sys.executable), "supervisord"), "-c", str(conf)],
        env={**os.environ, **env},
    )
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        services.wait_for_supervised_servers(postgres=postgres, redis=redis)
        admin_line = _prepare()
        services.supervisorctl("start", "web", "worker", "beat")
    except BaseException:
        supervisord.terminate()
        supervisord.wait(timeout=60)
        raise
    print(f"\n  paper-digest is running at http://{HOST}:{PORT}/\n  {admin_line}\n"
          "  supervisord starts again whatever dies (an embedded server, web, worker, beat) and says so here.\n"
          "  Ctrl-C stops everything.\n", flush=True)
    while not stopping and supervisord.poll() is None:
        time.sleep(0.5)
    if supervisord.poll() is None:
        supervisord.terminate()  # supervisord stops every program, the servers last
    supervisord.wait()
    print("stopped.", flush=True)
    return 0 if stopping else (supervisord.returncode or 1)


if __name__ == "__main__":
    sys.exit(main())
