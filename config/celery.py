"""Celery app. Queues by kind of work: default (ingest, mail), llm (enrichment, synthesis
calls), gpu (training). `python -m config.run` starts one worker that consumes all three."""

import os

from celery import Celery, signals
from kombu import Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("paperdigest")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.conf.task_queues = [Queue("default"), Queue("llm"), Queue("gpu")]
app.autodiscover_tasks()


@signals.worker_init.connect
@signals.beat_init.connect
def _start_embedded_services(**kwargs) -> None:
    # A worker or beat started on its own (celery -A config worker) finds the embedded
    # servers running or starts them, like manage.py does.
    from config.bootstrap import ensure_services

    ensure_services()
