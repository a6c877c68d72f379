"""A synthesis run's LLM usage, read from the gateway's records (papers.models.LLMCall): the
runner copies tokens and cost onto the run, and the run page counts requests and cache hits."""

from __future__ import annotations

from decimal import Decimal

from django.db.models import Count, Q, Sum

from papers.models import LLMCall
from synth.models import SynthesisRun
from synth.synthesis import entigraph


def task_kind(run: SynthesisRun, stage: str) -> str:
    # LLMCall.task_kind: how the run finds its own calls (tokens, cost) among everyone's.
    return f"synth:{run.pk}:{stage}"


def run_calls(run: SynthesisRun):
    # created_at is indexed: the scan covers the calls made since the run started.
    return LLMCall.objects.filter(created_at__gte=run.started_at, task_kind__startswith=f"synth:{run.pk}:")


def refresh_usage(run: SynthesisRun) -> Decimal:
    """Copy the run's LLM tokens and cost from the gateway's records (LLMCall) onto the run."""
    if run.strategy == entigraph.EXTRACTIVE or run.started_at is None:
        return Decimal(0)
    usage = run_calls(run).aggregate(
        prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"), cached=Sum("cached_tokens"), cost=Sum("cost_usd"),
    )
    cost = usage["cost"] or Decimal(0)
    SynthesisRun.objects.filter(pk=run.pk).update(
        prompt_tokens=usage["prompt"] or 0, completion_tokens=usage["completion"] or 0,
        cached_tokens=usage["cached"] or 0, cost_usd=cost,
    )
    return cost


def llm_requests(run: SynthesisRun) -> dict:
    """Requests the gateway made for the run (retries and failures included) and cache hits."""
    if run.strategy == entigraph.EXTRACTIVE or run.started_at is None:
        return {"requests": 0, "cache_hits": 0, "failed": 0}
    return run_calls(run).aggregate(
        requests=Count("id", filter=Q(cache_hit=False)), cache_hits=Count("id", filter=Q(cache_hit=True)),
        failed=Count("id", filter=Q(ok=False)),
    )
