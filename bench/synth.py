"""EntiGraph synthesis throughput: calls and synthetic tokens per second, concurrent runner
against a one-call-at-a-time baseline, both measured in this run.

    python bench/synth.py                    # 24 documents x 10 entities: 2,064 calls, 300 ms each
    python bench/synth.py --concurrency 32 --documents 12

It makes its own database (bench_synth, on the embedded PostgreSQL or DATABASE_URL's server,
dropped at the end) and starts the scripted OpenAI-compatible server (tests/llm_server.py) in
a separate process, answering every call after --latency seconds. Then:

- the run: synth.synthesis.runner.run_synthesis, the code the Celery task runs, on a topic of
  --documents papers: one entity call per document, every pair, --triples triples each;
- the baseline: the reference implementation's pattern, one call after another through the
  sync gateway (papers.llm.complete/complete_json) with the same prompts, for --baseline-calls
  calls, extrapolated to the run's call count (a different model name, so no cache hits).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

WORDS = ("entity graph synthetic corpus pretraining model token passage relation document knowledge "
         "language learning data paper method result benchmark scaling training evaluation").split()


# --- The server (its own process: `python bench/synth.py --server LATENCY`) ----------------


def reply_for(body: dict):
    """Ten entities per document for the entity call; a ~120-word passage for the others."""
    user = body["messages"][1]["content"]
    title = re.search(r"^Title: (.*)$", user, re.MULTILINE).group(1)
    if body.get("response_format"):
        return {"summary": f"{title} in two sentences.", "entities": [f"{title} entity {i}" for i in range(10)]}
    digest = hashlib.sha256(user.encode()).digest()
    words = [WORDS[b % len(WORDS)] for b in digest * 4][:120]
    return f"{title}: " + " ".join(words) + "."


def run_server(latency: float) -> None:
    from tests.llm_server import ScriptedLLMServer

    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})  # delivered to sigwait below, not fatal
    server = ScriptedLLMServer(latency=latency, model="bench-model")
    server.responder = reply_for
    # http.server listens with a backlog of 5: dozens of clients connecting at once would see
    # refused connections (and retries) that a real server would not cause. Listen again, deeper.
    server._httpd.socket.listen(1024)
    server.start()
    print(server.url, flush=True)
    signal.sigwait({signal.SIGTERM})
    print(json.dumps({"requests": server.request_count, "max_in_flight": server.max_in_flight,
                      "mean_in_flight": round(server.mean_in_flight, 1)}), flush=True)
    server.stop()


# --- The benchmark ------------------------------------------------------------------------


def make_topic(documents: int):
    from papers.models import Paper, PaperText, Tag
    from synth.models import Topic

    tag = Tag.objects.create(slug="bench", name="bench")
    for i in range(documents):
        paper = Paper.objects.create(title=f"Bench paper {i:03d}")
        body = " ".join(WORDS[(i + j) % len(WORDS)] for j in range(180)) + "."
        PaperText.objects.create(paper=paper, kind="abstract", lang="en", body=body)
        paper.tags.add(tag)
    topic = Topic.objects.create(name="Bench topic", languages=["en"])
    topic.tags.add(tag)
    return topic


def baseline(topic, calls: int) -> tuple[int, int, float]:
    """One call after another, as the reference implementation does: (calls, tokens, seconds)."""
    from papers import llm
    from synth.corpus import count_tokens, topic_documents
    from synth.synthesis import entigraph

    done = tokens = 0
    started = time.perf_counter()
    for doc in topic_documents(topic):
        source = entigraph.Source(0, doc.title, doc.text, doc.content_hash)
        value = llm.complete_json(task_kind="bench:baseline", system=entigraph.SYSTEM, schema=entigraph.ENTITIES_SCHEMA,
                                  user=entigraph.entities_prompt(source, limit=12), max_tokens=800, model="baseline-model")
        done, tokens = done + 1, tokens + count_tokens(value["summary"])
        for pair in itertools.combinations(entigraph.dedupe_entities(value["entities"], limit=12), 2):
            if done >= calls:
                return done, tokens, time.perf_counter() - started
            text = llm.complete(task_kind="bench:baseline", system=entigraph.SYSTEM, max_tokens=1200,
                                user=entigraph.relation_prompt(source, pair), model="baseline-model")
            done, tokens = done + 1, tokens + count_tokens(text)
    return done, tokens, time.perf_counter() - started


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--documents", type=int, default=24)
    p.add_argument("--triples", type=int, default=40, help="sampled triples per document")
    p.add_argument("--latency", type=float, default=0.3, help="seconds the server takes for every call")
    p.add_argument("--concurrency", type=int, default=64, help="SYNTH_CONCURRENCY for the run")
    p.add_argument("--baseline-calls", type=int, default=30)
    p.add_argument("--server", type=float, metavar="LATENCY", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.server is not None:
        run_server(args.server)
        return

    import os

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.bootstrap import ensure_services

    ensure_services()
    import django

    django.setup()
    import logging

    from django.conf import settings
    from django.db import connection

    from synth import synthesis
    from synth.models import SynthesisRun
    from synth.synthesis import entigraph
    from synth.synthesis.runner import run_synthesis
    from synth.synthesis.usage import llm_requests

    logging.getLogger("synth").setLevel(logging.WARNING)
    server = subprocess.Popen([sys.executable, __file__, "--server", str(args.latency)], stdout=subprocess.PIPE, text=True)
    settings.LLM_BASE_URL = server.stdout.readline().strip()
    settings.LLM_MODEL, settings.LLM_API_KEY = "bench-model", "bench"
    settings.SYNTH_CONCURRENCY = args.concurrency

    real_name = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}), "NAME": "bench_synth"}
    try:
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        topic = make_topic(args.documents)
        b_calls, b_tokens, b_seconds = baseline(topic, args.baseline_calls)

        run = synthesis.start_run(topic=topic, strategy=entigraph.ENTIGRAPH, target_tokens=0,
                                  triples_per_document=args.triples)
        started = time.perf_counter()
        status = run_synthesis(run.pk)
        wall = time.perf_counter() - started
        run = SynthesisRun.objects.get(pk=run.pk)
        requests = llm_requests(run)
        units = run.units.count()
    finally:
        if connection.settings_dict["NAME"] != real_name:
            connection.creation.destroy_test_db(real_name, verbosity=0)
        server.send_signal(signal.SIGTERM)
        served = json.loads(server.communicate(timeout=30)[0].strip() or "{}")

    b_rate, b_tok_rate = b_calls / b_seconds, b_tokens / b_seconds
    rate, tok_rate = run.calls / wall, run.synthetic_tokens / wall
    extrapolated = run.calls / b_rate
    print(f"server: {args.latency * 1000:.0f} ms per call; {served}")
    print(f"run: {status}, {units} units, {run.calls} calls ({requests['requests']} requests, {requests['cache_hits']} cache hits), "
          f"{run.synthetic_documents} texts, {run.synthetic_tokens} synthetic tokens, concurrency {args.concurrency}")
    print(f"  wall {wall:.1f} s: {rate:.1f} calls/s, {tok_rate:.0f} synthetic tokens/s")
    print(f"baseline (one call at a time): {b_calls} calls in {b_seconds:.1f} s: {b_rate:.2f} calls/s, "
          f"{b_tok_rate:.0f} synthetic tokens/s; extrapolated to {run.calls} calls: {extrapolated:.0f} s")
    print(f"speed-up: {rate / b_rate:.1f}x calls/s, {tok_rate / b_tok_rate:.1f}x synthetic tokens/s (target: 30x)")


if __name__ == "__main__":
    main()
