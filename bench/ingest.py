"""Ingest and enrich N papers from arXiv against a scripted LLM with a set latency: papers
per minute and LLM calls in flight, for the Celery batch against a one-call-at-a-time baseline.

    python bench/ingest.py                         # 40 papers, 300 ms per LLM call, 64 calls in flight
    python bench/ingest.py --papers 100 --concurrency 32 --latency 0.5

Both runs do the same work from an empty database: fetch the papers from a local arXiv feed
(generated Atom, same parser and upsert as production), then per paper summarize,
translate into each of ENRICH_LANGUAGES and tag (4 LLM calls with ko,zh), in that order.
- baseline: papers.enrich.run_all() for one paper after another in this process, one call
  at a time (the sync gateway);
- batch: papers.tasks.enqueue_enrichment(), executed by a real `celery worker` on the llm
  queue (--processes, default 1): enrich_batch tasks of ENRICH_BATCH_SIZE papers whose calls
  share one AsyncLLM with LLM_CONCURRENCY=--concurrency in flight. The embed step goes to
  the default queue, which this worker does not read: this measures the LLM pipeline, not
  the embedding model.
The LLM cache is emptied between the runs, so both pay for every call. The speed-up is the
baseline's time over the batch's, both measured in this run.

It makes its own database (bench_ingest, dropped at the end) and uses Redis database 14.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REDIS_DB = 14
_TOPICS = ["synthetic data", "continued pretraining", "model collapse", "benchmark contamination", "multimodal evaluation",
           "data curation", "instruction tuning", "retrieval augmentation"]


def make_feed(n: int) -> bytes:
    """One Atom page in the arXiv API's shape with n entries, newest first."""
    entries = []
    for i in range(n):
        topic = _TOPICS[i % len(_TOPICS)]
        abstract = (
            f"Large language models depend on the data they are trained on. We study {topic} at scale in setting {i}. "
            f"We propose a simple method that improves results on {topic} benchmarks across model sizes. "
            "Experiments on five tasks show consistent gains, and an analysis explains when the method helps. "
            "We release code and data to support further work on the question. " * 2
        )
        day = 28 - i % 27
        entries.append(f"""  <entry>
    <id>http://arxiv.org/abs/2501.{10000 + i:05d}v1</id>
    <updated>2025-01-{day:02d}T12:00:00Z</updated>
    <published>2025-01-{day:02d}T12:00:00Z</published>
    <title>Paper {i}: {escape(topic.title())} Revisited</title>
    <summary>  {escape(abstract)}</summary>
    <author><name>Author {i} A</name></author>
    <author><name>Author {i} B</name></author>
    <link href="http://arxiv.org/abs/2501.{10000 + i:05d}v1" rel="alternate" type="text/html"/>
    <arxiv:primary_category xmlns:arxiv="http://arxiv.org/schemas/atom" term="cs.CL" scheme="http://arxiv.org/schemas/atom"/>
  </entry>""")
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom">
  <title type="html">ArXiv Query: search_query=cat:cs.CL&amp;id_list=&amp;start=0&amp;max_results={n}</title>
  <id>http://arxiv.org/api/bench</id>
  <updated>2025-01-29T00:00:00-05:00</updated>
  <opensearch:totalResults xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{n}</opensearch:totalResults>
  <opensearch:startIndex xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">0</opensearch:startIndex>
  <opensearch:itemsPerPage xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">{n}</opensearch:itemsPerPage>
{chr(10).join(entries)}
</feed>
""".encode()


def serve_feed(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "application/atom+xml; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


def wipe() -> None:
    from papers.models import LLMCall, Paper

    Paper.objects.all().delete()  # texts, steps, versions go with them
    LLMCall.objects.all().delete()  # an empty cache: the next run pays for every call


def run_baseline(llm_server) -> tuple[float, int]:
    from papers import enrich
    from papers.ingest import arxiv
    from papers.models import Paper

    llm_server.reset_counts()
    started = time.perf_counter()
    report = arxiv.fetch_new(query="cat:cs.CL")
    for paper in Paper.objects.filter(pk__in=report.changed_ids).order_by("pk"):
        enrich.run_all(paper)
    return time.perf_counter() - started, len(report.changed_ids)


def start_worker(env: dict, processes: int, log_path: Path) -> subprocess.Popen:
    log = open(log_path, "w")
    cmd = [sys.executable, "-m", "celery", "-A", "config", "worker", "-Q", "llm", "--concurrency", str(processes),
           "--pool", "prefork", "-l", "INFO", "--without-heartbeat", "--without-gossip", "--without-mingle"]
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 120
    while "ready." not in log_path.read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"worker did not start: {log_path.read_text()[-2000:]}")
        time.sleep(0.2)
    return proc


def run_workers(llm_server) -> tuple[float, int]:
    from papers.ingest import arxiv
    from papers.models import EnrichmentStep
    from papers.tasks import enqueue_enrichment

    llm_server.reset_counts()
    started = time.perf_counter()
    report = arxiv.fetch_new(query="cat:cs.CL")
    enqueue_enrichment(report.changed_ids)
    llm_steps = EnrichmentStep.objects.exclude(step="embed")
    while llm_steps.filter(status__in=["pending", "running"]).exists():
        time.sleep(0.05)
    return time.perf_counter() - started, len(report.changed_ids)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--papers", type=int, default=40)
    p.add_argument("--latency", type=float, default=0.3, help="seconds per LLM call (default 0.3)")
    p.add_argument("--concurrency", type=int, default=64, help="LLM calls in flight per batch, LLM_CONCURRENCY (default 64)")
    p.add_argument("--processes", type=int, default=1, help="worker processes on the llm queue (default 1)")
    args = p.parse_args()

    from tests.llm_server import ScriptedLLMServer

    llm_server = ScriptedLLMServer(latency=args.latency).start()
    feed = serve_feed(make_feed(args.papers))
    pipeline_env = {
        "LLM_BASE_URL": llm_server.url, "LLM_API_KEY": "bench", "LLM_MODEL": "scripted-model",
        "ARXIV_API_URL": f"http://127.0.0.1:{feed.server_address[1]}/api/query",
        "ARXIV_MIN_INTERVAL": "0",  # our own local feed server, not arXiv
        "ARXIV_PAGE_SIZE": str(max(args.papers, 1)), "ARXIV_MAX_RESULTS": str(max(args.papers, 1)),
        "ENRICH_LANGUAGES": os.environ.get("ENRICH_LANGUAGES", "ko,zh"),
    }
    os.environ.update(pipeline_env)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.bootstrap import ensure_services

    ensure_services()
    import django

    django.setup()
    from django.conf import settings
    from django.db import connection

    from config import services
    from config.celery import app
    from papers.models import Tag

    broker = os.environ.get("REDIS_URL") or services.redis_url(REDIS_DB)
    settings.CELERY_BROKER_URL = settings.CELERY_RESULT_BACKEND = broker
    app.conf.broker_url = app.conf.result_backend = broker

    real_name = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}), "NAME": "bench_ingest"}
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    worker = None
    try:
        for slug in ("synthetic-data", "continued-pretraining", "benchmark", "multimodal", "model-collapse"):
            Tag.objects.create(slug=slug, name=slug.replace("-", " "))

        base_s, base_n = run_baseline(llm_server)
        base_calls, base_max, base_mean = llm_server.request_count, llm_server.max_in_flight, llm_server.mean_in_flight
        wipe()

        s = connection.settings_dict
        db_url = (f"postgresql://{s['USER']}@/{s['NAME']}?host={s['HOST']}" if s["HOST"].startswith("/")
                  else f"postgresql://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}")
        env = {**os.environ, **pipeline_env, "DATABASE_URL": db_url, "REDIS_URL": broker, "LLM_CONCURRENCY": str(args.concurrency)}
        app.control.purge()
        worker = start_worker(env, args.processes, ROOT / "var" / "bench-ingest-worker.log")
        work_s, work_n = run_workers(llm_server)
        work_calls, work_max, work_mean = llm_server.request_count, llm_server.max_in_flight, llm_server.mean_in_flight
    finally:
        if worker is not None:
            os.killpg(worker.pid, signal.SIGTERM)
            try:
                worker.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(worker.pid, signal.SIGKILL)
        app.control.purge()  # the embed steps nobody read
        connection.creation.destroy_test_db(real_name, verbosity=0)
        llm_server.stop()
        feed.shutdown()

    langs = ",".join(settings.ENRICH_LANGUAGES)
    print(f"{args.papers} papers, {args.latency * 1000:.0f} ms per LLM call, summarize + translate ({langs}) + tag")
    print(f"{'':28}{'papers/min':>11}{'LLM calls':>11}{'in flight (mean)':>18}{'in flight (max)':>17}{'seconds':>9}")
    print(f"{'baseline, one at a time':28}{base_n / base_s * 60:>11.1f}{base_calls:>11}{base_mean:>18.2f}{base_max:>17}{base_s:>9.1f}")
    print(f"{f'celery batch, {args.concurrency} in flight':28}{work_n / work_s * 60:>11.1f}{work_calls:>11}{work_mean:>18.2f}{work_max:>17}{work_s:>9.1f}")
    print(f"speed-up: {base_s / work_s:.1f}x")


if __name__ == "__main__":
    main()
