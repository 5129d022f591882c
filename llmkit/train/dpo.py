"""`llmkit dpo`: direct preference optimisation of an SFT checkpoint on preference pairs.

The policy starts as the SFT model; the reference is the same SFT model, frozen. With log-ratios
ρ = log π(y|x) − log π_ref(y|x) summed over the response tokens (and its <|im_end|>), the sigmoid
DPO loss (Rafailov et al. 2023) is −log σ(β · (ρ_chosen − ρ_rejected)). The implicit reward of a
response is β · ρ; validation reports how often the chosen response's implicit reward is higher
(implicit-reward accuracy) and by how much (margin).

The reference log-probabilities never change, so they are computed once, before training.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from llmkit.checkpoint import load_model
from llmkit.data.importers import read_records
from llmkit.defaults import stage_default
from llmkit.device import autocast, resolve_device, resolve_precision
from llmkit.engine import sequence_logprobs
from llmkit.errors import UserError
from llmkit.lora import add_lora
from llmkit.train.chat_data import (
    IGNORE,
    ExampleOrder,
    encode_pairs,
    pad,
    pair_rows,
    preference_metrics,
    set_epoch_steps,
    split_by_id,
)
from llmkit.train.common import TrainConfig
from llmkit.train.runner import Stage, run_stage


def pair_batch(pairs: list[tuple], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(inputs, targets) of pairs, chosen and rejected interleaved (rows 2i, 2i + 1), loss on responses only."""
    inputs, targets = [], []
    for pair in pairs:
        ins, tgts = pair_rows(pair)
        inputs += ins
        targets += tgts
    return pad(inputs, pad_id), pad(targets, IGNORE)


@torch.no_grad()
def response_logps(
    model, pairs: list[tuple], pad_id: int, batch_size: int, precision: str = "fp32"
) -> torch.Tensor:
    """(n, 2) summed log-probabilities of each pair's chosen and rejected response under `model`."""
    device = next(model.parameters()).device
    model.eval()
    out = []
    for i in range(0, len(pairs), batch_size):
        inputs, targets = pair_batch(pairs[i : i + batch_size], pad_id)
        with autocast(device, precision):
            out.append(sequence_logprobs(model, inputs.to(device), targets.to(device)).view(-1, 2).cpu())
    return torch.cat(out) if out else torch.zeros(0, 2)


class DPOBatches:
    """(inputs, targets, reference log-probs (B, 2)) of `batch_size` pairs, in a seeded order."""

    def __init__(self, pairs, ref_logps: torch.Tensor, pad_id: int, batch_size: int, seed: int):
        self.pairs, self.ref, self.pad_id, self.batch_size = pairs, ref_logps, pad_id, batch_size
        self.order = ExampleOrder(len(pairs), seed)

    def micro_batch(self, step, micro, n_micro, rank, world_size):
        idx = self.order.samples(step, micro, n_micro, rank, world_size, self.batch_size)
        inputs, targets = pair_batch([self.pairs[i] for i in idx], self.pad_id)
        return inputs, targets, self.ref[idx]

    def epoch_steps(self, rows_per_step: int) -> int:
        return self.order.epoch_steps(rows_per_step)


def dpo_loss(beta: float):
    """The loss the training loop calls: −log σ(β · ((π_c − ref_c) − (π_r − ref_r)))."""

    def loss_fn(model, batch) -> torch.Tensor:
        inputs, targets, ref = batch
        logps = sequence_logprobs(model, inputs, targets).view(-1, 2)
        return -F.logsigmoid(beta * ((logps - ref) @ torch.tensor([1.0, -1.0], device=ref.device))).mean()

    return loss_fn


class DPOEvaluator:
    """Implicit-reward accuracy and margin, and the DPO loss, on held-out pairs and a slice of training pairs."""

    def __init__(self, beta, val_pairs, val_ref, train_pairs, train_ref, pad_id, batch_size, train_slice=128):
        self.beta, self.pad_id, self.batch_size = beta, pad_id, batch_size
        self.sets = {
            "val": (val_pairs, val_ref),
            "train": (train_pairs[:train_slice], train_ref[:train_slice]),
        }

    def __call__(self, model, precision: str) -> dict:
        result = {}
        for name, (pairs, ref) in self.sets.items():
            if pairs:
                logps = response_logps(model, pairs, self.pad_id, self.batch_size, precision)
                result |= preference_metrics(name, self.beta * (logps - ref))  # implicit rewards
        model.train()
        return result


def run_dpo(
    sft: str | Path,
    prefs: str | Path,
    out_dir: str | Path,
    train_config: TrainConfig | None = None,
    beta: float = stage_default("dpo", "beta"),
    epochs: float = stage_default("dpo", "epochs"),
    val_fraction: float = stage_default("dpo", "val_fraction"),
    data_format: str = "auto",
    **run_options,
) -> dict | None:
    """DPO-train the checkpoint `sft` on preference pairs (a prefs artifact or JSONL) → a policy checkpoint.

    Returns the manifest (None on ranks other than 0). The implicit-reward accuracy and margins of
    the SFT model itself (before any update) are recorded as `initial_*` in the manifest.
    `run_options` (nproc, config, force, resume, show_progress) are `train.runner.run_stage`'s.
    """
    return run_stage(
        build_dpo, out_dir, train_config or TrainConfig.for_stage("dpo"),
        sft=sft, prefs=prefs, beta=beta, epochs=epochs, val_fraction=val_fraction, data_format=data_format, **run_options,
    )  # fmt: skip


def build_dpo(cfg: TrainConfig, nproc: int, sft, prefs, beta, epochs, val_fraction, data_format, lora=None) -> Stage:
    """DPO as the runner's Stage: the SFT model as policy (with LoRA adapters if `lora`), its frozen
    log-probs as the reference (computed before training, when the adapters' B = 0 leaves it the base)."""
    if beta <= 0:
        raise UserError(f"--beta must be greater than 0 (got {beta})")
    model, tokenizer, ckpt = load_model(sft, device="cpu")
    add_lora(model, lora, cfg.seed)
    records, rejected_rows = read_records(prefs, "prefs", data_format)
    train_records, val_records = split_by_id(records, val_fraction)
    max_len = model.config.seq_len + 1
    train_pairs, dropped = encode_pairs(train_records, tokenizer, max_len)
    val_pairs, _ = encode_pairs(val_records, tokenizer, max_len)
    if not train_pairs:
        raise UserError(
            f"no preference pair fits the context of {model.config.seq_len} tokens ({dict(dropped)})"
        )
    set_epoch_steps(cfg, epochs, len(train_pairs), nproc)
    # the frozen reference, computed where and as the policy's log-probs will be (device, precision):
    # in fp32 beside a bf16 policy, the log-ratio would start at rounding noise summed over the answer
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    model.to(device)
    train_ref = response_logps(model, train_pairs, tokenizer.pad_id, cfg.batch_size, precision)
    val_ref = response_logps(model, val_pairs, tokenizer.pad_id, cfg.batch_size, precision)
    evaluate = DPOEvaluator(
        beta, val_pairs, val_ref, train_pairs, train_ref, tokenizer.pad_id, cfg.batch_size
    )
    return Stage(
        "dpo",
        model,
        DPOBatches(train_pairs, train_ref, tokenizer.pad_id, cfg.batch_size, cfg.seed),
        inputs=[ckpt.path, Path(prefs)],
        tokenizer_json=tokenizer.path,
        settings={"beta": beta, "epochs": epochs, "val_fraction": val_fraction},
        loss_fn=dpo_loss(beta),
        evaluate=evaluate,
        stats={
            "pairs": len(records),
            "rejected_rows": rejected_rows,
            "train_pairs": len(train_pairs),
            "val_pairs": len(val_pairs),
            "dropped": dict(dropped),
        },
        # the policy equals the reference: margins 0, the baseline accuracy
        before_training=lambda: {f"initial_{k}": v for k, v in evaluate(model, precision).items()},
    )
