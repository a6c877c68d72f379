"""The synthesis lab's test world: a small topic built with the ORM and the scripted
OpenAI-compatible server (tests/llm_server.py) answering like an LLM would for EntiGraph."""

from __future__ import annotations

import re
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # `pytest` run without `python -m` does not put the root on the path
    sys.path.insert(0, str(ROOT))

from papers.models import Commentary, Paper, PaperText, Tag  # noqa: E402
from synth.models import Topic  # noqa: E402
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
    settings.LLM_BASE_URL = server.url
    settings.LLM_MODEL = "scripted-model"
    settings.LLM_API_KEY = "test"
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
def wait_until():
    """Wait for a condition (polled), not for a fixed time."""

    def wait(condition, timeout: float = 60.0, what: str = "condition") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f"{what} not met within {timeout} s")
            time.sleep(0.02)

    return wait


@pytest.fixture
def llm_queue(broker_queue):
    """The messages waiting on the test Redis database's llm queue (empty at the start)."""
    return lambda: broker_queue("llm")
