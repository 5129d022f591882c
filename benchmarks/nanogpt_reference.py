"""The reference for benchmarks/pretrain.py's quality run: nanoGPT's CPU recipe for tinyshakespeare.

nanoGPT's README trains a character-level GPT on a CPU with `config/train_shakespeare_char.py` plus
`--device=cpu --compile=False --block_size=64 --batch_size=12 --n_layer=4 --n_head=4 --n_embd=128
--dropout=0.0`: a 4 × 128 GPT-2 block stack (pre-LayerNorm without biases, GELU MLP of 4× width,
learned positions, tied embeddings), AdamW (lr 1e-3, betas 0.9/0.99, weight decay 0.1 on matrices),
100 warm-up steps, cosine decay to 1e-4, gradient clipping at 1.0. This module re-implements that
recipe from those published hyper-parameters (no code copied), with the cosine sized to a wall-clock
budget instead of a step count, so both sides of the benchmark get the same seconds.

Validation: nats per character over the whole last 10% of the text (nanoGPT's split), each position
predicted from up to `block_size` previous characters (non-overlapping windows).
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

RECIPE = dict(
    n_layers=4, n_heads=4, d_model=128, block_size=64, batch_size=12, lr=1e-3, min_lr=1e-4,
    betas=(0.9, 0.99), weight_decay=0.1, warmup_steps=100, grad_clip=1.0,
)  # fmt: skip


class Block(nn.Module):
    def __init__(self, d: int, heads: int):
        super().__init__()
        self.heads = heads
        self.ln1, self.ln2 = nn.LayerNorm(d, bias=False), nn.LayerNorm(d, bias=False)
        self.qkv, self.proj = nn.Linear(d, 3 * d, bias=False), nn.Linear(d, d, bias=False)
        self.up, self.down = nn.Linear(d, 4 * d, bias=False), nn.Linear(4 * d, d, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(d, dim=2)
        q, k, v = (z.view(b, t, self.heads, d // self.heads).transpose(1, 2) for z in (q, k, v))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True).transpose(1, 2).reshape(b, t, d)
        x = x + self.proj(y)
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class CharGPT(nn.Module):
    def __init__(self, vocab: int, n_layers: int, n_heads: int, d_model: int, block_size: int):
        super().__init__()
        self.tok, self.pos = nn.Embedding(vocab, d_model), nn.Embedding(block_size, d_model)
        self.blocks = nn.ModuleList(Block(d_model, n_heads) for _ in range(n_layers))
        self.ln = nn.LayerNorm(d_model, bias=False)
        self.head = nn.Linear(d_model, vocab, bias=False)
        self.head.weight = self.tok.weight  # tied
        for name, p in self.named_parameters():
            if p.dim() == 2:  # GPT-2 init; the residual projections scaled by depth
                std = (
                    0.02 / math.sqrt(2 * n_layers) if name.endswith(("proj.weight", "down.weight")) else 0.02
                )
                nn.init.normal_(p, 0.0, std)

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = self.tok(idx) + self.pos(torch.arange(idx.shape[1]))
        for block in self.blocks:
            x = block(x)
        return self.head(self.ln(x))


def train(text: str, budget_s: float, seed: int = 1337) -> dict:
    """Train nanoGPT's CPU recipe on `text` for `budget_s` seconds; val nats/char on the last 10%."""
    r = RECIPE
    torch.manual_seed(seed)
    chars = sorted(set(text))
    index = {c: i for i, c in enumerate(chars)}
    data = torch.tensor([index[c] for c in text], dtype=torch.long)
    split = int(0.9 * len(data))
    train_data, val_data = data[:split], data[split:]
    model = CharGPT(len(chars), r["n_layers"], r["n_heads"], r["d_model"], r["block_size"])
    decay = [p for p in model.parameters() if p.dim() >= 2]
    no_decay = [p for p in model.parameters() if p.dim() < 2]
    optimizer = torch.optim.AdamW(
        [{"params": decay, "weight_decay": r["weight_decay"]}, {"params": no_decay, "weight_decay": 0.0}],
        lr=r["lr"], betas=r["betas"],
    )  # fmt: skip
    t, bs = r["block_size"], r["batch_size"]
    steps, start = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - start) < budget_s:
        if steps < r["warmup_steps"]:
            lr = r["lr"] * (steps + 1) / r["warmup_steps"]
        else:  # cosine over the wall-clock budget
            lr = r["min_lr"] + 0.5 * (r["lr"] - r["min_lr"]) * (
                1 + math.cos(math.pi * min(1.0, elapsed / budget_s))
            )
        for group in optimizer.param_groups:
            group["lr"] = lr
        ix = torch.randint(len(train_data) - t - 1, (bs,))
        x = torch.stack([train_data[i : i + t] for i in ix])
        y = torch.stack([train_data[i + 1 : i + t + 1] for i in ix])
        loss = F.cross_entropy(model(x).view(-1, len(chars)), y.view(-1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), r["grad_clip"])
        optimizer.step()
        steps += 1
    train_s = time.perf_counter() - start
    return {
        "recipe": {**r, "betas": list(r["betas"])},
        "parameters": sum(p.numel() for p in model.parameters()),
        "steps": steps,
        "train_s": round(train_s, 1),
        "tokens_per_s": round(steps * bs * t / train_s),
        "val_nats_per_char": val_nats_per_char(model, val_data, t),
    }


@torch.no_grad()
def val_nats_per_char(model: CharGPT, val: torch.Tensor, block_size: int) -> float:
    model.eval()
    total, count = 0.0, 0
    windows = (len(val) - 1) // block_size
    x = val[: windows * block_size].view(windows, block_size)
    y = val[1 : windows * block_size + 1].view(windows, block_size)
    for i in range(0, windows, 256):
        logits = model(x[i : i + 256])
        total += F.cross_entropy(
            logits.reshape(-1, logits.shape[-1]), y[i : i + 256].reshape(-1), reduction="sum"
        ).item()
        count += y[i : i + 256].numel()
    return total / count
