"""Throughput of the CPT loop: tokens per second and peak memory for a short run.

It runs synth.cpt.train.train() itself (same loop, same data path) on a generated corpus,
with a model of a known shape and random weights (speed depends on shape, not weights):

    python bench/cpt.py                                   # CPU: the tiny preset
    python bench/cpt.py --preset 0.5b --seq-len 2048      # one GPU: bf16 autocast, reports MFU
    python bench/cpt.py --preset 1b --micro-batch-size 8 --compile
    torchrun --standalone --nproc_per_node=8 bench/cpt.py --preset 1b   # per-GPU figures too

The first step (allocation, compilation) is left out of the mean.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import torch  # noqa: E402

from synth.cpt.data import Corpus  # noqa: E402
from synth.cpt.model import PRESETS  # noqa: E402
from synth.cpt.train import TrainConfig, train  # noqa: E402

_WORDS = ("entity graph synthetic corpus pretraining model token passage relation document knowledge "
          "language learning data paper method result benchmark scaling training evaluation").split()


def make_corpus(tokens: int, seed: int = 0) -> list[str]:
    """Generated documents of about `tokens` words, varied enough for a BPE tokenizer."""
    rng = random.Random(seed)
    docs, total = [], 0
    while total < tokens:
        n = rng.randint(100, 400)
        words = [rng.choice(_WORDS) + (str(rng.randint(0, 999)) if rng.random() < 0.3 else "") for _ in range(n)]
        docs.append(" ".join(words) + ".")
        total += n * 2  # a numbered word is two or three tokens
    return docs


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--preset", default="tiny", choices=sorted(PRESETS))
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--seq-len", type=int, default=None, help="default: 2048 on CUDA, 256 on the CPU")
    p.add_argument("--batch-size", type=int, default=16, help="sequences per step, all devices")
    p.add_argument("--micro-batch-size", type=int, default=4, help="sequences per forward pass on one device")
    p.add_argument("--param-dtype", default="float32", choices=["float32", "bfloat16"])
    p.add_argument("--compile", action="store_true")
    p.add_argument("--gradient-checkpointing", action="store_true")
    p.add_argument("--peak-flops", type=float, default=989e12, help="one device's dense bf16 peak (H100 SXM)")
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda"])
    args = p.parse_args()

    cuda = args.device == "cuda" or (args.device == "auto" and torch.cuda.is_available())
    seq_len = args.seq_len or (2048 if cuda else 256)
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    # One folder for all ranks of a torchrun launch.
    out_dir = Path(tempfile.gettempdir()) / f"bench-cpt-{os.environ.get('TORCHELASTIC_RUN_ID', os.getpid())}"
    texts = make_corpus(min(args.steps * args.batch_size, 256) * seq_len)
    cfg = TrainConfig(
        base_model=f"preset:{args.preset}", out_dir=out_dir, seq_len=seq_len, batch_size=args.batch_size,
        micro_batch_size=args.micro_batch_size, max_steps=args.steps, lr=1e-4, replay_ratio=0.0,
        device=args.device, compile=args.compile, param_dtype=args.param_dtype,
        gradient_checkpointing=args.gradient_checkpointing, peak_flops=args.peak_flops,
        checkpoint_every=0, save_final=False,  # a 1B checkpoint is 15 GB of disk writes, not training
    )
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    try:
        result = train(cfg, Corpus(synthetic=texts),
                       on_progress=lambda step, m: print(
                           f"step {step}/{m['max_steps']} loss {m['loss']:.3f} {m['tokens_per_s']:.0f} tok/s"
                           + (f" mfu {m['mfu']:.1%}" if m["mfu"] is not None else ""), flush=True))
    finally:
        if rank == 0:
            shutil.rmtree(out_dir, ignore_errors=True)  # the checkpoint and final model of a 1B run are GBs
    wall = time.perf_counter() - started
    if cuda:
        peak = torch.cuda.max_memory_allocated() / 2**30
        memory = f"peak GPU memory {peak:.2f} GiB (allocated, this device)"
    else:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux
        memory = f"peak RSS {peak:.2f} GiB (whole process)"
    if rank != 0:
        return
    device = torch.cuda.get_device_name() if cuda else f"CPU, {torch.get_num_threads()} threads"
    print(f"\n{result.base_label} on {device}, {world} process(es)")
    print(f"seq_len {seq_len}, {args.batch_size} sequences/step, micro-batch {cfg.micro_batch_size}, "
          f"weights {args.param_dtype}{', bf16 autocast' if cuda else ', fp32'}")
    print(f"tokens/s {result.tokens_per_s:,.0f} (all devices), {result.tokens_per_s / world:,.0f} per device")
    if result.mfu is not None:
        print(f"MFU {result.mfu:.1%} (6 x {result.parameters / 1e6:.0f}M params x tokens/s / {args.peak_flops:.3g})")
    print(memory)
    print(f"wall {wall:.1f} s for {args.steps} steps (model build and corpus included)")
    print(json.dumps({"preset": args.preset, "params": result.parameters, "device": device, "world": world,
                      "seq_len": seq_len, "tokens_per_s": round(result.tokens_per_s),
                      "tokens_per_s_per_device": round(result.tokens_per_s / world), "mfu": result.mfu,
                      "peak_memory_gib": round(peak, 3), "final_loss": result.loss_history[-1]}))


if __name__ == "__main__":
    main()
