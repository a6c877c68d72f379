"""Perplexity on held-out text and closed-book multiple-choice QA, before and after training."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from synth.cpt import model as cpt_model
from synth.cpt.evaluate import PROMPT, evaluate, option_scores


def _load(path):
    base = cpt_model.load_base("tiny", texts=[], seq_len=32, base_dir=path)
    return base.model, base.tokenizer


def test_evaluation_before_and_after_training_gives_perplexity_and_qa_accuracy(trained, texts, questions):
    cfg, _, _ = trained
    held_out = texts(40, seed=99)  # not the training draw
    before = evaluate(*_load(cfg.out_dir / "base"), held_out=held_out, questions=questions, seq_len=cfg.seq_len)
    after = evaluate(*_load(cfg.out_dir / "final"), held_out=held_out, questions=questions, seq_len=cfg.seq_len)
    assert before["heldout_tokens"] == after["heldout_tokens"] > 0
    assert 1 < after["perplexity"] < before["perplexity"] / 4
    assert before["qa_n"] == after["qa_n"] == 4
    assert before["qa_accuracy"] < 1.0
    assert after["qa_accuracy"] == 1.0 and after["qa_answers"] == [q.answer for q in questions]


def test_an_option_scores_its_own_log_likelihood_after_the_question(trained, questions):
    cfg, _, _ = trained
    model, tokenizer = _load(cfg.out_dir / "final")
    q = questions[1]
    scores = option_scores(model, tokenizer, q.question, q.options, max_len=cfg.seq_len)
    # The same number from the model's own loss, one option at a time, without padding.
    context = tokenizer(PROMPT.format(question=q.question))["input_ids"]
    for option, (score, n) in zip(q.options, scores):
        cont = tokenizer(" " + option, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([context + cont])
        labels = ids.clone()
        labels[0, : len(context)] = -100
        with torch.no_grad():
            mean_nll = model(input_ids=ids, labels=labels).loss.item()
        assert n == len(cont) and score == pytest.approx(-mean_nll * n, rel=1e-4)


def test_no_held_out_text_and_no_questions_give_empty_results(trained):
    cfg, _, _ = trained
    result = evaluate(*_load(cfg.out_dir / "final"), held_out=[], questions=[], seq_len=cfg.seq_len)
    assert result["perplexity"] is None and result["qa_accuracy"] is None and result["qa_n"] == 0


def test_open_book_scores_the_questions_that_have_a_context_after_it(trained, questions):
    cfg, _, _ = trained
    model, tokenizer = _load(cfg.out_dir / "base")
    q = questions[0]
    context = "Some retrieved passage. " * 3
    closed = option_scores(model, tokenizer, q.question, q.options, max_len=cfg.seq_len)
    opened = option_scores(model, tokenizer, q.question, q.options, max_len=cfg.seq_len, context=context)
    # The context is in the prompt: the same options, scored after different tokens.
    assert [n for _, n in closed] == [n for _, n in opened] and closed != opened

    with_context = [replace(questions[0], context=context), replace(questions[2], context=context), questions[1]]
    result = evaluate(model, tokenizer, held_out=[], questions=with_context, seq_len=cfg.seq_len)
    assert result["qa_n"] == 3 and result["rag_qa_n"] == 2
    assert result["rag_qa_accuracy"] in (0.0, 0.5, 1.0)
    assert evaluate(model, tokenizer, held_out=[], questions=questions, seq_len=cfg.seq_len)["rag_qa_n"] == 0
