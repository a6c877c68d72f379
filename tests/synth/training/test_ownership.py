"""One owner per training run (synth.jobs): a second worker can't claim a run whose owner
still beats, and a trainer that another worker took over stops without writing to the row
or to the run folder."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path

import pytest
from django.db import connection
from django.utils import timezone

from synth import jobs, training
from synth.models import TrainingRun
from synth.training.runner import run_training

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_second_claimer_is_refused_while_the_owner_beats(finished_synthesis, cpt_settings):
    run = training.start_training(synthesis_runs=[finished_synthesis])
    assert jobs.claim(TrainingRun, run.pk, token="first", stall_seconds=60, max_attempts=3) is not None
    assert jobs.claim(TrainingRun, run.pk, token="second", stall_seconds=60, max_attempts=3) is None
    assert run_training(run.pk) == "running elsewhere"  # a redelivered task
    run.refresh_from_db()
    assert (run.status, run.runner_token, run.step) == ("running", "first", 0)
    assert not (Path(run.artifacts_dir) / "manifest.json").exists()


def test_a_stalled_run_goes_to_exactly_one_new_claimer(finished_synthesis, cpt_settings):
    run = training.start_training(synthesis_runs=[finished_synthesis])
    long_ago = timezone.now() - dt.timedelta(hours=1)
    TrainingRun.objects.filter(pk=run.pk).update(status="running", runner_token="dead", heartbeat_at=long_ago)
    assert jobs.claim(TrainingRun, run.pk, token="second", stall_seconds=60, max_attempts=3) is not None
    assert jobs.claim(TrainingRun, run.pk, token="third", stall_seconds=60, max_attempts=3) is None
    assert TrainingRun.objects.get(pk=run.pk).runner_token == "second"


def test_a_superseded_trainer_stops_without_writing(finished_synthesis, cpt_settings, fast_hyperparameters,
                                                    wait_until):
    # No checkpoint before step 1000: any ckpt.pt would be the one a trainer writes on its way out.
    hyperparameters = {**fast_hyperparameters, "checkpoint_every": 1000}
    run = training.start_training(synthesis_runs=[finished_synthesis], step_limit=5000, **hyperparameters)
    cpt_settings.CPT_PROGRESS_SECONDS = 0  # the trainer looks at the row every step
    outcome = {}

    def first_trainer():
        try:
            outcome["status"] = run_training(run.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=first_trainer)
    thread.start()
    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).step >= 3, what="three steps in the first trainer")
    assert jobs.claim(TrainingRun, run.pk, token="new-owner", stall_seconds=60, max_attempts=3, take_over=True) is not None
    step_at_takeover = TrainingRun.objects.get(pk=run.pk).step
    thread.join(timeout=120)
    assert not thread.is_alive()

    assert outcome["status"] == "superseded"
    run.refresh_from_db()
    assert (run.status, run.runner_token, run.finished_at) == ("running", "new-owner", None)
    assert run.step == step_at_takeover  # no progress written after the takeover
    folder = Path(run.artifacts_dir)
    assert not (folder / "ckpt.pt").exists()  # no checkpoint on the way out
    assert not (folder / "final").exists() and not (folder / "metrics.json").exists()
