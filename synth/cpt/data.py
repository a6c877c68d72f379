"""Training data: documents tokenized with the base model's tokenizer, each closed with EOS,
packed into fixed-length blocks, mixed with raw topic documents and a replay corpus.

Each source is packed on its own, so a block holds text of one kind, and the mix is set in
blocks: with replay_ratio 0.1, one block in ten comes from the replay corpus. A manifest
records what went in; its sha256 lets a resumed run check that it sees the same data.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from synth.cpt import CPTError

_ENCODE_CHUNK = 512  # documents per tokenizer call: bounds memory on a large corpus


@dataclass(frozen=True)
class Corpus:
    synthetic: Sequence[str]  # the synthetic texts of the run(s): what the model is trained on
    raw: Sequence[str] = ()  # the topic's own documents, mixed in at raw_ratio


@dataclass
class Blocks:
    tokens: np.ndarray  # [n_blocks, seq_len] int64, in training order for one epoch
    manifest: dict = field(default_factory=dict)


def read_replay(path: str | Path) -> list[str]:
    """A replay corpus: .jsonl with a "text" field per line, or .txt with documents between blank lines."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise CPTError(f"replay corpus {str(path)!r} does not exist")
    if p.suffix == ".jsonl":
        texts = []
        for n, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise CPTError(f"replay corpus {p.name} line {n}: not JSON ({e})") from None
            text = row.get("text") if isinstance(row, dict) else row
            if not isinstance(text, str):
                raise CPTError(f"replay corpus {p.name} line {n}: expected a string or an object with \"text\"")
            texts.append(text)
    elif p.suffix == ".txt":
        texts = p.read_text(encoding="utf-8").split("\n\n")
    else:
        raise CPTError(f"replay corpus {p.name}: expected a .txt or .jsonl file")
    return [t for t in texts if t.strip()]


def encode_documents(tokenizer, texts: Sequence[str]) -> np.ndarray:
    """All documents as one token stream, EOS after each, so the model learns where one ends."""
    eos = tokenizer.eos_token_id
    if eos is None:
        raise CPTError("the tokenizer has no EOS token")
    parts = []
    for i in range(0, len(texts), _ENCODE_CHUNK):
        ids = tokenizer(list(texts[i:i + _ENCODE_CHUNK]), add_special_tokens=False, verbose=False)["input_ids"]
        for doc in ids:
            parts.append(np.asarray(doc, dtype=np.int64))
            parts.append(np.asarray([eos], dtype=np.int64))
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)


def pack(stream: np.ndarray, seq_len: int) -> np.ndarray:
    """Fixed-length blocks; the tail shorter than one block is dropped (reported in the manifest)."""
    n = len(stream) // seq_len
    return stream[: n * seq_len].reshape(n, seq_len)


def _take(blocks: np.ndarray, count: int, rng: np.random.Generator) -> np.ndarray:
    # Without replacement while there are enough blocks; a small source is repeated to reach its share.
    if count == 0 or len(blocks) == 0:
        return blocks[:0]
    reps = -(-count // len(blocks))
    order = np.concatenate([rng.permutation(len(blocks)) for _ in range(reps)])[:count]
    return blocks[order]


def build_blocks(tokenizer, corpus: Corpus, *, seq_len: int, raw_ratio: float = 0.0, replay_ratio: float = 0.0,
                 replay_path: str = "", seed: int = 0) -> Blocks:
    if not 0 <= raw_ratio < 1 or not 0 <= replay_ratio < 1 or raw_ratio + replay_ratio >= 1:
        raise CPTError(f"raw_ratio {raw_ratio} and replay_ratio {replay_ratio} must be >= 0 and add up to less than 1")
    synthetic = [t for t in corpus.synthetic if t and t.strip()]
    if not synthetic:
        raise CPTError("the corpus is empty: there are no synthetic texts to train on")
    notes = []
    stream = encode_documents(tokenizer, synthetic)
    syn_blocks = pack(stream, seq_len)
    if len(syn_blocks) == 0:
        raise CPTError(f"the corpus has {len(stream)} tokens, fewer than one sequence of {seq_len}: "
                       "lower the sequence length or synthesize more")
    rng = np.random.default_rng(seed)
    total = len(syn_blocks) / (1 - raw_ratio - replay_ratio)
    sources = {"synthetic": {"documents": len(synthetic), "tokens": int(len(stream)), "blocks": len(syn_blocks),
                             "dropped_tail_tokens": int(len(stream) % seq_len)}}
    mixed = [syn_blocks]
    for name, texts, ratio, extra in (
        ("raw", [t for t in corpus.raw if t and t.strip()], raw_ratio, {}),
        ("replay", read_replay(replay_path) if replay_path else [], replay_ratio, {"path": str(replay_path)}),
    ):
        want = round(total * ratio)
        if ratio and not texts:
            notes.append(f"{name}_ratio is {ratio} but there are no {name} documents: none mixed in")
        source_stream = encode_documents(tokenizer, texts) if texts and want else np.zeros(0, dtype=np.int64)
        available = pack(source_stream, seq_len)
        if want and texts and len(available) == 0:
            notes.append(f"the {name} documents are shorter than one sequence: none mixed in")
        chosen = _take(available, want, rng)
        mixed.append(chosen)
        sources[name] = {"ratio": ratio, "documents": len(texts), "tokens": int(len(source_stream)),
                         "blocks_available": len(available), "blocks": len(chosen), **extra}
    tokens = np.concatenate(mixed)
    tokens = tokens[rng.permutation(len(tokens))]  # interleave the sources
    manifest = {
        "seq_len": seq_len,
        "eos_token_id": int(tokenizer.eos_token_id),
        "vocab_size": len(tokenizer),
        "seed": seed,
        "blocks": int(len(tokens)),
        "tokens": int(tokens.size),
        "sources": sources,
        "notes": notes,
        "sha256": hashlib.sha256(tokens.tobytes()).hexdigest(),
    }
    return Blocks(tokens=tokens, manifest=manifest)


def write_manifest(manifest: dict, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=2, ensure_ascii=False))
    tmp.replace(path)
