"""The one training loop every training stage shares: resume, DistributedDataParallel, the optimizer
step, logging and evaluation, checkpoints, stopping.

A stage builds a model and a batch source and calls `train(...)`; stages differ only in their batches
and losses. The loop, step by step:

    for each optimizer step:     lr from the schedule; re-seed the RNG from (seed, step, rank)
      for each micro-batch:      forward under autocast, loss (+ the model's auxiliary losses,
                                 e.g. MoE load balancing) / accumulation steps, backward
                                 (DDP averages gradients across ranks on the last micro-batch)
      clip gradients, optimizer step; log loss, lr, tokens/s, MFU; evaluate; checkpoint

`train` reads as that story; the parts it calls (`Run`'s methods) come in the order they run.

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
import shutil
import signal
import threading
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict
from pathlib import Path

import torch
import torch.distributed as dist
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from llmkit.artifacts import input_record, read_manifest
from llmkit.checkpoint_files import Checkpoint, save_checkpoint
from llmkit.device import autocast, peak_flops, resolve_device, resolve_precision
from llmkit.errors import Terminated, UserError
from llmkit.lora import LoraSettings, adapter_weights, merge_lora
from llmkit.model import ModelConfig, Transformer, flops_per_token
from llmkit.train.common import (
    BatchSource,
    Output,
    TrainConfig,
    build_optimizer,
    finished_step_checkpoints,
    init_distributed,
    latest_step_checkpoint,
    lm_loss,
    lr_at,
    step_checkpoints_dir,
)

console = Console(stderr=True)


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
    extra_flops_per_token: int = 0,
) -> dict | None:
    """Train `model` on `data` and write the checkpoint artifact `output.out`; returns its manifest on
    rank 0 (None on other ranks).

    `evaluate(model, precision) -> {"val_loss": ..., "sample": "..."}` runs on rank 0 every
    `eval_every` steps and at the end; numbers go into metrics.parquet, strings are printed.
    Without --max-steps/--max-tokens/--max-time the run is one epoch. `extra_stats` (e.g. the
    parameter count) go into the manifest's stats. `extra_flops_per_token` (e.g. a distillation
    teacher's forward pass) is counted in MFU with the model's own.
    """
    run = Run(model, data, cfg, output, evaluate, resume_from, show_progress)
    run.extra_flops_per_token = extra_flops_per_token
    optimizer_state = run.restore() if resume_from is not None else None
    run.prepare(optimizer_state)

    interrupted = None
    # SIGTERM (what schedulers send before they kill a preempted job) is handled as Ctrl-C is
    on_sigterm = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _raise_terminated) if on_sigterm else None
    try:
        with run.bar:
            while (done_fraction := run.done_fraction()) < 1:
                run.train_step(loss_fn, done_fraction)
                if run.step % cfg.log_every == 0:
                    run.log_row(run_eval=bool(cfg.eval_every) and run.step % cfg.eval_every == 0)
                if cfg.checkpoint_every and run.step % cfg.checkpoint_every == 0 and run.ddp.is_main:
                    run.save(final=False)
            run.log_row(run_eval=True)  # the final numbers, always with an evaluation
    except (KeyboardInterrupt, Terminated) as e:  # Ctrl-C, or SIGTERM
        interrupted = e
    finally:
        if on_sigterm:
            signal.signal(signal.SIGTERM, signal.SIG_DFL if previous is None else previous)
    if interrupted is not None:  # saved outside the handler, so a failing save is not "during handling"
        run.save_interrupted(interrupted)
        raise type(interrupted)

    if run.ddp.world_size > 1:
        dist.barrier()
    if not run.ddp.is_main:
        return None
    run.save(final=True, stats=run.final_stats(extra_stats))
    return read_manifest(output.out)


class Run:
    """One training run: where it stands (step, tokens, metrics), what it trains with (device, ranks,
    precision, optimizer) and the parts of the loop, in the order `train` calls them."""

    def __init__(
        self,
        model: Transformer,
        data: BatchSource,
        cfg: TrainConfig,
        output: Output,
        evaluate: Callable[[Transformer, str], dict] | None,
        resume_from: Checkpoint | None,
        show_progress: bool,
    ):
        self.model = self.raw_model = model  # `model` becomes the compiled / DDP wrapper in prepare()
        self.data, self.cfg, self.output = data, cfg, output
        self.evaluate, self.resume_from, self.show_progress = evaluate, resume_from, show_progress
        self.mcfg: ModelConfig = model.config

        self.device = resolve_device(cfg.device)  # this rank's GPU under torchrun
        self.ddp = init_distributed(self.device)
        if cfg.threads:  # small models on a busy CPU often train faster on fewer threads
            torch.set_num_threads(cfg.threads)
        self.precision = resolve_precision(cfg.precision, self.device)

        # Enough micro-batches (gradient accumulation) to reach --tokens-per-step across all ranks.
        seq_len = self.mcfg.seq_len
        rows_per_micro = cfg.batch_size * self.ddp.world_size
        self.n_micro = max(1, math.ceil((cfg.tokens_per_step or 0) / (rows_per_micro * seq_len)))
        self.tokens_per_step = self.n_micro * rows_per_micro * seq_len
        self.max_steps = cfg.max_steps
        if cfg.max_tokens is not None:
            self.max_steps = min(self.max_steps or math.inf, math.ceil(cfg.max_tokens / self.tokens_per_step))
        if self.max_steps is None and cfg.max_time is None:
            self.max_steps = data.epoch_steps(self.n_micro * rows_per_micro)

        self.step, self.tokens, self.elapsed_before, self.metrics = 0, 0, 0.0, []
        self.samples: list[dict] = []  # evaluation texts (e.g. a generation), for the manifest

    # ----------------------------------------------------------------------------------- before the loop

    def restore(self) -> dict | None:
        """Continue from `resume_from`: weights, step, tokens, training time, the model's and the batch
        source's extra state, the metrics up to its step. Returns the optimizer state, which is loaded
        in prepare() once the optimizer exists."""
        ckpt = self.resume_from
        if ckpt.model_config != self.mcfg.to_dict():
            raise UserError(f"cannot resume from {ckpt.path}: it was trained with another model config")
        self.model.load_weights(ckpt.weights())
        state = ckpt.trainer_state() or {}
        self.step, self.tokens, self.elapsed_before = state["step"], state["tokens"], state["elapsed_s"]
        if "extra" in state:
            self.model.load_extra_state(state["extra"])
        if "data" in state:
            self.data.load_state_dict(state["data"])
        self.metrics = [row for row in ckpt.metrics() if row["step"] <= self.step]
        return state.get("optimizer")

    def prepare(self, optimizer_state: dict | None) -> None:
        """Move the model to the device, build the optimizer (with its saved state when resuming),
        compile and wrap for DDP; print the run's header; start the clock and the progress bar."""
        cfg, mcfg, ddp = self.cfg, self.mcfg, self.ddp
        self.model.to(self.device)
        self.optimizer = build_optimizer(self.model, cfg, self.precision)
        if optimizer_state is not None:
            saved = "muon" if "optimizers" in optimizer_state else "adamw"  # Optimizers' state layout
            if saved != cfg.optimizer:
                raise UserError(
                    f"cannot resume from {self.resume_from.path} with --optimizer {cfg.optimizer}: "
                    f"it was trained with {saved}"
                )
            self.optimizer.load_state_dict(optimizer_state)
        if cfg.compile:
            self.model = torch.compile(self.model)
        if ddp.world_size > 1:
            from torch.nn.parallel import DistributedDataParallel

            device_ids = [self.device.index] if self.device.type == "cuda" else None
            self.model = DistributedDataParallel(self.model, device_ids=device_ids)

        self.flops_per_rank_token = (flops_per_token(mcfg) + self.extra_flops_per_token) / ddp.world_size
        if cfg.peak_flops:
            self.peak, self.peak_source = cfg.peak_flops, "--peak-flops"
        else:
            self.peak, self.peak_source = peak_flops(self.device, self.precision)
        if ddp.is_main and self.show_progress:
            peak = f"{self.peak / 1e9:,.0f} GFLOP/s" if self.peak else "unknown"
            console.print(
                f"[bold]{self.output.stage}[/] {mcfg.n_layers}×{mcfg.d_model} on {self.device} × "
                f"{ddp.world_size}, {self.precision}, {self.tokens_per_step:,} tokens/step ({cfg.batch_size} seq "
                f"× {self.n_micro} micro × {ddp.world_size} ranks), peak {peak} ({self.peak_source})"
            )

        self.start = time.perf_counter()
        self.last_log = {"time": self.start, "step": self.step, "tokens": self.tokens}
        self.loss_sum = torch.zeros((), device=self.device)  # summed step losses since the last row
        self.aux_sums: dict[str, torch.Tensor] = {}  # summed auxiliary-loss numbers since the last row
        self.bar = _progress(self.show_progress and ddp.is_main)
        self.task = self.bar.add_task(self.output.stage, total=1000, info="")
        # before the first step, so a run that is already done still logs a row with a sensible lr
        self.lr, self.grad_norm = lr_at(cfg, self.step, 0.0), None

    # ----------------------------------------------------------------------------------- each step

    def elapsed(self) -> float:
        """Seconds of training, the runs this one resumed included."""
        return self.elapsed_before + time.perf_counter() - self.start

    def progress_fraction(self, elapsed: float) -> float:
        """How far through the run: by steps, or by the clock with --max-time, whichever is further."""
        fractions = [self.step / self.max_steps] if self.max_steps else []
        if self.cfg.max_time:
            fractions.append(elapsed / self.cfg.max_time)
        return max(fractions)

    def done_fraction(self) -> float:
        """progress_fraction() now, as rank 0 sees it: the loop stops at 1."""
        done_fraction = self.progress_fraction(self.elapsed())
        if self.ddp.world_size > 1:  # every rank must agree on the lr and on when to stop
            shared = torch.tensor([done_fraction], device=self.device)
            dist.broadcast(shared, src=0)
            done_fraction = shared.item()
        return done_fraction

    def train_step(
        self, loss_fn: Callable[[torch.nn.Module, tuple], torch.Tensor], done_fraction: float
    ) -> None:
        """One optimizer step over `n_micro` micro-batches; a non-finite loss stops the run before it
        reaches the weights or a checkpoint."""
        cfg, ddp, model = self.cfg, self.ddp, self.model
        self.lr = lr_at(cfg, self.step, done_fraction)
        for group in self.optimizer.param_groups:
            group["lr"] = self.lr
        torch.manual_seed(cfg.seed * 1_000_003 + self.step * 1009 + ddp.rank)  # dropout, resumably
        model.train()
        step_tokens = 0  # tokens the model processed, padding included: what costs FLOPs
        step_loss = torch.zeros((), device=self.device)
        for micro in range(self.n_micro):
            batch = self.data.micro_batch(self.step, micro, self.n_micro, ddp.rank, ddp.world_size)
            batch = [t.to(self.device, non_blocking=True) for t in batch]
            # DDP all-reduces gradients on the last micro-batch only
            last = micro == self.n_micro - 1
            with model.no_sync() if ddp.world_size > 1 and not last else nullcontext():
                with autocast(self.device, self.precision):
                    loss = loss_fn(model, batch) / self.n_micro
                    aux_loss, aux_logged = take_aux_losses(self.raw_model)
                (loss if aux_loss is None else loss + aux_loss / self.n_micro).backward()
            step_loss += loss.detach()  # the task loss alone, comparable with a model that has no aux loss
            for name, value in aux_logged.items():
                self.aux_sums[name] = self.aux_sums.get(name, 0) + value / self.n_micro
            step_tokens += batch[0].numel()
        if not torch.isfinite(step_loss):
            latest = latest_step_checkpoint(self.output.out)
            kept = (
                f"the last good checkpoint is {latest.path} (--resume)"
                if latest
                else "no checkpoint was saved"
            )
            raise UserError(
                f"the loss became {step_loss.item()} at step {self.step + 1}; stopped, {kept}; try a lower --lr"
            )
        self.loss_sum += step_loss
        if cfg.grad_clip:
            self.grad_norm = torch.nn.utils.clip_grad_norm_(self.raw_model.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        self.tokens += step_tokens * ddp.world_size

    # ----------------------------------------------------------------------------------- logging, evaluation

    def log_row(self, run_eval: bool) -> None:
        """Append a metrics row: loss averaged over the steps since the last row and over ranks, lr,
        gradient norm, tokens/s, MFU; with `run_eval`, rank 0 evaluates into the same row."""
        if self.ddp.world_size > 1:
            dist.all_reduce(self.loss_sum)
            self.loss_sum.div_(self.ddp.world_size)
        seconds, steps_done = time.perf_counter() - self.last_log["time"], self.step - self.last_log["step"]
        tokens_done = self.tokens - self.last_log["tokens"]
        peak = self.peak
        if steps_done == 0 and self.metrics:  # nothing trained since the last row: only add the evaluation
            row = self.metrics.pop()
        else:
            row = {
                "step": self.step, "tokens": self.tokens,
                "loss": self.loss_sum.item() / steps_done if steps_done else None,
                "lr": self.lr, "grad_norm": None if self.grad_norm is None else float(self.grad_norm),
                "tokens_per_s": tokens_done / seconds if steps_done else None,
                "mfu": tokens_done * self.flops_per_rank_token / seconds / peak if peak and steps_done else None,
                "elapsed_s": self.elapsed(), "val_loss": None, "val_bpb": None,
            }  # fmt: skip
        self.loss_sum.zero_()
        for name, total in self.aux_sums.items():  # per step, averaged over ranks
            if self.ddp.world_size > 1:
                dist.all_reduce(total)
                total = total / self.ddp.world_size
            row[name] = (total / steps_done).tolist() if steps_done else None
        self.aux_sums = {}
        if run_eval and self.evaluate is not None and self.ddp.is_main and row["val_loss"] is None:
            self.evaluate_into(row)
        self.metrics.append(row)
        # evaluation time is not training time
        self.last_log.update(time=time.perf_counter(), step=self.step, tokens=self.tokens)
        self.show(row)

    def evaluate_into(self, row: dict) -> None:
        """Run `evaluate`: its numbers go into `row`, its texts (e.g. a sample generation) are printed
        and kept for the manifest."""
        result = self.evaluate(self.raw_model, self.precision)
        texts = {k: v for k, v in result.items() if isinstance(v, str)}
        row.update({k: v for k, v in result.items() if k not in texts})
        self.samples.extend({"step": self.step, key: text} for key, text in texts.items())
        if self.show_progress:
            if row["val_loss"] is not None:
                bpb = f", {row['val_bpb']:.4f} bits/byte" if row["val_bpb"] is not None else ""
                self.bar.console.print(f"step {self.step}: val loss {row['val_loss']:.4f}{bpb}")
            for key, text in texts.items():
                self.bar.console.print(f"[dim]step {self.step} {key}:[/] {text!r}", highlight=False)

    def show(self, row: dict) -> None:
        """The progress bar's line: step, loss, lr, tokens/s, MFU."""
        info = f"step {self.step}  loss {row['loss'] or 0:.4f}  lr {self.lr:.2e}"
        if row["tokens_per_s"]:
            info += f"  {row['tokens_per_s']:,.0f} tok/s"
        if row["mfu"] is not None:
            info += f"  MFU {row['mfu']:.1%}"
        completed = int(1000 * min(1.0, self.progress_fraction(row["elapsed_s"])))
        self.bar.update(self.task, completed=completed, info=info)

    # ----------------------------------------------------------------------------------- checkpoints, the end

    def save(self, final: bool, stats: dict | None = None) -> Path:
        """Write a step checkpoint (final=False) or the finished artifact at OUT (final=True); the
        optimizer state, step, tokens and training time go into trainer_state/."""
        output, model = self.output, self.raw_model
        progress = {"step": self.step, "tokens": self.tokens, "elapsed_s": self.elapsed()}
        folder = step_checkpoints_dir(output.out)
        target = output.out if final else folder / f"step-{progress['step']:08d}"
        weights, extra = model.weights(), {"duration_s": round(progress["elapsed_s"], 3)}
        if final and output.lora is not None:  # step checkpoints keep the adapters apart, for --resume
            weights, extra["lora"] = lora_checkpoint(weights, output.lora, output.inputs[0])
        save_checkpoint(
            target,
            weights,
            model.config.to_dict(),
            output.tokenizer_json,
            stage=output.stage,
            config=output.run_config,
            inputs=output.inputs,
            trainer_state={
                "optimizer": self.optimizer.state_dict(),
                **progress,
                **_extra_state(model, self.data),
            },
            metrics=self.metrics,
            counts={"step": progress["step"], "tokens": progress["tokens"]},
            stats=stats,
            extra=extra,  # the training time (resumed runs included); how LoRA was saved
            force=True,
        )
        if final:
            shutil.rmtree(folder, ignore_errors=True)
        else:
            for old in finished_step_checkpoints(output.out):  # keep only the newest
                if old != target:
                    shutil.rmtree(old, ignore_errors=True)
        return target

    def save_interrupted(self, why: BaseException) -> None:
        """Ctrl-C or SIGTERM: rank 0 saves a step checkpoint that --resume continues from."""
        if self.ddp.is_main:
            saved = self.save(final=False)
            how = "terminated (SIGTERM)" if isinstance(why, Terminated) else "interrupted"
            console.print(f"[yellow]{how} at step {self.step}[/]: saved {saved}; continue with --resume")

    def final_stats(self, extra_stats: dict | None) -> dict:
        """The manifest's stats: run size, final and best losses, median tokens/s and MFU, samples."""
        metrics = self.metrics
        train_rows = [r for r in metrics if r["tokens_per_s"]]
        resume_from = self.resume_from
        return {
            **(extra_stats or {}),
            "steps": self.step,
            "tokens": self.tokens,
            "tokens_per_step": self.tokens_per_step,
            "world_size": self.ddp.world_size,
            "device": str(self.device),
            "precision": self.precision,
            "final_loss": metrics[-1]["loss"] if metrics else None,
            "final_val_loss": next(
                (r["val_loss"] for r in reversed(metrics) if r["val_loss"] is not None), None
            ),
            "final_val_bpb": next(
                (r["val_bpb"] for r in reversed(metrics) if r["val_bpb"] is not None), None
            ),
            "best_val_loss": min((r["val_loss"] for r in metrics if r["val_loss"] is not None), default=None),
            "tokens_per_s": _median([r["tokens_per_s"] for r in train_rows]),
            "mfu": _median([r["mfu"] for r in train_rows if r["mfu"] is not None]),
            "peak_flops": self.peak,
            "peak_flops_source": self.peak_source,
            "flops_per_token": flops_per_token(self.mcfg),
            "train_s": round(self.elapsed(), 3),
            "resumed_from_step": resume_from.manifest.get("counts", {}).get("step") if resume_from else None,
            "samples": self.samples,
        }


def _raise_terminated(signum, frame) -> None:
    raise Terminated


def take_aux_losses(model: torch.nn.Module) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
    """The auxiliary losses that the transformers inside `model` (a policy, a value model) recorded
    in their training forwards, summed, and their numbers to log (`Transformer.take_aux_losses`)."""
    total, logged = None, {}
    for module in model.modules():
        if isinstance(module, Transformer):
            loss, numbers = module.take_aux_losses()
            if loss is not None:
                total = loss if total is None else total + loss
                logged.update(numbers)
    return total, logged


def lora_checkpoint(weights: dict, lora: LoraSettings, base) -> tuple[dict, dict]:
    """(the weights a LoRA run's final checkpoint holds, its manifest's `lora` record): the adapters
    merged (a plain model), or with `--lora-save adapter` only the adapters, and the base checkpoint's
    path and fingerprint, which loading it checks (llmkit.checkpoint)."""
    saved = adapter_weights(weights) if lora.save == "adapter" else merge_lora(weights, lora.scaling)
    record = {**asdict(lora), "base": base if isinstance(base, dict) else input_record(base)}
    return saved, record


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
