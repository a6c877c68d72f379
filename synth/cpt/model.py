"""Base models: a Hugging Face model by hub id or local path, or "tiny".

"tiny" is a small Llama-shaped causal LM built from a config with random weights and a
byte-level BPE tokenizer trained on the corpus, so the whole loop runs on any CPU. It knows
nothing before training, and every label that names it says so.

`build_preset()` makes larger random-weight models of real shapes for bench/cpt.py.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import tokenizers
import torch
from transformers import (
    AutoConfig,
    AutoModelForCausalLM,
    AutoTokenizer,
    LlamaConfig,
    LlamaForCausalLM,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    PreTrainedTokenizerFast,
)
from transformers.utils import logging as hf_logging

from synth.cpt import CPTError

TINY = "tiny"
EOS = "<|endoftext|>"

hf_logging.disable_progress_bar()  # shard/weight progress bars would flood the worker log


@dataclass(frozen=True)
class TinySpec:
    vocab_size: int = 2048  # BPE merges learned from the corpus; a small topic may stop short of it
    hidden_size: int = 128
    layers: int = 2
    heads: int = 4
    intermediate_size: int = 256


# Shapes of public models, with random weights: speed depends on shape, not on weights.
PRESETS: dict[str, dict] = {
    # Qwen2.5-0.5B's shape (494M parameters with its 151,936-token vocabulary).
    "0.5b": dict(vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
                 num_attention_heads=14, num_key_value_heads=2, tie_word_embeddings=True),
    # Llama-3.2-1B's shape (1.24B parameters).
    "1b": dict(vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
               num_attention_heads=32, num_key_value_heads=8, tie_word_embeddings=True),
    # For a quick CPU measurement.
    "tiny": dict(vocab_size=2048, hidden_size=128, intermediate_size=256, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=4, tie_word_embeddings=True),
}


@dataclass
class Base:
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    label: str  # shown on the run page
    is_tiny: bool


def is_tiny(name: str) -> bool:
    return not name or name == TINY


def preset_name(name: str) -> str | None:
    """"preset:0.5b" asks for random weights of a known shape (bench/cpt.py); else None."""
    return name.split(":", 1)[1] if name.startswith("preset:") else None


def _looks_like_path(name: str) -> bool:
    # What exists on disk, or is spelled like a path, is a path; anything else ("gpt2",
    # "Qwen/Qwen2.5-0.5B") is a hub id for transformers to resolve.
    return name.startswith(("/", ".", "~")) or Path(name).expanduser().exists()


def check_base_model(name: str) -> None:
    """Fail at once when a local base model path is missing (before any corpus work)."""
    if is_tiny(name):
        return
    if (preset := preset_name(name)) is not None:
        if preset not in PRESETS:
            raise CPTError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
        return
    if _looks_like_path(name):
        path = Path(name).expanduser()
        if not path.exists():
            raise CPTError(f"base model path {name!r} does not exist")
        if not (path / "config.json").exists():
            raise CPTError(f"base model path {name!r} has no config.json: not a Hugging Face model folder")


def max_positions(config) -> int | None:
    """The longest sequence a model config allows, or None when it does not say."""
    for attr in ("max_position_embeddings", "n_positions", "max_sequence_length", "seq_length"):
        value = getattr(config, attr, None)
        if isinstance(value, int) and value > 0:
            return value
    return None


def check_seq_len(name: str, seq_len: int) -> None:
    """Fail at once when seq_len exceeds what the base model allows. Reads config.json only."""
    if is_tiny(name) or preset_name(name):
        return  # built to fit
    try:
        config = AutoConfig.from_pretrained(str(Path(name).expanduser()) if _looks_like_path(name) else name)
    except (OSError, ValueError) as e:
        raise CPTError(f"could not read the config of base model {name!r}: {e}") from e
    limit = max_positions(config)
    if limit is not None and seq_len > limit:
        raise CPTError(f"sequence length {seq_len} is larger than base model {name!r} allows ({limit} positions)")


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """A byte-level BPE tokenizer learned from the texts: any later text still encodes (bytes)."""
    tok = tokenizers.Tokenizer(tokenizers.models.BPE())
    tok.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = tokenizers.decoders.ByteLevel()
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=vocab_size, special_tokens=[EOS], show_progress=False,
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(texts, trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=EOS, bos_token=EOS, pad_token=EOS,
                                   model_max_length=1 << 30)


def build_tiny(texts: list[str], *, seq_len: int, spec: TinySpec = TinySpec(), seed: int = 0) -> Base:
    tokenizer = train_tokenizer(texts, spec.vocab_size)
    config = LlamaConfig(
        vocab_size=len(tokenizer), hidden_size=spec.hidden_size, intermediate_size=spec.intermediate_size,
        num_hidden_layers=spec.layers, num_attention_heads=spec.heads, num_key_value_heads=spec.heads,
        max_position_embeddings=seq_len, tie_word_embeddings=True,
        bos_token_id=tokenizer.eos_token_id, eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.eos_token_id,
    )
    torch.manual_seed(seed)  # the same seed gives the same starting weights, before and after a resume
    model = LlamaForCausalLM(config)
    return Base(model, tokenizer, tiny_label(model, spec), is_tiny=True)


def tiny_label(model: PreTrainedModel, spec: TinySpec) -> str:
    n = count_parameters(model)
    return (f"tiny built-in model (random init, {spec.layers} layer{'s' if spec.layers != 1 else ''} x {spec.hidden_size}, "
            f"{millions(n)} parameters, BPE tokenizer trained on the corpus)")


def load_pretrained(name: str, *, dtype: torch.dtype = torch.float32) -> Base:
    check_base_model(name)
    source = str(Path(name).expanduser()) if _looks_like_path(name) else name
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
    except (OSError, ValueError) as e:
        raise CPTError(f"could not load base model {name!r}: {e}") from e
    if tokenizer.eos_token_id is None:
        raise CPTError(f"the tokenizer of {name!r} has no EOS token to close documents with")
    return Base(model, tokenizer, f"{name} ({millions(count_parameters(model))} parameters)", is_tiny=False)


def load_base(name: str, *, texts: list[str], seq_len: int, base_dir: Path, spec: TinySpec = TinySpec(),
              seed: int = 0, dtype: torch.dtype = torch.float32) -> Base:
    """The starting point of a run. A tiny base is built once and saved under base_dir, so the
    evaluation before training, the training and a resumed run all start from the same model."""
    if (preset := preset_name(name)) is not None:
        check_base_model(name)
        tokenizer = train_tokenizer(texts, spec.vocab_size)  # ids stay below the preset's vocabulary
        model = build_preset(preset, seq_len=seq_len, dtype=dtype)
        label = f"random weights, {preset} preset shape ({millions(count_parameters(model))} parameters)"
        return Base(model, tokenizer, label, is_tiny=True)
    if not is_tiny(name):
        return load_pretrained(name, dtype=dtype)
    if (base_dir / "config.json").exists():
        model = AutoModelForCausalLM.from_pretrained(base_dir, dtype=dtype)
        tokenizer = AutoTokenizer.from_pretrained(base_dir)
        return Base(model, tokenizer, tiny_label(model, spec), is_tiny=True)
    base = build_tiny(texts, seq_len=seq_len, spec=spec, seed=seed)
    save_pretrained(base.model, base.tokenizer, base_dir)
    base.model.to(dtype)
    return base


def save_pretrained(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, path: Path) -> None:
    """Writes a model folder next to its final place, then renames: a kill never leaves half a model."""
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    model.save_pretrained(tmp)
    tokenizer.save_pretrained(tmp)
    shutil.rmtree(path, ignore_errors=True)
    tmp.rename(path)


def build_preset(preset: str, *, seq_len: int, dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """A random-weight model of a known shape (bench/cpt.py)."""
    if preset not in PRESETS:
        raise CPTError(f"unknown preset {preset!r}; choose from {', '.join(PRESETS)}")
    config = LlamaConfig(max_position_embeddings=max(seq_len, 2048), **PRESETS[preset])
    torch.manual_seed(0)
    # Built on the GPU when there is one: a 1B model initialised on two CPU cores takes minutes.
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        return LlamaForCausalLM(config).to(dtype)


def millions(n: int) -> str:
    return f"{n / 1e6:.0f}M" if n >= 1e7 else f"{n / 1e6:.2f}M"


def count_parameters(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())  # tied embeddings are one parameter, counted once
