"""`llmkit train-reward` and `llmkit score`: a reward model from preference pairs, and scoring with it.

The reward model is the transformer backbone plus a scalar head read at the final token of the
response (its <|im_end|>), initialised from an SFT checkpoint (InstructGPT). It is trained with the
Bradley–Terry loss −log σ(r_chosen − r_rejected − margin), plus an optional penalty
`center · (r_chosen + r_rejected)²` that keeps rewards centred on zero. Validation reports
pairwise accuracy and the mean margin on held-out pairs (and on a slice of the training pairs).

A reward checkpoint is an ordinary checkpoint whose weights also hold `score.weight`.
"""

from __future__ import annotations

import math
import os
from dataclasses import asdict
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from llmkit.artifacts import open_checkpoint, read_manifest
from llmkit.data.importers import read_records
from llmkit.errors import UserError
from llmkit.model import ModelConfig, Transformer
from llmkit.train.chat_data import (
    ExampleOrder,
    encode_pairs,
    pad,
    preference_metrics,
    set_epoch_steps,
    split_by_id,
)
from llmkit.train.common import (
    Output,
    TrainConfig,
    autocast,
    check_output,
    launch,
    load_model,
    resolve_device,
    train,
)

SCORE_WEIGHT = "score.weight"


class RewardModel(Transformer):
    """A transformer whose output is one scalar per sequence: `score` applied to the hidden state at `last`."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.score = nn.Linear(cfg.d_model, 1, bias=False)
        nn.init.normal_(self.score.weight, std=1 / math.sqrt(cfg.d_model + 1))  # InstructGPT's head init

    def forward(self, idx: torch.Tensor, last: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Rewards (B,) for right-padded ids (B, T), read at each row's index `last` (B,)."""
        hidden = self.hidden_states(idx)
        return self.score(hidden[torch.arange(idx.size(0), device=idx.device), last]).squeeze(-1).float()


def reward_model_from_lm(path: str | Path, seed: int = 0) -> tuple[RewardModel, object, object]:
    """A reward model whose backbone is the language model checkpoint at `path` (a fresh score head)."""
    lm, tokenizer, ckpt = load_model(path, device="cpu")
    torch.manual_seed(seed)  # the score head's initialisation, reproducibly
    rm = RewardModel(lm.config)
    missing, unexpected = rm.load_state_dict(lm.state_dict(), strict=False)
    assert missing == [SCORE_WEIGHT] and not unexpected, (missing, unexpected)
    return rm, tokenizer, ckpt


def load_reward_model(path: str | Path, device: str = "auto") -> tuple[RewardModel, object, object]:
    """(reward model in eval mode, its tokenizer, the Checkpoint) from a `train-reward` checkpoint."""
    from llmkit.tokenizer import load_tokenizer

    ckpt = open_checkpoint(path)
    weights = ckpt.weights()
    if SCORE_WEIGHT not in weights:
        raise UserError(
            f"{ckpt.path} is not a reward model (no score head); train one with `llmkit train-reward`"
        )
    rm = RewardModel(ModelConfig.from_dict(ckpt.model_config))
    rm.load_weights(weights)
    tokenizer = load_tokenizer(ckpt.tokenizer_path)
    if tokenizer.vocab_size != rm.config.vocab_size:
        raise UserError(f"tokenizer/checkpoint vocabulary mismatch in {ckpt.path}")
    return rm.to(resolve_device(device)).eval(), tokenizer, ckpt


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
    epochs: float = 2.0,
    margin: float = 0.0,
    center: float = 0.0,
    val_fraction: float = 0.1,
    data_format: str = "auto",
    nproc: int = 1,
    config: dict | None = None,
    force: bool = False,
    resume: bool = False,
    show_progress: bool = True,
) -> dict | None:
    """Train a reward model from the checkpoint `sft` on preference pairs (a prefs artifact or JSONL).

    Writes a checkpoint artifact with the score head to `out_dir`; returns its manifest (None on
    ranks other than 0). Held-out accuracy and margin are in metrics.parquet and the manifest.
    """
    cfg = (train_config or TrainConfig(lr=1e-4, warmup_steps=10, eval_every=50, batch_size=8)).validate()
    model, tokenizer, ckpt = reward_model_from_lm(sft, cfg.seed)
    records, rejected_rows = read_records(prefs, "prefs", data_format)
    train_records, val_records = split_by_id(records, val_fraction)
    train_pairs, dropped = encode_pairs(train_records, tokenizer, model.config.seq_len)
    val_pairs, _ = encode_pairs(val_records, tokenizer, model.config.seq_len)
    if not train_pairs:
        raise UserError(
            f"no preference pair fits the context of {model.config.seq_len} tokens ({dict(dropped)})"
        )
    data = PairBatches(train_pairs, tokenizer.pad_id, cfg.batch_size, cfg.seed)
    set_epoch_steps(cfg, epochs, len(train_pairs), nproc)
    run_config = {
        **asdict(cfg),
        "epochs": epochs,
        "margin": margin,
        "center": center,
        "val_fraction": val_fraction,
        **(config or {}),
    }
    output = Output(
        Path(out_dir),
        "train-reward",
        run_config,
        [ckpt.path, Path(prefs)],
        tokenizer.path,
        force=force,
        resume=resume,
    )
    resume_from = check_output(output)
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        launch(
            nproc,
            run_train_reward,
            sft,
            prefs,
            out_dir,
            cfg,
            epochs,
            margin,
            center,
            val_fraction,
            data_format,
            1,
            config,
            force,
            resume,
            show_progress,
        )
        return read_manifest(out_dir)
    return train(
        model,
        data,
        cfg,
        output,
        loss_fn=bradley_terry_loss(margin, center),
        evaluate=RewardEvaluator(val_pairs, train_pairs, tokenizer.pad_id, cfg.batch_size),
        resume_from=resume_from,
        show_progress=show_progress,
        extra_stats={
            "pairs": len(records),
            "rejected_rows": rejected_rows,
            "train_pairs": len(train_pairs),
            "val_pairs": len(val_pairs),
            "dropped": dict(dropped),
        },
    )


@torch.no_grad()
def score_answers(rm: RewardModel, tokenizer, prompts: list[list[dict]], answers: list[str], batch_size: int = 16,
                  precision: str = "fp32") -> torch.Tensor:  # fmt: skip
    """The reward of each answer to its prompt (messages), read at the answer's <|im_end|>: (n,) float.

    A prompt too long is cut from the left; an answer that cannot fit the reward model's context at
    all gets NaN, for the caller to skip or count.
    """
    device = next(rm.parameters()).device
    seqs = []
    for prompt, answer in zip(prompts, answers, strict=True):
        encoded, _ = encode_pairs(
            [{"prompt": prompt, "chosen": answer, "rejected": ""}], tokenizer, rm.config.seq_len
        )
        seqs.append(encoded[0][0] if encoded else None)
    scores = torch.full((len(seqs),), float("nan"))
    fits = [i for i, seq in enumerate(seqs) if seq is not None]
    for start in range(0, len(fits), batch_size):
        idx = fits[start : start + batch_size]
        rows = [seqs[i] for i in idx]
        last = torch.tensor([len(r) - 1 for r in rows], device=device)
        with autocast(device, precision):
            scores[idx] = rm(pad(rows, tokenizer.pad_id).to(device), last).float().cpu()
    return scores


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
    scores = score_answers(
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
