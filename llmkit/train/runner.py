"""The one runner every training stage goes through: build → output/resume check → processes → train.

A stage describes itself as a `Stage` (its model, batch source, loss, evaluator, inputs and
settings) from a `build(cfg, nproc, **settings)` function; `run_stage` does the rest the same way for
every stage: it records the resolved configuration, decides where the run starts (a fresh output, or
`--resume` from the newest step checkpoint), starts `nproc` processes when asked (each builds the
stage again and trains its share), and hands everything to the training loop.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from torch import nn

from llmkit.artifacts import read_manifest
from llmkit.errors import UserError
from llmkit.lora import LoraSettings
from llmkit.train.common import (
    BatchSource,
    Output,
    TrainConfig,
    check_output,
    is_main_process,
    launch,
    lm_loss,
)
from llmkit.train.loop import train


@dataclass
class Stage:
    """What a training stage gives the runner."""

    name: str  # the stage's command name, recorded in the manifest (`sft`, `dpo`, ...)
    model: nn.Module
    data: BatchSource
    inputs: list  # paths (or input records) whose fingerprints the manifest keeps and --resume checks
    tokenizer_json: Path
    settings: dict  # the stage's own resolved settings, recorded in the manifest's config
    loss_fn: Callable = lm_loss
    evaluate: Callable | None = None
    stats: dict = field(default_factory=dict)  # counts for the manifest (examples, dropped, ...)
    # measured on rank 0 before the first step (e.g. the starting policy's held-out accuracy); its
    # numbers go into the manifest's stats next to `stats`
    before_training: Callable[[], dict] | None = None
    # FLOPs per trained token besides the model's own (a distillation teacher's forward), for MFU
    extra_flops_per_token: int = 0


def run_stage(
    build: Callable[..., Stage],
    out_dir: str | Path,
    train_config: TrainConfig,
    *,
    nproc: int = 1,
    config: dict | None = None,
    force: bool = False,
    resume: bool = False,
    show_progress: bool = True,
    lora: LoraSettings | None = None,
    **settings,
) -> dict | None:
    """Build the stage with `build(cfg, nproc, **settings)` and train it into the checkpoint artifact
    `out_dir`; returns its manifest (None on ranks other than 0).

    `config` is what the user gave (the CLI's options), recorded under the resolved values. With
    `nproc` > 1 (and not already under torchrun) `nproc` processes are started here, each running
    this function again with nproc=1. `lora`: train low-rank adapters instead of the whole model
    (the stage's build applies them; llmkit/lora.py), merged into the saved checkpoint or kept apart.
    """
    if nproc < 1:
        raise UserError(f"--nproc must be greater than 0 (got {nproc})")
    cfg = replace(train_config).validate()  # a copy: stages may derive steps or batch size in it
    stage = build(cfg, nproc, **settings, **({"lora": lora.validate()} if lora else {}))
    run_config = {**(config or {}), **asdict(cfg), **stage.settings}  # the resolved values win
    if lora:
        run_config["lora"] = asdict(lora)
    output = Output(
        Path(out_dir), stage.name, run_config, stage.inputs, stage.tokenizer_json, force=force, resume=resume,
        lora=lora,
    )  # fmt: skip
    resume_from = check_output(output)
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        del stage  # each process builds its own: free this one's models (a reference on GPU 0, say)
        options = dict(config=config, force=force, resume=resume, show_progress=show_progress, lora=lora, **settings)
        launch(nproc, _run_in_process, build, out_dir, cfg, options)
        return read_manifest(out_dir)
    before = stage.before_training() if stage.before_training and is_main_process() else {}
    return train(
        stage.model,
        stage.data,
        cfg,
        output,
        loss_fn=stage.loss_fn,
        evaluate=stage.evaluate,
        resume_from=resume_from,
        show_progress=show_progress,
        extra_stats={**stage.stats, **before},
        extra_flops_per_token=stage.extra_flops_per_token,
    )


def _run_in_process(build, out_dir, cfg: TrainConfig, options: dict) -> None:
    """One of `launch`'s processes: the same run (the environment says which rank it is)."""
    run_stage(build, out_dir, cfg, nproc=1, **options)
