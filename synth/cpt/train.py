"""Continued pretraining of a causal LM on a topic's corpus: one loop, CPU to multi-GPU.

Run it on its own (synth.training.runner calls train() in-process from the Celery "gpu" worker):

    # CPU or one GPU; the corpus is .jsonl ({"text": ..., "kind": "synthetic"|"raw"}) or .txt
    python -m synth.cpt.train --corpus corpus.jsonl --out-dir var/synth/runs/dev
    # one node, 8 GPUs (DDP); gradient accumulation shrinks so 16 sequences still make one step
    torchrun --standalone --nproc_per_node=8 -m synth.cpt.train --corpus corpus.jsonl --out-dir ...
    # two nodes: on each, with --node_rank 0 / 1
    torchrun --nnodes=2 --node_rank=0 --master_addr=HOST --master_port=29500 --nproc_per_node=8 \
        -m synth.cpt.train --corpus corpus.jsonl --out-dir /shared/run
    # `accelerate launch --num_processes 8 -m synth.cpt.train ...` sets the same RANK/WORLD_SIZE variables.

Any TrainConfig field is a flag (--lr 1e-5, --seq-len 1024, --base-model /models/llama).
Running the same command again resumes from out_dir/ckpt.pt at the step it was saved.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from synth.cpt import CPTError
from synth.cpt import data as cpt_data
from synth.cpt import model as cpt_model


@dataclass(frozen=True)
class TrainConfig:
    base_model: str = "tiny"  # hub id or local path; "tiny" builds a small model from a config (any CPU)
    out_dir: Path = Path("var/synth/runs/dev")  # ckpt.pt, manifest.json, base/ (tiny), final/
    # Who owns out_dir (synth.training passes the TrainingRun's uid): a folder marked for another
    # key is never resumed from (prepare_out_dir). Empty: no mark, the folder is the caller's.
    run_key: str = ""
    # Data: the paper's recipe (Yang et al., 2024, "Synthetic continued pretraining")
    seq_len: int = 2048  # tokens per sequence
    batch_size: int = 16  # sequences per optimizer step, summed over all devices
    micro_batch_size: int = 4  # sequences per forward pass on one device; lower it when memory runs out
    epochs: float = 2.0
    max_steps: int = 0  # 0: from epochs and the corpus size
    replay_ratio: float = 0.1  # share of blocks from the replay corpus, against forgetting
    replay_path: str = ""  # .txt or .jsonl; empty: no replay (the manifest notes it)
    raw_ratio: float = 0.0  # share of blocks from the topic's own documents
    # Optimizer
    lr: float = 5e-6  # small, or the base model forgets what it knew
    min_lr: float = 0.0  # where the cosine ends
    warmup_ratio: float = 0.05  # share of the steps with a linear warm-up
    weight_decay: float = 0.01  # on matrices only, not on norms and biases
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # 0: off
    # Run
    checkpoint_every: int = 100  # steps; also on the last step and on cancel; 0: never (bench)
    save_final: bool = True  # the trained model and tokenizer in out_dir/final
    seed: int = 1337
    device: str = "auto"  # auto: cuda when there is one, else cpu
    # float32 weights with bf16 autocast on CUDA. bfloat16 weights halve the memory, but an
    # update of lr 5e-6 is below bf16's resolution for most weights: for speed runs only.
    param_dtype: str = "float32"
    compile: bool = False  # torch.compile the model (CUDA; slow to start, faster per step)
    gradient_checkpointing: bool = False  # trade compute for memory on large models
    peak_flops: float = 989e12  # one device's dense bf16 peak for MFU; H100 SXM
    # The tiny model's size, when base_model is "tiny"
    tiny_vocab_size: int = 2048
    tiny_hidden_size: int = 128
    tiny_layers: int = 2
    tiny_heads: int = 4


@dataclass
class TrainResult:
    status: str  # "finished" | "cancelled"
    step: int
    max_steps: int
    loss_history: list[float]
    tokens_per_s: float  # mean over the steps of this process run, all devices together
    mfu: float | None  # on CUDA only
    parameters: int
    base_label: str
    manifest: dict
    final_dir: Path | None = None


@dataclass
class _Dist:
    rank: int = 0
    local_rank: int = 0
    world: int = 1
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))

    @property
    def ddp(self) -> bool:
        return self.world > 1

    @property
    def master(self) -> bool:
        return self.rank == 0


def validate(cfg: TrainConfig) -> None:
    """Cheap checks that fail at once, before any model or corpus work."""
    if cfg.seq_len < 2:
        raise CPTError(f"seq_len {cfg.seq_len}: must be at least 2")
    if cfg.checkpoint_every < 0:
        raise CPTError(f"checkpoint_every {cfg.checkpoint_every}: must be 0 (never) or more")
    for name in ("batch_size", "micro_batch_size"):
        if getattr(cfg, name) < 1:
            raise CPTError(f"{name} {getattr(cfg, name)}: must be at least 1")
    if cfg.lr <= 0 or cfg.min_lr < 0 or cfg.min_lr > cfg.lr:
        raise CPTError(f"lr {cfg.lr} / min_lr {cfg.min_lr}: need 0 <= min_lr <= lr and lr > 0")
    if not 0 <= cfg.warmup_ratio < 1:
        raise CPTError(f"warmup_ratio {cfg.warmup_ratio}: must be in [0, 1)")
    if cfg.max_steps < 0 or (cfg.max_steps == 0 and cfg.epochs <= 0):
        raise CPTError("set epochs > 0 or max_steps > 0")
    if cfg.device not in ("auto", "cpu", "cuda"):
        raise CPTError(f"device {cfg.device!r}: expected auto, cpu or cuda")
    if cfg.param_dtype not in ("float32", "bfloat16"):
        raise CPTError(f"param_dtype {cfg.param_dtype!r}: expected float32 or bfloat16")
    if cfg.device == "cuda" and not torch.cuda.is_available():
        raise CPTError("device 'cuda' was asked for but torch sees no GPU")
    if cfg.replay_path and not Path(cfg.replay_path).expanduser().is_file():
        raise CPTError(f"replay corpus {cfg.replay_path!r} does not exist")
    cpt_model.check_base_model(cfg.base_model)
    cpt_model.check_seq_len(cfg.base_model, cfg.seq_len)


def grad_accum_steps(cfg: TrainConfig, world: int) -> int:
    per_pass = cfg.micro_batch_size * world
    if cfg.batch_size % per_pass:
        raise CPTError(f"batch_size {cfg.batch_size} is not a multiple of micro_batch_size {cfg.micro_batch_size} "
                       f"x {world} device(s)")
    return cfg.batch_size // per_pass


def lr_at(step: int, cfg: TrainConfig, max_steps: int) -> float:
    """Linear warm-up, then cosine decay to min_lr; step counts from 0."""
    warmup = math.ceil(cfg.warmup_ratio * max_steps)
    if step < warmup:
        return cfg.lr * (step + 1) / warmup
    progress = (step - warmup) / max(1, max_steps - warmup)
    return cfg.min_lr + 0.5 * (1 + math.cos(math.pi * min(1.0, progress))) * (cfg.lr - cfg.min_lr)


def total_steps(cfg: TrainConfig, n_blocks: int) -> int:
    return cfg.max_steps or max(1, math.ceil(cfg.epochs * n_blocks / cfg.batch_size))


class BatchIndex:
    """Which blocks make up a micro-batch, from the step alone: a resumed run reads the same data.

    Sequences are a stream of epochs, each a fresh seeded permutation of the blocks; step s
    takes sequences [s*B, (s+1)*B), split between the ranks, then into micro-batches."""

    def __init__(self, n_blocks: int, seed: int):
        self.n = n_blocks
        self.seed = seed
        self._perms: dict[int, np.ndarray] = {}

    def _perm(self, epoch: int) -> np.ndarray:
        if epoch not in self._perms:
            self._perms = {epoch: np.random.default_rng(self.seed + epoch).permutation(self.n)}
        return self._perms[epoch]

    def indices(self, *, step: int, micro: int, cfg: TrainConfig, dist: _Dist) -> np.ndarray:
        start = step * cfg.batch_size + dist.rank * (cfg.batch_size // dist.world) + micro * cfg.micro_batch_size
        out = []
        for g in range(start, start + cfg.micro_batch_size):
            out.append(self._perm(g // self.n)[g % self.n])
        return np.asarray(out)


def _setup_distributed(cfg: TrainConfig) -> _Dist:
    world = int(os.environ.get("WORLD_SIZE", "1"))
    use_cuda = cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available())
    if world <= 1:
        return _Dist(device=torch.device("cuda" if use_cuda else "cpu"))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if not torch.distributed.is_initialized():
        torch.distributed.init_process_group(backend="nccl" if use_cuda else "gloo")
    if use_cuda:
        torch.cuda.set_device(local_rank)
    return _Dist(rank, local_rank, world, torch.device(f"cuda:{local_rank}" if use_cuda else "cpu"))


def _barrier(dist: _Dist) -> None:
    if dist.ddp:
        torch.distributed.barrier()


def _optimizer(model: torch.nn.Module, cfg: TrainConfig, device: torch.device) -> torch.optim.Optimizer:
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [
        {"params": [p for p in params if p.dim() >= 2], "weight_decay": cfg.weight_decay},
        {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0},  # norms and biases
    ]
    return torch.optim.AdamW(groups, lr=cfg.lr, betas=(cfg.beta1, cfg.beta2), fused=device.type == "cuda")


def _config_dict(cfg: TrainConfig) -> dict:
    return {k: str(v) if isinstance(v, Path) else v for k, v in asdict(cfg).items()}


def save_checkpoint(out_dir: Path, ckpt: dict) -> None:
    # Written to a temporary file, then renamed: a kill mid-save never spoils the last good checkpoint.
    tmp = out_dir / "ckpt.pt.tmp"
    torch.save(ckpt, tmp)
    os.replace(tmp, out_dir / "ckpt.pt")


def load_checkpoint(out_dir: Path, device: torch.device) -> dict | None:
    path = out_dir / "ckpt.pt"
    if not path.exists():
        return None
    return torch.load(path, map_location=device, weights_only=True)


OWNER_FILE = "run-key"  # in out_dir: the run_key of the run the folder belongs to


def prepare_out_dir(cfg: TrainConfig) -> None:
    """Create out_dir and mark it with cfg.run_key. A folder marked with another key, or holding
    files but no mark (another run's, from before marks or from another database), is refused
    with CPTError: its checkpoint, manifest and tiny base/ come from another corpus, and
    resuming from them would train on the wrong data or fail on the corpus hash."""
    out_dir = Path(cfg.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if not cfg.run_key:
        return
    mark = out_dir / OWNER_FILE
    if mark.exists():
        owner = mark.read_text().strip()
        if owner != cfg.run_key:
            raise CPTError(f"the run folder {out_dir} belongs to another run (key {owner}, this run's is {cfg.run_key}): "
                           "it is never resumed from; move it aside or point the run at a new folder")
        return
    if any(out_dir.iterdir()):
        raise CPTError(f"the run folder {out_dir} holds files of another run (no {OWNER_FILE} mark): it is never "
                       "resumed from; move it aside or point the run at a new folder")
    tmp = out_dir / f"{OWNER_FILE}.tmp"
    tmp.write_text(cfg.run_key + "\n")
    os.replace(tmp, mark)


def load_base(cfg: TrainConfig, corpus: cpt_data.Corpus) -> cpt_model.Base:
    """The model a run starts from: what the evaluation before training must see too."""
    spec = cpt_model.TinySpec(vocab_size=cfg.tiny_vocab_size, hidden_size=cfg.tiny_hidden_size, layers=cfg.tiny_layers,
                              heads=cfg.tiny_heads, intermediate_size=2 * cfg.tiny_hidden_size)
    return cpt_model.load_base(cfg.base_model, texts=[*corpus.synthetic, *corpus.raw], seq_len=cfg.seq_len,
                               base_dir=Path(cfg.out_dir) / "base", spec=spec, seed=cfg.seed,
                               dtype=getattr(torch, cfg.param_dtype))


def pick_device(cfg: TrainConfig) -> torch.device:
    if cfg.device == "cuda" or (cfg.device == "auto" and torch.cuda.is_available()):
        return torch.device("cuda")
    return torch.device("cpu")


def train(cfg: TrainConfig, corpus: cpt_data.Corpus, *,
          on_progress: Callable[[int, dict], None] = lambda step, metrics: None,
          should_stop: Callable[[], bool] = lambda: False, base: cpt_model.Base | None = None,
          before_save: Callable[[], None] = lambda: None) -> TrainResult:
    """Train from base (or load_base(cfg, corpus)), resuming from out_dir/ckpt.pt when there is one.

    before_save is called (on rank 0) before each write to out_dir: the manifest, every
    checkpoint and the final model. It raises to stop the run without that write, as a worker
    that no longer owns the run does (synth.training.runner); single-process runs only."""
    validate(cfg)
    if not any(t and t.strip() for t in corpus.synthetic):
        raise CPTError("the corpus is empty: there are no synthetic texts to train on")
    dist = _setup_distributed(cfg)
    accum = grad_accum_steps(cfg, dist.world)
    out_dir = Path(cfg.out_dir)
    if dist.master:
        prepare_out_dir(cfg)
    _barrier(dist)
    torch.manual_seed(cfg.seed)
    cuda = dist.device.type == "cuda"
    if cuda:
        torch.set_float32_matmul_precision("high")  # TF32 for whatever autocast leaves in fp32

    # Rank 0 builds and saves a tiny base first; the others then load the very same one.
    if base is None and dist.master:
        base = load_base(cfg, corpus)
    _barrier(dist)
    if base is None:
        base = load_base(cfg, corpus)
    limit = cpt_model.max_positions(base.model.config)
    if limit is not None and cfg.seq_len > limit:
        raise CPTError(f"sequence length {cfg.seq_len} is larger than base model {cfg.base_model!r} allows ({limit})")

    blocks = cpt_data.build_blocks(base.tokenizer, corpus, seq_len=cfg.seq_len, raw_ratio=cfg.raw_ratio,
                                   replay_ratio=cfg.replay_ratio, replay_path=cfg.replay_path, seed=cfg.seed)
    max_steps = total_steps(cfg, len(blocks.tokens))
    manifest = {**blocks.manifest, "base_model": base.label, "max_steps": max_steps,
                "epochs": max_steps * cfg.batch_size / len(blocks.tokens)}
    if dist.master:
        before_save()
        cpt_data.write_manifest(manifest, out_dir / "manifest.json")

    model = base.model.to(dist.device)
    if cfg.gradient_checkpointing:
        model.gradient_checkpointing_enable()
    n_params = cpt_model.count_parameters(model)
    opt = _optimizer(model, cfg, dist.device)
    step, history = 0, []
    ckpt = load_checkpoint(out_dir, dist.device)
    if ckpt is not None:
        if ckpt["data_sha256"] != blocks.manifest["sha256"]:
            raise CPTError(f"the corpus differs from the one checkpointed in {out_dir}: "
                           "start a new run or delete ckpt.pt")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["optimizer"])
        step, history = ckpt["step"], list(ckpt["loss_history"])
        max_steps = ckpt["max_steps"]  # the schedule of the run that started it
        del ckpt
    train_model = torch.compile(model) if cfg.compile else model
    if dist.ddp:
        ddp_kwargs = {"device_ids": [dist.local_rank]} if cuda else {}
        train_model = torch.nn.parallel.DistributedDataParallel(train_model, **ddp_kwargs)
    # bf16 autocast on CUDA keeps fp32 master weights: at lr 5e-6 a bf16 weight would not move.
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if cuda else contextlib.nullcontext
    data = torch.from_numpy(blocks.tokens)
    if cuda:
        data = data.pin_memory()  # lets .to(device, non_blocking=True) overlap the copy with compute
    index = BatchIndex(len(blocks.tokens), cfg.seed)
    tokens_per_step = cfg.batch_size * cfg.seq_len

    def checkpoint() -> None:
        if dist.master:
            before_save()
            save_checkpoint(out_dir, {
                "model": model.state_dict(), "optimizer": opt.state_dict(), "step": step, "max_steps": max_steps,
                "loss_history": history, "config": _config_dict(cfg), "data_sha256": blocks.manifest["sha256"],
            })
        _barrier(dist)

    status, saved_at, mfu = "finished", step, None
    step_times: list[float] = []  # this process's steps; a resumed run times only its own
    model.train()
    while step < max_steps:
        if _agree(should_stop(), dist):
            status = "cancelled"
            break
        t0 = time.perf_counter()  # the callbacks' time (database reads and writes) is not training time
        lr = lr_at(step, cfg, max_steps)
        for group in opt.param_groups:
            group["lr"] = lr
        loss_sum = torch.zeros((), device=dist.device)
        for micro in range(accum):
            x = data[index.indices(step=step, micro=micro, cfg=cfg, dist=dist)].to(dist.device, non_blocking=True)
            if dist.ddp:  # all-reduce the gradients on the last micro-batch only
                train_model.require_backward_grad_sync = micro == accum - 1
            with autocast():
                # The model shifts the labels itself. Dividing by accum makes the summed
                # gradients those of the mean over the whole step's batch.
                loss = train_model(input_ids=x, labels=x).loss / accum
            loss.backward()
            loss_sum += loss.detach()
        if cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        opt.zero_grad(set_to_none=True)
        step += 1
        if dist.ddp:
            torch.distributed.all_reduce(loss_sum, op=torch.distributed.ReduceOp.AVG)
        loss_value = loss_sum.item()  # CPU-GPU sync point: the step's time below is real
        dt = time.perf_counter() - t0
        history.append(loss_value)
        tokens_per_s = tokens_per_step / dt
        step_times.append(dt)
        if cuda:  # 6 FLOPs per parameter per token (forward + backward), against one device's peak
            mfu = 6 * n_params * tokens_per_s / dist.world / cfg.peak_flops
        if cfg.checkpoint_every and (step % cfg.checkpoint_every == 0 or step == max_steps):
            checkpoint()
            saved_at = step
        if dist.master:
            on_progress(step, {"loss": loss_value, "lr": lr, "tokens_per_s": tokens_per_s, "mfu": mfu,
                               "max_steps": max_steps, "step_time_s": dt})
    if saved_at != step and cfg.checkpoint_every:
        checkpoint()  # on cancel: a later run resumes from here

    final_dir = None
    if status == "finished" and cfg.save_final and dist.master:
        final_dir = out_dir / "final"
        before_save()
        cpt_model.save_pretrained(model, base.tokenizer, final_dir)
    _barrier(dist)
    timed = step_times[1:] or step_times  # the first step pays for warm-up and compilation
    mean_tps = tokens_per_step * len(timed) / sum(timed) if timed else 0.0
    mean_mfu = 6 * n_params * mean_tps / dist.world / cfg.peak_flops if cuda and mean_tps else None
    return TrainResult(status=status, step=step, max_steps=max_steps, loss_history=history, tokens_per_s=mean_tps,
                       mfu=mean_mfu, parameters=n_params, base_label=base.label, manifest=manifest,
                       final_dir=final_dir)


def _agree(flag: bool, dist: _Dist) -> bool:
    # Rank 0's answer goes to every rank, so all of them stop at the same step.
    if not dist.ddp:
        return bool(flag)
    t = torch.tensor([1 if flag else 0], device=dist.device)
    torch.distributed.broadcast(t, src=0)
    return bool(t.item())


def read_corpus(path: Path) -> cpt_data.Corpus:
    """A corpus file for the command line: .jsonl rows {"text", "kind"} (kind raw or synthetic), or .txt."""
    if path.suffix == ".jsonl":
        synthetic, raw = [], []
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                (raw if row.get("kind") == "raw" else synthetic).append(row["text"])
        return cpt_data.Corpus(synthetic=synthetic, raw=raw)
    return cpt_data.Corpus(synthetic=path.read_text(encoding="utf-8").split("\n\n"))


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--corpus", type=Path, required=True)
    for f in dataclasses.fields(TrainConfig):
        flag = "--" + f.name.replace("_", "-")
        kind = type(f.default)
        if kind is bool:
            p.add_argument(flag, action=argparse.BooleanOptionalAction, default=f.default)
        else:
            p.add_argument(flag, type=kind, default=f.default)
    return p


def main(argv: list[str] | None = None) -> int:
    args = vars(_parser().parse_args(argv))
    corpus_path = args.pop("corpus")
    cfg = TrainConfig(**args)

    def report(step: int, m: dict) -> None:
        mfu = f" mfu {m['mfu']:.1%}" if m["mfu"] is not None else ""
        print(f"step {step}/{m['max_steps']} loss {m['loss']:.4f} lr {m['lr']:.2e} "
              f"tok/s {m['tokens_per_s']:.0f}{mfu}", flush=True)

    try:
        result = train(cfg, read_corpus(corpus_path), on_progress=report)
    except CPTError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    finally:
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()
    if int(os.environ.get("RANK", "0")) == 0:
        print(json.dumps({"status": result.status, "step": result.step, "final_loss": result.loss_history[-1:],
                          "tokens_per_s": round(result.tokens_per_s), "mfu": result.mfu,
                          "final_dir": str(result.final_dir)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
