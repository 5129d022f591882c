"""`llmkit sft`: a base checkpoint + conversations → a chat checkpoint.

Each conversation is rendered in the chat template (tokenizer.py) and trained with the loss on the
assistant's tokens only: its answers and their <|im_end|>, so the model learns to answer in the
template and to stop. No packing (see chat_data.py). Validation reports the masked loss on held-out
conversations and the stop rate: the fraction of held-out prompts whose greedy answer ends with
<|im_end|> within `stop_tokens` tokens.
"""

from __future__ import annotations

from pathlib import Path

import torch

from llmkit.checkpoint import load_model
from llmkit.data.importers import read_records
from llmkit.defaults import stage_default
from llmkit.device import autocast
from llmkit.engine import SamplingConfig, complete_chats, pad
from llmkit.errors import UserError
from llmkit.lora import LoraSettings, add_lora
from llmkit.train.chat_data import ChatBatches, encode_chats, lm_rows, set_epoch_steps, split_by_id
from llmkit.train.common import TrainConfig
from llmkit.train.distill import check_distillation_settings, with_teacher
from llmkit.train.runner import Stage, run_stage


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
            sampling = SamplingConfig(max_new_tokens=self.stop_tokens, temperature=0.0)
            answers = complete_chats(model, tok, self.prompts, sampling)
            result["stop_rate"] = sum(a.stop_id == tok.im_end_id for a in answers) / len(answers)
            result["sample"] = f"{self.prompts[0][-1]['content']!r} → {answers[0].text!r}"
        model.train()
        return result


def run_sft(
    base: str | Path,
    chats: str | Path,
    out_dir: str | Path,
    train_config: TrainConfig | None = None,
    epochs: float = stage_default("sft", "epochs"),
    val_fraction: float = stage_default("sft", "val_fraction"),
    long: str = stage_default("sft", "long"),
    data_format: str = "auto",
    teacher: str | Path | None = None,
    temperature: float = stage_default("distill", "temperature"),
    alpha: float = stage_default("distill", "alpha"),
    **run_options,
) -> dict | None:
    """Fine-tune the checkpoint `base` on conversations (a chat artifact or a JSONL file in any chat format).

    Runs `epochs` passes over the training conversations unless the train config sets a limit. Writes
    a checkpoint artifact to `out_dir`; returns its manifest (None on ranks other than 0).
    With a `teacher` checkpoint the loss on the assistant tokens is `train.distill`'s, with `temperature`
    and `alpha`. `run_options` (nproc, config, force, resume, show_progress) are `train.runner.run_stage`'s.
    """
    if teacher is not None:
        check_distillation_settings(temperature, alpha)  # before anything is loaded
    return run_stage(
        build_sft, out_dir, train_config or TrainConfig.for_stage("sft"),
        base=base, chats=chats, epochs=epochs, val_fraction=val_fraction, long=long, data_format=data_format,
        teacher=teacher, temperature=temperature, alpha=alpha, **run_options,
    )  # fmt: skip


def build_sft(
    cfg: TrainConfig, nproc: int, base, chats, epochs, val_fraction, long, data_format, teacher=None, temperature=1.0, alpha=0.5,
    lora: LoraSettings | None = None,
) -> Stage:
    """SFT as the runner's Stage: the base model (with LoRA adapters if `lora`), its conversations as
    batches, the masked LM loss."""
    model, tokenizer, ckpt = load_model(base, device="cpu")
    add_lora(model, lora, cfg.seed)
    records, rejected = read_records(chats, "chat", data_format)
    train_records, val_records = split_by_id(records, val_fraction)
    max_len = model.config.seq_len + 1  # inputs are the first seq_len tokens, targets the last
    train_examples, dropped = encode_chats(train_records, tokenizer, max_len, long)
    val_examples, _ = encode_chats(val_records, tokenizer, max_len, long)
    if not train_examples:
        raise UserError(
            f"no conversation fits the context of {model.config.seq_len} tokens ({dict(dropped)})"
        )
    set_epoch_steps(cfg, epochs, len(train_examples), nproc)
    stage = Stage(
        "sft",
        model,
        ChatBatches(train_examples, tokenizer.pad_id, cfg.batch_size, cfg.seed),
        inputs=[ckpt.path, Path(chats)],
        tokenizer_json=tokenizer.path,
        settings={"epochs": epochs, "val_fraction": val_fraction, "long": long},
        evaluate=ChatEvaluator(val_examples, val_records, tokenizer, cfg.batch_size),
        stats={
            "conversations": len(records),
            "rejected_rows": rejected,
            "train_conversations": len(train_examples),
            "val_conversations": len(val_examples),
            "dropped": dict(dropped),
            "train_tokens_per_epoch": sum(len(ids) for ids, _ in train_examples),
            "assistant_tokens_per_epoch": sum(sum(m[1:]) for _, m in train_examples),
            "packing": False,
        },
    )
    return with_teacher(stage, teacher, temperature, alpha, tokenizer, str(base)) if teacher else stage
