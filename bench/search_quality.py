"""Search quality in three languages: recall@5, recall@10 and MRR of the fused ranking and of
each list alone (vectors, English words, Korean/Chinese pieces), per query language and per
kind (same-language, cross-lingual).

    python bench/search_quality.py
    python bench/search_quality.py --misses      # also list the queries the top 5 missed

Corpus: the seed documents (data/seeds) and the English-only papers of data/search_quality/
(as arXiv gives them before enrichment translates them), embedded with the configured model.
Queries: data/search_quality/queries.json, each wanting one paper. Its own database
(bench_search_quality, made from the migrations, dropped at the end); the dev database's
tables are never touched. Goal: recall@5 at least 0.9 in every language and kind, and
cross-lingual no more than 5 points below same-language.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
REDIS_DB = 12


def print_report(report, *, misses: bool) -> None:
    from papers.search.quality import LIST_NAMES

    groups = ["all", "ko", "zh", "en", "same-language", "cross-lingual",
              *(f"{lang} {kind}" for lang in ("ko", "zh", "en") for kind in ("same-language", "cross-lingual"))]
    print(f"{'queries':24} {'n':>3}  {'ranking':8} {'R@5':>5} {'R@10':>5} {'MRR':>5}")
    for group in groups:
        for ranking in ("fused", *LIST_NAMES):
            figures = report.get(group, ranking)
            if not figures.ranks:
                continue
            label = group if ranking == "fused" else ""
            n = str(len(figures.ranks)) if ranking == "fused" else ""
            print(f"{label:24} {n:>3}  {ranking:8} {figures.recall(5):5.2f} {figures.recall(10):5.2f} {figures.mrr:5.2f}")
    same, cross = report.get("same-language").recall(5), report.get("cross-lingual").recall(5)
    print(f"cross-lingual recall@5 minus same-language: {100 * (cross - same):+.1f} points")
    if misses:
        for query, rank in report.misses:
            print(f"  missed ({query.lang}, rank {rank or '>50'}): {query.q}  -> {query.want}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--misses", action="store_true", help="list the queries whose paper is not in the top 5")
    p.add_argument("--keep", action="store_true", help="keep the bench_search_quality database afterwards")
    args = p.parse_args()

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    from config.bootstrap import ensure_services

    ensure_services()
    from config import services

    if not os.environ.get("REDIS_URL"):
        os.environ["REDIS_URL"] = f"unix://{services.REDIS_SOCKET}?db={REDIS_DB}"
    os.environ["EMBEDDINGS_QUERY_CACHE_SECONDS"] = "0"  # every query embedded as a new reader's would be
    os.environ["SEARCH_EMBED_TIMEOUT"] = "60"  # a slow start must not measure a search by words alone
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from papers.search import quality

    real_name = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}), "NAME": "bench_search_quality"}
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        start = time.perf_counter()
        call_command("import_seeds", str(settings.SEEDS_DIR), verbosity=0)
        quality.import_english_papers()
        call_command("embed_papers", verbosity=0)
        load_s = time.perf_counter() - start
        queries = quality.judged_queries()
        start = time.perf_counter()
        report = quality.evaluate(queries)
        search_s = time.perf_counter() - start
    finally:
        if not args.keep:
            connection.creation.destroy_test_db(real_name, verbosity=0)

    print(f"search quality: {len(queries)} queries, seed papers + {len(quality.english_papers())} English-only papers, "
          f"model {settings.EMBEDDINGS_MODEL}; loaded and embedded in {load_s:.0f} s, searched in {search_s:.1f} s")
    print_report(report, misses=args.misses)


if __name__ == "__main__":
    main()
