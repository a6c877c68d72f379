"""The synthesis lab's test world, for every test under tests/synth:

- synthesis: a small topic built with the ORM and the scripted OpenAI-compatible server
  (tests/llm_server.py) answering like an LLM would for EntiGraph;
- the trainer (synth.cpt, no Django): a corpus of made-up facts, the questions it answers,
  and a TrainConfig small enough that a run takes a fraction of a second on the CPU;
- training runs: a topic with a finished synthesis run, and settings for the gpu worker.
"""

from __future__ import annotations

import os
import random
import re
import sys
from dataclasses import fields
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run without `python -m` does not put the root on the path
    sys.path.insert(0, str(ROOT))

from papers.models import Commentary, Paper, PaperText, Tag  # noqa: E402
from synth.corpus import content_hash, snapshot_corpus  # noqa: E402
from synth.cpt.data import Corpus  # noqa: E402
from synth.cpt.evaluate import Question  # noqa: E402
from synth.cpt.train import TrainConfig, train  # noqa: E402
from synth.models import SynthesisRun, SyntheticDocument, Topic  # noqa: E402
from tests import polling  # noqa: E402
from tests.llm_server import ScriptedLLMServer  # noqa: E402

# What the scripted "LLM" finds in each paper's abstract (summaries and commentary get a generic list).
ENTITIES = {
    "Synthetic continued pretraining": ["EntiGraph", "QuALITY", "the Llama 3 8B model", "continued pretraining", "entigraph"],
    "Rephrasing the Web": ["WRAP", "C4", "Mistral", "perplexity"],
}
GENERIC_ENTITIES = ["synthetic data", "language models", "Language model"]  # the last is a duplicate after normalization

SCP_ABSTRACT = (
    "Pretraining on large-scale internet text has enabled language models to acquire world knowledge. "
    "We propose synthetic continued pretraining with EntiGraph, which extracts salient entities and "
    "generates text that connects them. On QuALITY, continued pretraining of the Llama 3 8B model on "
    "EntiGraph data improves accuracy. EntiGraph data scales log-linearly."
)
WRAP_ABSTRACT = (
    "WRAP rephrases documents on the web in the style of Wikipedia or question-answer pairs. "
    "Pretraining on C4 with WRAP rephrasings speeds up training threefold and lowers perplexity. "
    "A Mistral model writes the rephrasings."
)


def scripted_reply(body: dict):
    """Entities for the entity call (JSON mode), else a passage naming the title and entities."""
    user = body["messages"][1]["content"]  # a repair request appends messages after it
    title = re.search(r"^Title: (.*)$", user, re.MULTILINE).group(1)
    if body.get("response_format"):
        return {"summary": f"A summary of {title}.", "entities": ENTITIES.get(title, GENERIC_ENTITIES)}
    entities = re.findall(r"^- (.*)$", user, re.MULTILINE)
    if entities:
        return f"In {title}, " + " and ".join(entities) + " are related as the document describes."
    style = next(s for s in ("encyclopedia", "easy language", "questions and answers") if s in user)
    return f"{title} rewritten ({style})."


@pytest.fixture
def synth_llm(settings):
    """The scripted server, with papers.llm pointed at it and short retry waits."""
    server = ScriptedLLMServer(model="scripted-model").start()
    server.responder = scripted_reply
    server.configure(settings)
    settings.LLM_BACKOFF_BASE = 0.01
    settings.LLM_MAX_RETRIES = 3
    settings.LLM_TIMEOUT = 5.0
    settings.SYNTH_CONCURRENCY = 4
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def synth_llm_env(synth_llm, monkeypatch):
    """The same settings for processes the test starts (a Celery worker, a manage.py command)."""
    for name, value in {"LLM_BASE_URL": synth_llm.url, "LLM_MODEL": "scripted-model", "LLM_API_KEY": "test",
                        "LLM_BACKOFF_BASE": "0.01", "LLM_MAX_RETRIES": "3", "LLM_TIMEOUT": "5",
                        "SYNTH_CONCURRENCY": "4"}.items():
        monkeypatch.setenv(name, value)
    return synth_llm


def make_paper(title: str, texts: dict[tuple[str, str], str], tags=()) -> Paper:
    paper = Paper.objects.create(title=title)
    for (kind, lang), body in texts.items():
        PaperText.objects.create(paper=paper, kind=kind, lang=lang, body=body)
    paper.tags.set(tags)
    return paper


@pytest.fixture
def corpus(transactional_db):
    """Two tagged papers (English abstracts, a Korean summary), a commentary, and an untagged paper."""
    synthetic = Tag.objects.create(slug="synthetic-data", name="synthetic-data")
    other = Tag.objects.create(slug="benchmark", name="benchmark")
    scp = make_paper("Synthetic continued pretraining", {
        ("abstract", "en"): SCP_ABSTRACT,
        ("summary", "ko"): "EntiGraph로 합성 데이터를 만들어 작은 코퍼스에 대해 지속 사전학습을 합니다.",
        ("title", "en"): "Synthetic continued pretraining",
    }, tags=[synthetic])
    wrap = make_paper("Rephrasing the Web", {("abstract", "en"): WRAP_ABSTRACT}, tags=[synthetic])
    lime = make_paper("LIME-M: Less Is More for Evaluation of MLLMs", {("abstract", "en"): "LIME-M filters benchmarks."},
                      tags=[other])
    note = Commentary.objects.create(lang="zh", author="Essay", body="合成数据可以帮助模型学习小语料库中的知识。")
    note.papers.set([scp])
    return {"synthetic": synthetic, "other": other, "scp": scp, "wrap": wrap, "lime": lime, "note": note}


@pytest.fixture
def topic(corpus) -> Topic:
    """English abstracts of the two #synthetic-data papers: two documents."""
    topic = Topic.objects.create(name="Synthetic data", languages=["en"], include_summaries=False, include_commentary=False)
    topic.tags.set([corpus["synthetic"]])
    return topic


@pytest.fixture
def staff(client, lab_operator):
    """The test client, logged in as a lab operator (staff, not a superuser)."""
    client.force_login(lab_operator)
    return client


@pytest.fixture
def wait_until():
    """tests.polling.wait_until with the lab's limit: a training run in a worker on shared
    cores may need a minute or two."""

    def wait(condition, timeout: float = 120.0, what: str = "condition") -> None:
        polling.wait_until(condition, timeout=timeout, interval=0.02, describe=lambda: f"{what} not met within {timeout} s")

    return wait


@pytest.fixture
def llm_queue(broker_queue):
    """The messages waiting on the test Redis database's llm queue (empty at the start)."""
    return lambda: broker_queue("llm")


# --- the trainer (synth.cpt): made-up facts and a tiny config -----------------------------

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


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """One short run shared by the tests that only read its outcome."""
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


# --- training runs: a topic with a finished synthesis run, built with the ORM ---------------


@pytest.fixture
def finished_synthesis(db):
    """A topic whose (extractive) synthesis run is done: lab_texts as its synthetic texts,
    and source documents that say the same things, for perplexity."""
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
