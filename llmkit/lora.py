"""Low-rank adapters (LoRA, Hu et al. 2021) for the post-training stages: `--lora-rank r` trains, beside
each frozen target matrix W, a pair A (r × in), B (out × r), and the layer computes
W x + (alpha / r) · B A dropout(x). B starts at zero, so training starts from the base model exactly.

The adapters are peft's (`inject_adapter_in_model`): it wraps llmkit's `nn.Linear` layers in place
and leaves the model an llmkit `Transformer`, so the one training loop, its resume and DDP, and every
stage's loss work unchanged; only the adapters (and a reward or value model's new score head) have
`requires_grad`, so the optimizer holds only them. What peft does not do for a model that is not a
transformers `PreTrainedModel` is done here, on the state dict: `merge_lora` folds the adapters into
the weights (the finished checkpoint stays a plain model), and `adapter_weights` keeps just the
adapters (`--lora-save adapter`). `adapters_off` is the reference model of DPO/PPO/GRPO: the same
module with its adapters bypassed, so no second copy of the weights is held.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass

import torch
from torch import nn

from llmkit.defaults import stage_default
from llmkit.errors import UserError

LORA_SAVES = ("merged", "adapter")
TRAINED_IN_FULL = ("score",)  # heads a stage adds (reward, value model): new, so trained whole


@dataclass
class LoraSettings:
    rank: int
    alpha: float = stage_default("lora", "lora_alpha")  # the update is scaled by alpha / rank
    dropout: float = stage_default("lora", "lora_dropout")  # on the adapter's input, while training
    targets: str = stage_default("lora", "lora_targets")  # names of the linear layers that get adapters
    save: str = stage_default("lora", "lora_save")  # merged: a plain checkpoint; adapter: only the adapters

    @property
    def scaling(self) -> float:
        return self.alpha / self.rank

    @property
    def target_names(self) -> list[str]:
        return [t.strip() for t in self.targets.split(",") if t.strip()]

    def validate(self) -> LoraSettings:
        if self.rank <= 0:
            raise UserError(f"--lora-rank must be greater than 0 (got {self.rank})")
        if self.alpha <= 0:
            raise UserError(f"--lora-alpha must be greater than 0 (got {self.alpha})")
        if not 0 <= self.dropout < 1:
            raise UserError(f"--lora-dropout must be in [0, 1) (got {self.dropout})")
        if not self.target_names:
            raise UserError("--lora-targets names no layer")
        if self.save not in LORA_SAVES:
            raise UserError(f"--lora-save must be one of {', '.join(LORA_SAVES)} (got {self.save!r})")
        return self


def target_layers(model: nn.Module) -> set[str]:
    """The names (last part) of the linear layers inside the transformer blocks: what --lora-targets
    may name (the LM head shares its weight with the embedding in tied models, so it is not one)."""
    return {
        name.rsplit(".", 1)[-1]
        for name, module in model.named_modules()
        if isinstance(module, nn.Linear) and ".layers." in f".{name}"
    }


def add_lora(model: nn.Module, lora: LoraSettings | None, seed: int = 0) -> nn.Module:
    """Freeze `model` and give each target linear layer an adapter, in place; returns `model`. With
    `lora` None, the model is returned untouched (full fine-tuning). A target that names no layer is a
    UserError, before anything is trained. The adapters' A matrices are drawn from `seed` (the run's),
    so a run is reproducible whatever the process did before."""
    if lora is None:
        return model
    from peft import LoraConfig, inject_adapter_in_model

    available = target_layers(model)
    unknown = [t for t in lora.validate().target_names if t not in available]
    if unknown:
        raise UserError(
            f"--lora-targets {','.join(unknown)} matches no layer of the model (its layers: {', '.join(sorted(available))})"
        )
    config = LoraConfig(
        r=lora.rank,
        lora_alpha=lora.alpha,
        lora_dropout=lora.dropout,
        target_modules=lora.target_names,
        bias="none",
    )
    with torch.random.fork_rng(devices=[]):  # leaves the caller's RNG as it was
        torch.manual_seed(seed)
        inject_adapter_in_model(config, model)
    for name, p in model.named_parameters():
        trained = "lora_" in name or any(f"{head}." in f".{name}" for head in TRAINED_IN_FULL)
        p.requires_grad_(trained)
    return model


def trainable_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


@contextmanager
def adapters_disabled(model: nn.Module):
    """Within the block, every adapter of `model` is bypassed: it computes as the base model."""
    from peft.tuners.tuners_utils import BaseTunerLayer

    layers = [m for m in model.modules() if isinstance(m, BaseTunerLayer)]
    for layer in layers:
        layer.enable_adapters(False)
    try:
        yield
    finally:
        for layer in layers:
            layer.enable_adapters(True)


class adapters_off:  # noqa: N801 (used like a model: `reference(ids)`)
    """A LoRA model seen as its base model (the frozen reference of DPO, PPO and GRPO): calling it runs
    `model` with the adapters bypassed and without gradients. It shares the weights; nothing is copied."""

    def __init__(self, model: nn.Module):
        self.model = model

    @torch.no_grad()
    def __call__(self, *args, **kwargs):
        with adapters_disabled(self.model):
            return self.model(*args, **kwargs)


# peft's names inside a wrapped layer `prefix`: prefix.base_layer.{weight,bias}, prefix.lora_A.default.weight, ...
BASE, LORA_A, LORA_B = ".base_layer.", ".lora_A.default.weight", ".lora_B.default.weight"


def is_lora_state(state: dict) -> bool:
    return any(name.endswith(LORA_A) for name in state)


def merge_lora(state: dict[str, torch.Tensor], scaling: float) -> dict[str, torch.Tensor]:
    """A LoRA model's state dict as the plain model's: W + scaling · B A for every adapted layer, and
    peft's names back to llmkit's (`q_proj.base_layer.weight` → `q_proj.weight`)."""
    merged = {}
    for name, tensor in state.items():
        if name.endswith((LORA_A, LORA_B)):
            continue
        if name.endswith(BASE + "weight"):
            prefix = name.removesuffix(BASE + "weight")
            delta = state[prefix + LORA_B].float() @ state[prefix + LORA_A].float()
            tensor = (tensor.float() + scaling * delta).to(tensor.dtype)
        merged[name.replace(BASE, ".")] = tensor
    return merged


def adapter_weights(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Just the adapters (and a fully trained head) of a LoRA model's state dict (`--lora-save adapter`)."""
    return {
        name: t
        for name, t in state.items()
        if name.endswith((LORA_A, LORA_B)) or any(name.startswith(f"{head}.") for head in TRAINED_IN_FULL)
    }


def apply_adapter(base: dict[str, torch.Tensor], adapter: dict[str, torch.Tensor], scaling: float) -> dict:
    """The merged weights of a base model's state dict and an adapter (`adapter_weights`) trained on it."""
    state = dict(base)
    for name in adapter:
        if name.endswith(LORA_A):
            prefix = name.removesuffix(LORA_A)
            weight = state.pop(prefix + ".weight")
            state[prefix + BASE + "weight"] = weight
            if prefix + ".bias" in state:
                state[prefix + BASE + "bias"] = state.pop(prefix + ".bias")
    return merge_lora({**state, **adapter}, scaling)
