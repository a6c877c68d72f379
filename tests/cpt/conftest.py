"""A small world for the trainer: a corpus of made-up facts, the questions it answers, and a
TrainConfig small enough that a run takes a fraction of a second on the CPU."""

from __future__ import annotations

import os
import random
import sys
import time
from dataclasses import fields
from pathlib import Path

import pytest
import torch

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


# One thread: on a shared two-core machine, two spinning BLAS threads per process make a
# tiny model's steps many times slower. Subprocesses get OMP_NUM_THREADS=1 (`single_thread_env`).
torch.set_num_threads(1)


def single_thread_env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


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


@pytest.fixture
def subprocess_env() -> dict:
    return single_thread_env()


# --- the Django side: a topic with a finished synthesis run, built with the ORM -------------

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # for tests.llm_server
    sys.path.insert(0, str(ROOT))


@pytest.fixture
def finished_synthesis(db):
    """A topic whose (extractive) synthesis run is done: lab_texts as its synthetic texts,
    and source documents that say the same things, for perplexity."""
    from papers.models import Paper, PaperText
    from synth.corpus import content_hash, snapshot_corpus
    from synth.models import SynthesisRun, SyntheticDocument, Topic

    topic = Topic.objects.create(name="EntiGraph lab", description="Where the lab is.")
    for i in range(5):
        paper = Paper.objects.create(title=f"Lab note {i}")
        PaperText.objects.create(paper=paper, lang="en", kind="abstract", body=" ".join(lab_texts(12, seed=100 + i)))
        topic.papers.add(paper)
    run = SynthesisRun.objects.create(topic=topic, strategy=SynthesisRun.Strategy.EXTRACTIVE, model="extractive",
                                      status=SynthesisRun.Status.DONE)
    docs = snapshot_corpus(run)
    assert len(docs) == 5
    for i, text in enumerate(lab_texts(240)):
        SyntheticDocument.objects.get_or_create(run=run, content_hash=content_hash(f"{i}:{text}"), defaults=dict(
            source=docs[i % len(docs)], kind=SyntheticDocument.Kind.EXTRACTIVE, text=text, tokens=len(text.split())))
    return run


# Small enough for seconds on the CPU; the tiny model's own size is TrainConfig's default.
FAST = dict(seq_len=32, batch_size=8, micro_batch_size=4, lr=3e-3, checkpoint_every=10, replay_ratio=0.0)


@pytest.fixture
def fast_hyperparameters() -> dict:
    return dict(FAST)


@pytest.fixture
def cpt_settings(settings, tmp_path):
    settings.CPT_OUTPUT_DIR = tmp_path / "runs"
    settings.CPT_BASE_MODEL = ""
    settings.LLM_BASE_URL = ""  # offline unless a test starts the scripted server
    return settings


@pytest.fixture
def wait_for():
    """Wait for a condition (polled), not for a fixed time."""

    def wait(condition, timeout: float = 120.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not met within {timeout} s")
            time.sleep(0.05)

    return wait


@pytest.fixture
def celery_worker_env(cpt_settings) -> dict:
    # The worker writes its runs where this test reads them, with one BLAS thread (shared
    # cores), and writes every step to the row, so a test sees exactly how far it got.
    return {"CPT_OUTPUT_DIR": str(cpt_settings.CPT_OUTPUT_DIR), "CPT_BASE_MODEL": "", "OMP_NUM_THREADS": "1",
            "LLM_BASE_URL": "", "CPT_PROGRESS_SECONDS": "0"}
