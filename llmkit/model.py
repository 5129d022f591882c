"""A Llama-family decoder-only transformer, top to bottom.

token embedding → N × [RMSNorm → causal self-attention (RoPE, grouped-query heads, SDPA) → residual
→ RMSNorm → SwiGLU MLP, or top-k routed SwiGLU experts (`n_experts` > 0) → residual] → RMSNorm →
LM head. No biases, except on q, k, v where an imported Qwen2 model has them (`qkv_bias`).

Parameter names follow Hugging Face `LlamaForCausalLM` (`embed_tokens`, `layers.N.self_attn.q_proj`,
`mlp.gate_proj`, `input_layernorm`, ...) and RoPE uses its rotate-half convention, so exporting a
checkpoint is a rename of the `model.` prefix, with no weight permutation (an MoE layer's
`mlp.router` and `mlp.experts.N.*_proj` become Mixtral's `block_sparse_moe.gate` and `experts.N.w1-3`).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
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
    # Llama 3.1's RoPE frequency scaling (imported models only; `llama3_inv_freq`): factor,
    # low_freq_factor, high_freq_factor, original_max_position_embeddings. None = plain RoPE.
    rope_scaling: dict | None = None
    norm_eps: float = 1e-5
    tie_embeddings: bool = True
    qkv_bias: bool = False  # biases on the q, k, v projections (Qwen2's attention; imported models only)
    dropout: float = 0.0  # on attention probabilities and residual branches, while training only
    # Mixture of experts (MoE below): 0 = the dense SwiGLU MLP; else that many SwiGLU experts of
    # ffn_hidden each, `experts_per_token` of which process each token.
    n_experts: int = 0
    experts_per_token: int = 2
    router_aux_coef: float = 0.01  # weight of the load-balancing loss (Switch Transformer's α)
    router_z_coef: float = 0.0  # weight of the router z-loss (ST-MoE uses 1e-3); 0 = off

    @property
    def head_dim(self) -> int:
        return self.d_model // self.n_heads

    def to_dict(self) -> dict:
        """The config.json dict; a dense model's leaves out the MoE fields, so it reads exactly as
        before they existed (and older checkpoints still resume)."""
        d = asdict(self)
        if not self.n_experts:
            for name in MOE_FIELDS:
                d.pop(name)
        for name in ("qkv_bias", "rope_scaling"):  # likewise: only imported models have them
            if not d[name]:
                d.pop(name)
        return d

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
        if self.n_experts < 0 or self.n_experts == 1:
            raise UserError(
                f"--experts must be 0 (a dense MLP) or at least 2 (got {self.n_experts}); "
                "one expert is the dense MLP with a useless router"
            )
        if self.n_experts:
            if not 0 < self.experts_per_token <= self.n_experts:
                raise UserError(
                    f"--experts-per-token must be between 1 and --experts {self.n_experts} "
                    f"(got {self.experts_per_token})"
                )
            for name in ("router_aux_coef", "router_z_coef"):
                if getattr(self, name) < 0:
                    raise UserError(
                        f"--{name.replace('_', '-')} must be 0 or more (got {getattr(self, name)})"
                    )
        return self


MOE_FIELDS = ("n_experts", "experts_per_token", "router_aux_coef", "router_z_coef")


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
    moe_options = [k for k in MOE_FIELDS[1:] if overrides.get(k) is not None]
    if moe_options and not values.get("n_experts"):
        option = moe_options[0].replace("_", "-")
        raise UserError(f"--{option} applies to a mixture-of-experts model: add --experts N (N ≥ 2)")
    return ModelConfig(vocab_size=vocab_size, **values).validate()


def num_params(cfg: ModelConfig, embedding: bool = True, active: bool = False) -> int:
    """Parameter count, computed from the config; `embedding=False` leaves out the embedding table
    (which a tied LM head shares). `active=True` counts only what one token uses: the router and
    `experts_per_token` of a mixture-of-experts layer's experts (the same as total for a dense model)."""
    d, kv = cfg.d_model, cfg.n_kv_heads * cfg.head_dim
    attention = d * d * 2 + d * kv * 2  # q, o and k, v
    mlp = 3 * d * cfg.ffn_hidden
    if cfg.n_experts:
        mlp = mlp * (cfg.experts_per_token if active else cfg.n_experts) + d * cfg.n_experts  # + router
    per_layer = attention + mlp + 2 * d  # two RMSNorm gains
    lm_head = 0 if cfg.tie_embeddings else cfg.vocab_size * d
    return cfg.n_layers * per_layer + d + lm_head + (cfg.vocab_size * d if embedding else 0)


def flops_per_token(cfg: ModelConfig, seq_len: int | None = None) -> int:
    """Training FLOPs per token (forward + backward): 6 · matmul parameters + 12 · L · d · T.

    The PaLM / nanoGPT convention: every weight is used in one multiply-add forward and two
    backward; attention scores and values add 12 · L · d · T (counted in full, not halved for the
    causal mask). The input embedding is a lookup and costs nothing; the LM head is a matmul. Only a
    token's active parameters count: a mixture-of-experts layer's router and chosen experts.
    """
    norm_gains = (2 * cfg.n_layers + 1) * cfg.d_model
    lm_head = cfg.vocab_size * cfg.d_model
    active = num_params(cfg, embedding=False, active=True)
    matmul_params = active - norm_gains + (lm_head if cfg.tie_embeddings else 0)
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


def rope_cos_sin(
    head_dim: int, positions: torch.Tensor, theta: float, scaling: dict | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin tables for RoPE at integer `positions` (any shape) → shape (*positions, head_dim).

    Hugging Face layout: the frequencies are repeated as two halves [f0..f(d/2-1), f0..f(d/2-1)], to
    pair with `rotate_half`, rather than interleaved as in the original Llama code.
    """
    inv_freq = 1.0 / theta ** (torch.arange(0, head_dim, 2, device=positions.device).float() / head_dim)
    if scaling:
        inv_freq = llama3_inv_freq(inv_freq, **scaling)
    angles = positions.float()[..., None] * inv_freq
    angles = torch.cat([angles, angles], dim=-1)
    return angles.cos(), angles.sin()


def llama3_inv_freq(
    inv_freq: torch.Tensor,
    factor: float,
    low_freq_factor: float,
    high_freq_factor: float,
    original_max_position_embeddings: int,
) -> torch.Tensor:
    """Llama 3.1's RoPE scaling (as transformers' `_compute_llama3_parameters`): wavelengths longer than
    the original context / low_freq_factor are stretched by `factor`, those shorter than original /
    high_freq_factor are kept, and the band between is interpolated smoothly."""
    wavelen = 2 * math.pi / inv_freq
    low_wavelen = original_max_position_embeddings / low_freq_factor
    high_wavelen = original_max_position_embeddings / high_freq_factor
    scaled = torch.where(wavelen > low_wavelen, inv_freq / factor, inv_freq)
    smooth = (original_max_position_embeddings / wavelen - low_freq_factor) / (
        high_freq_factor - low_freq_factor
    )
    smoothed = (1 - smooth) * scaled / factor + smooth * scaled
    medium = (wavelen >= high_wavelen) & (wavelen <= low_wavelen)
    return torch.where(medium, smoothed, scaled)


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    x1, x2 = x.chunk(2, dim=-1)
    return torch.cat([-x2, x1], dim=-1)


def apply_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate query or key heads `x` by position; cos/sin (from `rope_cos_sin`) broadcast against it."""
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


class DecodeWeights:
    """A block's projections as generation computes them: the linear layers that read the same input
    stacked into one matrix (q, k, v; gate, up), and every matrix stored transposed, (in, out) and
    contiguous. A decode step multiplies a few rows by each matrix: one matmul instead of three saves
    two passes of per-op overhead, and on the CPU a contiguous (in, out) operand is measured about 2×
    faster than `F.linear`'s (out, in) one at 1-8 rows (MKL packs the transposed operand on every
    call). The model's own parameters, which training, saving and export use, are unchanged; these
    are copies made by `decoding(model)` and dropped when it ends.

    Given the model's config, it also holds the constants a block's decode step needs as tensors
    (RMSNorm's eps and width, RoPE's sign): an op with a Python number wraps it into a tensor on every
    call, three more kernels each time.

    Given `rows`, it also keeps MKL's packed form of each matrix for products of exactly that many rows
    (the decode steps of a batch), where it gives the plain matmul's values bit for bit. A plain
    matmul of a few rows repacks the whole matrix on every call; the packed form skips that, measured
    up to 1.5× faster for q/k/v and gate/up (see `mkl_packed`)."""

    def __init__(self, groups: list[list[nn.Linear]], cfg: ModelConfig | None = None, rows: int = 0):
        # each part transposed as it is copied in: one copy, ~3× faster than cat-then-transpose
        self.weights = [torch.cat([m.weight.t() for m in group], dim=1) for group in groups]
        self.biases = [
            torch.cat([m.bias for m in group]) if group[0].bias is not None else None for group in groups
        ]
        if cfg is not None:
            like = dict(dtype=self.weights[0].dtype, device=self.weights[0].device)
            self.norm_eps = torch.tensor(cfg.norm_eps, **like)
            self.width = torch.tensor(float(cfg.d_model), **like)
            # rotate_half(x) · sin = roll(x, head_dim/2) · (sin with its first half negated): see rotate_()
            half = torch.ones(cfg.head_dim // 2, **like)
            self.rope_sign = torch.cat([-half, half])
        self.packed_rows = rows
        self.packed = [mkl_packed(weight, rows) if rows else None for weight in self.weights]

    def project(self, x: torch.Tensor, group: int) -> torch.Tensor:
        """x (..., in) times the group's matrix (+ bias), as one 2-D mm (`@` on a 3-D x costs a few
        more kernels: reshapes, conjugate checks), or from its packed form for `packed_rows` rows."""
        weight, packed, bias = self.weights[group], self.packed[group], self.biases[group]
        flat = x.reshape(-1, x.size(-1))
        if packed is not None and flat.size(0) == self.packed_rows:
            y = torch.ops.mkl._mkl_linear(flat, packed, weight.t(), None, self.packed_rows)
        else:
            y = torch.mm(flat, weight)
        y = y.view(*x.shape[:-1], -1)
        return y if bias is None else y + bias


def mkl_packed(weight: torch.Tensor, rows: int) -> torch.Tensor | None:
    """MKL's packed form (cblas_sgemm_pack, as torch.compile's frozen CPU graphs use it) of an (in, out)
    fp32 matrix for products of `rows` rows, or None where torch has no MKL (e.g. ARM) or the packed
    product differs from `torch.mm`'s in any bit (it does at some widths, e.g. an input of 1,024: the
    two kernels split the sum differently). A BLAS kernel sums in an order fixed by the shapes alone,
    so one probe with random rows tells; it draws from its own generator, leaving the caller's random
    stream alone.

    Measured on the 2-core Intel Xeon @ 2.80GHz (fp32, one thread, matrices streamed from memory as
    in a decode step), plain → packed µs at 8 rows: 384 → 1,152 (q/k/v) 346 → 238, 384 → 2,048
    (gate/up) 647 → 432, 384 → 384 (o) 92 → 91; at 2-64 rows the wide ones stay 1.04-1.7× faster.
    At one row the plain matmul is a matrix-vector product that packs nothing, and is faster."""
    try:
        packed = torch.ops.mkl._mkl_reorder_linear_weight(weight.t(), rows)
        probe = torch.randn(rows, weight.size(0), generator=torch.Generator().manual_seed(0))
        product = torch.ops.mkl._mkl_linear(probe, packed, weight.t(), None, rows)
        exact = torch.equal(product, torch.mm(probe, weight))
    except (AttributeError, NotImplementedError, RuntimeError):  # no MKL in this torch
        return None
    return packed if exact else None


def rms_norm(x: torch.Tensor, weight: torch.Tensor, eps: torch.Tensor, width: torch.Tensor) -> torch.Tensor:
    """`F.rms_norm(x, (width,), weight, eps)` of an fp32 `x`, the same values in about half the kernels:
    the mean written out as the sum and division it is, eps and width as tensors, and no dtype round
    trips. A decode step runs two per layer, each a few microseconds of work behind its kernels'
    overhead."""
    return (x * x.pow(2).sum(-1, keepdim=True).div_(width).add_(eps).rsqrt_()).mul_(weight)


def rotate_(x: torch.Tensor, cos: torch.Tensor, sin_signed: torch.Tensor) -> None:
    """`apply_rope` in place on query/key heads `x`, the same values in four kernels: rotate_half's
    halves swapped by one roll, its negation folded into `sin_signed` (sin · DecodeWeights.rope_sign)."""
    rolled = x.roll(x.size(-1) // 2, dims=-1).mul_(sin_signed)
    x.mul_(cos).add_(rolled)


def weight_bytes(model: nn.Module) -> int:
    """The bytes of `model`'s parameters as they are stored (a tied matrix counted once)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


# Above this a model's decode copies would cost more memory than they save time (a 1 GiB model is
# ~270M fp32 parameters, where a decode step is bound by reading the weights, not by per-op overhead).
DECODE_COPY_LIMIT_BYTES = 2**30
# The generations that run faster from packed matrices (see `mkl_packed`): their decode batch sizes,
# and the fewest decode steps that repay the packing (~60 ms for the small preset's 43 MB, once per
# generation). Measured on the 2-core Intel Xeon @ 2.80GHz (fp32, greedy, same ids), packed over
# plain tokens/s of whole generations, small preset: 256 new tokens 1.02× at batch 2, 1.05× at 4,
# 1.09-1.11× at 8, 1.16× at 12, 1.09× at 16, but 0.87-1.01× at 32; 128 tokens 1.03-1.07× at batch
# 2-16; 64 tokens 0.95-1.08×; 32 tokens 0.79-0.97×. Base preset (two threads), 64 tokens at batch 8:
# 1.14×. At batch 1 nothing is packed (see mkl_packed).
PACKED_ROWS = range(2, 17)
PACKED_MIN_STEPS = 128


@contextmanager
def decoding(model: Transformer, rows: int | None = None, steps: int = 0):
    """Within the block, `model`'s transformer blocks and LM head compute from `DecodeWeights` copies
    (fused, transposed) by `Block.decode_forward`; outside it, from their parameters as usual. The
    engine wraps each generation in it; the weights must not change inside (no training step), and
    the copies cost one more copy of the weights while it lasts, so a model above
    DECODE_COPY_LIMIT_BYTES, or on a GPU (the copies are measured on the CPU only), decodes from its
    parameters; so does one that is not fp32 or runs under autocast (the copies, and the in-place
    kernels of `Block.decode_forward`, are measured and exact for fp32). A block whose projections are
    not all plain `nn.Linear` (LoRA adapters) or that has experts (MoE) keeps its own forward.

    `rows` and `steps`, the rows of every decode step and how many steps there will be at most, when
    they are known (a generation), also pack the copies for those rows (see `DecodeWeights`) if rows
    are in PACKED_ROWS and steps at least PACKED_MIN_STEPS. The packed copies take about as much
    memory again as the weights (measured: +50 MB for the small preset's 43 MB, +457 MB for base's
    352 MB), so only a model within a third of the limit is packed."""
    on_cpu = next(model.parameters()).device.type == "cpu"
    fp32 = all(p.dtype == torch.float32 for p in model.parameters()) and not torch.is_autocast_enabled("cpu")
    copy = on_cpu and fp32 and weight_bytes(model) <= DECODE_COPY_LIMIT_BYTES
    blocks = [
        block
        for block in (model.layers if copy else [])
        if isinstance(block.mlp, MLP)
        and all(type(m) is nn.Linear for group in block.decode_projections() for m in group)
    ]
    pack = (
        copy
        and rows in PACKED_ROWS
        and steps >= PACKED_MIN_STEPS
        and 3 * weight_bytes(model) <= DECODE_COPY_LIMIT_BYTES
    )
    packed_rows = rows if pack else 0
    with torch.no_grad():
        for block in blocks:
            block.decode_weights = DecodeWeights(block.decode_projections(), model.config, packed_rows)
        head = model.lm_head
        use_head = copy and type(head) is nn.Linear
        model.decode_head = DecodeWeights([[head]], rows=packed_rows) if use_head else None
    try:
        yield model
    finally:
        for block in blocks:
            block.decode_weights = None
        model.decode_head = None


class Attention(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.layer = layer
        self.n_heads, self.n_kv_heads, self.head_dim = cfg.n_heads, cfg.n_kv_heads, cfg.head_dim
        self.dropout = cfg.dropout
        self.q_proj = nn.Linear(cfg.d_model, cfg.n_heads * cfg.head_dim, bias=cfg.qkv_bias)
        self.k_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=cfg.qkv_bias)
        self.v_proj = nn.Linear(cfg.d_model, cfg.n_kv_heads * cfg.head_dim, bias=cfg.qkv_bias)
        self.o_proj = nn.Linear(cfg.n_heads * cfg.head_dim, cfg.d_model, bias=False)

    def forward(self, x, cos, sin, attn_mask=None, kv_cache: KVCache | None = None):
        B, T, _ = x.shape
        q = self.q_proj(x).view(B, T, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)
        k = self.k_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        v = self.v_proj(x).view(B, T, self.n_kv_heads, self.head_dim).transpose(1, 2)
        if cos.dim() == 3:  # per-row positions (B, T, hd) of a left-padded batch: add the heads axis
            cos, sin = cos[:, None], sin[:, None]
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        return self.o_proj(self.attend(q, k, v, attn_mask, kv_cache).reshape(B, T, -1))

    def attend(self, q, k, v, attn_mask=None, kv_cache: KVCache | None = None) -> torch.Tensor:
        """Attention of rotated queries (B, H, T, hd) over keys and values (B, H_kv, T, hd), appended
        to the KV cache first if there is one; the heads' outputs (B, T, H, hd)."""
        if kv_cache is not None:
            k, v = kv_cache.update(self.layer, k, v)
            if k.dtype != q.dtype:
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
        return y.transpose(1, 2)


class MLP(nn.Module):
    """SwiGLU (Shazeer 2020): down(silu(gate(x)) · up(x))."""

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.gate_proj = nn.Linear(cfg.d_model, cfg.ffn_hidden, bias=False)
        self.up_proj = nn.Linear(cfg.d_model, cfg.ffn_hidden, bias=False)
        self.down_proj = nn.Linear(cfg.ffn_hidden, cfg.d_model, bias=False)

    def forward(self, x):
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))


def route(router_logits: torch.Tensor, k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax top-k gating (Mixtral): each token's k most probable experts (N, k), and their
    probabilities renormalised to sum to 1 over the chosen k (N, k, float32)."""
    probs = router_logits.float().softmax(dim=-1)
    weights, chosen = probs.topk(k, dim=-1)
    return weights / weights.sum(dim=-1, keepdim=True), chosen


def router_losses(router_logits: torch.Tensor, chosen: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The router's auxiliary losses for N tokens' logits (N, E) and chosen experts (N, k):

    - load balance (Switch Transformer, eq. 4; Mixtral's form for k > 1): E · Σ_e f_e · P_e, where
      f_e is the fraction of the N · k assignments that went to expert e and P_e the mean router
      probability of e. It is 1 when both are uniform and grows as load concentrates; f carries no
      gradient, P pushes probability away from overloaded experts. (Hugging Face's Mixtral counts f
      per token rather than per assignment, which is k times this.)
    - z-loss (ST-MoE, eq. 5): mean over tokens of logsumexp(logits)², which keeps router logits small.

    Also returns the load f (E,), detached, for logging.
    """
    n_experts = router_logits.size(-1)
    load = torch.bincount(chosen.reshape(-1), minlength=n_experts).float() / chosen.numel()
    mean_prob = router_logits.float().softmax(dim=-1).mean(dim=0)
    balance = n_experts * (load * mean_prob).sum()
    z = router_logits.float().logsumexp(dim=-1).square().mean()
    return balance, z, load


class MoE(nn.Module):
    """A mixture of SwiGLU experts (Shazeer et al. 2017; Mixtral's routing): a linear router
    scores the experts for each token, the top `experts_per_token` process it, and their outputs
    are summed with the renormalised router probabilities as weights.

    Tokens are grouped by expert (one sort), so each expert runs one matmul over all its tokens: a
    Python loop over experts, none over tokens. No capacity limit and so no token dropping: every
    token reaches all its chosen experts however unbalanced the load, and training and inference
    compute the same function. In training the router logits and choices stay in `routing` for the
    auxiliary losses (`router_losses`), which the Transformer collects.
    """

    def __init__(self, cfg: ModelConfig):
        super().__init__()
        self.top_k = cfg.experts_per_token
        self.router = nn.Linear(cfg.d_model, cfg.n_experts, bias=False)
        self.experts = nn.ModuleList(MLP(cfg) for _ in range(cfg.n_experts))
        self.routing: tuple[torch.Tensor, torch.Tensor] | None = None

    def forward(self, x):
        shape = x.shape
        x = x.reshape(-1, shape[-1])  # (N, d): the batch's tokens
        router_logits = self.router(x)
        weights, chosen = route(router_logits, self.top_k)
        # the N · k (token, expert) assignments, sorted by expert: each expert's rows are contiguous
        order = chosen.reshape(-1).argsort(stable=True)
        per_expert = torch.bincount(chosen.reshape(-1), minlength=len(self.experts)).tolist()
        rows = x.repeat_interleave(self.top_k, dim=0)[order]
        # an expert with no tokens still runs (on 0 rows): its weights get a zero gradient rather
        # than none, which DistributedDataParallel requires of every parameter
        outputs = [expert(part) for expert, part in zip(self.experts, rows.split(per_expert), strict=True)]
        gates = weights.reshape(-1)[order, None].to(x.dtype)
        y = (torch.cat(outputs) * gates)[order.argsort()]  # back to (token, slot) order
        out = y.view(-1, self.top_k, shape[-1]).sum(dim=1)
        self.routing = (router_logits, chosen) if self.training and torch.is_grad_enabled() else None
        return out.view(shape)


class Block(nn.Module):
    def __init__(self, cfg: ModelConfig, layer: int):
        super().__init__()
        self.input_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.self_attn = Attention(cfg, layer)
        self.post_attention_layernorm = RMSNorm(cfg.d_model, cfg.norm_eps)
        self.mlp = MoE(cfg) if cfg.n_experts else MLP(cfg)
        self.dropout = nn.Dropout(cfg.dropout)
        self.decode_weights: DecodeWeights | None = None  # set within `decoding(model)`

    def forward(self, x, cos, sin, attn_mask=None, kv_cache=None):
        if self.decode_weights is not None:
            return self.decode_forward(x, cos, sin, attn_mask, kv_cache)
        x = x + self.dropout(self.self_attn(self.input_layernorm(x), cos, sin, attn_mask, kv_cache))
        return x + self.dropout(self.mlp(self.post_attention_layernorm(x)))

    def decode_forward(self, x, cos, sin, attn_mask=None, kv_cache=None):
        """`forward`'s values (up to float rounding) from the `DecodeWeights` copies, in as few kernels
        as it takes: on the CPU a decode step of a small model is bound by per-kernel overhead as
        much as by the matmuls. One matmul for q, k and v, one in-place rotation of q and k together,
        one matmul for gate and up; no dropout (generation runs in eval mode)."""
        fused, attn = self.decode_weights, self.self_attn
        B, T, _ = x.shape
        n_qk = attn.n_heads + attn.n_kv_heads
        h = rms_norm(x, self.input_layernorm.weight, fused.norm_eps, fused.width)
        qkv = fused.project(h, 0).view(B, T, -1, attn.head_dim)  # (B, T, H + 2·H_kv, hd)
        cos, sin = cos.unsqueeze(-2), sin.unsqueeze(-2)  # add the heads axis: (T | B T, 1, hd)
        rotate_(qkv[:, :, :n_qk], cos, sin * fused.rope_sign)
        q, k, v = qkv.transpose(1, 2).split([attn.n_heads, attn.n_kv_heads, attn.n_kv_heads], dim=1)
        x = x + fused.project(attn.attend(q, k, v, attn_mask, kv_cache).reshape(B, T, -1), 1)
        h = rms_norm(x, self.post_attention_layernorm.weight, fused.norm_eps, fused.width)
        gate, up = fused.project(h, 2).chunk(2, dim=-1)
        return x + fused.project(F.silu(gate) * up, 3)

    def decode_projections(self) -> list[list[nn.Linear]]:
        """The projections as `DecodeWeights` groups them: [q, k, v] (one matmul), [o], [gate, up]
        (one matmul), [down]."""
        attn, mlp = self.self_attn, self.mlp
        return [
            [attn.q_proj, attn.k_proj, attn.v_proj],
            [attn.o_proj],
            [mlp.gate_proj, mlp.up_proj],
            [mlp.down_proj],
        ]


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
        # auxiliary losses and their logged numbers from the training forwards since take_aux_losses()
        self._aux: list[tuple[torch.Tensor, dict[str, torch.Tensor]]] = []
        self.decode_head: DecodeWeights | None = None  # set within `decoding(model)`
        self._rope_table: tuple[torch.Tensor, torch.Tensor] | None = None  # see rope()
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
            elif name.endswith(".bias"):
                nn.init.zeros_(p)  # q/k/v biases (qkv_bias)
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
        hidden = self.hidden_states(idx, positions, attn_mask, kv_cache)
        logits = self.decode_head.project(hidden, 0) if self.decode_head is not None else self.lm_head(hidden)
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
        cos, sin = self.rope(positions, start + T)
        x = self.embed_tokens(idx)
        for layer in self.layers:
            x = layer(x, cos, sin, attn_mask, kv_cache)
        if kv_cache is not None:
            kv_cache.length += T
        if self.config.n_experts and self.training and torch.is_grad_enabled():
            self._record_router_losses()
        return self.norm(x)

    def rope(self, positions: torch.Tensor, bound: int) -> tuple[torch.Tensor, torch.Tensor]:
        """RoPE's cos and sin at `positions` (all below `bound`), read from a table of positions
        0..n-1 kept on the model (built on first use and grown by doubling; per device): a decode step
        indexes it rather than recomputing powers and cosines. The table's entries are computed as
        `rope_cos_sin` computes them, so the values are the same. Under torch.compile it computes
        directly (the compiled graph needs no Python-side table)."""
        cfg = self.config
        if torch.compiler.is_compiling():
            return rope_cos_sin(cfg.head_dim, positions, cfg.rope_theta, cfg.rope_scaling)
        table = self._rope_table
        if table is None or table[0].device != positions.device or table[0].size(0) < bound:
            size = max(bound, 2 * table[0].size(0) if table is not None else 256)
            # a normal tensor even when built during generation (inference mode): the table outlives it
            with torch.inference_mode(False):
                all_positions = torch.arange(size, device=positions.device)
                self._rope_table = table = rope_cos_sin(
                    cfg.head_dim, all_positions, cfg.rope_theta, cfg.rope_scaling
                )
        return table[0][positions], table[1][positions]

    def _record_router_losses(self) -> None:
        """Keep this forward's router losses (mean over layers, so the coefficients do not depend on
        depth) for take_aux_losses()."""
        balance, z, load = zip(*(router_losses(*layer.mlp.routing) for layer in self.layers), strict=True)
        balance, z = torch.stack(balance).mean(), torch.stack(z).mean()
        cfg = self.config
        loss = cfg.router_aux_coef * balance + cfg.router_z_coef * z
        logged = {
            "router_aux_loss": balance.detach(),
            "router_z_loss": z.detach(),
            "expert_load": torch.stack(load),
        }
        self._aux.append((loss, logged))

    def take_aux_losses(self) -> tuple[torch.Tensor | None, dict[str, torch.Tensor]]:
        """The auxiliary loss of the training forwards (train mode, gradients on) since the last call,
        for the training loop to add to the task loss, and its numbers to log (detached; e.g. each
        layer's expert load, (layers, experts)), both averaged over those forwards; then forget them.
        (None, {}) when there are none (a dense model)."""
        recorded, self._aux = self._aux, []
        if not recorded:
            return None, {}
        loss = torch.stack([r[0] for r in recorded]).mean()
        logged = {name: torch.stack([r[1][name] for r in recorded]).mean(dim=0) for name in recorded[0][1]}
        return loss, logged

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
