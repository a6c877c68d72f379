"""Checkpoints: a killed run resumes at the step it saved; a cancelled run stops and resumes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from synth.cpt.data import Corpus
from synth.cpt.train import train

ROOT = Path(__file__).resolve().parents[3]


def test_a_killed_run_resumes_from_its_checkpoint_with_the_same_step_count(make_config, texts, to_cli, subprocess_env,
                                                                          tmp_path):
    cfg = make_config(tmp_path / "run", max_steps=200, checkpoint_every=10)
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": t}) for t in texts()))
    proc = subprocess.Popen([sys.executable, "-m", "synth.cpt.train", "--corpus", str(corpus), *to_cli(cfg)],
                            cwd=ROOT, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if line.startswith("step 22/200"):
            os.kill(proc.pid, signal.SIGKILL)  # as the OOM killer would: no clean-up runs
            break
    proc.wait()
    assert proc.returncode == -signal.SIGKILL
    saved = torch.load(cfg.out_dir / "ckpt.pt", weights_only=True)
    assert saved["step"] % 10 == 0 and 20 <= saved["step"] < 200
    assert not (cfg.out_dir / "final").exists()

    steps = []
    resumed = train(cfg, Corpus(synthetic=texts()), on_progress=lambda step, m: steps.append(step))
    assert steps == list(range(saved["step"] + 1, 201))
    assert resumed.step == resumed.max_steps == 200 and len(resumed.loss_history) == 200
    assert resumed.loss_history[: saved["step"]] == saved["loss_history"]
    # Same data order and optimizer state: the same losses as a run never interrupted.
    uninterrupted = train(make_config(tmp_path / "whole", max_steps=200, checkpoint_every=10), Corpus(synthetic=texts()))
    assert resumed.loss_history == pytest.approx(uninterrupted.loss_history, rel=1e-3)


def test_should_stop_cancels_and_a_later_run_finishes_the_steps(make_config, texts, tmp_path):
    cfg = make_config(tmp_path, max_steps=20, checkpoint_every=100)
    seen = []
    result = train(cfg, Corpus(synthetic=texts()), on_progress=lambda step, m: seen.append(step),
                   should_stop=lambda: len(seen) >= 7)
    assert result.status == "cancelled" and result.step == 7 and seen == list(range(1, 8))
    assert result.final_dir is None and not (tmp_path / "final").exists()
    assert torch.load(tmp_path / "ckpt.pt", weights_only=True)["step"] == 7  # saved on cancel

    rest = []
    again = train(cfg, Corpus(synthetic=texts()), on_progress=lambda step, m: rest.append(step))
    assert again.status == "finished" and rest == list(range(8, 21))


def test_a_resume_on_another_corpus_is_refused(make_config, texts, tmp_path):
    from synth.cpt import CPTError

    cfg = make_config(tmp_path, max_steps=4, checkpoint_every=2)
    train(cfg, Corpus(synthetic=texts()), should_stop=lambda: (tmp_path / "ckpt.pt").exists())
    with pytest.raises(CPTError, match="corpus differs from the one checkpointed"):
        train(cfg, Corpus(synthetic=texts(seed=1)))
