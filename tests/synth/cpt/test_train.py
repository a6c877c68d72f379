"""The training loop on the CPU with the tiny built-in model."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from synth.cpt import CPTError
from synth.cpt import model as cpt_model
from synth.cpt.data import Corpus
from synth.cpt.train import TrainConfig, grad_accum_steps, lr_at, train

ROOT = Path(__file__).resolve().parents[3]


def test_a_run_lowers_the_training_loss(trained):
    cfg, result, _ = trained
    first, last = result.loss_history[:5], result.loss_history[-5:]
    assert result.status == "finished" and result.step == cfg.max_steps == len(result.loss_history)
    assert sum(last) / 5 < 0.8 * sum(first) / 5


def test_progress_is_reported_every_step_and_artifacts_are_written(trained):
    cfg, result, progress = trained
    assert [step for step, _ in progress] == list(range(1, cfg.max_steps + 1))
    metrics = progress[-1][1]
    assert metrics["loss"] == result.loss_history[-1] and metrics["tokens_per_s"] > 0
    assert metrics["mfu"] is None  # only on CUDA
    assert result.final_dir == cfg.out_dir / "final"
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {p.name for p in result.final_dir.iterdir()}
    manifest = json.loads((cfg.out_dir / "manifest.json").read_text())
    assert manifest["sources"]["synthetic"]["documents"] == 160
    assert manifest["blocks"] * cfg.seq_len == manifest["tokens"]
    assert manifest["base_model"].startswith("tiny built-in model (random init")


def test_paper_recipe_is_the_default():
    cfg = TrainConfig()
    assert (cfg.lr, cfg.warmup_ratio, cfg.weight_decay, cfg.epochs) == (5e-6, 0.05, 0.01, 2.0)
    assert (cfg.batch_size, cfg.seq_len, cfg.replay_ratio) == (16, 2048, 0.1)


def test_learning_rate_warms_up_then_follows_a_cosine(make_config, tmp_path):
    cfg = make_config(tmp_path, lr=1e-3, min_lr=1e-4, warmup_ratio=0.05)
    lrs = [lr_at(s, cfg, 100) for s in range(100)]
    assert lrs[:5] == pytest.approx([2e-4, 4e-4, 6e-4, 8e-4, 1e-3])
    assert all(a >= b for a, b in zip(lrs[4:], lrs[5:]))  # decays monotonically after warm-up
    assert lrs[-1] == pytest.approx(1e-4, abs=1e-6)


def test_gradient_accumulation_follows_the_number_of_devices(make_config, tmp_path):
    cfg = make_config(tmp_path, batch_size=16, micro_batch_size=4)
    assert [grad_accum_steps(cfg, world) for world in (1, 2, 4)] == [4, 2, 1]
    with pytest.raises(CPTError, match="batch_size 16 is not a multiple of micro_batch_size 4 x 8 device"):
        grad_accum_steps(cfg, 8)


def test_a_local_model_folder_is_a_base_model(make_config, texts, tmp_path):
    base = cpt_model.build_tiny(texts(), seq_len=64, spec=cpt_model.TinySpec(vocab_size=400, hidden_size=32, layers=1, heads=2))
    cpt_model.save_pretrained(base.model, base.tokenizer, tmp_path / "my-model")
    cfg = make_config(tmp_path / "run", base_model=str(tmp_path / "my-model"), max_steps=3)
    result = train(cfg, Corpus(synthetic=texts()))
    assert result.base_label.startswith(str(tmp_path / "my-model")) and result.step == 3
    assert not (tmp_path / "run" / "base").exists()  # only the tiny model is built and kept there


def test_two_processes_under_torchrun_take_the_same_steps_as_one(make_config, texts, to_cli, subprocess_env, tmp_path):
    corpus = tmp_path / "corpus.jsonl"
    corpus.write_text("\n".join(json.dumps({"text": t}) for t in texts()))
    single = train(make_config(tmp_path / "one", max_steps=4, micro_batch_size=2), Corpus(synthetic=texts()))
    cfg = make_config(tmp_path / "two", max_steps=4, micro_batch_size=2)
    out = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "synth.cpt.train",
         "--corpus", str(corpus), *to_cli(cfg)],
        cwd=ROOT, env=subprocess_env, capture_output=True, text=True, timeout=300,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    losses = [float(m) for m in re.findall(r"^step \d+/4 loss ([\d.]+)", out.stdout, re.M)]
    # Each process takes half of every step's 8 sequences, in 1 micro-batch instead of 2.
    assert losses == pytest.approx(single.loss_history, rel=1e-4)
