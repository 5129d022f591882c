"""`llmkit pretrain`: a tokens artifact (with its tokenizer) → a checkpoint artifact.

Reads the train split into one token stream, cuts it into windows of seq_len + 1 tokens in a seeded
order, and trains a `model.Transformer` with the shared loop in `train.loop` (through `train.runner`). Evaluates on the val
split (loss in nats per token and bits per byte, so runs with different tokenizers compare) and
prints a sample generation at each evaluation.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from llmkit.artifacts import open_artifact
from llmkit.defaults import stage_default
from llmkit.device import autocast
from llmkit.engine import SamplingConfig, generate
from llmkit.errors import UserError
from llmkit.model import Transformer, model_config, num_params
from llmkit.train.common import TrainConfig
from llmkit.train.runner import Stage, run_stage


def load_token_stream(tokens_dir: Path, split: str) -> np.ndarray:
    """All `input_ids` of one split of a tokens artifact, concatenated (documents end with <|endoftext|>)."""
    folder = tokens_dir / split
    if not folder.is_dir():
        return np.zeros(0, dtype=np.int32)
    art = open_artifact(folder)
    chunks = [batch.column("input_ids").flatten().to_numpy() for batch in art.iter_batches(["input_ids"])]
    return np.concatenate(chunks).astype(np.int32) if chunks else np.zeros(0, dtype=np.int32)


class TokenWindows:
    """Training windows of `seq_len + 1` tokens over one token stream, in a seeded order.

    Each epoch shifts the window grid by a seeded offset and visits the windows in a seeded
    permutation, so every token is seen once per epoch, with different context boundaries each time.
    The window of global sample number s is a pure function of (seed, s): resuming needs only the step.
    """

    def __init__(self, tokens: np.ndarray, seq_len: int, batch_size: int, seed: int):
        self.tokens = torch.from_numpy(tokens.astype(np.int64))
        self.seq_len, self.batch_size, self.seed = seq_len, batch_size, seed
        # one window fewer than fits, so every epoch's shifted grid still fits
        self.n_windows = (len(tokens) - 1) // seq_len - 1
        if self.n_windows < 1:
            raise UserError(
                f"the train split has {len(tokens):,} tokens: too few for windows of {seq_len} (+1) tokens; "
                "use more data or a smaller --seq-len"
            )
        self._epoch: tuple[int, int, np.ndarray] | None = None

    def _window_start(self, sample: int) -> int:
        epoch, index = divmod(sample, self.n_windows)
        if self._epoch is None or self._epoch[0] != epoch:
            rng = np.random.default_rng([self.seed, epoch])
            self._epoch = (epoch, int(rng.integers(self.seq_len)), rng.permutation(self.n_windows))
        _, shift, order = self._epoch
        return shift + int(order[index]) * self.seq_len

    def micro_batch(self, step: int, micro: int, n_micro: int, rank: int, world_size: int):
        """(inputs, targets), each (batch_size, seq_len). Rows are numbered step by step, micro-batch by
        micro-batch, rank by rank, so 2 ranks × 1 micro-batch see exactly what 1 rank × 2 micro-batches see."""
        first = (step * n_micro * world_size + micro * world_size + rank) * self.batch_size
        starts = [self._window_start(first + j) for j in range(self.batch_size)]
        rows = torch.stack([self.tokens[s : s + self.seq_len + 1] for s in starts])
        return rows[:, :-1], rows[:, 1:]

    def epoch_steps(self, rows_per_step: int) -> int:
        """Optimizer steps in one pass over the data, at `rows_per_step` sequences per step."""
        return max(1, self.n_windows // rows_per_step)


class Evaluator:
    """Validation loss on the first `max_tokens` of the val split, and a sample generation.

    Reports nats per token (`val_loss`), bits per UTF-8 byte (`val_bpb`) and nats per character
    (`val_nats_per_char`): the last two do not depend on the tokenizer.
    """

    def __init__(self, val: np.ndarray, seq_len: int, batch_size: int, max_tokens: int, tokenizer):
        n = min((len(val) - 1) // seq_len, max(1, max_tokens // seq_len))
        self.windows = torch.from_numpy(val[: n * seq_len + 1].astype(np.int64)) if n > 0 else None
        self.n, self.seq_len, self.batch_size, self.tokenizer = n, seq_len, batch_size, tokenizer
        if n > 0:
            text = tokenizer.decode(val[1 : n * seq_len + 1].tolist())  # exactly the predicted tokens
            self.n_bytes, self.n_chars = len(text.encode("utf-8")), len(text)

    @torch.no_grad()
    def __call__(self, model: Transformer, precision: str) -> dict:
        result: dict = {}
        device = next(model.parameters()).device
        model.eval()
        if self.windows is not None:
            total = 0.0
            for first in range(0, self.n, self.batch_size):
                idx = range(first, min(first + self.batch_size, self.n))
                rows = torch.stack([self.windows[i * self.seq_len : (i + 1) * self.seq_len + 1] for i in idx])
                rows = rows.to(device)
                with autocast(device, precision):
                    _, loss = model(rows[:, :-1], rows[:, 1:])
                total += loss.item() * rows[:, 1:].numel()
            result["val_loss"] = total / (self.n * self.seq_len)
            result["val_bpb"] = total / math.log(2) / self.n_bytes
            result["val_nats_per_char"] = total / self.n_chars
        tok = self.tokenizer
        sampling = SamplingConfig(max_new_tokens=48, temperature=0.8, top_k=40, seed=0)
        ids = generate(model, [[tok.eot_id]], sampling, stop_ids=[tok.eot_id])[0]
        result["sample"] = tok.decode([i for i in ids if i != tok.eot_id])
        model.train()
        return result


def run_pretrain(
    tokens_dir: str | Path,
    out_dir: str | Path,
    preset: str = stage_default("pretrain", "preset"),
    overrides: dict | None = None,
    train_config: TrainConfig | None = None,
    eval_tokens: int = stage_default("pretrain", "eval_tokens"),
    **run_options,
) -> dict | None:
    """Pretrain a `preset` model (with per-field `overrides`, e.g. {"n_layers": 2}) on a tokens artifact.

    Writes a checkpoint artifact to `out_dir` and returns its manifest (None on ranks other than 0).
    `nproc > 1` starts that many DistributedDataParallel processes here (as torchrun would); under
    torchrun each process calls this with nproc=1. `resume` continues an unfinished run at `out_dir`.
    `run_options` (nproc, config, force, resume, show_progress) are `train.runner.run_stage`'s.
    """
    return run_stage(
        build_pretrain, out_dir, train_config or TrainConfig.for_stage("pretrain"),
        tokens_dir=tokens_dir, preset=preset, overrides=overrides, eval_tokens=eval_tokens, **run_options,
    )  # fmt: skip


def build_pretrain(cfg: TrainConfig, nproc: int, tokens_dir, preset, overrides, eval_tokens) -> Stage:
    """Pretraining as the runner's Stage: a fresh model of the preset's shape, token windows, the LM loss."""
    from llmkit.tokenizer import load_tokenizer

    if eval_tokens < 0:
        raise UserError(f"--eval-tokens must be 0 or more (got {eval_tokens})")
    art = open_artifact(tokens_dir, kinds=["tokens"], allow_plain_parquet=False)
    tokenizer = load_tokenizer(art.path)
    mcfg = model_config(preset, tokenizer.vocab_size, **(overrides or {}))
    train_tokens = load_token_stream(art.path, "train")
    if len(train_tokens) and int(train_tokens.max()) >= tokenizer.vocab_size:
        raise UserError(
            f"{art.path} holds token id {int(train_tokens.max())}, outside its tokenizer's vocabulary "
            f"of {tokenizer.vocab_size}: the tokens and tokenizer.json do not belong together"
        )
    val_tokens = load_token_stream(art.path, "val")
    torch.manual_seed(cfg.seed)  # the same initial weights on every rank and every run
    return Stage(
        "pretrain",
        Transformer(mcfg),
        TokenWindows(train_tokens, mcfg.seq_len, cfg.batch_size, cfg.seed),
        inputs=[art.path],
        tokenizer_json=tokenizer.path,
        settings={"preset": preset, **mcfg.to_dict(), "eval_tokens": eval_tokens},
        evaluate=(
            Evaluator(val_tokens, mcfg.seq_len, cfg.batch_size, eval_tokens, tokenizer)
            if eval_tokens
            else None
        ),
        stats={
            "parameters": num_params(mcfg),
            "non_embedding_parameters": num_params(mcfg, embedding=False),
            "active_parameters": num_params(mcfg, active=True),  # per token: what FLOPs and MFU count
            "train_tokens_available": len(train_tokens),
            "val_tokens_available": len(val_tokens),
        },
    )
