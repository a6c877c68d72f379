"""Evaluation of a model before and after training.

- Perplexity on held-out text (the topic's source documents): did the model learn the topic?
- Closed-book multiple-choice QA: the question alone, no document; each option is scored by
  the log-likelihood the model gives it after the question, and the best-scored one is the
  model's answer. `accuracy` ranks by the summed log-likelihood, `accuracy_norm` by the
  mean per token, which does not favour short options.
- Open-book QA (RAG): the same questions scored the same way, each after the passages the
  caller retrieved for it (Question.context); measured for the questions that have one.
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Sequence

import torch
import torch.nn.functional as F

from synth.cpt import CPTError
from synth.cpt.data import encode_documents

PROMPT = "Question: {question}\nAnswer:"
PROMPT_WITH_CONTEXT = "{context}\n\nQuestion: {question}\nAnswer:"


@dataclass(frozen=True)
class Question:
    question: str
    options: Sequence[str]
    answer: int  # index into options
    context: str = ""  # retrieved passages for open-book QA; "" for closed-book only


def _device(model) -> torch.device:
    return next(model.parameters()).device


def _autocast(device: torch.device):
    return torch.autocast("cuda", dtype=torch.bfloat16) if device.type == "cuda" else contextlib.nullcontext()


@torch.no_grad()
def perplexity(model, tokenizer, texts: Sequence[str], *, seq_len: int, batch_size: int = 4) -> dict:
    """exp(mean negative log-likelihood per predicted token) over windows of seq_len tokens."""
    texts = [t for t in texts if t and t.strip()]
    if not texts:
        return {"perplexity": None, "loss": None, "tokens": 0}
    model.eval()
    device = _device(model)
    stream = torch.from_numpy(encode_documents(tokenizer, texts))
    windows = [stream[i:i + seq_len] for i in range(0, len(stream), seq_len)]
    windows = [w for w in windows if len(w) > 1]  # a one-token window predicts nothing
    nll, count = 0.0, 0
    full = [w for w in windows if len(w) == seq_len]
    batches = [torch.stack(full[i:i + batch_size]) for i in range(0, len(full), batch_size)]
    batches += [w.unsqueeze(0) for w in windows if len(w) < seq_len]
    for x in batches:
        x = x.to(device)
        with _autocast(device):
            logits = model(input_ids=x).logits
        nll += F.cross_entropy(logits[:, :-1].float().reshape(-1, logits.size(-1)), x[:, 1:].reshape(-1),
                               reduction="sum").item()
        count += x[:, 1:].numel()
    loss = nll / count
    return {"perplexity": math.exp(loss), "loss": loss, "tokens": count}


@torch.no_grad()
def option_scores(model, tokenizer, question: str, options: Sequence[str], *, max_len: int,
                  context: str = "") -> list[tuple[float, int]]:
    """(summed log-likelihood, token count) of each option after the question (and the
    context before it, when given)."""
    device = _device(model)
    prompt = PROMPT_WITH_CONTEXT.format(context=context, question=question) if context else PROMPT.format(question=question)
    context = tokenizer(prompt, verbose=False)["input_ids"]
    rows, spans = [], []
    for option in options:
        # Encoded apart from the context, so the option's tokens are the same whatever precedes them.
        cont = tokenizer(" " + option.strip(), add_special_tokens=False, verbose=False)["input_ids"]
        if not cont:
            raise CPTError(f"option {option!r} encodes to no tokens")
        ids = (context + cont)[-max_len:]  # a long question loses its start, never the option
        rows.append(ids)
        spans.append(min(len(cont), len(ids) - 1))
    width = max(len(r) for r in rows)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    x = torch.full((len(rows), width), pad, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        x[i, :len(r)] = torch.tensor(r)
        mask[i, :len(r)] = 1
    x, mask = x.to(device), mask.to(device)
    with _autocast(device):
        logits = model(input_ids=x, attention_mask=mask).logits
    logprobs = torch.log_softmax(logits.float(), dim=-1)
    scores = []
    for i, (r, n) in enumerate(zip(rows, spans)):
        positions = torch.arange(len(r) - n, len(r), device=device)
        # The token at position p is predicted by the logits at p - 1.
        scores.append((logprobs[i, positions - 1, x[i, positions]].sum().item(), n))
    return scores


def qa_accuracy(model, tokenizer, questions: Sequence[Question], *, max_len: int, open_book: bool = False) -> dict:
    """Closed-book, or with open_book each question after its context."""
    if not questions:
        return {"accuracy": None, "accuracy_norm": None, "n": 0, "correct": 0, "answers": []}
    model.eval()
    correct = correct_norm = 0
    answers = []
    for q in questions:
        if not 0 <= q.answer < len(q.options) or len(q.options) < 2:
            raise CPTError(f"question {q.question[:60]!r}: needs two or more options and an answer index among them")
        scores = option_scores(model, tokenizer, q.question, q.options, max_len=max_len,
                               context=q.context if open_book else "")
        best = max(range(len(scores)), key=lambda i: scores[i][0])
        best_norm = max(range(len(scores)), key=lambda i: scores[i][0] / scores[i][1])
        correct += best == q.answer
        correct_norm += best_norm == q.answer
        answers.append(best)
    n = len(questions)
    return {"accuracy": correct / n, "accuracy_norm": correct_norm / n, "n": n, "correct": correct,
            "answers": answers}


def evaluate(model, tokenizer, *, held_out: Sequence[str], questions: Sequence[Question], seq_len: int) -> dict:
    """Every measure at once, as stored before and after training: open-book QA over the
    questions that have a context, beside closed-book QA over all of them."""
    ppl = perplexity(model, tokenizer, held_out, seq_len=seq_len)
    qa = qa_accuracy(model, tokenizer, questions, max_len=seq_len)
    rag = qa_accuracy(model, tokenizer, [q for q in questions if q.context], max_len=seq_len, open_book=True)
    return {"perplexity": ppl["perplexity"], "heldout_loss": ppl["loss"], "heldout_tokens": ppl["tokens"],
            "qa_accuracy": qa["accuracy"], "qa_accuracy_norm": qa["accuracy_norm"], "qa_n": qa["n"],
            "qa_correct": qa["correct"], "qa_answers": qa["answers"],
            "rag_qa_accuracy": rag["accuracy"], "rag_qa_accuracy_norm": rag["accuracy_norm"], "rag_qa_n": rag["n"]}
