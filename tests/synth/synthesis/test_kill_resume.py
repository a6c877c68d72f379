"""A real Celery worker killed with SIGKILL in the middle of a run and started again; beat's
job queues the stalled run, the new worker finishes it, and it ends with exactly the units
(and texts) of an uninterrupted run, none of them done twice."""

from __future__ import annotations

import pytest

from synth import synthesis
from synth.models import SynthesisRun
from synth.synthesis import entigraph
from synth.synthesis.runner import run_synthesis
from synth.synthesis.tasks import enqueue_synthesis
from synth.tasks import resume_stalled_runs
from tests.faults import end_sessions_opened_since

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
    run = synthesis.start_run(topic=topic, strategy=entigraph.ENTIGRAPH, target_tokens=0, triples_per_document=4, seed=11)
    enqueue_synthesis(run.pk)
    wait_until(lambda: run.units.filter(status="done").count() >= 6, what="six units done by the worker")
    celery_worker_process.kill()

    run.refresh_from_db()
    assert run.status == "running"  # the worker died without a word
    done_before = {u.pk: (u.finished_at, u.output.pk) for u in run.units.filter(status="done").select_related("output")}
    assert 6 <= len(done_before) < 2 + 12 + 8  # killed mid-run

    # A supervisor starts the worker again. Beat's every-minute job finds the run silent for
    # SYNTH_STALL_SECONDS and queues it; the new worker takes it from there.
    assert synthesis.resume_stalled_runs() == []  # its last heartbeat is still recent (SYNTH_STALL_SECONDS 60)
    celery_worker_process.restart()
    settings.SYNTH_STALL_SECONDS = 1
    wait_until(lambda: synthesis.is_stalled(SynthesisRun.objects.get(pk=run.pk)), what="the heartbeat to go stale")
    assert resume_stalled_runs() == {"synthesis": [run.pk], "training": []}  # beat's job: requeue and enqueue
    assert synthesis.resume_stalled_runs() == []  # queued once: a second look does not queue it again
    wait_until(lambda: SynthesisRun.objects.get(pk=run.pk).status == "done", what="the restarted worker to finish the run")
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
    reference = synthesis.start_run(topic=topic, strategy=entigraph.ENTIGRAPH, target_tokens=0, triples_per_document=4,
                                    seed=11)
    assert run_synthesis(reference.pk) == "done"
    assert set(run.units.values_list("key", flat=True)) == set(reference.units.values_list("key", flat=True))
    assert set(run.synthetic.values_list("content_hash", flat=True)) == set(
        reference.synthetic.values_list("content_hash", flat=True))
    assert SynthesisRun.objects.get(pk=reference.pk).synthetic_tokens == run.synthetic_tokens


def test_beat_looks_for_stalled_runs_every_minute_on_the_default_queue(settings):
    from config.celery import app

    entry = next(e for e in settings.CELERY_BEAT_SCHEDULE.values() if e["task"] == resume_stalled_runs.name)
    assert entry["schedule"].minute == set(range(60)) and entry["schedule"].hour == set(range(24))
    assert app.amqp.router.route({}, resume_stalled_runs.name)["queue"].name == "default"


def test_runs_still_beating_or_only_queued_are_left_alone(topic, settings):
    import datetime as dt

    from django.utils import timezone

    settings.SYNTH_STALL_SECONDS = 60
    old = timezone.now() - dt.timedelta(minutes=5)
    beating = synthesis.start_run(topic=topic, strategy="extractive")
    waiting = synthesis.start_run(topic=topic, strategy="extractive")
    dead = synthesis.start_run(topic=topic, strategy="extractive")
    SynthesisRun.objects.filter(pk=beating.pk).update(status="running", heartbeat_at=timezone.now())
    SynthesisRun.objects.filter(pk=waiting.pk).update(status="queued", heartbeat_at=None, created_at=old)
    SynthesisRun.objects.filter(pk=dead.pk).update(status="running", heartbeat_at=old, runner_token="gone")
    assert synthesis.resume_stalled_runs() == [dead.pk]
    dead.refresh_from_db()
    assert (dead.status, dead.runner_token) == ("queued", "")
    assert SynthesisRun.objects.get(pk=beating.pk).status == "running"


def test_the_database_gone_mid_run_then_resumed_loses_and_repeats_no_unit(
    synth_llm_env, topic, celery_worker_process, llm_queue, wait_until, settings
):
    """Every database session of the worker ends (as in a PostgreSQL restart) mid-run: the run
    stops without finishing, beat's job resumes it once it is silent, and it ends with every
    unit done once."""
    from django.utils import timezone

    server = synth_llm_env
    server.latency = 0.3
    started = timezone.now()
    run = synthesis.start_run(topic=topic, strategy=entigraph.ENTIGRAPH, target_tokens=0, triples_per_document=4, seed=11)
    enqueue_synthesis(run.pk)
    wait_until(lambda: run.units.filter(status="done").count() >= 6, what="six units done by the worker")
    assert end_sessions_opened_since(started) >= 1  # the worker's

    settings.SYNTH_STALL_SECONDS = 1
    # Not failed: the run goes silent, as after a worker's death, and beat's job takes it up.
    wait_until(lambda: synthesis.is_stalled(SynthesisRun.objects.get(pk=run.pk)), what="the run to go silent")
    assert SynthesisRun.objects.get(pk=run.pk).status == "running"
    assert resume_stalled_runs()["synthesis"] == [run.pk]
    wait_until(lambda: SynthesisRun.objects.get(pk=run.pk).status == "done", what="the worker to finish the run")
    run.refresh_from_db()
    assert run.attempts == 2 and run.error == ""

    units = list(run.units.all())
    assert len(units) == 2 + 12 + 8 and all(u.status == "done" for u in units)
    assert all(u.attempts == 1 for u in units)
    assert run.synthetic.count() == len(units)
