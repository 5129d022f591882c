"""The one training loop every training stage shares: optimizer, schedule, precision, checkpoints and
resume, DistributedDataParallel, logging and metrics.

A stage builds a model and a batch source and calls `train(...)`; stages differ only in their batches
and losses. The loop, step by step:

    for each optimizer step:     lr from the schedule; re-seed the RNG from (seed, step, rank)
      for each micro-batch:      forward under autocast, loss / accumulation steps, backward
                                 (DDP averages gradients across ranks on the last micro-batch)
      clip gradients, optimizer step; log loss, lr, tokens/s, MFU; evaluate; checkpoint

Resume. Every `checkpoint_every` steps, rank 0 writes a complete checkpoint artifact (written
atomically, like every artifact) to `OUT.checkpoints/step-NNNNNNNN/` and then deletes the older ones.
`--resume` continues from the newest: weights, optimizer state and step are restored; the data order
is a pure function of (seed, step) and the RNG is re-seeded from (seed, step, rank) every step, so a
resumed run reaches bitwise the same weights as an uninterrupted one. `OUT/` (with its manifest) is
written only when training finishes; then `OUT.checkpoints/` is removed. Ctrl-C saves a step
checkpoint first. With `--max-time` the schedule follows the wall clock, so such runs resume
faithfully but not bitwise.
"""

from __future__ import annotations

import math
import os
import shutil
import socket
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import torch
import torch.distributed as dist
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from llmkit.artifacts import Checkpoint, input_record, open_checkpoint, read_manifest, save_checkpoint
from llmkit.errors import UserError
from llmkit.model import ModelConfig, Transformer, flops_per_token
from llmkit.train.muon import Muon

SCHEDULES = ("cosine", "linear", "wsd")
OPTIMIZERS = ("adamw", "muon")
PRECISIONS = ("auto", "bf16", "fp32")

console = Console(stderr=True)


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


# --------------------------------------------------------------------------------------- devices, precision


def resolve_device(name: str = "auto", local_rank: int = 0) -> torch.device:
    """`auto`: this rank's GPU if CUDA is available, else the CPU."""
    if name == "auto":
        name = f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu"
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {name}: CUDA is not available on this machine")
    if name == "cuda":
        name = f"cuda:{local_rank}"
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise UserError(f"--device {name!r} is not a device (use auto, cpu, cuda or cuda:N)") from e


def resolve_precision(precision: str, device: torch.device) -> str:
    """`auto`: bf16 on GPUs that support it and on CPUs with native bf16 (AVX512-BF16 or AMX), else fp32."""
    if precision != "auto":
        return precision
    if device.type == "cuda":
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return "fp32"
    return "bf16" if ("avx512_bf16" in flags or "amx_bf16" in flags) else "fp32"


def autocast(device: torch.device, precision: str):
    """bf16 autocast (matmuls in bf16, master weights and reductions in fp32), or nothing for fp32."""
    if precision == "bf16":
        return torch.autocast(device.type, dtype=torch.bfloat16)
    return nullcontext()


# Datasheet dense bf16 tensor-core peaks (FLOP/s), matched against torch.cuda.get_device_name().
GPU_BF16_PEAK = {"H200": 989e12, "H100": 989e12, "A100": 312e12, "L40S": 362e12, "A10G": 70e12, "L4": 121e12,
                 "4090": 165e12, "3090": 71e12, "V100": 125e12}  # fmt: skip
_measured_peaks: dict[tuple, float] = {}


def peak_flops(device: torch.device, precision: str) -> tuple[float | None, str]:
    """(FLOP/s, where it comes from) for MFU: a measured matmul peak on CPU (cached per process), the
    datasheet bf16 value on a known GPU, or (None, ...) when unknown."""
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in GPU_BF16_PEAK.items():
            if key in name and precision == "bf16":
                return value, f"datasheet {name} bf16"
        return None, f"unknown for {name} {precision} (pass --peak-flops)"
    dtype = torch.bfloat16 if precision == "bf16" else torch.float32
    key = (dtype, torch.get_num_threads())
    if key not in _measured_peaks:
        _measured_peaks[key] = measure_matmul_flops(dtype)
    return _measured_peaks[key], f"measured {precision} matmul, {torch.get_num_threads()} threads"


def measure_matmul_flops(dtype: torch.dtype, n: int = 2048, seconds: float = 0.5) -> float:
    """FLOP/s of n×n @ n×n matmuls on the CPU in `dtype` (the best of several timed repeats)."""
    a, b = torch.randn(n, n, dtype=dtype), torch.randn(n, n, dtype=dtype)
    a @ b  # warm-up
    best, deadline = 0.0, time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        t = time.perf_counter()
        a @ b
        best = max(best, 2 * n**3 / (time.perf_counter() - t))
    return best


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


def build_optimizer(model: torch.nn.Module, cfg: TrainConfig) -> torch.optim.Optimizer | Optimizers:
    """AdamW with weight decay on matmul weights only: norms' gains and the embedding are not decayed
    (decaying a gain or an embedding row pulls it toward zero for no benefit). Fused where supported.

    `muon`: the hidden layers' matrices (attention and MLP projections) step with Muon instead
    (llmkit/train/muon.py), with the same --lr and --weight-decay; embeddings, the LM head and gains
    stay on AdamW.
    """
    hidden, decay, no_decay = [], [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if p.dim() < 2 or "embed_tokens" in name:
            no_decay.append(p)
        elif cfg.optimizer == "muon" and "layers." in name:
            hidden.append(p)
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
    return Optimizers(Muon(hidden, lr=cfg.lr, weight_decay=cfg.weight_decay, compile=cfg.compile), adamw)


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


def _save(
    output: Output,
    model: Transformer,
    data: BatchSource,
    optimizer,
    progress: dict,
    metrics: list[dict],
    final: bool,
    stats=None,
) -> Path:
    """Write a step checkpoint (final=False) or the finished artifact at OUT (final=True).

    `progress`: {"step", "tokens", "elapsed_s"}, saved with the optimizer state in trainer_state/.
    """
    folder = step_checkpoints_dir(output.out)
    target = output.out if final else folder / f"step-{progress['step']:08d}"
    save_checkpoint(
        target,
        model.weights(),
        model.config.to_dict(),
        output.tokenizer_json,
        stage=output.stage,
        config=output.run_config,
        inputs=output.inputs,
        trainer_state={"optimizer": optimizer.state_dict(), **progress, **_extra_state(model, data)},
        metrics=metrics,
        counts={"step": progress["step"], "tokens": progress["tokens"]},
        stats=stats,
        extra={"duration_s": round(progress["elapsed_s"], 3)},  # the training time, resumed runs included
        force=True,
    )
    if final:
        shutil.rmtree(folder, ignore_errors=True)
    else:
        for old in finished_step_checkpoints(output.out):  # keep only the newest
            if old != target:
                shutil.rmtree(old, ignore_errors=True)
    return target


# --------------------------------------------------------------------------------------- the loop


def train(
    model: Transformer,
    data: BatchSource,
    cfg: TrainConfig,
    output: Output,
    *,
    loss_fn: Callable[[torch.nn.Module, tuple], torch.Tensor] = lm_loss,
    evaluate: Callable[[Transformer, str], dict] | None = None,
    resume_from: Checkpoint | None = None,
    extra_stats: dict | None = None,
    show_progress: bool = True,
) -> dict | None:
    """Train `model` on `data` and write the checkpoint artifact `output.out`; returns its manifest on
    rank 0 (None on other ranks).

    `evaluate(model, precision) -> {"val_loss": ..., "sample": "..."}` runs on rank 0 every
    `eval_every` steps and at the end; numbers go into metrics.parquet, strings are printed.
    Without --max-steps/--max-tokens/--max-time the run is one epoch. `extra_stats` (e.g. the
    parameter count) go into the manifest's stats.
    """
    device = resolve_device(cfg.device, int(os.environ.get("LOCAL_RANK", "0")))
    ddp = init_distributed(device)
    if cfg.threads:  # small models on a busy CPU often train faster on fewer threads
        torch.set_num_threads(cfg.threads)
    precision = resolve_precision(cfg.precision, device)
    mcfg: ModelConfig = model.config
    seq_len = mcfg.seq_len
    rows_per_micro = cfg.batch_size * ddp.world_size
    n_micro = max(1, math.ceil((cfg.tokens_per_step or 0) / (rows_per_micro * seq_len)))
    tokens_per_step = n_micro * rows_per_micro * seq_len
    max_steps = cfg.max_steps
    if cfg.max_tokens is not None:
        max_steps = min(max_steps or math.inf, math.ceil(cfg.max_tokens / tokens_per_step))
    if max_steps is None and cfg.max_time is None:
        max_steps = data.epoch_steps(n_micro * rows_per_micro)

    step, tokens, elapsed_before, metrics, state = 0, 0, 0.0, [], {}
    if resume_from is not None:
        if resume_from.model_config != mcfg.to_dict():
            raise UserError(
                f"cannot resume from {resume_from.path}: it was trained with another model config"
            )
        model.load_weights(resume_from.weights())
        state = resume_from.trainer_state() or {}
        step, tokens, elapsed_before = state["step"], state["tokens"], state["elapsed_s"]
        if "extra" in state:
            model.load_extra_state(state["extra"])
        if "data" in state:
            data.load_state_dict(state["data"])
        metrics = [row for row in resume_from.metrics() if row["step"] <= step]
    model.to(device)
    optimizer = build_optimizer(model, cfg)
    if "optimizer" in state:
        saved = "muon" if "optimizers" in state["optimizer"] else "adamw"  # Optimizers' state layout
        if saved != cfg.optimizer:
            raise UserError(
                f"cannot resume from {resume_from.path} with --optimizer {cfg.optimizer}: it was trained with {saved}"
            )
        optimizer.load_state_dict(state["optimizer"])
    raw_model = model
    if cfg.compile:
        model = torch.compile(model)
    if ddp.world_size > 1:
        from torch.nn.parallel import DistributedDataParallel

        model = DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)

    flops_per_rank_token = flops_per_token(mcfg) / ddp.world_size
    peak, peak_source = (cfg.peak_flops, "--peak-flops") if cfg.peak_flops else peak_flops(device, precision)
    if ddp.is_main and show_progress:
        console.print(
            f"[bold]{output.stage}[/] {mcfg.n_layers}×{mcfg.d_model} on {device} × {ddp.world_size}, {precision}, "
            f"{tokens_per_step:,} tokens/step ({cfg.batch_size} seq × {n_micro} micro × {ddp.world_size} ranks), "
            f"peak {f'{peak / 1e9:,.0f} GFLOP/s' if peak else 'unknown'} ({peak_source})"
        )

    def progress_fraction(step: int, elapsed: float) -> float:
        fractions = [step / max_steps] if max_steps else []
        if cfg.max_time:
            fractions.append(elapsed / cfg.max_time)
        return max(fractions)

    samples: list[dict] = []
    start = time.perf_counter()
    last_log = {"time": start, "step": step, "tokens": tokens}
    loss_sum = torch.zeros((), device=device)
    bar = _progress(show_progress and ddp.is_main)
    task = bar.add_task(output.stage, total=1000, info="")

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - start

    def save(final: bool, stats: dict | None = None) -> Path:
        progress = {"step": step, "tokens": tokens, "elapsed_s": elapsed()}
        return _save(output, raw_model, data, optimizer, progress, metrics, final, stats)

    def log(lr: float, grad_norm, run_eval: bool) -> None:
        """Append a metrics row (loss averaged over the steps since the last row and over ranks)."""
        if ddp.world_size > 1:
            dist.all_reduce(loss_sum)
            loss_sum.div_(ddp.world_size)
        seconds, steps_done = time.perf_counter() - last_log["time"], step - last_log["step"]
        tokens_done = tokens - last_log["tokens"]
        if steps_done == 0 and metrics:  # nothing trained since the last row: only add the evaluation
            row = metrics.pop()
        else:
            row = {
                "step": step, "tokens": tokens, "loss": loss_sum.item() / steps_done if steps_done else None,
                "lr": lr, "grad_norm": None if grad_norm is None else float(grad_norm),
                "tokens_per_s": tokens_done / seconds if steps_done else None,
                "mfu": tokens_done * flops_per_rank_token / seconds / peak if peak and steps_done else None,
                "elapsed_s": elapsed(), "val_loss": None, "val_bpb": None,
            }  # fmt: skip
        loss_sum.zero_()
        if run_eval and evaluate is not None and ddp.is_main and row["val_loss"] is None:
            result = evaluate(raw_model, precision)
            texts = {k: v for k, v in result.items() if isinstance(v, str)}  # e.g. a sample generation
            row.update({k: v for k, v in result.items() if k not in texts})
            samples.extend({"step": step, key: text} for key, text in texts.items())
            if show_progress:
                if row["val_loss"] is not None:
                    bpb = f", {row['val_bpb']:.4f} bits/byte" if row["val_bpb"] is not None else ""
                    bar.console.print(f"step {step}: val loss {row['val_loss']:.4f}{bpb}")
                for key, text in texts.items():
                    bar.console.print(f"[dim]step {step} {key}:[/] {text!r}", highlight=False)
        metrics.append(row)
        last_log.update(
            time=time.perf_counter(), step=step, tokens=tokens
        )  # evaluation time is not training time
        info = f"step {step}  loss {row['loss'] or 0:.4f}  lr {lr:.2e}"
        if row["tokens_per_s"]:
            info += f"  {row['tokens_per_s']:,.0f} tok/s"
        if row["mfu"] is not None:
            info += f"  MFU {row['mfu']:.1%}"
        bar.update(task, completed=int(1000 * min(1.0, progress_fraction(step, row["elapsed_s"]))), info=info)

    lr, grad_norm, interrupted = lr_at(cfg, step, 0.0), None, False
    try:
        with bar:
            while True:
                done_fraction = progress_fraction(step, elapsed())
                if ddp.world_size > 1:  # every rank must agree on the lr and on when to stop
                    shared = torch.tensor([done_fraction], device=device)
                    dist.broadcast(shared, src=0)
                    done_fraction = shared.item()
                if done_fraction >= 1:
                    break
                lr = lr_at(cfg, step, done_fraction)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                torch.manual_seed(cfg.seed * 1_000_003 + step * 1009 + ddp.rank)  # dropout, resumably
                model.train()
                step_tokens = 0  # tokens the model processed, padding included: what costs FLOPs
                step_loss = torch.zeros((), device=device)
                for micro in range(n_micro):
                    batch = [t.to(device, non_blocking=True) for t in data.micro_batch(
                        step, micro, n_micro, ddp.rank, ddp.world_size)]  # fmt: skip
                    # DDP all-reduces gradients on the last micro-batch only
                    last = micro == n_micro - 1
                    with model.no_sync() if ddp.world_size > 1 and not last else nullcontext():
                        with autocast(device, precision):
                            loss = loss_fn(model, batch) / n_micro
                        loss.backward()
                    step_loss += loss.detach()
                    step_tokens += batch[0].numel()
                if not torch.isfinite(
                    step_loss
                ):  # stop before a bad step reaches the weights or a checkpoint
                    latest = latest_step_checkpoint(output.out)
                    kept = (
                        f"the last good checkpoint is {latest.path} (--resume)"
                        if latest
                        else "no checkpoint was saved"
                    )
                    raise UserError(
                        f"the loss became {step_loss.item()} at step {step + 1}; stopped, {kept}; try a lower --lr"
                    )
                loss_sum += step_loss
                if cfg.grad_clip:
                    grad_norm = torch.nn.utils.clip_grad_norm_(raw_model.parameters(), cfg.grad_clip)
                optimizer.step()
                optimizer.zero_grad(set_to_none=True)
                step += 1
                tokens += step_tokens * ddp.world_size
                if step % cfg.log_every == 0:
                    log(lr, grad_norm, run_eval=bool(cfg.eval_every) and step % cfg.eval_every == 0)
                if cfg.checkpoint_every and step % cfg.checkpoint_every == 0 and ddp.is_main:
                    save(final=False)
            log(lr, grad_norm, run_eval=True)  # the final numbers, always with an evaluation
    except KeyboardInterrupt:
        interrupted = True
    if interrupted:
        if ddp.is_main:
            saved = save(final=False)
            console.print(f"[yellow]interrupted at step {step}[/]: saved {saved}; continue with --resume")
        raise KeyboardInterrupt
    if ddp.world_size > 1:
        dist.barrier()
    if not ddp.is_main:
        return None
    train_rows = [r for r in metrics if r["tokens_per_s"]]
    stats = {
        **(extra_stats or {}),
        "steps": step,
        "tokens": tokens,
        "tokens_per_step": tokens_per_step,
        "world_size": ddp.world_size,
        "device": str(device),
        "precision": precision,
        "final_loss": metrics[-1]["loss"] if metrics else None,
        "final_val_loss": next((r["val_loss"] for r in reversed(metrics) if r["val_loss"] is not None), None),
        "final_val_bpb": next((r["val_bpb"] for r in reversed(metrics) if r["val_bpb"] is not None), None),
        "best_val_loss": min((r["val_loss"] for r in metrics if r["val_loss"] is not None), default=None),
        "tokens_per_s": _median([r["tokens_per_s"] for r in train_rows]),
        "mfu": _median([r["mfu"] for r in train_rows if r["mfu"] is not None]),
        "peak_flops": peak,
        "peak_flops_source": peak_source,
        "flops_per_token": flops_per_token(mcfg),
        "train_s": round(elapsed(), 3),
        "resumed_from_step": resume_from.manifest.get("counts", {}).get("step") if resume_from else None,
        "samples": samples,
    }
    save(final=True, stats=stats)
    return read_manifest(output.out)


def _extra_state(model, data) -> dict:
    """What a checkpoint keeps besides weights and optimizer: the model's extra state (PPO's value
    model) and the batch source's state (RL rollouts), where they have one."""
    state = {}
    if hasattr(model, "extra_state"):
        state["extra"] = model.extra_state()
    if hasattr(data, "state_dict"):
        state["data"] = data.state_dict()
    return state


def _median(values: list[float]) -> float | None:
    values = sorted(values)
    return values[len(values) // 2] if values else None


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[info]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        console=console,
        disable=not enabled,
    )


# --------------------------------------------------------------------------------------- loading


def load_model(path: str | Path, device: str = "auto"):
    """Load a checkpoint for use: returns (model in eval mode on `device`, its tokenizer, the Checkpoint).

    The tokenizer is the checkpoint's own tokenizer.json; one whose vocabulary size differs from the
    model's embedding table is a UserError (a checkpoint assembled from mismatched parts).
    """
    from llmkit.tokenizer import load_tokenizer

    ckpt = open_checkpoint(path)
    mcfg = ModelConfig.from_dict(ckpt.model_config)
    tokenizer = load_tokenizer(ckpt.tokenizer_path)
    if tokenizer.vocab_size != mcfg.vocab_size:
        raise UserError(
            f"tokenizer/checkpoint vocabulary mismatch in {ckpt.path}: tokenizer.json has {tokenizer.vocab_size:,} "
            f"tokens, the model's vocab_size is {mcfg.vocab_size:,}"
        )
    model = Transformer(mcfg)
    model.load_weights(ckpt.weights())
    return model.to(resolve_device(device)).eval(), tokenizer, ckpt
