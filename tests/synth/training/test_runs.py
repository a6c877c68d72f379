"""Training runs in the database: the admin's Train action, the gpu task in a real Celery
worker (cancel, kill and resume), evaluation before and after, artifacts."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from synth import training
from synth.cpt.train import TrainConfig
from synth.jobs import Heartbeat
from synth.models import EvalQuestion, SynthesisRun, TrainingRun
from synth.synthesis.admin import SynthesisRunAdmin
from synth.tasks import resume_stalled_runs
from tests.faults import end_sessions_opened_since
from synth.training import pages
from synth.training.admin import train as train_action
from synth.training.runner import run_training
from synth.training.tasks import enqueue_training

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def celery_worker_env(cpt_settings) -> dict:
    """The worker of this module's tests trains (tests/conftest.py's default has no settings)."""
    # The worker writes its runs where this test reads them, with one BLAS thread (shared
    # cores), and writes every step to the row, so a test sees exactly how far it got.
    return {"CPT_OUTPUT_DIR": str(cpt_settings.CPT_OUTPUT_DIR), "CPT_BASE_MODEL": "", "OMP_NUM_THREADS": "1",
            "LLM_BASE_URL": "", "CPT_PROGRESS_SECONDS": "0"}


def _questions(topic, questions):
    for q in questions:
        EvalQuestion.objects.create(topic=topic, question=q.question, options=list(q.options), answer=q.answer)


def test_defaults_are_the_papers_recipe_as_in_train_config():
    cfg = TrainConfig()
    run = TrainingRun()
    for name in ("lr", "warmup_ratio", "weight_decay", "epochs", "batch_size", "seq_len", "replay_ratio", "min_lr",
                 "micro_batch_size", "raw_ratio", "checkpoint_every", "seed"):
        assert getattr(run, name) == getattr(cfg, name), name


def test_the_train_action_queues_one_run_on_the_gpu_queue(client, lab_operator, finished_synthesis, cpt_settings,
                                                          broker_queue):
    assert train_action in SynthesisRunAdmin.actions
    client.force_login(lab_operator)
    url = "/admin/synth/synthesisrun/"
    form = client.post(url, {"action": "train", "_selected_action": [finished_synthesis.pk]})
    assert form.status_code == 200 and 'id="train-form"' in form.content.decode()
    assert 'value="0.001"' in form.content.decode()  # the tiny model's rate, not 5e-6

    data = {"action": "train", "_selected_action": [finished_synthesis.pk], "apply": "1",
            **training.initial_hyperparameters(), "base_model": "", "seq_len": 64}
    response = client.post(url, data)
    run = TrainingRun.objects.get()
    assert response.status_code == 302 and response["Location"].endswith(f"/lab/training/{run.pk}/")
    assert (run.status, run.seq_len, run.lr, run.topic_id) == ("queued", 64, 1e-3, finished_synthesis.topic_id)
    assert list(run.synthesis_runs.all()) == [finished_synthesis]
    [message] = broker_queue("gpu")
    assert message["headers"]["task"] == "synth.tasks_training.train_run"
    assert message["headers"]["argsrepr"] == f"({run.pk},)"


def test_only_finished_runs_of_one_topic_can_be_trained_on(finished_synthesis, cpt_settings):
    running = SynthesisRun.objects.create(topic=finished_synthesis.topic, strategy="extractive",
                                          status=SynthesisRun.Status.RUNNING)
    with pytest.raises(training.TrainingError, match=f"not finished: #{running.pk}"):
        training.start_training(synthesis_runs=[finished_synthesis, running])
    assert not TrainingRun.objects.exists()


def test_a_run_trains_and_is_evaluated_before_and_after(finished_synthesis, cpt_settings, fast_hyperparameters,
                                                        questions):
    _questions(finished_synthesis.topic, questions)
    run = training.start_training(synthesis_runs=[finished_synthesis], step_limit=40,
                                  **fast_hyperparameters)
    assert run_training(run.pk) == "done"
    run.refresh_from_db()
    assert run.step == run.max_steps == 40 == len(run.loss_history)
    assert sum(run.loss_history[-5:]) < 0.8 * sum(run.loss_history[:5])
    assert run.tokens_per_s > 0 and run.mfu is None and run.device.startswith("cpu")
    assert run.base_label.startswith("tiny built-in model (random init")
    before, after = run.metrics_before, run.metrics_after
    assert before["heldout_tokens"] == after["heldout_tokens"] > 0
    assert after["perplexity"] < before["perplexity"]
    assert before["qa_n"] == after["qa_n"] == 4 and after["qa_accuracy"] == 1.0
    names = {a["name"] for a in pages.artifacts(run)}
    assert {"final/", "metrics.json", "manifest.json", "ckpt.pt", "base/"} <= names
    metrics = json.loads((Path(run.artifacts_dir) / "metrics.json").read_text())
    assert metrics["after"]["perplexity"] == after["perplexity"] and metrics["steps"] == 40
    assert run.manifest["sources"]["synthetic"]["documents"] == 240
    # A redelivered task finds the run done and leaves it be.
    assert run_training(run.pk) == "done"


def test_bad_settings_fail_the_run_at_once_with_a_clear_message(finished_synthesis, cpt_settings,
                                                                 fast_hyperparameters, tmp_path):
    run = training.start_training(synthesis_runs=[finished_synthesis], base_model=str(tmp_path / "no-such-model"), **fast_hyperparameters)
    assert run_training(run.pk) == "failed"
    run.refresh_from_db()
    assert run.error == f"base model path '{tmp_path / 'no-such-model'}' does not exist"
    assert run.step == 0 and run.metrics_before == {} and not Path(run.artifacts_dir).exists()


def test_the_llm_writes_the_question_set_when_a_topic_has_none(finished_synthesis, cpt_settings):
    from synth.training.questions import generate_questions
    from tests.llm_server import ScriptedLLMServer

    def reply(body):
        title = body["messages"][1]["content"].split("\n", 1)[0].removeprefix("Title: ")
        return {"questions": [
            {"question": f"Where is the lab of {title}?", "options": ["Quxville", "Blarpton", "Snerdwick", "Tolmere"],
             "answer": 0},
            {"question": f"A broken question about {title}?", "options": ["a", "b", "c", "d"], "answer": 7},
        ]}

    with ScriptedLLMServer() as server:
        server.responder = reply
        cpt_settings.LLM_BASE_URL, cpt_settings.LLM_API_KEY, cpt_settings.LLM_MODEL = server.url, "test", "scripted"
        first = generate_questions(finished_synthesis.topic)
        again = generate_questions(finished_synthesis.topic)  # cached replies, existing questions
    assert (first.created, first.skipped, first.errors) == (5, 5, [])
    assert (again.created, again.skipped) == (0, 10)
    stored = EvalQuestion.objects.filter(topic=finished_synthesis.topic)
    assert stored.count() == 5 and {q.origin for q in stored} == {"llm"} and {q.answer for q in stored} == {0}
    assert "Lab note 0" in server.prompts()[0].split("Write 2 questions")[0]  # the document comes first


def test_offline_without_questions_says_so(finished_synthesis, cpt_settings, fast_hyperparameters):
    run = training.start_training(synthesis_runs=[finished_synthesis], step_limit=3,
                                  **fast_hyperparameters)
    assert run_training(run.pk) == "done"
    run.refresh_from_db()
    assert run.metrics_after["qa_n"] == 0 and run.metrics_after["qa_accuracy"] is None
    assert "offline mode" in run.metrics_before["note"]


def test_cancelling_stops_the_job_in_the_worker(celery_worker_process, finished_synthesis, cpt_settings,
                                                fast_hyperparameters, wait_until, client, lab_operator):
    run = training.start_training(synthesis_runs=[finished_synthesis], step_limit=5000, **fast_hyperparameters)
    enqueue_training(run.pk)
    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).step >= 3, what="three steps in the worker")
    client.force_login(lab_operator)
    response = client.post(f"/lab/training/{run.pk}/cancel/")
    assert response.status_code == 302
    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).status == "cancelled", what="the worker to stop")
    run.refresh_from_db()
    assert 3 <= run.step < 5000 and run.finished_at is not None
    ckpt = torch.load(Path(run.artifacts_dir) / "ckpt.pt", weights_only=True)
    assert ckpt["step"] == run.step  # saved on the way out
    assert not (Path(run.artifacts_dir) / "final").exists()


def test_a_killed_worker_restarted_resumes_from_the_checkpoint(celery_worker_process, finished_synthesis, cpt_settings,
                                                               fast_hyperparameters, wait_until):
    run = training.start_training(synthesis_runs=[finished_synthesis], step_limit=300, **fast_hyperparameters)
    enqueue_training(run.pk)
    ckpt_path = Path(run.artifacts_dir) / "ckpt.pt"
    wait_until(lambda: ckpt_path.exists() and TrainingRun.objects.get(pk=run.pk).step >= 25,
             what="a checkpoint and 25 steps in the worker")
    celery_worker_process.kill()
    run.refresh_from_db()
    saved = torch.load(ckpt_path, weights_only=True)["step"]
    assert run.status == "running" and saved % 10 == 0 and 10 <= saved < 300

    # A supervisor starts the worker again; beat's every-minute job finds the run silent for
    # CPT_STALL_SECONDS and queues it, and the new worker goes on from the checkpoint.
    celery_worker_process.restart()
    cpt_settings.CPT_STALL_SECONDS = 1
    wait_until(lambda: training.is_stalled(TrainingRun.objects.get(pk=run.pk)), what="the heartbeat to go stale")
    assert resume_stalled_runs() == {"synthesis": [], "training": [run.pk]}  # beat's job: requeue and enqueue
    assert training.requeue_stalled_runs() == []  # queued once
    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).status == "done", what="the restarted worker to finish")
    run.refresh_from_db()
    assert run.resumed_from_step == saved
    assert run.step == run.max_steps == 300 == len(run.loss_history)
    assert run.metrics_after["perplexity"] < run.metrics_before["perplexity"]


def test_a_working_process_beats_even_between_steps(finished_synthesis, cpt_settings, wait_until, broker_queue):
    """Loading a big model or evaluating it writes no progress for minutes: the heartbeat
    thread keeps the run from being taken for dead, and stops with the work."""
    import datetime as dt

    from django.utils import timezone

    run = training.start_training(synthesis_runs=[finished_synthesis])
    long_ago = timezone.now() - dt.timedelta(hours=1)
    TrainingRun.objects.filter(pk=run.pk).update(status="running", heartbeat_at=long_ago, runner_token="worker-1")
    cpt_settings.CPT_HEARTBEAT_SECONDS = 0.05
    cpt_settings.CPT_STALL_SECONDS = 60
    with Heartbeat(TrainingRun, run.pk, token="worker-1", every=cpt_settings.CPT_HEARTBEAT_SECONDS) as beat:
        wait_until(lambda: TrainingRun.objects.get(pk=run.pk).heartbeat_at > long_ago, what="a heartbeat")
        assert resume_stalled_runs() == {"synthesis": [], "training": []}
    assert not beat.thread.is_alive()
    TrainingRun.objects.filter(pk=run.pk).update(heartbeat_at=long_ago)
    assert resume_stalled_runs() == {"synthesis": [], "training": [run.pk]}  # silent: its process is gone
    assert TrainingRun.objects.filter(pk=run.pk).values_list("status", "runner_token").get() == ("queued", "")
    [message] = broker_queue("gpu")  # no worker here to take it
    assert message["headers"]["task"] == "synth.tasks_training.train_run"
    assert message["headers"]["argsrepr"] == f"({run.pk},)"


def test_the_train_command_trains_here_and_reports(finished_synthesis, cpt_settings):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("train", str(finished_synthesis.pk), "--seq-len", "32", "--batch-size", "8", "--step-limit", "4",
                 "--lr", "0.003", stdout=out)
    run = TrainingRun.objects.get()
    assert out.getvalue().startswith(f"training run {run.pk}: done, step 4/4")
    assert (run.seq_len, run.step_limit, run.lr, run.replay_ratio) == (32, 4, 0.003, 0.1)
    assert run.manifest["notes"] == ["replay_ratio is 0.1 but there are no replay documents: none mixed in"]


def test_the_database_gone_mid_training_then_resumed_goes_on_from_the_checkpoint(
    celery_worker_process, finished_synthesis, cpt_settings, fast_hyperparameters, wait_until
):
    """Every database session of the worker ends (as in a PostgreSQL restart) mid-training:
    the run is not failed; it goes silent, beat's job resumes it from its checkpoint."""
    from django.utils import timezone

    started = timezone.now()
    run = training.start_training(synthesis_runs=[finished_synthesis], step_limit=300, **fast_hyperparameters)
    enqueue_training(run.pk)
    ckpt_path = Path(run.artifacts_dir) / "ckpt.pt"
    wait_until(lambda: ckpt_path.exists() and TrainingRun.objects.get(pk=run.pk).step >= 25,
               what="a checkpoint and 25 steps in the worker")
    assert end_sessions_opened_since(started) >= 1  # the worker's

    cpt_settings.CPT_STALL_SECONDS = 1
    wait_until(lambda: training.is_stalled(TrainingRun.objects.get(pk=run.pk)), what="the run to go silent")
    assert TrainingRun.objects.get(pk=run.pk).status == "running"
    assert resume_stalled_runs()["training"] == [run.pk]
    wait_until(lambda: TrainingRun.objects.get(pk=run.pk).status == "done", what="the worker to finish")
    run.refresh_from_db()
    assert run.resumed_from_step and run.resumed_from_step % 10 == 0
    assert run.step == run.max_steps == 300 and run.error == ""
