"""Mailing one issue to many subscribers: messages per second, and the time to render one.

    python bench/digest.py                       # 10,000 subscribers, an issue of 10 papers
    python bench/digest.py --subscribers 1000

It makes its own database (bench_digest, on the embedded PostgreSQL or DATABASE_URL's
server, dropped at the end), starts an SMTP sink in a separate process (aiosmtpd on
127.0.0.1: accepts, counts, discards), publishes an issue with Korean and English texts,
subscribes people in ko/zh/en with and without tags, and runs digest.sending.send_issue,
the code that the Celery task and the send_issue command run: claim, render, SMTP, record.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


# --- The sink (runs as its own process: `python bench/digest.py --sink PORT`) -----------


def run_sink(port: int) -> None:
    from aiosmtpd.controller import Controller

    class Counter:
        count = 0

        async def handle_DATA(self, server, session, envelope):
            Counter.count += len(envelope.rcpt_tos)
            return "250 OK"

    controller = Controller(Counter(), hostname="127.0.0.1", port=port)
    controller.start()
    print("ready", flush=True)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    while not stop:
        time.sleep(0.1)
    controller.stop()
    print(Counter.count, flush=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# --- The benchmark ----------------------------------------------------------------------

TAGS = ["synthetic-data", "benchmark", "multimodal", "rlhf", "agents"]


def make_issue(papers: int):
    import datetime as dt

    from digest.issues import build_issue, publish_issue
    from papers.models import IssueEditorial, Paper, PaperText, Tag

    rng = random.Random(0)
    tags = [Tag.objects.create(slug=s, name=s) for s in TAGS]
    week = dt.date(2024, 1, 29)
    for i in range(papers):
        paper = Paper.objects.create(title=f"Paper {i}: a study of things", published=week, arxiv_id=f"2401.{10000 + i}")
        paper.tags.set(rng.sample(tags, 2))
        texts = {
            "en": {"title": f"Paper {i}: a study of things", "summary": "An English summary of the paper, two or three sentences long. " * 4},
            "ko": {"title": f"논문 {i}: 여러 가지에 대한 연구", "summary": "논문의 한국어 요약으로, 두세 문장 길이이다. " * 4},
        }
        if i % 4 == 3:
            del texts["ko"]  # some papers have no Korean text yet: the English fallback is rendered
        PaperText.objects.bulk_create(
            [PaperText(paper=paper, lang=lang, kind=kind, body=body) for lang, kinds in texts.items() for kind, body in kinds.items()]
        )
    issue = build_issue(week=week)
    IssueEditorial.objects.create(issue=issue, lang="en", body="This week in machine learning. " * 5)
    IssueEditorial.objects.create(issue=issue, lang="ko", body="이번 주의 머신러닝. " * 5)
    return publish_issue(issue), tags


def make_subscribers(n: int, tags) -> None:
    from digest.models import Subscriber

    rng = random.Random(1)
    subs = Subscriber.objects.bulk_create(
        [Subscriber(email=f"reader{i:05d}@example.org", lang=("ko", "zh", "en")[i % 3], status="confirmed") for i in range(n)],
        batch_size=2000,
    )
    Through = Subscriber.tags.through
    links = []
    for s in subs:
        if rng.random() < 0.4:  # four in ten follow one or two tags
            links += [Through(subscriber_id=s.pk, tag_id=t.pk) for t in rng.sample(tags, rng.randint(1, 2))]
    Through.objects.bulk_create(links, batch_size=5000)


def time_render(issue, *, repeat: int) -> tuple[float, float]:
    """Median ms to render one message from nothing (templates + CSS inlining + MIME), and
    per subscriber once its (language, entries) variant is cached."""
    from digest import mail
    from digest.models import Subscriber

    subscriber = Subscriber.objects.get(email="reader00000@example.org")
    cold, warm = [], []
    for _ in range(repeat):
        t = time.perf_counter()
        renderer = mail.IssueMail(issue)
        renderer.message_for(subscriber, tags=frozenset()).message().as_bytes()
        cold.append(time.perf_counter() - t)
        t = time.perf_counter()
        renderer.message_for(subscriber, tags=frozenset()).message().as_bytes()
        warm.append(time.perf_counter() - t)
    return statistics.median(cold) * 1000, statistics.median(warm) * 1000


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--subscribers", type=int, default=10_000)
    p.add_argument("--papers", type=int, default=10)
    p.add_argument("--sink", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.sink:
        return run_sink(args.sink)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.bootstrap import ensure_services

    ensure_services()
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from digest import sending

    port = _free_port()
    sink = subprocess.Popen([sys.executable, __file__, "--sink", str(port)], stdout=subprocess.PIPE, text=True)
    assert sink.stdout.readline().strip() == "ready"
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""

    real_name = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}), "NAME": "bench_digest"}
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        t = time.perf_counter()
        issue, tags = make_issue(args.papers)
        make_subscribers(args.subscribers, tags)
        setup_s = time.perf_counter() - t
        cold_ms, warm_ms = time_render(issue, repeat=30)

        t = time.perf_counter()
        report = sending.send_issue(issue)
        elapsed = time.perf_counter() - t
    finally:
        connection.creation.destroy_test_db(real_name, verbosity=0)
        sink.send_signal(signal.SIGTERM)
        received = int(sink.communicate(timeout=30)[0].strip() or 0)

    print(f"subscribers: {args.subscribers} (set up in {setup_s:.1f} s), issue of {args.papers} papers")
    print(f"render one message, from nothing (templates + CSS inlining + MIME): {cold_ms:.2f} ms (median of 30)")
    print(f"render one message, variant cached (links, headers, MIME): {warm_ms:.2f} ms (median of 30)")
    print(f"send: {report}")
    print(f"sink received: {received}")
    print(f"sent {report.sent} in {elapsed:.1f} s: {report.sent / elapsed:.0f} messages/second "
          f"({(report.sent + report.skipped) / elapsed:.0f} deliveries/second incl. {report.skipped} skipped for their tags)")


if __name__ == "__main__":
    main()
