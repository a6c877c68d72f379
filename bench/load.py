"""Mixed reader traffic against gunicorn: requests per second, latency per kind of page, errors.

    python bench/load.py                      # 60 s, 16 clients
    python bench/load.py --seconds 10 --clients 8

It makes its own database (bench_load, on the embedded PostgreSQL or DATABASE_URL's server,
dropped at the end unless --keep) from the project's migrations, imports the demo corpus
(import_seeds, as `make run` does) and enriches it in this process, offline (extractive
summaries, tags, the embeddings that search by meaning needs), so the pages and searches are
those of a dev site whose worker has caught up. The cache is Redis database 12: the dev
database and cache are never touched.

It starts gunicorn as config/run.py does (2 workers x 4 threads, OMP_NUM_THREADS=1) on a free
port, with SEARCH_RATE_LIMIT raised so that all clients, which share 127.0.0.1, are not
throttled as one reader (the limiter still runs; a 429 is counted apart from errors). Then
--clients threads each send one request, wait for the whole answer, and send the next
(closed loop, keep-alive, a per-request socket timeout), for --seconds, over a weighted mix:
home, archive, issue pages, paper pages, tag pages, the search page and /api/search with
Korean, Chinese and English queries (repeated ones, whose query vectors are cached, and new
ones, which the model embeds), and the RSS/Atom feeds. Paper, tag and issue URLs come from
the site: the home page, the archive, the tag and issue pages are crawled before the clock starts.

It prints requests, requests/s and p50/p95/p99 overall and per kind, the status counts, and
exits 1 on any 5xx, timeout or connection error. gunicorn's log (access log and the
traceback of every 500) is var/bench-load-gunicorn.log.

gunicorn also reads this file as its config (`-c bench/load.py`) for post_worker_init below.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import http.client
import itertools
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

DB_NAME = "bench_load"
REDIS_DB = 12  # bench/search.py uses 13, bench/ingest.py 14, the tests 15
RATE_LIMIT = 1_000_000  # SEARCH_RATE_LIMIT for the bench's gunicorn: every client is 127.0.0.1
LOG = ROOT / "var" / "bench-load-gunicorn.log"
SEED = 20240129
NONCE = uuid.uuid4().hex[:6]  # keeps "new" queries out of the query-vector cache of earlier runs

# Share of requests per kind (out of 100): reading dominates, search is a fifth.
MIX = {
    "home": 12, "archive": 5, "issue": 10, "paper": 25, "tag": 10, "feed": 14,
    "search": 8, "search-new": 4, "api": 8, "api-new": 4,
}
QUERIES = {
    "ko": ["합성 데이터", "지속 사전학습", "모델 붕괴", "멀티모달 평가", "검색 증강 생성", "지식 그래프",
           "벤치마크 오염"],
    "zh": ["合成数据", "持续预训练", "模型崩溃", "多模态评估", "检索增强生成", "知识图谱",
           "指令微调"],
    "en": ["synthetic data", "continued pretraining", "model collapse", "benchmark contamination",
           "retrieval augmented generation", "entity graph", "instruction tuning"],
}
ACCEPT_LANGUAGE = {"ko": "ko-KR,ko;q=0.9", "zh": "zh-CN,zh;q=0.9", "en": "en-US,en;q=0.9"}
FEED_LANGS = ("ko", "zh", "en")


def post_worker_init(worker) -> None:
    """gunicorn hook (this file is also its config). With DEBUG off, Django logs a 500's
    traceback only to mail_admins; a handler on django.request puts it in gunicorn's log,
    after Django has configured logging (the WSGI app is loaded by now)."""
    import logging

    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s [pid %(process)d]: %(message)s"))
    logger = logging.getLogger("django.request")
    logger.addHandler(handler)
    logger.setLevel(logging.ERROR)


# --- The site -----------------------------------------------------------------------------


def prepare_database(name: str = DB_NAME) -> str:
    """Create the database from the migrations, import and enrich the demo corpus; return its URL."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from papers import embeddings, enrich
    from papers.models import Paper

    connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}), "NAME": name}
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)  # runs migrate
    call_command("import_seeds", str(settings.SEEDS_DIR), verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # as make run: whitenoise serves STATIC_ROOT
    # What make run's worker does in the background (papers.tasks.enrichment_chain), here
    # one paper after another: the load should meet summaries, tags and vectors.
    for paper in Paper.objects.order_by("pk"):
        enrich.run_all(paper)
        embeddings.embed_paper(paper)
    s = connection.settings_dict
    if s["HOST"].startswith("/"):
        return f"postgresql://{s['USER']}@/{s['NAME']}?host={s['HOST']}"
    return f"postgresql://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_gunicorn(env: dict[str, str], port: int, *, log: Path = LOG) -> subprocess.Popen:
    """config/run.py's web program, on our port, logging to LOG; returns once / answers."""
    bin_dir = os.path.dirname(sys.executable)
    argv = [os.path.join(bin_dir, "gunicorn"), "config.wsgi", "-c", str(Path(__file__).resolve()),
            "-b", f"127.0.0.1:{port}", "--workers", "2", "--threads", "4", "--access-logfile", "-",
            # gunicorn's control socket defaults to one path per user (~/.gunicorn/gunicorn.ctl):
            # a second gunicorn beside this one (make run, another bench) would take it over.
            "--no-control-socket"]
    out = open(log, "w")
    proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/")
            if conn.getresponse().status == 200:
                conn.close()
                return proc
        except OSError:
            time.sleep(0.2)
    stop_gunicorn(proc)
    raise RuntimeError(f"gunicorn did not answer GET / within 60 s; see {log}")


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)  # the arbiter stops its workers gracefully
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


@dataclass
class Site:
    """The URLs the clients pick from, found by crawling the site."""

    issues: list[str]
    papers: list[str]
    tags: list[str]
    feeds: list[str]


_LINK = re.compile(r'href="(/[^"#?]*)"')


def get_page(port: int, path: str) -> str:
    """The body of a 200 answer (anything else raises), for finding the URLs to measure."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read().decode("utf-8", "replace")
    conn.close()
    if response.status != 200:
        raise RuntimeError(f"GET {path} answered {response.status}")
    return body


def crawl(port: int) -> Site:
    def links(path: str) -> set[str]:
        return set(_LINK.findall(get_page(port, path)))

    found = links("/") | links("/issues/") | links("/tags/")
    tags = sorted(p for p in found if re.fullmatch(r"/tags/[^/]+/", p))
    issues = sorted(p for p in found if re.fullmatch(r"/issues/\d{4}-\d{2}-\d{2}/", p))
    for page in tags + issues:
        found |= links(page)
    site = Site(
        issues=issues,
        papers=sorted(p for p in found if re.fullmatch(r"/papers/\d+/", p)),
        tags=tags,
        # The linked feeds, and every language's issue feeds and tag feeds by their URL pattern.
        feeds=sorted({p for p in found if p.startswith("/feeds/")}
                     | {f"/feeds/{lang}/issues.{ext}" for lang in FEED_LANGS for ext in ("rss", "atom")}
                     | {f"/feeds/{lang}/tags/{t.split('/')[2]}.{ext}" for lang in FEED_LANGS for t in tags for ext in ("rss", "atom")}),
    )
    empty = [name for name, urls in vars(site).items() if not urls]
    if empty:
        raise RuntimeError(f"crawl found no {', '.join(empty)} links on /, /issues/, /tags/ and the pages they link")
    return site


# --- The clients --------------------------------------------------------------------------


@dataclass
class Result:
    kind: str
    path: str
    outcome: str  # ok, 3xx, 429, 4xx, 5xx, bad-body, timeout, connection
    status: int
    seconds: float


@dataclass
class Client:
    """One closed-loop client: the next request only after the whole previous answer."""

    port: int
    site: Site
    rng: random.Random
    timeout: float
    new_query: itertools.count
    results: list[Result] = field(default_factory=list)
    reconnects: int = 0
    conn: http.client.HTTPConnection | None = None

    def run(self, until: float) -> None:
        kinds, weights = list(MIX), list(MIX.values())
        while time.monotonic() < until:
            kind = self.rng.choices(kinds, weights)[0]
            lang = self.rng.choice(FEED_LANGS)
            self.results.append(self.fetch(kind, self.path(kind, lang), lang))
        if self.conn is not None:
            self.conn.close()

    def path(self, kind: str, lang: str) -> str:
        pick = self.rng.choice
        if kind in ("search", "search-new", "api", "api-new"):
            q = pick(QUERIES[lang])
            if kind.endswith("-new"):  # a query never sent before: the model embeds it
                q = f"{q} {pick(QUERIES[lang])} {NONCE}{next(self.new_query)}"
            base = "/search/" if kind.startswith("search") else "/api/search"
            return f"{base}?{urllib.parse.urlencode({'q': q})}"
        return {
            "home": lambda: "/",
            "archive": lambda: "/issues/",
            "issue": lambda: pick(self.site.issues),
            "paper": lambda: pick(self.site.papers),
            "tag": lambda: pick(self.site.tags),
            "feed": lambda: pick(self.site.feeds),
        }[kind]()

    def fetch(self, kind: str, path: str, lang: str) -> Result:
        headers = {"Accept-Language": ACCEPT_LANGUAGE[lang]}
        start = time.perf_counter()
        for attempt in (1, 2):
            reused = self.conn is not None
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=self.timeout)
            try:
                self.conn.request("GET", path, headers=headers)
                response = self.conn.getresponse()
                body = response.read()
            except (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected):
                self._drop()
                if reused and attempt == 1:
                    # The server closed an idle keep-alive connection as we sent on it: what
                    # any HTTP client does is send again on a new one (counted, not an error).
                    self.reconnects += 1
                    continue
                return Result(kind, path, "connection", 0, time.perf_counter() - start)
            except TimeoutError:
                self._drop()
                return Result(kind, path, "timeout", 0, time.perf_counter() - start)
            except (OSError, http.client.HTTPException):
                self._drop()
                return Result(kind, path, "connection", 0, time.perf_counter() - start)
            seconds = time.perf_counter() - start
            if response.will_close:
                self._drop()
            return Result(kind, path, outcome(kind, response.status, body), response.status, seconds)
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self.conn is not None:
            self.conn.close()
        self.conn = None


def outcome(kind: str, status: int, body: bytes) -> str:
    if status >= 500:
        return "5xx"
    if status == 429:
        return "429"
    if status >= 400:
        return "4xx"
    if status >= 300:
        return "3xx"
    # A 200 must be the thing asked for, not an empty or cut-off page.
    if kind.startswith("api"):
        try:
            ok = isinstance(json.loads(body).get("results"), list)
        except ValueError:
            ok = False
    elif kind == "feed":
        ok = body.lstrip().startswith(b"<?xml") and (b"</rss>" in body or b"</feed>" in body)
    else:
        ok = b"</html>" in body
    return "ok" if ok else "bad-body"


def warm_up(port: int) -> bool:
    """Every repeated query (its vector is then cached, as for a popular query), twice so
    that both workers load the embedding model before the clock starts. Returns whether
    /api/search answered every one by meaning as well as by words."""
    semantic = True
    for q in [q for qs in QUERIES.values() for q in qs] * 2:
        for base in ("/search/", "/api/search"):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            conn.request("GET", f"{base}?{urllib.parse.urlencode({'q': q})}")
            body = conn.getresponse().read()
            conn.close()
            if base == "/api/search":
                semantic = semantic and json.loads(body).get("semantic") is True
    return semantic


def drive(port: int, site: Site, *, clients: int, seconds: float, timeout: float) -> tuple[list[Result], int, float]:
    counter = itertools.count()
    pool = [Client(port, site, random.Random(SEED + i), timeout, counter) for i in range(clients)]
    started = time.monotonic()
    threads = [threading.Thread(target=c.run, args=(started + seconds,)) for c in pool]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - started  # up to the last answer of a request sent in time
    return [r for c in pool for r in c.results], sum(c.reconnects for c in pool), elapsed


# --- The report ---------------------------------------------------------------------------


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    rank = q / 100 * (len(sorted_values) - 1)
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


def report(results: list[Result], elapsed: float, reconnects: int, args, site: Site, semantic: bool) -> int:
    print(f"load bench: {args.clients} closed-loop clients for {args.seconds:g} s against gunicorn "
          f"(2 workers x 4 threads, OMP_NUM_THREADS=1), {os.cpu_count()} CPUs")
    print(f"site: {len(site.papers)} papers, {len(site.tags)} tags, {len(site.issues)} issues, {len(site.feeds)} feeds "
          f"(crawled from /, /issues/, the tag and issue pages)")
    print(f"search: {sum(map(len, QUERIES.values()))} repeated ko/zh/en queries (vectors cached in the warm-up) and new ones; "
          f"by meaning and words: {'yes' if semantic else 'NO (words only: no embeddings?)'}")
    print(f"SEARCH_RATE_LIMIT={RATE_LIMIT} in gunicorn's environment (default 120 per 60 s per address; "
          "every client here is 127.0.0.1)")
    print(f"socket timeout per request {args.timeout:g} s; elapsed {elapsed:.1f} s")
    header = f"{'kind':12}{'requests':>9}{'req/s':>8}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}   statuses"
    print(header)
    by_kind = collections.defaultdict(list)
    for r in results:
        by_kind[r.kind].append(r)

    def row(name: str, rs: list[Result]) -> str:
        latencies = sorted(r.seconds * 1000 for r in rs if r.status)  # answered requests
        statuses = collections.Counter(str(r.status) if r.status else r.outcome for r in rs)
        bad = sum(1 for r in rs if r.outcome == "bad-body")
        extra = f", {bad} bad bodies" if bad else ""
        return (f"{name:12}{len(rs):>9}{len(rs) / elapsed:>8.1f}{percentile(latencies, 50):>9.1f}"
                f"{percentile(latencies, 95):>9.1f}{percentile(latencies, 99):>9.1f}   "
                + " ".join(f"{k}:{v}" for k, v in sorted(statuses.items())) + extra)

    for kind in MIX:
        print(row(kind, by_kind.get(kind, [])))
    print(row("all", results))

    counts = collections.Counter(r.outcome for r in results)
    print(f"total: {len(results)} requests, {len(results) / elapsed:.1f} req/s; ok {counts['ok']}, 3xx {counts['3xx']}, "
          f"429 {counts['429']}, other 4xx {counts['4xx']}, bad bodies {counts['bad-body']}")
    print(f"5xx: {counts['5xx']}   timeouts: {counts['timeout']}   connection errors: {counts['connection']}"
          f"   (keep-alive connections closed by the server and sent again: {reconnects})")
    for name in ("5xx", "timeout", "connection", "4xx", "bad-body"):
        paths = collections.Counter(f"{r.status or ''} {r.path}".strip() for r in results if r.outcome == name)
        for path, n in paths.most_common(5):
            print(f"  {name}: {n} x {path}")
    if counts["5xx"]:
        print(f"tracebacks: {LOG}")
    return 1 if counts["5xx"] or counts["timeout"] or counts["connection"] else 0


@contextlib.contextmanager
def served_site(*, db_name: str = DB_NAME, log: Path = LOG, keep: bool = False):
    """The demo site under gunicorn as make run serves it, on a database of its own (dropped
    afterwards unless keep) and the embedded servers (started here if need be, and stopped
    again if so); yields gunicorn's port. bench/pages.py serves its site the same way."""
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ["OMP_NUM_THREADS"] = "1"  # the embeddings computed here, as in the web processes
    os.environ["LLM_BASE_URL"] = ""  # enrichment offline: the bench never calls a real LLM
    from config import services

    embedded = {name for name, var in (("postgres", "DATABASE_URL"), ("redis", "REDIS_URL")) if not os.environ.get(var)}
    started: set[str] = set()
    if embedded:
        services.keep_files_private()
        started = services.ensure_started(postgres="postgres" in embedded, redis="redis" in embedded)
    if "redis" in embedded:
        os.environ["REDIS_URL"] = f"unix://{services.REDIS_SOCKET}?db={REDIS_DB}"  # the cache, here and in gunicorn
    import django

    django.setup()
    from django.db import connection

    real_name = connection.settings_dict["NAME"]
    server = None
    try:
        db_url = prepare_database(db_name)
        env = {**os.environ, "DATABASE_URL": db_url, "SEARCH_RATE_LIMIT": str(RATE_LIMIT), "DEBUG": "false",
               "OMP_NUM_THREADS": "1"}
        port = free_port()
        server = start_gunicorn(env, port, log=log)
        yield port
    finally:
        if server is not None:
            stop_gunicorn(server)
        connection.close()
        if not keep:
            connection.creation.destroy_test_db(real_name, verbosity=0)
        # Servers this run started stop with it; servers that ran before are left as they were.
        if started and started == embedded and not services.is_supervised():
            services.stop_all()
        elif started:
            print(f"left running: {', '.join(sorted(started))} (started here beside a server that was already running)")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=60, help="seconds of traffic (default 60)")
    p.add_argument("--clients", type=int, default=16, help="concurrent closed-loop clients (default 16)")
    p.add_argument("--timeout", type=float, default=30, help="socket timeout per request, seconds (default 30)")
    p.add_argument("--keep", action="store_true", help=f"keep the {DB_NAME} database afterwards")
    args = p.parse_args()
    with served_site(keep=args.keep) as port:
        site = crawl(port)
        semantic = warm_up(port)
        results, reconnects, elapsed = drive(port, site, clients=args.clients, seconds=args.seconds, timeout=args.timeout)
    return report(results, elapsed, reconnects, args, site, semantic)


if __name__ == "__main__":
    sys.exit(main())
