"""`llmkit train-reward` and `llmkit score`: a reward model from preference pairs, and scoring with it.

The reward model is the transformer backbone plus a scalar head read at the final token of the
response (its <|im_end|>), initialised from an SFT checkpoint (InstructGPT). It is trained with the
Bradley–Terry loss −log σ(r_chosen − r_rejected − margin), plus an optional penalty
`center · (r_chosen + r_rejected)²` that keeps rewards centred on zero. Validation reports
pairwise accuracy and the mean margin on held-out pairs (and on a slice of the training pairs).

The model with its score head is `llmkit.model.RewardModel`; checkpoints open through `llmkit.checkpoint`.
"""

from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F

from llmkit.checkpoint import load_reward_model, reward_model_from_lm
from llmkit.data.importers import read_records
from llmkit.defaults import stage_default
from llmkit.device import autocast
from llmkit.engine import pad, reward_scores
from llmkit.errors import UserError
from llmkit.lora import add_lora
from llmkit.model import RewardModel
from llmkit.train.chat_data import (
    ExampleOrder,
    encode_pairs,
    preference_metrics,
    set_epoch_steps,
    split_by_id,
)
from llmkit.train.common import TrainConfig
from llmkit.train.runner import Stage, run_stage


def pair_tensors(pairs: list[tuple], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Chosen and rejected sequences interleaved (row 2i chosen, 2i + 1 rejected), right-padded, and the
    index of each row's last token."""
    rows = [seq for chosen, rejected, _ in pairs for seq in (chosen, rejected)]
    return pad(rows, pad_id), torch.tensor([len(r) - 1 for r in rows])


class PairBatches:
    """Reward-model batches: (ids, last) of `batch_size` pairs, in a seeded order."""

    def __init__(self, pairs: list[tuple], pad_id: int, batch_size: int, seed: int):
        self.pairs, self.pad_id, self.batch_size = pairs, pad_id, batch_size
        self.order = ExampleOrder(len(pairs), seed)

    def micro_batch(self, step, micro, n_micro, rank, world_size):
        picked = [
            self.pairs[i] for i in self.order.samples(step, micro, n_micro, rank, world_size, self.batch_size)
        ]
        return pair_tensors(picked, self.pad_id)

    def epoch_steps(self, rows_per_step: int) -> int:
        return self.order.epoch_steps(rows_per_step)


def bradley_terry_loss(margin: float = 0.0, center: float = 0.0):
    """The loss function the training loop calls: −log σ(r_c − r_r − margin) + center · (r_c + r_r)²."""

    def loss_fn(model, batch) -> torch.Tensor:
        rewards = model(*batch)
        chosen, rejected = rewards[0::2], rewards[1::2]
        loss = -F.logsigmoid(chosen - rejected - margin).mean()
        if center:
            loss = loss + center * ((chosen + rejected) ** 2).mean()
        return loss

    return loss_fn


@torch.no_grad()
def pair_scores(
    model: RewardModel, pairs: list[tuple], pad_id: int, batch_size: int, precision: str = "fp32"
) -> torch.Tensor:
    """(n, 2) rewards of each pair's chosen and rejected response."""
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(pairs), batch_size):
        ids, last = pair_tensors(pairs[i : i + batch_size], pad_id)
        with autocast(device, precision):
            out.append(model(ids.to(device), last.to(device)).view(-1, 2).cpu())
    return torch.cat(out) if out else torch.zeros(0, 2)


class RewardEvaluator:
    """Pairwise accuracy, mean margin and loss on held-out pairs, and accuracy on a slice of the training pairs."""

    def __init__(self, val_pairs, train_pairs, pad_id: int, batch_size: int, train_slice: int = 256):
        self.val, self.train, self.pad_id, self.batch_size = (
            val_pairs,
            train_pairs[:train_slice],
            pad_id,
            batch_size,
        )

    def __call__(self, model, precision: str) -> dict:
        model.eval()
        result = {}
        for name, pairs in (("val", self.val), ("train", self.train)):
            if pairs:
                result |= preference_metrics(
                    name, pair_scores(model, pairs, self.pad_id, self.batch_size, precision)
                )
        model.train()
        return result


def run_train_reward(
    sft: str | Path,
    prefs: str | Path,
    out_dir: str | Path,
    train_config: TrainConfig | None = None,
    epochs: float = stage_default("train-reward", "epochs"),
    margin: float = stage_default("train-reward", "margin"),
    center: float = stage_default("train-reward", "center"),
    val_fraction: float = stage_default("train-reward", "val_fraction"),
    data_format: str = "auto",
    **run_options,
) -> dict | None:
    """Train a reward model from the checkpoint `sft` on preference pairs (a prefs artifact or JSONL).

    Writes a checkpoint artifact with the score head to `out_dir`; returns its manifest (None on
    ranks other than 0). Held-out accuracy and margin are in metrics.parquet and the manifest.
    `run_options` (nproc, config, force, resume, show_progress) are `train.runner.run_stage`'s.
    """
    return run_stage(
        build_train_reward, out_dir, train_config or TrainConfig.for_stage("train-reward"),
        sft=sft, prefs=prefs, epochs=epochs, margin=margin, center=center, val_fraction=val_fraction,
        data_format=data_format, **run_options,
    )  # fmt: skip


def build_train_reward(cfg: TrainConfig, nproc: int, sft, prefs, epochs, margin, center, val_fraction,
                       data_format, lora=None) -> Stage:  # fmt: skip
    """Reward-model training as the runner's Stage: the SFT backbone with a fresh score head, pairs as
    batches, the Bradley–Terry loss."""
    model, tokenizer, ckpt = reward_model_from_lm(sft, cfg.seed)
    add_lora(model, lora, cfg.seed)  # with LoRA the new score head still trains in full (llmkit/lora.py)
    records, rejected_rows = read_records(prefs, "prefs", data_format)
    train_records, val_records = split_by_id(records, val_fraction)
    train_pairs, dropped = encode_pairs(train_records, tokenizer, model.config.seq_len)
    val_pairs, _ = encode_pairs(val_records, tokenizer, model.config.seq_len)
    if not train_pairs:
        raise UserError(
            f"no preference pair fits the context of {model.config.seq_len} tokens ({dict(dropped)})"
        )
    set_epoch_steps(cfg, epochs, len(train_pairs), nproc)
    return Stage(
        "train-reward",
        model,
        PairBatches(train_pairs, tokenizer.pad_id, cfg.batch_size, cfg.seed),
        inputs=[ckpt.path, Path(prefs)],
        tokenizer_json=tokenizer.path,
        settings={"epochs": epochs, "margin": margin, "center": center, "val_fraction": val_fraction},
        loss_fn=bradley_terry_loss(margin, center),
        evaluate=RewardEvaluator(val_pairs, train_pairs, tokenizer.pad_id, cfg.batch_size),
        stats={
            "pairs": len(records),
            "rejected_rows": rejected_rows,
            "train_pairs": len(train_pairs),
            "val_pairs": len(val_pairs),
            "dropped": dict(dropped),
        },
    )


def score_chats(
    reward_model: str | Path,
    chats: str | Path,
    data_format: str = "auto",
    batch_size: int = 16,
    device: str = "auto",
) -> list[dict]:
    """Reward of each conversation's last assistant turn: [{"id", "prompt", "response", "reward"}]."""
    from llmkit.train.sft import last_assistant_prompt

    rm, tokenizer, _ = load_reward_model(reward_model, device)
    records, _ = read_records(chats, "chat", data_format)
    rows = [
        {"id": r["id"], "messages": split[0], "response": split[1]}
        for r in records
        if (split := last_assistant_prompt(r["messages"])) is not None
    ]
    scores = reward_scores(
        rm, tokenizer, [r["messages"] for r in rows], [r["response"] for r in rows], batch_size
    )
    scored = [
        {
            "id": r["id"],
            "prompt": r["messages"][-1]["content"] if r["messages"] else "",
            "response": r["response"],
            "reward": float(s),
        }
        for r, s in zip(rows, scores, strict=True)
        if not torch.isnan(s)
    ]
    if not scored:
        raise UserError(f"{chats}: no conversation with an assistant turn that fits the context")
    return scored
