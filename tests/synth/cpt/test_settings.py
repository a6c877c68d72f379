"""Bad settings fail at once, before any model or corpus work, with a message that says why."""

from __future__ import annotations

import pytest

from synth.cpt import CPTError
from synth.cpt import model as cpt_model
from synth.cpt.data import Corpus
from synth.cpt.train import train


def test_a_missing_base_model_path_fails_at_once(make_config, texts, tmp_path):
    cfg = make_config(tmp_path / "run", base_model=str(tmp_path / "no-such-model"))
    with pytest.raises(CPTError, match=r"base model path '.*no-such-model' does not exist"):
        train(cfg, Corpus(synthetic=texts()))
    assert not (tmp_path / "run").exists()  # nothing was started


def test_a_folder_that_is_not_a_model_fails_at_once(make_config, texts, tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(CPTError, match="has no config.json"):
        train(make_config(tmp_path / "run", base_model=str(tmp_path / "empty")), Corpus(synthetic=texts()))


def test_an_empty_corpus_fails_at_once(make_config, tmp_path):
    with pytest.raises(CPTError, match="the corpus is empty"):
        train(make_config(tmp_path / "run"), Corpus(synthetic=["", "   \n"]))
    assert not (tmp_path / "run").exists()


def test_a_sequence_longer_than_the_model_allows_fails_at_once(make_config, texts, tmp_path):
    base = cpt_model.build_tiny(texts(), seq_len=32, spec=cpt_model.TinySpec(vocab_size=300, hidden_size=32, layers=1, heads=2))
    cpt_model.save_pretrained(base.model, base.tokenizer, tmp_path / "short-model")
    cfg = make_config(tmp_path / "run", base_model=str(tmp_path / "short-model"), seq_len=64)
    with pytest.raises(CPTError, match=r"sequence length 64 is larger than base model .* allows \(32 positions\)"):
        train(cfg, Corpus(synthetic=texts()))
    assert not (tmp_path / "run").exists()


def test_a_corpus_shorter_than_one_sequence_says_so(make_config, tmp_path):
    with pytest.raises(CPTError, match=r"fewer than one sequence of 512"):
        train(make_config(tmp_path, seq_len=512), Corpus(synthetic=["A very short synthetic text."]))


@pytest.mark.parametrize(("overrides", "message"), [
    ({"micro_batch_size": 3}, "batch_size 8 is not a multiple of micro_batch_size 3"),
    ({"replay_ratio": 0.6, "raw_ratio": 0.5}, "add up to less than 1"),
    ({"replay_path": "/nowhere/replay.jsonl"}, "replay corpus '/nowhere/replay.jsonl' does not exist"),
    ({"lr": 0.0}, "lr 0.0"),
    ({"seq_len": 1}, "seq_len 1: must be at least 2"),
    ({"param_dtype": "float16"}, "expected float32 or bfloat16"),
])
def test_other_bad_settings_fail_with_a_clear_message(make_config, texts, tmp_path, overrides, message):
    with pytest.raises(CPTError, match=message.replace("(", r"\(")):
        train(make_config(tmp_path, **overrides), Corpus(synthetic=texts()))
