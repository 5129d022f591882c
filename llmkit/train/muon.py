"""Muon: momentum, orthogonalized by Newton–Schulz iterations, for the hidden layers' matrices.

Keller Jordan's optimizer (2024), as the modded-nanoGPT speedruns use it: keep a Nesterov momentum of
the gradient, replace it by the nearest semi-orthogonal matrix (approximately, with five quintic
Newton–Schulz iterations), and step along that. Its update is scaled to AdamW's typical size,
0.2 · √max(rows, cols) (Moonlight's `match_rms_adamw`), so that one `--lr` and `--weight-decay` serve
both optimizers. Embeddings, the LM head and gains stay on AdamW (see `build_optimizer`).

Unlike `torch.optim.Muon`, which orthogonalizes one matrix at a time, matrices of the same shape are
stacked and orthogonalized in one batched call, optionally compiled: on a CPU that takes the
optimizer step of a 4 × 128 model from about 85 ms to 25 ms.

The iterations run in the run's resolved precision (`dtype`): bf16, as Keller Jordan's and torch's
do, only where the hardware has native bf16; fp32 elsewhere, since an emulated bf16 matmul on a CPU
is many times slower than an fp32 one (DESIGN.md, "Precision follows the hardware").
"""

from __future__ import annotations

from collections import defaultdict

import torch

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)  # maximize the slope at zero (Keller Jordan)


def newton_schulz(
    g: torch.Tensor, steps: int = 5, dtype: torch.dtype = torch.float32, eps: float = 1e-7
) -> torch.Tensor:
    """Approximately orthogonalize each matrix of a (batch, rows, cols) stack with rows ≤ cols;
    computed and returned in `dtype`."""
    a, b, c = NS_COEFFICIENTS
    x = g.to(dtype)
    x = x / (x.norm(dim=(-2, -1), keepdim=True) + eps)  # spectral norm ≤ Frobenius norm ≤ 1
    for _ in range(steps):
        gram = x @ x.mT
        x = a * x + (b * gram + c * (gram @ gram)) @ x
    return x


class Muon(torch.optim.Optimizer):
    """Muon for 2-D parameters; decoupled weight decay `lr · weight_decay`, as AdamW's.

    `dtype`: what the Newton–Schulz iterations compute in, from the run's resolved precision
    (llmkit.device.compute_dtype). Not saved in the state dict: a run resumed on other hardware
    iterates in that hardware's precision."""

    def __init__(
        self,
        params,
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        ns_steps: int = 5,
        compile: bool = False,
        dtype: torch.dtype = torch.float32,
    ):
        super().__init__(params, dict(lr=lr, weight_decay=weight_decay, momentum=momentum, ns_steps=ns_steps))
        if any(p.dim() != 2 for group in self.param_groups for p in group["params"]):
            raise ValueError("Muon takes matrices (2-D parameters) only")
        self.dtype = dtype
        self.orthogonalize = torch.compile(newton_schulz, dynamic=False) if compile else newton_schulz

    @torch.no_grad()
    def step(self, closure=None) -> None:
        for group in self.param_groups:
            by_shape: dict[tuple[int, int], list[torch.Tensor]] = defaultdict(list)
            for p in group["params"]:
                if p.grad is not None:
                    by_shape[tuple(sorted(p.shape))].append(p)  # a tall matrix joins its transpose's stack
            for shape, params in by_shape.items():
                self._step_stack(group, shape, params)

    def _step_stack(self, group: dict, shape: tuple[int, int], params: list[torch.Tensor]) -> None:
        grads = [p.grad for p in params]
        bufs = []
        for p in params:
            state = self.state[p]
            if "momentum_buffer" not in state:
                state["momentum_buffer"] = torch.zeros_like(p)
            bufs.append(state["momentum_buffer"])
        torch._foreach_lerp_(bufs, grads, 1 - group["momentum"])
        # Nesterov: the update looks ahead along the momentum
        nesterov = [g.lerp(b, group["momentum"]) for g, b in zip(grads, bufs, strict=True)]
        tall = [p.size(0) > p.size(1) for p in params]  # stacked as their transposes
        wide = [u.mT if t else u for u, t in zip(nesterov, tall, strict=True)]
        ortho = self.orthogonalize(torch.stack(wide), group["ns_steps"], self.dtype).unbind(0)
        updates = [o.mT if t else o for o, t in zip(ortho, tall, strict=True)]
        torch._foreach_mul_(params, 1 - group["lr"] * group["weight_decay"])
        scale = 0.2 * max(shape) ** 0.5  # AdamW's update RMS (Moonlight)
        torch._foreach_add_(
            params, [u.to(p.dtype) for u, p in zip(updates, params, strict=True)], alpha=-group["lr"] * scale
        )
