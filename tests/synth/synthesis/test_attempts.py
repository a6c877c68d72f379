"""A run that kills its worker is not restarted for ever: a real Celery worker SIGKILLed in
the middle of the same run, again and again. Each claim counts an attempt; after
SYNTH_MAX_ATTEMPTS deaths beat fails the run with the reason instead of queueing it again,
the run page says so, and an operator's Resume starts the count again."""

from __future__ import annotations

import pytest

from synth import synthesis
from synth.models import SynthesisRun
from synth.synthesis import entigraph
from synth.synthesis.tasks import enqueue_synthesis
from synth.tasks import resume_stalled_runs

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_run_whose_worker_dies_each_time_fails_after_max_attempts_with_the_reason(
    synth_llm_env, topic, celery_worker_process, llm_queue, wait_until, settings, staff
):
    server = synth_llm_env
    server.latency = 0.5  # 2 + 12 + 8 units, 4 in flight: several seconds, time for three kills
    settings.SYNTH_MAX_ATTEMPTS = 3
    run = synthesis.start_run(topic=topic, strategy=entigraph.ENTIGRAPH, target_tokens=0, triples_per_document=4, seed=5)
    enqueue_synthesis(run.pk)

    done = 0
    for attempt in (1, 2, 3):
        # The worker claimed the run (attempt counted) and got further than before: it dies mid-run.
        wait_until(lambda: (r := SynthesisRun.objects.get(pk=run.pk)).attempts == attempt and r.status == "running"
                   and r.units.filter(status="done").count() > done, what=f"attempt {attempt} under way")
        celery_worker_process.kill()
        done = run.units.filter(status="done").count()
        assert done < 2 + 12 + 8, "the run finished before the kill"
        celery_worker_process.restart()
        settings.SYNTH_STALL_SECONDS = 1
        wait_until(lambda: synthesis.is_stalled(SynthesisRun.objects.get(pk=run.pk)), what="the heartbeat to go stale")
        requeued = resume_stalled_runs()  # beat's job
        if attempt < 3:
            assert requeued == {"synthesis": [run.pk], "training": []}
        else:
            assert requeued == {"synthesis": [], "training": []}
        settings.SYNTH_STALL_SECONDS = 60

    run.refresh_from_db()
    assert (run.status, run.stop_reason, run.attempts, run.runner_token) == ("failed", "worker_died", 3, "")
    assert run.error.startswith("the worker died 3 times while running this run; last at ")
    assert run.error.endswith("; see the worker log; Resume to try again")
    assert run.finished_at is not None
    # Not queued again: neither by a second look of beat nor by a message on the llm queue.
    settings.SYNTH_STALL_SECONDS = 1
    assert resume_stalled_runs() == {"synthesis": [], "training": []}
    assert llm_queue() == []
    assert SynthesisRun.objects.get(pk=run.pk).status == "failed"

    page = staff.get(f"/lab/runs/{run.pk}/").content.decode()
    assert "The worker died 3 times while running this run; last at " in page
    assert "See the worker log; Resume to try again." in page
    assert 'id="resume-run"' in page

    # The operator resumes: the count starts again and the (restarted) worker finishes the run.
    server.latency = 0.0
    assert staff.post(f"/lab/runs/{run.pk}/resume/").status_code == 302
    assert SynthesisRun.objects.get(pk=run.pk).attempts == 0
    wait_until(lambda: SynthesisRun.objects.get(pk=run.pk).status == "done", what="the resumed run to finish")
    run.refresh_from_db()
    assert (run.attempts, run.stop_reason, run.error) == (1, "exhausted", "")
    assert run.units.filter(status="done").count() == 2 + 12 + 8


def test_a_redelivered_task_after_the_last_attempt_fails_the_run_instead_of_claiming_it(topic, settings):
    """The broker redelivers a killed worker's message at once (reject_on_worker_lost) and the
    task takes the run over: the claim itself refuses once the attempts are spent."""
    from synth.synthesis.runner import run_synthesis

    settings.SYNTH_MAX_ATTEMPTS = 2
    run = synthesis.start_run(topic=topic, strategy="extractive")
    SynthesisRun.objects.filter(pk=run.pk).update(status="running", attempts=2, runner_token="dead")
    assert run_synthesis(run.pk) == "skipped"
    run.refresh_from_db()
    assert (run.status, run.stop_reason, run.runner_token) == ("failed", "worker_died", "")
    assert "died 2 times" in run.error
    assert not run.units.exists()  # nothing was done by the refused claim
