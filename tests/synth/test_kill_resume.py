"""A real Celery worker killed with SIGKILL in the middle of a run; the run is resumed and
ends with exactly the units (and texts) of an uninterrupted run, none of them done twice."""

from __future__ import annotations

import pytest

from synth import entigraph, runs
from synth.models import SynthesisRun
from synth.runner import run_synthesis

pytestmark = pytest.mark.django_db(transaction=True)


def requests_for(server, unit) -> int:
    """Requests the server got for this unit: its document's title and its entity list."""
    title = f"Title: {unit.document.title}\n"
    if unit.stage == "entities":
        return sum(1 for r in server.received if title in r.prompt and r.body.get("response_format"))
    listed = "Entities:\n" + "".join(f"- {e}\n" for e in unit.entities) + "\n"
    return sum(1 for r in server.received if title in r.prompt and listed in r.prompt)


def test_killed_worker_then_resume_gives_the_units_of_an_uninterrupted_run(
    synth_llm_env, topic, celery_worker_process, llm_queue, wait_until, settings
):
    server = synth_llm_env
    server.latency = 0.3  # with 4 calls in flight, 2 + 12 + 8 units take a few seconds
    run = runs.start_run(topic=topic, strategy=entigraph.ENTIGRAPH, target_tokens=0, triples_per_document=4, seed=11)
    wait_until(lambda: run.units.filter(status="done").count() >= 6, what="six units done by the worker")
    celery_worker_process.kill()

    run.refresh_from_db()
    assert run.status == "running"  # the worker died without a word
    done_before = {u.pk: (u.finished_at, u.output.pk) for u in run.units.filter(status="done").select_related("output")}
    assert 6 <= len(done_before) < 2 + 12 + 8  # killed mid-run

    # The run page offers resume once the heartbeat is stale; here we take over at once, as
    # `manage.py synthesize --resume` does, and run it in this process.
    assert runs.resume_run(run, force=True, enqueue=False)
    assert run_synthesis(run.pk) == "done"
    run.refresh_from_db()

    units = list(run.units.select_related("document", "output"))
    assert len(units) == 2 + 12 + 8 and all(u.status == "done" for u in units)
    assert all(u.attempts == 1 for u in units)  # no unit was finished twice
    for unit in units:
        if unit.pk in done_before:  # finished before the kill: kept as it was, never asked again
            assert (unit.finished_at, unit.output.pk) == done_before[unit.pk]
            assert requests_for(server, unit) == 1
    assert run.synthetic.count() == run.synthetic_documents == len(units)

    # An uninterrupted run of the same topic and seed has exactly the same units and texts.
    settings.SYNTH_CONCURRENCY = 4
    server.latency = 0.0
    reference = runs.start_run(topic=topic, strategy=entigraph.ENTIGRAPH, target_tokens=0, triples_per_document=4,
                               seed=11, enqueue=False)
    assert run_synthesis(reference.pk) == "done"
    assert set(run.units.values_list("key", flat=True)) == set(reference.units.values_list("key", flat=True))
    assert set(run.synthetic.values_list("content_hash", flat=True)) == set(
        reference.synthetic.values_list("content_hash", flat=True))
    assert SynthesisRun.objects.get(pk=reference.pk).synthetic_tokens == run.synthetic_tokens
