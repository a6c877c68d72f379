"""Training run folders never collide: they follow VAR_DIR by default and are named with
the run's uid, so a run with the same id in another database (or in this one, recreated)
gets a folder of its own, and a folder holding another run's checkpoint is never resumed from."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.db import connection

from synth import training
from synth.cpt.train import OWNER_FILE
from synth.models import TrainingRun
from synth.training.runner import run_training

pytestmark = pytest.mark.django_db(transaction=True)
ROOT = Path(__file__).resolve().parents[3]


def _setting(name: str, **env) -> str:
    """A setting as a fresh process with this environment reads it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CPT_")}
    code = f"from django.conf import settings; print(settings.{name})"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True, env={
        **clean, "DJANGO_SETTINGS_MODULE": "config.settings", "SECRET_KEY": "test", **env})
    return out.stdout.strip()


def test_run_folders_follow_var_dir_unless_cpt_output_dir_is_set(tmp_path):
    assert _setting("CPT_OUTPUT_DIR", VAR_DIR=str(tmp_path / "a")) == str((tmp_path / "a" / "synth" / "runs").resolve())
    assert _setting("CPT_OUTPUT_DIR", VAR_DIR=str(tmp_path / "b")) == str((tmp_path / "b" / "synth" / "runs").resolve())
    assert _setting("CPT_OUTPUT_DIR", VAR_DIR=str(tmp_path / "a"), CPT_OUTPUT_DIR=str(tmp_path / "x")) == str(
        tmp_path / "x")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _recreate_with_same_id(finished_synthesis, hyperparameters, old: TrainingRun) -> TrainingRun:
    """Delete `old` and start a run that gets its id again, as a recreated database would."""
    pk = old.pk
    old.delete()
    with connection.cursor() as cursor:
        cursor.execute("SELECT setval(pg_get_serial_sequence('synth_trainingrun', 'id'), %s, false)", [pk])
    new = training.start_training(synthesis_runs=[finished_synthesis], **hyperparameters)
    assert new.pk == pk
    return new


def test_a_run_with_the_same_id_gets_its_own_folder_and_trains_from_scratch(
        finished_synthesis, cpt_settings, fast_hyperparameters):
    first = training.start_training(synthesis_runs=[finished_synthesis], step_limit=20, **fast_hyperparameters)
    assert Path(first.artifacts_dir).name == f"run-{first.pk}-{first.uid.hex[:8]}"
    assert Path(first.artifacts_dir).parent == Path(cpt_settings.CPT_OUTPUT_DIR)
    assert run_training(first.pk) == "done"
    first_dir = Path(first.artifacts_dir)
    before = _digest(first_dir / "ckpt.pt")

    second = _recreate_with_same_id(finished_synthesis, {**fast_hyperparameters, "step_limit": 12}, first)
    assert second.uid != first.uid and Path(second.artifacts_dir) != first_dir
    assert run_training(second.pk) == "done"
    second.refresh_from_db()
    assert (second.resumed_from_step, second.step, second.max_steps) == (0, 12, 12)  # not the 20 steps of the first
    assert (Path(second.artifacts_dir) / OWNER_FILE).read_text().strip() == second.uid.hex
    assert _digest(first_dir / "ckpt.pt") == before  # the first run's folder untouched


@pytest.mark.parametrize("mark", ["another run's", "none"])
def test_a_folder_holding_another_runs_checkpoint_is_never_resumed_from(
        finished_synthesis, cpt_settings, fast_hyperparameters, mark):
    first = training.start_training(synthesis_runs=[finished_synthesis], step_limit=10, **fast_hyperparameters)
    assert run_training(first.pk) == "done"
    stale = Path(first.artifacts_dir)
    if mark == "none":  # a folder from before folders were marked
        (stale / OWNER_FILE).unlink()
    before = _digest(stale / "ckpt.pt")

    # A run pointed at that folder, as an old run-<id>/ row of a recreated database is.
    second = training.start_training(synthesis_runs=[finished_synthesis], step_limit=30, **fast_hyperparameters)
    TrainingRun.objects.filter(pk=second.pk).update(artifacts_dir=str(stale))
    assert run_training(second.pk) == "failed"
    second.refresh_from_db()
    assert f"the run folder {stale} " in second.error and "it is never resumed from" in second.error
    assert (second.step, second.metrics_before, second.stop_reason) == (0, {}, "error")
    assert _digest(stale / "ckpt.pt") == before
