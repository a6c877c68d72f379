"""The training run page: status, progress, loss curve, metrics side by side, artifacts, cancel."""

from __future__ import annotations

import pytest

from synth import training
from synth.models import TrainingRun
from synth.training.runner import run_training

pytestmark = pytest.mark.django_db


@pytest.fixture
def trained_run(finished_synthesis, cpt_settings, fast_hyperparameters):
    run = training.start_training(synthesis_runs=[finished_synthesis], step_limit=12,
                                  **fast_hyperparameters)
    run_training(run.pk)
    run.refresh_from_db()
    return run


def test_the_page_shows_the_curve_metrics_and_artifacts(staff, trained_run):
    html = staff.get(f"/lab/training/{trained_run.pk}/").content.decode()
    assert '<span class="run-status" id="training-status">done</span>' in html
    assert '<progress id="training-bar" max="12" value="12">100%</progress>' in html
    assert '<svg class="loss-chart" id="loss-chart"' in html and html.count(",") > 12  # 12 points in the polyline
    before = f"{trained_run.metrics_before['perplexity']:.4f}".rstrip("0")
    after = f"{trained_run.metrics_after['perplexity']:.4f}".rstrip("0")
    assert before in html and after in html and 'class="num metric-better"' in html
    assert "<code>final/</code>" in html and "<code>metrics.json</code>" in html
    assert "tiny built-in model, random weights" in html
    assert 'hx-trigger="every 2s"' not in html  # done: no more polling
    assert 'id="cancel-training"' not in html


def test_htmx_polls_the_progress_block_of_an_active_run(staff, finished_synthesis, cpt_settings):
    run = training.start_training(synthesis_runs=[finished_synthesis])
    TrainingRun.objects.filter(pk=run.pk).update(status="running", step=3, max_steps=10, loss_history=[5.0, 4.0, 3.5])
    response = staff.get(f"/lab/training/{run.pk}/", HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert not html.lstrip().startswith("<!doctype") and html.lstrip().startswith('<div id="training-progress"')
    assert 'hx-trigger="every 2s"' in html and '<progress id="training-bar" max="10" value="3">30%</progress>' in html
    assert 'id="cancel-training"' in html


def test_cancel_from_the_page_stops_a_queued_run_at_once(staff, finished_synthesis, cpt_settings):
    run = training.start_training(synthesis_runs=[finished_synthesis])
    response = staff.post(f"/lab/training/{run.pk}/cancel/", HTTP_HX_REQUEST="true")
    assert '<span class="run-status" id="training-status">cancelled</span>' in response.content.decode()
    assert run_training(run.pk) == "cancelled"  # the queued task, when it comes, does nothing


def test_the_page_is_for_staff_only(client, trained_run):
    response = client.get(f"/lab/training/{trained_run.pk}/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
