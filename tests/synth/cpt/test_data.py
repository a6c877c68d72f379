"""Tokenizing, packing and mixing the training data."""

from __future__ import annotations

import json

import numpy as np
import pytest

from synth.cpt import CPTError
from synth.cpt.data import Corpus, build_blocks, encode_documents, pack, read_replay
from synth.cpt.model import train_tokenizer


@pytest.fixture(scope="module")
def tokenizer():
    return train_tokenizer(["The EntiGraph lab is in Quxville. Replay text about the world."] * 20, 400)


def test_every_document_is_closed_with_eos(tokenizer):
    docs = ["The lab is in Quxville.", "Replay text."]
    stream = encode_documents(tokenizer, docs)
    eos_at = np.flatnonzero(stream == tokenizer.eos_token_id)
    lengths = [len(tokenizer(d, add_special_tokens=False)["input_ids"]) for d in docs]
    assert eos_at.tolist() == [lengths[0], lengths[0] + lengths[1] + 1]
    assert len(stream) == sum(lengths) + 2


def test_blocks_are_full_and_the_tail_is_dropped():
    blocks = pack(np.arange(25), 8)
    assert blocks.shape == (3, 8) and blocks[-1, -1] == 23


def test_raw_and_replay_documents_are_mixed_at_their_ratios(tokenizer, tmp_path):
    replay = tmp_path / "replay.jsonl"
    replay.write_text("\n".join(json.dumps({"text": f"Replay text number {i} about the world."}) for i in range(300)))
    corpus = Corpus(synthetic=[f"The EntiGraph lab is in Quxville, note {i}." for i in range(300)],
                    raw=["The lab is in Quxville."] * 40)
    blocks = build_blocks(tokenizer, corpus, seq_len=16, raw_ratio=0.2, replay_ratio=0.1, replay_path=str(replay))
    sources = blocks.manifest["sources"]
    total = len(blocks.tokens)
    assert total == sources["synthetic"]["blocks"] + sources["raw"]["blocks"] + sources["replay"]["blocks"]
    assert sources["raw"]["blocks"] / total == pytest.approx(0.2, abs=0.01)
    assert sources["replay"]["blocks"] / total == pytest.approx(0.1, abs=0.01)
    assert sources["replay"]["path"] == str(replay) and sources["replay"]["documents"] == 300
    # Interleaved, not appended: replay blocks are spread through the epoch.
    replay_token = tokenizer(" world", add_special_tokens=False)["input_ids"][-1]
    rows = np.flatnonzero((blocks.tokens == replay_token).any(axis=1))
    assert rows.min() < total // 3 and rows.max() > 2 * total // 3


def test_the_mix_is_reproducible_and_hashed(tokenizer):
    corpus = Corpus(synthetic=[f"Synthetic passage {i} about Quxville." for i in range(50)])
    a = build_blocks(tokenizer, corpus, seq_len=16, seed=3)
    b = build_blocks(tokenizer, corpus, seq_len=16, seed=3)
    c = build_blocks(tokenizer, corpus, seq_len=16, seed=4)
    assert a.manifest["sha256"] == b.manifest["sha256"] != c.manifest["sha256"]


def test_a_replay_ratio_without_a_replay_corpus_is_noted(tokenizer):
    corpus = Corpus(synthetic=[f"Synthetic passage {i} about Quxville." for i in range(50)])
    blocks = build_blocks(tokenizer, corpus, seq_len=16, replay_ratio=0.1)
    assert blocks.manifest["sources"]["replay"]["blocks"] == 0
    assert blocks.manifest["notes"] == ["replay_ratio is 0.1 but there are no replay documents: none mixed in"]


def test_replay_text_files_hold_documents_between_blank_lines(tmp_path):
    path = tmp_path / "replay.txt"
    path.write_text("First document,\nstill first.\n\nSecond document.\n\n\n")
    assert read_replay(path) == ["First document,\nstill first.", "Second document."]


def test_a_broken_replay_line_is_reported_with_its_number(tmp_path):
    path = tmp_path / "replay.jsonl"
    path.write_text('{"text": "fine"}\n{"text": \n')
    with pytest.raises(CPTError, match="replay.jsonl line 2: not JSON"):
        read_replay(path)
