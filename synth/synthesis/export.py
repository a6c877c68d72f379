"""A run's synthetic corpus as JSON Lines: one synthetic text per line, with where it came
from. Read by `manage.py export_corpus`, the admin's download and the CPT trainer."""

from __future__ import annotations

import json
from collections.abc import Iterator

from synth.models import SynthesisRun


def iter_jsonl(run: SynthesisRun) -> Iterator[str]:
    baseline = run.is_baseline  # rephrase and extractive corpora are baselines, never "EntiGraph"
    docs = run.synthetic.select_related("source").order_by("id")
    for doc in docs.iterator(chunk_size=500):
        source = doc.source
        yield json.dumps({
            "text": doc.text,
            "kind": doc.kind,
            "entities": doc.entities,
            "tokens": doc.tokens,
            "content_hash": doc.content_hash,
            "source": {"key": source.key, "title": source.title, "lang": source.lang, "kind": source.kind,
                       "paper_id": source.paper_id, "content_hash": source.content_hash},
            "run": run.pk,
            "strategy": run.strategy,
            "baseline": baseline,
            "model": run.model,
            "prompt_version": run.prompt_version,
        }, ensure_ascii=False) + "\n"


def export_filename(run: SynthesisRun) -> str:
    return f"synth-run-{run.pk}-{run.strategy}.jsonl"
