"""Training runs share the attempts count of synth.jobs (the real-worker kills are in
tests/synth/synthesis/test_attempts.py): beat fails a run whose worker died CPT_MAX_ATTEMPTS
times, the training page says why, and Resume starts the count again."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from synth import training
from synth.models import TrainingRun
from synth.tasks import resume_stalled_runs
from synth.training.runner import run_training

pytestmark = pytest.mark.django_db(transaction=True)


def test_beat_fails_a_training_run_after_max_attempts_and_resume_resets_the_count(
        finished_synthesis, cpt_settings, staff, broker_queue):
    cpt_settings.CPT_MAX_ATTEMPTS = 2
    cpt_settings.CPT_STALL_SECONDS = 60
    run = training.start_training(synthesis_runs=[finished_synthesis])
    long_ago = timezone.now() - dt.timedelta(hours=1)
    TrainingRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=long_ago, attempts=1, runner_token="w1")
    assert resume_stalled_runs() == {"synthesis": [], "training": [run.pk]}  # one death: queued again
    TrainingRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=long_ago, attempts=2, runner_token="w2")
    assert resume_stalled_runs() == {"synthesis": [], "training": []}  # the second: failed
    run.refresh_from_db()
    assert (run.status, run.stop_reason, run.attempts) == ("failed", "worker_died", 2)
    assert run.error.startswith("the worker died 2 times while running this run; last at ")
    assert len(broker_queue("gpu")) == 1  # only the first requeue was enqueued

    page = staff.get(f"/lab/training/{run.pk}/").content.decode()
    assert "The worker died 2 times while running this run; last at " in page
    assert 'id="resume-training"' in page
    assert staff.post(f"/lab/training/{run.pk}/resume/").status_code == 302
    run.refresh_from_db()
    assert (run.status, run.attempts, run.stop_reason, run.error) == ("queued", 0, "", "")


def test_each_claim_counts_one_attempt(finished_synthesis, cpt_settings, fast_hyperparameters):
    run = training.start_training(synthesis_runs=[finished_synthesis], step_limit=2, **fast_hyperparameters)
    assert run_training(run.pk) == "done"
    assert TrainingRun.objects.get(pk=run.pk).attempts == 1
    assert run_training(run.pk) == "done"  # a redelivery of a finished run claims nothing
    assert TrainingRun.objects.get(pk=run.pk).attempts == 1
