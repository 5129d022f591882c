"""A Llama-family decoder-only transformer, top to bottom.

token embedding → N × [RMSNorm → causal self-attention (RoPE, grouped-query heads, SDPA) → residual
→ RMSNorm → SwiGLU MLP → residual] → RMSNorm → LM head. No biases anywhere.

Parameter names follow Hugging Face `LlamaForCausalLM` (`embed_tokens`, `layers.N.self_attn.q_proj`,
`mlp.gate_proj`, `input_layernorm`, ...) and RoPE uses its rotate-half convention, so exporting a
checkpoint is a rename of the `model.` prefix, with no weight permutation.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, fields

import torch
import torch.nn.functional as F
from torch import nn

from llmkit.errors import UserError


@dataclass
class ModelConfig:
    vocab_size: int = 512
    seq_len: int = 256  # the context length the model is trained for
    n_layers: int = 4
    d_model: int = 128
    n_heads: int = 4
    n_kv_heads: int = 2  # grouped-query attention: each K/V head serves n_heads / n_kv_heads query heads
    ffn_hidden: int = 384  # SwiGLU hidden size (Llama uses about 8/3 · d_model)
    rope_theta: float = 10000.0
    norm_eps: float = 1e-5
    tie_embeddings: bool = True
    dropout: float = 0.0  # on attention probabilities and residual branches, while training only

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> ModelConfig:
        """Build from a config.json dict; unknown keys are an error (a checkpoint from another tool)."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(d) - known)
        if unknown:
            raise UserError(f"model config has unknown fields: {', '.join(unknown)}")
        return cls(**d).validate()

    def validate(self) -> ModelConfig:
        for name in ("vocab_size", "seq_len", "n_layers", "d_model", "n_heads", "n_kv_heads", "ffn_hidden"):
            if getattr(self, name) <= 0:
                raise UserError(
                    f"--{name.replace('_', '-')} must be greater than 0 (got {getattr(self, name)})"
                )
        if self.d_model % self.n_heads:
            raise UserError(f"--d-model {self.d_model} is not divisible by --n-heads {self.n_heads}")
        if self.n_heads % self.n_kv_heads:
            raise UserError(f"--n-heads {self.n_heads} is not divisible by --n-kv-heads {self.n_kv_heads}")
        if self.head_dim % 2:
            raise UserError(f"head size d_model / n_heads = {self.head_dim} must be even for RoPE")
        if not 0.0 <= self.dropout < 1.0:
            raise UserError(f"--dropout must be in [0, 1) (got {self.dropout})")
        return self


# Named sizes (parameter counts with a 4,096-token vocabulary and tied embeddings, except as noted).
PRESETS: dict[str, dict] = {
    # ≈ 1M: for tests and the demo.
    "tiny": dict(n_layers=4, d_model=128, n_heads=4, n_kv_heads=2, ffn_hidden=384, seq_len=256),
    # ≈ 10M: nanoGPT's Shakespeare shape (6 × 384), the CPU benchmark model.
    "small": dict(n_layers=6, d_model=384, n_heads=6, n_kv_heads=6, ffn_hidden=1024, seq_len=256),
    # ≈ 120M with a 32k vocabulary: GPT-2 small's shape.
    "base": dict(n_layers=12, d_model=768, n_heads=12, n_kv_heads=12, ffn_hidden=2048, seq_len=1024),
    # ≈ 350M with a 32k vocabulary.
    "medium": dict(n_layers=24, d_model=1024, n_heads=16, n_kv_heads=8, ffn_hidden=2816, seq_len=2048),
    # ≈ 1.1B with a 32k vocabulary: TinyLlama's shape.
    "large": dict(
        n_layers=22,
        d_model=2048,
        n_heads=32,
        n_kv_heads=4,
        ffn_hidden=5632,
        seq_len=2048,
        tie_embeddings=False,
    ),
}


def model_config(preset: str, vocab_size: int, **overrides) -> ModelConfig:
    """A preset's config with `vocab_size` and any non-None per-field `overrides` applied."""
    if preset not in PRESETS:
        raise UserError(f"unknown preset {preset!r} (presets: {', '.join(PRESETS)})")
    values = {**PRESETS[preset], **{k: v for k, v in overrides.items() if v is not None}}
    return ModelConfig(vocab_size=vocab_size, **values).validate()


def num_params(cfg: ModelConfig, embedding: bool = True) -> int:
    """Parameter count, computed from the config; `embedding=False` leaves out the embedding table
    (which a tied LM head shares)."""
    d, kv = cfg.d_model, cfg.n_kv_heads * cfg.head_dim
    attention = d * d * 2 + d * kv * 2  # q, o and k, v
    mlp = 3 * d * cfg.ffn_hidden
    per_layer = attention + mlp + 2 * d  # two RMSNorm gains
    lm_head = 0 if cfg.tie_embeddings else cfg.vocab_size * d
    return cfg.n_layers * per_layer + d + lm_head + (cfg.vocab_size * d if embedding else 0)


def flops_per_token(cfg: ModelConfig, seq_len: int | None = None) -> int:
    """Training FLOPs per token (forward + backward): 6 · matmul parameters + 12 · L · d · T.

    The PaLM / nanoGPT convention: every weight is used in one multiply-add forward and two
    backward; attention scores and values add 12 · L · d · T (counted in full, not halved for the
    causal mask). The input embedding is a lookup and costs nothing; the LM head is a matmul.
    """
    norm_gains = (2 * cfg.n_layers + 1) * cfg.d_model
    lm_head = cfg.vocab_size * cfg.d_model
    matmul_params = num_params(cfg, embedding=False) - norm_gains + (lm_head if cfg.tie_embeddings else 0)
    return 6 * matmul_params + 12 * cfg.n_layers * cfg.d_model * (seq_len or cfg.seq_len)


# --------------------------------------------------------------------------------------- modules


class RMSNorm(nn.Module):
    """x / sqrt(mean(x²) + eps) · gain — LayerNorm without the mean and bias (Zhang & Sennrich 2019)."""

    def __init__(self, dim: int, eps: float):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.rms_norm(x, (x.size(-1),), self.weight, self.eps)


def rope_cos_sin(head_dim: int, positions: torch.Tensor, theta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables for RoPE at integer `positions` (any shape) → shape (*positions, head_dim).

    Hugging Face layout: the frequencies are repeated as two halves [f0..f(d/2-1), f0..f(d/2-1)], to
    pair with `rotate_half`, rather than interleaved as in the original Llama code.
    """
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=positions.device).float() / head_dim)
    angles = positions.float()[..., None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate query or key heads x: (B, H, T, hd) by position; cos/sin: (T, hd) or (B, T, hd)."""
    if cos.dim() == 3:  # per-row positions (left-padded batches): broadcast over heads
        cos, sin = cos[:, None], sin[:, None]
    return (x * cos + rotate_half(x) * sin).to(x.dtype)


class KVCache:
    """Keys and values of every layer for the positions seen so far, preallocated to `max_len`.

    Shapes: (batch, n_kv_heads, max_len, head_dim) per layer. `length` is how many positions are
    filled; the model appends the new positions' keys/values and attends over [0, length).
    """

    def __init__(self, cfg: ModelConfig, batch: int, max_len: int, device=None, dtype=torch.float32):
        shape = (batch, cfg.n_kv_heads, max_len, cfg.head_dim)
        self.keys = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.values = [torch.zeros(shape, device=device, dtype=dtype) for _ in range(cfg.n_layers)]
        self.length = 0
        self.max_len = max_len

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store the new positions' k, v (B, H_kv, T, hd) for `layer`; return all keys/values so far."""
        start, end = self.length, self.length + k.size(2)
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def repeat_interleave(self, n: int) -> None:
        """Repeat each row n times in a row: several samples continue one prefilled prompt."""
        self.keys = [k.repeat_interleave(n, 0) for k in self.keys]
        self.values = [v.repeat_interleave(n, 0) for v in self.values]


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.dropout = cfg.dropout
        self.q_proj = nn.Linear(cfg.d_model, cfg.n_heads * cfg.head_dim, bias=False)
        self.k_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.v_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=False)
        self.o_proj = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.d_model, bias=False)

    def forward(self, x, cos, sin, attn_mask=None, kv_cache: KVCache | None = None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        k = self.k_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if kv_cache is not None:
            k, v = kv_cache.update(self.layer, k.to(kv_cache.keys[0].dtype), v.to(kv_cache.keys[0].dtype))
            k, v = k.to(q.dtype), v.to(q.dtype)
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=attn_mask,
            is_causal=attn_mask is None and kv_cache is None,
            dropout_p=self.dropout if self.training else 0.0,
            enable_gqa=self.n_kv_heads != self.n_heads,
        )
        return self.o_proj(y.transpose(1, 2).reshape(B, T, -1))


class MLP(nn.Module):
    """SwiGLU (Shazeer 2020): down(silu(gate(x)) · up(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.d_model, cfg.ffn_hidden, bias=False)
        self.up_proj = nn.Linear(cfg.d_model, cfg.ffn_hidden, bias=False)
        self.down_proj = nn.Linear(cfg.ffn_hidden, cfg.d_model, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.self_attn = Attention(cfg, layer)
        self.post_attention_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = MLP(cfg)
        self.dropout = nn.Dropout(cfg.dropout)

    def forward(self, x, cos, sin, attn_mask=None, kv_cache=None):
        x = x + self.dropout(self.self_attn(self.input_layernorm(x), cos, sin, attn_mask, kv_cache))
        return x + self.dropout(self.mlp(self.post_attention_layernorm(x)))


class Transformer(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.config = cfg
        self.embed_tokens = nn.Embedding(cfg.vocab_size, cfg.d_model)
        self.layers = nn.ModuleList(Block(cfg, i) for i in range(cfg.n_layers))
        self.norm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab_size, bias=False)
        if cfg.tie_embeddings:
            self.lm_head.weight = self.embed_tokens.weight
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """N(0, 0.02) everywhere, and 0.02 / sqrt(2 · n_layers) on the projections that write into the
        residual stream (o_proj, down_proj), so its variance stays flat with depth (GPT-2)."""
        residual_std = 0.02 / math.sqrt(2 * self.config.n_layers)
        for name, p in self.named_parameters():
            if name.endswith(("o_proj.weight", "down_proj.weight")):
                nn.init.normal_(p, std=residual_std)
            elif p.dim() == 2:
                nn.init.normal_(p, std=0.02)
            else:
                nn.init.ones_(p)  # RMSNorm gains

    def forward(
        self,
        idx: torch.Tensor,
        targets: torch.Tensor | None = None,
        positions: torch.Tensor | None = None,
        attn_mask: torch.Tensor | None = None,
        kv_cache: KVCache | None = None,
    ):
        """Logits (B, T, vocab) for token ids `idx` (B, T), and the mean cross-entropy if `targets`.

        Training passes only `idx` and `targets` (-100 marks positions without a loss): positions are
        0..T-1 and attention is causal. Generation also passes `kv_cache` and, for left-padded
        batches, per-row `positions` (B, T) and a boolean `attn_mask` (B, 1, T, keys) where True
        means "may attend".
        """
        logits = self.lm_head(self.hidden_states(idx, positions, attn_mask, kv_cache))
        if targets is None:
            return logits
        loss = F.cross_entropy(
            logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=-100
        )
        return logits, loss

    def hidden_states(self, idx, positions=None, attn_mask=None, kv_cache=None) -> torch.Tensor:
        """The final normed hidden states (B, T, d_model) that the LM head (or a reward head) reads."""
        B, T = idx.shape
        start = kv_cache.length if kv_cache is not None else 0
        if start + T > (kv_cache.max_len if kv_cache is not None else self.config.seq_len):
            raise UserError(
                f"sequence of {start + T} tokens is longer than the context of {self.config.seq_len}"
            )
        if positions is None:
            positions = torch.arange(start, start + T, device=idx.device)
        if kv_cache is not None and attn_mask is None and T > 1:
            # new tokens see all cached positions and, among themselves, only earlier ones
            attn_mask = torch.ones(T, start + T, dtype=torch.bool, device=idx.device).tril(diagonal=start)
        cos, sin = rope_cos_sin(self.config.head_dim, positions, self.config.rope_theta)
        x = self.embed_tokens(idx)
        for layer in self.layers:
            x = layer(x, cos, sin, attn_mask, kv_cache)
        if kv_cache is not None:
            kv_cache.length += T
        return self.norm(x)

    def weights(self) -> dict[str, torch.Tensor]:
        """The state dict to save: without `lm_head.weight` when it is tied to the embedding
        (safetensors stores no shared tensors; Hugging Face leaves it out the same way)."""
        state = self.state_dict()
        if self.config.tie_embeddings:
            state.pop("lm_head.weight")
        return state

    def load_weights(self, state: dict[str, torch.Tensor]) -> None:
        """Load what `weights()` saved; a missing or unexpected tensor, or a wrong shape, is a UserError."""
        expected = self.weights()
        missing = sorted(set(expected) - set(state))
        unexpected = sorted(set(state) - set(expected))
        if missing or unexpected:
            raise UserError(
                f"checkpoint weights do not match the model config (missing: {missing[:3]}, unexpected: {unexpected[:3]})"
            )
        for name, tensor in state.items():
            if tensor.shape != expected[name].shape:
                raise UserError(
                    f"checkpoint tensor {name} has shape {tuple(tensor.shape)}, the config says {tuple(expected[name].shape)}"
                )
        self.load_state_dict(state, strict=False)


class RewardModel(Transformer):
    """The transformer with a score head instead of an LM head's use: one scalar per sequence, read
    from the hidden state at each row's last token (InstructGPT's reward model). A reward checkpoint
    is an ordinary checkpoint whose weights also hold `score.weight`."""

    def __init__(self, cfg: ModelConfig):
        super().__init__(cfg)
        self.score = nn.Linear(cfg.d_model, 1, bias=False)
        nn.init.normal_(self.score.weight, std=1 / math.sqrt(cfg.d_model + 1))  # InstructGPT's head init

    def forward(self, idx: torch.Tensor, last: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        """Rewards (B,) for right-padded ids (B, T), read at each row's index `last` (B,)."""
        hidden = self.hidden_states(idx)
        return self.score(hidden[torch.arange(idx.size(0), device=idx.device), last]).squeeze(-1).float()
