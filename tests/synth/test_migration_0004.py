"""Rows from before 0004: stop reasons become codes, every training run gets its own uid, and
one that never started moves to a folder named with it (its old run-<id>/ may be another's)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

pytestmark = pytest.mark.django_db(transaction=True)
BEFORE, AFTER = [("synth", "0003_trainingrun_runner_token")], [("synth", "0005_stop_reason_codes_trainingrun_uid_unique")]


def test_existing_rows_get_codes_uids_and_unshared_folders():
    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    Topic, SynthesisRun, TrainingRun = (apps.get_model("synth", m) for m in ("Topic", "SynthesisRun", "TrainingRun"))
    topic = Topic.objects.create(name="Old")
    capped = SynthesisRun.objects.create(topic=topic, status="budget", stop_reason="call cap reached")
    short = SynthesisRun.objects.create(topic=topic, status="done", target_tokens=1000, synthetic_tokens=10)
    empty = SynthesisRun.objects.create(topic=topic, status="failed", error="The topic's corpus is empty.")
    waiting = TrainingRun.objects.create(topic=topic, artifacts_dir="/srv/runs/run-7")
    started = TrainingRun.objects.create(topic=topic, artifacts_dir="/srv/runs/run-8", status="failed",
                                         started_at="2025-01-01T00:00:00Z")
    try:
        executor = MigrationExecutor(connection)
        executor.migrate(AFTER)
        apps = executor.loader.project_state(AFTER).apps
        SynthesisRun, TrainingRun = apps.get_model("synth", "SynthesisRun"), apps.get_model("synth", "TrainingRun")
        reasons = dict(SynthesisRun.objects.values_list("pk", "stop_reason"))
        assert (reasons[capped.pk], reasons[short.pk], reasons[empty.pk]) == ("call_cap", "exhausted", "empty_corpus")
        waiting, started = TrainingRun.objects.get(pk=waiting.pk), TrainingRun.objects.get(pk=started.pk)
        assert waiting.uid and started.uid and waiting.uid != started.uid
        assert waiting.artifacts_dir == f"/srv/runs/run-{waiting.pk}-{waiting.uid.hex[:8]}"
        assert started.artifacts_dir == "/srv/runs/run-8"  # its own checkpoint is there
        assert started.stop_reason == "error"
    finally:
        call_command("migrate", verbosity=0)
