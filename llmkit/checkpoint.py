"""Open a checkpoint into a model: the one way every stage (training, eval, generate, chat, score,
serve) turns a checkpoint folder into a model, its tokenizer and its manifest.

A checkpoint opens with a language-model head (`load_model`) or a score head (`load_reward_model`,
for `train-reward` checkpoints, which also hold `score.weight`); `reward_model_from_lm` starts a
reward model from a language model's backbone. A LoRA adapter saved apart opens as its base with the
adapter merged (`checkpoint_weights`).
"""

from __future__ import annotations

from pathlib import Path

import torch

from llmkit.artifacts import fingerprint
from llmkit.checkpoint_files import Checkpoint, open_checkpoint
from llmkit.device import resolve_device
from llmkit.errors import UserError
from llmkit.lora import apply_adapter
from llmkit.model import ModelConfig, RewardModel, Transformer
from llmkit.tokenizer import Tokenizer, load_tokenizer

SCORE_WEIGHT = "score.weight"


def load_checkpoint(
    path: str | Path, device: str = "auto", head: str = "lm"
) -> tuple[Transformer, Tokenizer, Checkpoint]:
    """(model in eval mode on `device`, its tokenizer, the Checkpoint) for the checkpoint at `path`.

    `head`: "lm" for a language model, "score" for a reward model (a checkpoint without a score head
    is then a UserError). The tokenizer is the checkpoint's own tokenizer.json; one whose vocabulary
    size differs from the model's embedding table is a UserError (a checkpoint assembled from
    mismatched parts).
    """
    ckpt = open_checkpoint(path)
    mcfg = ModelConfig.from_dict(ckpt.model_config)
    tokenizer = load_tokenizer(ckpt.tokenizer_path)
    if tokenizer.vocab_size != mcfg.vocab_size:
        raise UserError(
            f"tokenizer/checkpoint vocabulary mismatch in {ckpt.path}: tokenizer.json has {tokenizer.vocab_size:,} "
            f"tokens, the model's vocab_size is {mcfg.vocab_size:,}"
        )
    weights = checkpoint_weights(ckpt)
    if head == "score":
        if SCORE_WEIGHT not in weights:
            raise UserError(
                f"{ckpt.path} is not a reward model (no score head); train one with `llmkit train-reward`"
            )
        model: Transformer = RewardModel(mcfg)
    else:
        model = Transformer(mcfg)
    model.load_weights(weights)
    return model.to(resolve_device(device)).eval(), tokenizer, ckpt


def checkpoint_weights(ckpt: Checkpoint) -> dict:
    """A checkpoint's weights (name → tensor): its model.safetensors, or, for a LoRA adapter saved apart
    (`--lora-save adapter`), its base checkpoint's weights with the adapter merged in. The base must be
    where it was and unchanged (its fingerprint is checked), else the adapter would fit other weights."""
    lora = ckpt.manifest.get("lora") or {}
    if lora.get("save") != "adapter":
        return ckpt.weights()
    base = lora["base"]
    if not Path(base["path"]).is_dir():
        raise UserError(f"{ckpt.path} is a LoRA adapter of {base['path']}, which no longer exists")
    if fingerprint(base["path"]) != base["fingerprint"]:
        raise UserError(
            f"{ckpt.path} is a LoRA adapter of {base['path']}, which has changed since (fingerprint mismatch)"
        )
    return apply_adapter(checkpoint_weights(open_checkpoint(base["path"])), ckpt.weights(), lora["alpha"] / lora["rank"])


def load_model(path: str | Path, device: str = "auto") -> tuple[Transformer, Tokenizer, Checkpoint]:
    """A language-model checkpoint: (model in eval mode on `device`, tokenizer, Checkpoint)."""
    return load_checkpoint(path, device, head="lm")


def load_reward_model(path: str | Path, device: str = "auto") -> tuple[RewardModel, Tokenizer, Checkpoint]:
    """A `train-reward` checkpoint: (reward model in eval mode on `device`, tokenizer, Checkpoint)."""
    return load_checkpoint(path, device, head="score")  # type: ignore[return-value]


def reward_model_from_lm(path: str | Path, seed: int = 0) -> tuple[RewardModel, Tokenizer, Checkpoint]:
    """A reward model (on the CPU) whose backbone is the language model checkpoint at `path`, with a
    fresh score head initialised from `seed`."""
    lm, tokenizer, ckpt = load_model(path, device="cpu")
    torch.manual_seed(seed)  # the score head's initialisation, reproducibly
    rm = RewardModel(lm.config)
    missing, unexpected = rm.load_state_dict(lm.state_dict(), strict=False)
    assert missing == [SCORE_WEIGHT] and not unexpected, (missing, unexpected)
    return rm, tokenizer, ckpt
