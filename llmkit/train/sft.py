"""`llmkit sft`: a base checkpoint + conversations → a chat checkpoint.

Each conversation is rendered in the chat template (tokenizer.py) and trained with the loss on the
assistant's tokens only: its answers and their <|im_end|>, so the model learns to answer in the
template and to stop. No packing (see chat_data.py). Validation reports the masked loss on held-out
conversations and the stop rate: the fraction of held-out prompts whose greedy answer ends with
<|im_end|> within `stop_tokens` tokens.
"""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path

import torch

from llmkit.artifacts import read_manifest
from llmkit.data.importers import read_records
from llmkit.errors import UserError
from llmkit.sampling import SamplingConfig, generate
from llmkit.train.chat_data import ChatBatches, encode_chats, lm_rows, pad, set_epoch_steps, split_by_id
from llmkit.train.common import Output, TrainConfig, autocast, check_output, launch, load_model, train


def last_assistant_prompt(messages: list[dict]) -> tuple[list[dict], str] | None:
    """The conversation up to its last assistant turn, and that turn's text (None if it has none)."""
    for i in range(len(messages) - 1, -1, -1):
        if messages[i]["role"] == "assistant":
            return messages[:i], messages[i]["content"]
    return None


class ChatEvaluator:
    """Masked loss on held-out conversations, the stop rate of greedy answers, and one sample answer."""

    def __init__(
        self,
        val_examples,
        val_records,
        tokenizer,
        batch_size: int,
        stop_tokens: int = 64,
        n_prompts: int = 16,
    ):
        self.examples, self.tokenizer, self.batch_size, self.stop_tokens = (
            val_examples,
            tokenizer,
            batch_size,
            stop_tokens,
        )
        prompts = [last_assistant_prompt(r["messages"]) for r in val_records[:n_prompts]]
        self.prompts = [p for p, _ in filter(None, prompts) if p]

    @torch.no_grad()
    def __call__(self, model, precision: str) -> dict:
        tok = self.tokenizer
        device = next(model.parameters()).device
        model.eval()
        result: dict = {}
        if self.examples:
            total, count = 0.0, 0
            for i in range(0, len(self.examples), self.batch_size):
                rows = [lm_rows(*e) for e in self.examples[i : i + self.batch_size]]
                inputs, targets = (
                    pad([r[0] for r in rows], tok.pad_id).to(device),
                    pad([r[1] for r in rows], -100).to(device),
                )
                with autocast(device, precision):
                    _, loss = model(inputs, targets)
                n = int((targets != -100).sum())
                total, count = total + loss.item() * n, count + n
            result["val_loss"] = total / max(1, count)
        if self.prompts:
            room = model.config.seq_len - self.stop_tokens
            ids = [tok.render_chat(p, add_generation_prompt=True)[0][-room:] for p in self.prompts]
            outs = generate(
                model,
                ids,
                SamplingConfig(max_new_tokens=self.stop_tokens, temperature=0.0),
                stop_ids=[tok.im_end_id, tok.eot_id],
            )
            result["stop_rate"] = sum(bool(o) and o[-1] == tok.im_end_id for o in outs) / len(outs)
            result["sample"] = (
                f"{self.prompts[0][-1]['content']!r} → {tok.decode([t for t in outs[0] if t != tok.im_end_id])!r}"
            )
        model.train()
        return result


def run_sft(
    base: str | Path,
    chats: str | Path,
    out_dir: str | Path,
    train_config: TrainConfig | None = None,
    epochs: float = 3.0,
    val_fraction: float = 0.05,
    long: str = "truncate",
    data_format: str = "auto",
    nproc: int = 1,
    config: dict | None = None,
    force: bool = False,
    resume: bool = False,
    show_progress: bool = True,
) -> dict | None:
    """Fine-tune the checkpoint `base` on conversations (a chat artifact or a JSONL file in any chat format).

    Runs `epochs` passes over the training conversations unless the train config sets a limit. Writes
    a checkpoint artifact to `out_dir`; returns its manifest (None on ranks other than 0).
    """
    cfg = (train_config or TrainConfig(lr=3e-4, warmup_steps=10, eval_every=50)).validate()
    model, tokenizer, ckpt = load_model(base, device="cpu")
    records, rejected = read_records(chats, "chat", data_format)
    train_records, val_records = split_by_id(records, val_fraction)
    max_len = model.config.seq_len + 1  # inputs are the first seq_len tokens, targets the last
    train_examples, dropped = encode_chats(train_records, tokenizer, max_len, long)
    val_examples, _ = encode_chats(val_records, tokenizer, max_len, long)
    if not train_examples:
        raise UserError(
            f"no conversation fits the context of {model.config.seq_len} tokens ({dict(dropped)})"
        )
    data = ChatBatches(train_examples, tokenizer.pad_id, cfg.batch_size, cfg.seed)
    set_epoch_steps(cfg, epochs, len(train_examples), nproc)
    run_config = {
        **asdict(cfg),
        "epochs": epochs,
        "val_fraction": val_fraction,
        "long": long,
        **(config or {}),
    }
    output = Output(
        Path(out_dir), "sft", run_config, [ckpt.path, Path(chats)], tokenizer.path, force=force, resume=resume
    )
    resume_from = check_output(output)
    if nproc > 1 and "WORLD_SIZE" not in os.environ:
        launch(
            nproc,
            run_sft,
            base,
            chats,
            out_dir,
            cfg,
            epochs,
            val_fraction,
            long,
            data_format,
            1,
            config,
            force,
            resume,
            show_progress,
        )
        return read_manifest(out_dir)
    evaluate = ChatEvaluator(val_examples, val_records, tokenizer, cfg.batch_size)
    n_tokens = sum(len(ids) for ids, _ in train_examples)
    return train(
        model,
        data,
        cfg,
        output,
        evaluate=evaluate,
        resume_from=resume_from,
        show_progress=show_progress,
        extra_stats={
            "conversations": len(records),
            "rejected_rows": rejected,
            "train_conversations": len(train_examples),
            "val_conversations": len(val_examples),
            "dropped": dict(dropped),
            "train_tokens_per_epoch": n_tokens,
            "assistant_tokens_per_epoch": sum(sum(m[1:]) for _, m in train_examples),
            "packing": False,
        },
    )
