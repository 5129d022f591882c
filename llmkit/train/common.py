"""What the training stages share besides the loop itself (llmkit/train/loop.py): the settings
(TrainConfig), joining the DistributedDataParallel ranks, the optimizer and learning-rate schedule,
what a batch source gives the loop, the LM loss, and where a run's checkpoints live and whether it
may start or resume (check_output; the loop's docstring explains resume).
"""

from __future__ import annotations

import math
import os
import shutil
import socket
from collections.abc import Callable
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as dist

from llmkit.artifacts import input_record
from llmkit.checkpoint_files import Checkpoint, open_checkpoint
from llmkit.defaults import STAGE_DEFAULTS
from llmkit.device import compute_dtype
from llmkit.errors import UserError
from llmkit.lora import LoraSettings
from llmkit.train.muon import Muon

SCHEDULES = ("cosine", "linear", "wsd")
OPTIMIZERS = ("adamw", "muon")
PRECISIONS = ("auto", "bf16", "fp32")


@dataclass
class TrainConfig:
    lr: float = 1e-3  # peak learning rate
    min_lr_ratio: float = 0.1  # the schedule decays to lr · min_lr_ratio
    warmup_steps: int = 100
    schedule: str = "cosine"  # cosine | linear | wsd (warmup-stable-decay)
    decay_fraction: float = 0.2  # wsd: the last fraction of the run that decays
    weight_decay: float = 0.1  # on matmul weights only, never on norms or embeddings
    optimizer: str = "adamw"  # adamw | muon (Muon for the hidden matrices, AdamW for the rest)
    beta1: float = 0.9
    beta2: float = 0.95
    grad_clip: float = 1.0  # max global gradient norm; 0 = off
    batch_size: int = 16  # sequences per micro-batch, per rank
    tokens_per_step: int | None = None  # global tokens per optimizer step (gradient accumulation)
    max_steps: int | None = None
    max_tokens: int | None = None
    max_time: float | None = None  # seconds of training (evaluation and checkpoints included)
    precision: str = "auto"  # auto (bf16 where the hardware has it) | bf16 | fp32
    compile: bool = False
    seed: int = 0
    log_every: int = 10
    eval_every: int = 100  # 0 = only at the end
    checkpoint_every: int = 0  # 0 = only when interrupted and at the end
    peak_flops: float | None = None  # FLOP/s per device to report MFU against; None = measure / datasheet
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    threads: int | None = None  # CPU threads per process (default: the cores / processes on this machine)

    @classmethod
    def for_stage(cls, stage: str, **overrides) -> TrainConfig:
        """The training settings `stage` runs with by default (llmkit.defaults), with `overrides`."""
        names = {f.name for f in fields(cls)}
        defaults = {k: v for k, v in STAGE_DEFAULTS[stage].items() if k in names}
        return cls(**{**defaults, **overrides})

    def validate(self) -> TrainConfig:
        positive = (
            "lr",
            "batch_size",
            "tokens_per_step",
            "max_steps",
            "max_tokens",
            "max_time",
            "peak_flops",
            "threads",
        )
        for name in positive:
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise UserError(f"--{name.replace('_', '-')} must be greater than 0 (got {value})")
        for name in (
            "warmup_steps",
            "weight_decay",
            "grad_clip",
            "log_every",
            "eval_every",
            "checkpoint_every",
        ):
            if getattr(self, name) < 0:
                raise UserError(f"--{name.replace('_', '-')} must be 0 or more (got {getattr(self, name)})")
        if self.log_every == 0:
            raise UserError("--log-every must be greater than 0")
        if not 0 <= self.min_lr_ratio <= 1:
            raise UserError(f"--min-lr-ratio must be in [0, 1] (got {self.min_lr_ratio})")
        if not 0 < self.decay_fraction <= 1:
            raise UserError(f"--decay-fraction must be in (0, 1] (got {self.decay_fraction})")
        if self.schedule not in SCHEDULES:
            raise UserError(f"--schedule must be one of {', '.join(SCHEDULES)} (got {self.schedule!r})")
        if self.optimizer not in OPTIMIZERS:
            raise UserError(f"--optimizer must be one of {', '.join(OPTIMIZERS)} (got {self.optimizer!r})")
        if self.precision not in PRECISIONS:
            raise UserError(f"--precision must be one of {', '.join(PRECISIONS)} (got {self.precision!r})")
        return self


# --------------------------------------------------------------------------------------- distributed


@dataclass
class Distributed:
    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def is_main_process() -> bool:
    """True on rank 0, or when not distributed: the process that evaluates and writes checkpoints."""
    return os.environ.get("RANK", "0") == "0"


def init_distributed(device: torch.device) -> Distributed:
    """Join the process group torchrun (or `launch`) set up in the environment; a no-op for 1 process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return Distributed()
    ctx = Distributed(int(os.environ["RANK"]), world, int(os.environ.get("LOCAL_RANK", "0")))
    if device.type == "cuda":  # NCCL's collectives (barrier) run on the current GPU: this rank's
        torch.cuda.set_device(device)
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cpu":  # ranks on one machine share its cores
        local_world = int(os.environ.get("LOCAL_WORLD_SIZE", world))
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // local_world))
    return ctx


def launch(nproc: int, fn: Callable, *args) -> None:
    """Run `fn(*args)` in `nproc` processes on this machine, as torchrun would (RANK, WORLD_SIZE, ...).

    An error in any process becomes a UserError here (one line: the first failing rank's message).
    """
    import torch.multiprocessing as mp

    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    try:
        mp.start_processes(_worker, args=(nproc, port, fn, args), nprocs=nproc, start_method="spawn")
    except mp.ProcessRaisedException as e:
        last = [line for line in str(e).splitlines() if line.strip()][-1]
        raise UserError(last.split("UserError: ", 1)[-1]) from None
    except mp.ProcessExitedException as e:
        raise UserError(f"a training process died ({e})") from None


def _worker(rank: int, nproc: int, port: int, fn: Callable, args: tuple) -> None:
    os.environ.update(
        RANK=str(rank), LOCAL_RANK=str(rank), WORLD_SIZE=str(nproc), LOCAL_WORLD_SIZE=str(nproc),
        MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
    )  # fmt: skip
    try:
        fn(*args)
        if dist.is_initialized():  # leave together: a rank tearing gloo down while rank 0 still
            dist.barrier()  # writes its checkpoint was seen to die with SIGABRT (once, in a full test run)
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


# --------------------------------------------------------------------------------------- optimizer, schedule


class Optimizers:
    """Several optimizers stepped as one, each over its own parameters (Muon + AdamW)."""

    def __init__(self, *optimizers: torch.optim.Optimizer):
        self.optimizers = optimizers

    @property
    def param_groups(self) -> list[dict]:
        return [group for opt in self.optimizers for group in opt.param_groups]

    def step(self) -> None:
        for opt in self.optimizers:
            opt.step()

    def zero_grad(self, set_to_none: bool = True) -> None:
        for opt in self.optimizers:
            opt.zero_grad(set_to_none=set_to_none)

    def state_dict(self) -> dict:
        return {"optimizers": [opt.state_dict() for opt in self.optimizers]}

    def load_state_dict(self, state: dict) -> None:
        for opt, opt_state in zip(self.optimizers, state["optimizers"], strict=True):
            opt.load_state_dict(opt_state)


def build_optimizer(
    model: torch.nn.Module, cfg: TrainConfig, precision: str = "fp32"
) -> torch.optim.Optimizer | Optimizers:
    """AdamW with weight decay on matmul weights only: norms' gains and the embedding are not decayed
    (decaying a gain or an embedding row pulls it toward zero for no benefit). Fused where supported.

    `muon`: the hidden layers' matrices (attention, MLP and each expert's projections) step with
    Muon instead (llmkit/train/muon.py), with the same --lr and --weight-decay; embeddings, the LM
    head, MoE routers and gains stay on AdamW. Its Newton–Schulz iterations compute in `precision`, the run's resolved one
    (llmkit.device.resolve_precision): bf16 only where the hardware has it.
    """
    hidden, decay, no_decay = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.dim() < 2 or "embed_tokens" in name:
            no_decay.append(p)
        elif cfg.optimizer == "muon" and "layers." in name and ".router." not in name:
            hidden.append(p)  # an MoE router is a classifier head, whose rows AdamW steps independently
        else:
            decay.append(p)
    groups = [{"params": decay, "weight_decay": cfg.weight_decay}, {"params": no_decay, "weight_decay": 0.0}]
    betas = (cfg.beta1, cfg.beta2)
    try:
        adamw = torch.optim.AdamW(groups, lr=cfg.lr, betas=betas, fused=True)
    except (RuntimeError, TypeError):  # no fused kernel for this device
        adamw = torch.optim.AdamW(groups, lr=cfg.lr, betas=betas)
    if not hidden:
        return adamw
    muon = Muon(
        hidden, lr=cfg.lr, weight_decay=cfg.weight_decay, compile=cfg.compile, dtype=compute_dtype(precision)
    )
    return Optimizers(muon, adamw)


def lr_at(cfg: TrainConfig, step: int, progress: float) -> float:
    """Learning rate at optimizer `step`, `progress` ∈ [0, 1] through the run.

    Linear warmup over `warmup_steps`, times a decay from 1 to `min_lr_ratio` as progress goes 0 → 1:
    cosine, linear, or wsd (flat, then linear over the last `decay_fraction`).
    """
    warmup = min(1.0, (step + 1) / cfg.warmup_steps) if cfg.warmup_steps else 1.0
    p = min(max(progress, 0.0), 1.0)
    if cfg.schedule == "cosine":
        decay = 0.5 * (1 + math.cos(math.pi * p))
    elif cfg.schedule == "linear":
        decay = 1 - p
    else:  # wsd
        decay = min(1.0, (1 - p) / cfg.decay_fraction)
    return cfg.lr * warmup * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * decay)


# --------------------------------------------------------------------------------------- batches


class BatchSource(Protocol):
    """What a stage gives the loop: batches as a deterministic function of (step, micro-batch, rank)."""

    def micro_batch(self, step: int, micro: int, n_micro: int, rank: int, world_size: int) -> tuple:
        """Tensors (on the CPU) of one micro-batch for `rank`; row order must depend only on the arguments."""
        ...

    def epoch_steps(self, rows_per_step: int) -> int:
        """Optimizer steps in one pass over the data (the run length when no limit is given)."""
        ...

    # A source whose batches depend on more than the arguments (RL rollouts sampled from the policy as
    # it was) may also define state_dict() -> dict and load_state_dict(dict): the loop saves that state
    # in each checkpoint's trainer_state/ and restores it on --resume, so a resumed run continues exactly.


def lm_loss(model: torch.nn.Module, batch: tuple) -> torch.Tensor:
    """Mean next-token cross-entropy of a (inputs, targets) batch; targets -100 are not counted."""
    _, loss = model(batch[0], batch[1])
    return loss


# --------------------------------------------------------------------------------------- checkpoints


def step_checkpoints_dir(out: Path) -> Path:
    """Where a run keeps its resumable step checkpoints until it finishes: OUT.checkpoints/."""
    return out.with_name(out.name + ".checkpoints")


def finished_step_checkpoints(out: Path) -> list[Path]:
    """The finished `step-N/` folders of an unfinished run at `out`, oldest first. A `step-N.partial/`
    is never one, even with its manifest written (a SIGKILL can land between manifest and rename)."""
    folders = step_checkpoints_dir(out).glob("step-*")
    return sorted(p for p in folders if p.name[5:].isdigit() and (p / "manifest.json").is_file())


def latest_step_checkpoint(out: Path) -> Checkpoint | None:
    """The newest finished step checkpoint of an unfinished run at `out`, or None."""
    finished = finished_step_checkpoints(out)
    return open_checkpoint(finished[-1]) if finished else None


@dataclass
class Output:
    """What every checkpoint of a run records besides the weights."""

    out: Path
    stage: str
    run_config: dict
    inputs: list
    tokenizer_json: Path
    force: bool = False
    resume: bool = False
    lora: LoraSettings | None = None  # the final checkpoint merges the adapters, or keeps only them


def check_output(output: Output) -> Checkpoint | None:
    """Decide, before any work, where the run starts: returns the checkpoint to resume from or None.

    An existing OUT needs --force; leftovers of an unfinished run need --resume (or --force to discard).
    """
    out = output.out
    if out.exists() and not output.force:
        raise UserError(f"{out} already exists; pass --force to overwrite it")
    latest = latest_step_checkpoint(out)
    if output.resume:
        if latest is not None:
            saved = [i["fingerprint"] for i in latest.manifest.get("inputs", [])]
            now = [(i if isinstance(i, dict) else input_record(i))["fingerprint"] for i in output.inputs]
            if saved != now:
                raise UserError(
                    f"cannot resume from {latest.path}: its inputs have changed since; "
                    "pass --force without --resume to start over"
                )
        return latest
    if output.force:  # start over: discard an unfinished run's checkpoints
        shutil.rmtree(step_checkpoints_dir(out), ignore_errors=True)
        return None
    if latest is not None:
        step = latest.manifest.get("counts", {}).get("step", "?")
        raise UserError(
            f"{step_checkpoints_dir(out)} holds an unfinished run (step {step}); "
            "pass --resume to continue it or --force to start over"
        )
    return None
