"""Anonymous reading pages against a static file, served by the same gunicorn in the same run.

    python bench/pages.py                     # 8 clients, 6 s per URL in 3 rounds
    python bench/pages.py --seconds 12 --clients 16

The demo site is served as bench/load.py serves it (its own database, bench_pages, from the
migrations with the demo corpus imported and enriched offline; gunicorn as make run starts
it: 2 workers x 4 threads; the Redis cache in database 12). In --rounds rounds over the URLs,
--clients threads send one GET after another to each on keep-alive connections (closed loop,
--seconds per URL in all), as readers who are not signed in, in Korean, Chinese and English
in turn; the page cache is warm, as on a site that has readers. Printed: requests/s, p50 and p95 latency per URL, and
each page's rate as a share of the static file's (the goal: at least 40%). Exits 1 on any
answer that is not a 200.
"""

from __future__ import annotations

import argparse
import http.client
import re
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.load import ACCEPT_LANGUAGE, get_page, percentile, served_site  # noqa: E402

DB_NAME = "bench_pages"
LOG = ROOT / "var" / "bench-pages-gunicorn.log"
GOAL = 0.40


def pick_urls(port: int) -> dict[str, str]:
    """A paper, a tag and the stylesheet, as the home page links them."""
    home = get_page(port, "/")
    paper = re.search(r'href="(/papers/\d+/)"', home).group(1)
    tag = re.search(r'href="(/tags/[^/"]+/)"', get_page(port, "/tags/")).group(1)
    static = re.search(r'href="(/static/[^"]+\.css)"', home).group(1)
    return {"static file": static, "home": "/", "a paper": paper, "/papers/": "/papers/", "a tag": tag,
            "a feed": "/feeds/ko/issues.rss"}


def hammer(port: int, path: str, *, clients: int, seconds: float) -> tuple[float, list[float], int]:
    """(requests/s, latencies, answers that were not 200) of clients closed-loop threads."""
    latencies: list[list[float]] = [[] for _ in range(clients)]
    failures = [0] * clients
    start = time.monotonic()
    until = start + seconds

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        headers = {"Accept-Language": list(ACCEPT_LANGUAGE.values())[n % len(ACCEPT_LANGUAGE)]}
        while time.monotonic() < until:
            began = time.perf_counter()
            try:
                conn.request("GET", path, headers=headers)
                response = conn.getresponse()
                response.read()
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                failures[n] += 1
                continue
            latencies[n].append(time.perf_counter() - began)
            failures[n] += response.status != 200
        conn.close()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.monotonic() - start
    done = sorted(x for per_client in latencies for x in per_client)
    return len(done) / elapsed, done, sum(failures)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seconds", type=float, default=6, help="seconds per URL in all (default 6)")
    p.add_argument("--rounds", type=int, default=3, help="rounds over the URLs (default 3)")
    p.add_argument("--clients", type=int, default=8, help="concurrent closed-loop clients (default 8)")
    args = p.parse_args()
    failed = 0
    with served_site(db_name=DB_NAME, log=LOG) as port:
        urls = pick_urls(port)
        for path in urls.values():  # warm: compiled templates, connections, the page cache
            for lang in ACCEPT_LANGUAGE.values():
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                conn.request("GET", path, headers={"Accept-Language": lang})
                conn.getresponse().read()
                conn.close()
        # Rounds of every URL in turn, the static file among them: a neighbour's load on the
        # machine then weighs on the pages and the static file alike.
        totals = {name: [0.0, []] for name in urls}
        for _ in range(args.rounds):
            for name, path in urls.items():
                rps, latencies, failures = hammer(port, path, clients=args.clients, seconds=args.seconds / args.rounds)
                totals[name][0] += rps / args.rounds
                totals[name][1] += latencies
                failed += failures
        rows = [(name, urls[name], rps, sorted(latencies)) for name, (rps, latencies) in totals.items()]
    static = rows[0][2]
    print(f"pages bench: {args.clients} closed-loop clients, {args.seconds:g} s per URL in {args.rounds} rounds, gunicorn 2 workers x 4 threads, "
          f"anonymous readers (ko/zh/en), page cache warm")
    print(f"{'url':<22} {'path':<28} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'of static':>10}")
    for name, path, rps, latencies in rows:
        share = "" if name.startswith("static") else f"{rps / static:>9.0%}"
        print(f"{name:<22} {path[:28]:<28} {rps:>8.1f} {percentile(latencies, 50) * 1000:>8.1f} "
              f"{percentile(latencies, 95) * 1000:>8.1f} {share:>10}")
    pages = [rps for name, _, rps, _ in rows if not name.startswith("static")]
    print(f"static file: {static:.1f} req/s; slowest page {min(pages) / static:.0%} of it "
          f"(goal {GOAL:.0%}); answers other than 200: {failed}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
