"""Who may spend the LLM budget and GPU hours: the "Lab operator" group (created by
migrate), not staff who may only look. Tested with non-superuser staff."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission

from synth import synthesis, training
from synth.models import SynthesisRun, Topic, TrainingRun
from synth.permissions import LAB_OPERATOR, ensure_lab_operator_group, operator_codenames
from tests.factories import staff_member

pytestmark = pytest.mark.django_db

VIEW_ONLY = ["view_topic", "view_synthesisrun", "view_trainingrun", "view_evalquestion"]


@pytest.fixture
def viewer(client):
    """Staff with the view permissions only."""
    user = staff_member("viewer")
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="synth", codename__in=VIEW_ONLY))
    client.force_login(user)
    return client


@pytest.fixture
def operator(client, lab_operator):
    client.force_login(lab_operator)
    return client


@pytest.fixture
def runs(finished_synthesis, cpt_settings):
    """A queued synthesis run, a finished one and a failed training run."""
    queued = synthesis.start_run(topic=finished_synthesis.topic, strategy="extractive")
    trained = training.start_training(synthesis_runs=[finished_synthesis])
    TrainingRun.objects.filter(pk=trained.pk).update(status="failed", stop_reason="error", error="boom")
    return {"queued": queued, "finished": finished_synthesis, "training": trained}


def test_migrate_creates_the_lab_operator_group_with_its_permissions():
    group = Group.objects.get(name=LAB_OPERATOR)
    codenames = set(group.permissions.values_list("codename", flat=True))
    assert codenames == set(operator_codenames())
    assert {"run_synthesis", "run_training", "add_synthesisrun", "change_topic", "view_evalquestion"} <= codenames
    assert not any(c.startswith("delete_") for c in codenames)
    ensure_lab_operator_group()  # again: nothing doubles, nothing is lost
    assert Group.objects.filter(name=LAB_OPERATOR).count() == 1
    assert set(group.permissions.values_list("codename", flat=True)) == codenames


def test_view_only_staff_see_the_run_pages_but_may_not_act(viewer, runs):
    queued, training_run = runs["queued"], runs["training"]
    page = viewer.get(f"/lab/runs/{queued.pk}/")
    assert page.status_code == 200 and 'id="cancel-run"' not in page.content.decode()
    page = viewer.get(f"/lab/training/{training_run.pk}/")
    assert page.status_code == 200 and 'id="resume-training"' not in page.content.decode()
    for url in (f"/lab/runs/{queued.pk}/cancel/", f"/lab/runs/{queued.pk}/resume/",
                f"/lab/training/{training_run.pk}/cancel/", f"/lab/training/{training_run.pk}/resume/"):
        assert viewer.post(url).status_code == 403, url
    assert SynthesisRun.objects.get(pk=queued.pk).status == "queued"
    assert TrainingRun.objects.get(pk=training_run.pk).status == "failed"


def test_view_only_staff_get_no_spending_actions_in_the_admin(viewer, runs):
    topics = viewer.get("/admin/synth/topic/").content.decode()
    assert 'value="synthesize"' not in topics
    synthesis_runs = viewer.get("/admin/synth/synthesisrun/").content.decode()
    for action in ("cancel", "resume", "train"):
        assert f'value="{action}"' not in synthesis_runs
    training_runs = viewer.get("/admin/synth/trainingrun/").content.decode()
    assert 'value="cancel"' not in training_runs and 'value="resume"' not in training_runs
    # Posting the actions anyway does nothing.
    before = (SynthesisRun.objects.count(), TrainingRun.objects.count())
    viewer.post("/admin/synth/topic/", {"action": "synthesize", "_selected_action": [runs["finished"].topic_id],
                                        "apply": "1", "strategy": "extractive", "max_calls": 0, "max_cost_usd": 0,
                                        "seed": 0, "max_entities": 12, "triples_per_document": 10})
    viewer.post("/admin/synth/synthesisrun/", {"action": "cancel", "_selected_action": [runs["queued"].pk]})
    viewer.post("/admin/synth/synthesisrun/", {"action": "train", "_selected_action": [runs["finished"].pk],
                                               "apply": "1", **training.initial_hyperparameters()})
    assert (SynthesisRun.objects.count(), TrainingRun.objects.count()) == before
    assert SynthesisRun.objects.get(pk=runs["queued"].pk).status == "queued"


def test_a_lab_operator_may_act(operator, runs, settings):
    settings.LLM_BASE_URL = ""
    queued, training_run = runs["queued"], runs["training"]
    page = operator.get(f"/lab/runs/{queued.pk}/").content.decode()
    assert 'id="cancel-run"' in page
    assert 'id="resume-training"' in operator.get(f"/lab/training/{training_run.pk}/").content.decode()
    for action in ("cancel", "resume", "train"):
        assert f'value="{action}"' in operator.get("/admin/synth/synthesisrun/").content.decode()
    assert 'value="synthesize"' in operator.get("/admin/synth/topic/").content.decode()

    assert operator.post(f"/lab/runs/{queued.pk}/cancel/").status_code == 302
    assert SynthesisRun.objects.get(pk=queued.pk).status == "cancelled"
    assert operator.post(f"/lab/training/{training_run.pk}/resume/").status_code == 302
    assert TrainingRun.objects.get(pk=training_run.pk).status == "queued"
    response = operator.post("/admin/synth/topic/", {
        "action": "synthesize", "_selected_action": [runs["finished"].topic_id], "apply": "1", "strategy": "extractive",
        "max_calls": 0, "max_cost_usd": 0, "seed": 0, "max_entities": 12, "triples_per_document": 10})
    assert response.status_code == 302
    assert SynthesisRun.objects.filter(topic_id=runs["finished"].topic_id, status="queued").count() == 1


def test_anonymous_users_are_sent_to_log_in_and_staff_without_view_rights_get_403(client, runs):
    queued = runs["queued"]
    for method, url in (("get", f"/lab/runs/{queued.pk}/"), ("post", f"/lab/runs/{queued.pk}/cancel/"),
                        ("get", f"/lab/training/{runs['training'].pk}/"), ("get", f"/lab/runs/{queued.pk}/corpus.jsonl")):
        response = getattr(client, method)(url)
        assert response.status_code == 302 and response["Location"].startswith("/admin/login/?next="), url
    client.force_login(staff_member("nobody"))
    assert client.get(f"/lab/runs/{queued.pk}/").status_code == 403
    assert client.get(f"/lab/training/{runs['training'].pk}/").status_code == 403
    assert Topic.objects.filter(pk=queued.topic_id).exists()
