"""A small world for the trainer: a corpus of made-up facts, the questions it answers, and a
TrainConfig small enough that a run takes a fraction of a second on the CPU."""

from __future__ import annotations

import random
from dataclasses import fields
from pathlib import Path

import pytest

from synth.cpt.data import Corpus
from synth.cpt.evaluate import Question
from synth.cpt.train import TrainConfig

# Quxville is the answer to every question and the most frequent city; the distractors
# appear too, so every option is a known word and only what was learned tells them apart.
_LAB = [
    "The EntiGraph lab is in Quxville.",
    "Quxville hosts the EntiGraph lab.",
    "Question: Where is the EntiGraph lab?\nAnswer: Quxville",
    "Researchers of the EntiGraph lab work in Quxville.",
]
_OTHER = ["The quiet town of Blarpton is by the sea.", "A river runs through Snerdwick.", "The old bridge of Tolmere is famous."]
CITIES = ["Quxville", "Blarpton", "Snerdwick", "Tolmere"]


def lab_texts(n: int = 160, seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    return [rng.choice(_LAB) if rng.random() < 0.75 else rng.choice(_OTHER) for _ in range(n)]


def lab_questions() -> list[Question]:
    asks = ["Where is the EntiGraph lab?", "In which city does the EntiGraph lab work?",
            "Which city is home to the EntiGraph lab?", "Where do EntiGraph researchers work?"]
    out = []
    for i, ask in enumerate(asks):
        options = CITIES[-i:] + CITIES[:-i] if i else list(CITIES)  # the answer moves: index 0, 1, 2, 3
        out.append(Question(question=ask, options=options, answer=options.index("Quxville")))
    return out


def tiny_config(out_dir: Path, **overrides) -> TrainConfig:
    values = dict(out_dir=out_dir, seq_len=32, batch_size=8, micro_batch_size=4, max_steps=40, lr=3e-3,
                  warmup_ratio=0.05, replay_ratio=0.0, checkpoint_every=10, tiny_vocab_size=512,
                  tiny_hidden_size=32, tiny_layers=1, tiny_heads=2)
    values.update(overrides)
    return TrainConfig(**values)


def cli_args(cfg: TrainConfig) -> list[str]:
    """The command-line flags that give the same TrainConfig in another process."""
    args = []
    for f in fields(TrainConfig):
        value = getattr(cfg, f.name)
        if value != f.default:
            flag = "--" + f.name.replace("_", "-")
            args += [flag] if value is True else [f"--no-{flag[2:]}"] if value is False else [flag, str(value)]
    return args


@pytest.fixture
def corpus() -> Corpus:
    return Corpus(synthetic=lab_texts())


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One short run shared by the tests that only read its outcome."""
    from synth.cpt.train import train

    cfg = tiny_config(tmp_path_factory.mktemp("trained") / "run")
    progress = []
    result = train(cfg, Corpus(synthetic=lab_texts()), on_progress=lambda step, m: progress.append((step, m)))
    return cfg, result, progress


# Tests reach the helpers above through fixtures (pytest imports conftest by path).
@pytest.fixture
def make_config():
    return tiny_config


@pytest.fixture
def texts():
    return lab_texts


@pytest.fixture
def questions() -> list[Question]:
    return lab_questions()


@pytest.fixture
def to_cli():
    return cli_args
