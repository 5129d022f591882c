"""Post-training data: conversations and preference pairs, encoded in the chat template, in batches.

Conversations and pairs are encoded once, up front (post-training sets are small), then served by
the shared training loop as a deterministic function of the step, as pretraining's windows are:
global sample number s → item `order.item(s)`, a seeded permutation per epoch.

No packing: each conversation is its own row, right-padded with <|pad|> to the longest row of its
micro-batch, with the loss masked on padding and on everything but assistant tokens. Attention never
crosses conversations, and padding costs little on short chat data.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass

import numpy as np
import torch

from llmkit.engine import IGNORE, answer_sequences, pad
from llmkit.errors import UserError


def split_by_id(records: list[dict], val_fraction: float) -> tuple[list[dict], list[dict]]:
    """(train, val) by a stable hash of each record's id — the same rule `tokenize` uses."""
    from llmkit.tokenizer import in_val_split

    if not 0 <= val_fraction < 1:
        raise UserError(f"--val-fraction must be in [0, 1) (got {val_fraction})")
    val = [r for r in records if in_val_split(r["id"], val_fraction)]
    train = [r for r in records if not in_val_split(r["id"], val_fraction)]
    if not train:
        raise UserError(f"no training examples left after holding out --val-fraction {val_fraction}")
    return train, val


def encode_chats(
    records: list[dict], tokenizer, max_len: int, long: str = "truncate"
) -> tuple[list[tuple], Counter]:
    """(ids, assistant mask) per conversation, at most `max_len` tokens; returns (examples, dropped per reason).

    Longer conversations are cut to their first `max_len` tokens (`long="truncate"`) or dropped
    (`"drop"`); one with no assistant token left is dropped either way.
    """
    if long not in ("truncate", "drop"):
        raise UserError(f"--long must be truncate or drop (got {long!r})")
    examples, dropped = [], Counter()
    for r in records:
        ids, mask = tokenizer.render_chat(r["messages"], tools=r.get("tools"))
        if len(ids) > max_len:
            if long == "drop":
                dropped["too_long"] += 1
                continue
            ids, mask = ids[:max_len], mask[:max_len]
        if sum(mask[1:]) == 0:
            dropped["no_assistant_tokens"] += 1
            continue
        examples.append((ids, mask))
    return examples, dropped


def encode_pairs(records: list[dict], tokenizer, max_len: int) -> tuple[list[tuple], Counter]:
    """Per pair: (chosen ids, rejected ids, response start) in the chat template, at most `max_len` tokens.

    Both sequences are the prompt with the assistant's generation prompt, then the response and its
    <|im_end|>; the response starts at the same index in both. A prompt too long is cut from the left
    (the end of a conversation matters most); a pair whose responses alone do not fit is dropped.
    """
    pairs, dropped = [], Counter()
    for r in records:
        encoded = answer_sequences(tokenizer, r["prompt"], [r["chosen"], r["rejected"]], max_len)
        if encoded is None:
            dropped["response_too_long"] += 1
            continue
        (chosen, rejected), start = encoded
        pairs.append((chosen, rejected, start))
    return pairs, dropped


class ExampleOrder:
    """Global sample number → example index: a seeded permutation per epoch, so resuming needs only the step."""

    def __init__(self, n: int, seed: int):
        if n < 1:
            raise UserError("no examples to train on")
        self.n, self.seed = n, seed
        self._epoch: tuple[int, np.ndarray] | None = None

    def item(self, sample: int) -> int:
        epoch, index = divmod(sample, self.n)
        if self._epoch is None or self._epoch[0] != epoch:
            self._epoch = (epoch, np.random.default_rng([self.seed, epoch]).permutation(self.n))
        return int(self._epoch[1][index])

    def samples(
        self, step: int, micro: int, n_micro: int, rank: int, world_size: int, batch_size: int
    ) -> list[int]:
        """Example indices of one micro-batch; numbered as pretraining numbers its windows, so 2 ranks ×
        1 micro-batch see exactly what 1 rank × 2 micro-batches see."""
        first = (step * n_micro * world_size + micro * world_size + rank) * batch_size
        return [self.item(first + j) for j in range(batch_size)]

    def epoch_steps(self, rows_per_step: int) -> int:
        return max(1, self.n // rows_per_step)


def set_epoch_steps(cfg, epochs: float, n_examples: int, nproc: int = 1) -> None:
    """Without a --max-steps/--max-tokens/--max-time limit, train for `epochs` passes over the examples."""
    if epochs <= 0:
        raise UserError(f"--epochs must be greater than 0 (got {epochs})")
    if cfg.max_steps is None and cfg.max_tokens is None and cfg.max_time is None:
        world = int(os.environ.get("WORLD_SIZE", nproc))
        cfg.max_steps = max(1, round(epochs * max(1, n_examples // (cfg.batch_size * world))))


def lm_rows(ids: list[int], loss_from: list[int]) -> tuple[list[int], list[int]]:
    """Inputs and targets of one sequence for next-token training; targets are IGNORE where
    `loss_from[t + 1]` is 0 (the token at t + 1 is not one the model should learn to produce)."""
    targets = [t if m else IGNORE for t, m in zip(ids[1:], loss_from[1:], strict=True)]
    return ids[:-1], targets


@dataclass
class ChatBatches:
    """SFT batches: (inputs, targets) with the loss on assistant tokens only."""

    examples: list[tuple]
    pad_id: int
    batch_size: int
    seed: int

    def __post_init__(self):
        self.order = ExampleOrder(len(self.examples), self.seed)

    def micro_batch(self, step, micro, n_micro, rank, world_size):
        rows = [
            lm_rows(*self.examples[i])
            for i in self.order.samples(step, micro, n_micro, rank, world_size, self.batch_size)
        ]
        return pad([r[0] for r in rows], self.pad_id), pad([r[1] for r in rows], IGNORE)

    def epoch_steps(self, rows_per_step: int) -> int:
        return self.order.epoch_steps(rows_per_step)


def pair_rows(pair: tuple) -> tuple[list[list[int]], list[list[int]]]:
    """Inputs and targets of a pair's two sequences (chosen first), the loss on the response only."""
    chosen, rejected, start = pair
    rows = [lm_rows(seq, [0] * start + [1] * (len(seq) - start)) for seq in (chosen, rejected)]
    return [r[0] for r in rows], [r[1] for r in rows]


def preference_metrics(split: str, rewards: torch.Tensor) -> dict:
    """Pairwise accuracy and mean margin of (n, 2) chosen/rejected rewards, and for `val` the
    Bradley–Terry / DPO loss −log σ(margin): what the reward and DPO evaluators report."""
    margin = rewards[:, 0] - rewards[:, 1]
    result = {
        f"{split}_accuracy": (margin > 0).float().mean().item(),
        f"{split}_margin": margin.mean().item(),
    }
    if split == "val":
        result["val_loss"] = -torch.nn.functional.logsigmoid(margin).mean().item()
    return result
