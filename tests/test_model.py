"""The transformer: sizes, RoPE, grouped-query attention, causality, the KV cache, saving weights."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from llmkit import model as model_module
from llmkit.errors import UserError
from llmkit.model import (
    PRESETS,
    DecodeWeights,
    KVCache,
    ModelConfig,
    Transformer,
    apply_rope,
    decoding,
    flops_per_token,
    mkl_packed,
    model_config,
    num_params,
    rms_norm,
    rope_cos_sin,
    rotate_,
)


def tiny(**overrides) -> ModelConfig:
    return model_config("tiny", 300, **{"n_layers": 2, "d_model": 64, "seq_len": 32, **overrides})


def test_param_count_formula_matches_the_module_for_every_preset_shape():
    for name in PRESETS:
        cfg = model_config(name, 320, n_layers=1, seq_len=16)  # one layer keeps the big presets cheap
        model = Transformer(cfg)
        assert num_params(cfg) == sum(p.numel() for p in model.parameters()), name
        embedding = cfg.vocab_size * cfg.d_model
        assert num_params(cfg, embedding=False) == num_params(cfg) - embedding


def test_presets_have_their_advertised_sizes():
    assert 0.7e6 < num_params(model_config("tiny", 512)) < 1.4e6
    assert 9e6 < num_params(model_config("small", 4096)) < 13e6
    assert 100e6 < num_params(model_config("base", 32000)) < 130e6


def test_flops_per_token_is_six_n_plus_attention():
    cfg = tiny()
    matmul = num_params(cfg) - (2 * cfg.n_layers + 1) * cfg.d_model  # tied: the table is the LM head
    assert flops_per_token(cfg) == 6 * matmul + 12 * cfg.n_layers * cfg.d_model * cfg.seq_len


def test_overrides_and_bad_configs():
    assert model_config("tiny", 300, n_layers=3, d_model=96, n_heads=6, n_kv_heads=3).head_dim == 16
    for bad, fragment in [
        (dict(d_model=100, n_heads=3), "divisible"),
        (dict(n_heads=4, n_kv_heads=3), "--n-kv-heads"),
        (dict(n_layers=0), "--n-layers"),
        (dict(dropout=1.0), "--dropout"),
    ]:
        with pytest.raises(UserError, match=fragment):
            model_config("tiny", 300, **bad)
    with pytest.raises(UserError, match="unknown preset"):
        model_config("huge", 300)
    with pytest.raises(UserError, match="unknown fields"):
        ModelConfig.from_dict({**tiny().to_dict(), "bias": True})


def test_rope_uses_rotate_half_and_depends_only_on_relative_position():
    hd = 16
    q, k = torch.randn(hd), torch.randn(hd)

    def rotated(x, pos):
        cos, sin = rope_cos_sin(hd, torch.tensor([pos]), 10000.0)
        return apply_rope(x.view(1, 1, 1, hd), cos, sin).view(hd)

    # Hugging Face layout: pair i rotates dimensions i and i + hd/2 by angle pos · theta^(-2i/hd)
    x = torch.zeros(hd)
    x[1] = 1.0
    angle = 3 * 10000.0 ** (-2 / hd)
    out = rotated(x, 3)
    assert torch.allclose(out[1], torch.tensor(math.cos(angle)), atol=1e-6)
    assert torch.allclose(out[1 + hd // 2], torch.tensor(math.sin(angle)), atol=1e-6)
    # scores depend on m - n only
    assert torch.allclose(rotated(q, 5) @ rotated(k, 2), rotated(q, 13) @ rotated(k, 10), atol=1e-5)


def test_grouped_query_attention_equals_multi_head_with_repeated_kv_heads():
    torch.manual_seed(0)
    gqa = Transformer(tiny(n_heads=4, n_kv_heads=2))
    mha = Transformer(tiny(n_heads=4, n_kv_heads=4))
    state = gqa.state_dict()
    hd = gqa.config.head_dim
    for name, tensor in list(state.items()):
        if name.endswith(("k_proj.weight", "v_proj.weight")):  # (kv_heads·hd, d) → each head twice
            state[name] = tensor.view(2, hd, -1).repeat_interleave(2, dim=0).reshape(4 * hd, -1)
    mha.load_state_dict(state)
    idx = torch.randint(0, 300, (2, 20))
    assert torch.allclose(gqa(idx), mha(idx), atol=1e-5)


def test_attention_is_causal():
    torch.manual_seed(0)
    model = Transformer(tiny())
    idx = torch.randint(0, 300, (1, 16))
    changed = idx.clone()
    changed[0, 10] = (idx[0, 10] + 1) % 300
    a, b = model(idx), model(changed)
    assert torch.allclose(a[:, :10], b[:, :10], atol=1e-6)
    assert not torch.allclose(a[:, 10:], b[:, 10:], atol=1e-4)


def test_kv_cache_prefill_then_one_token_at_a_time_equals_full_forward():
    torch.manual_seed(0)
    model = Transformer(tiny()).eval()
    idx = torch.randint(0, 300, (3, 24))
    cache = KVCache(model.config, 3, 24)
    pieces = [model(idx[:, :7], kv_cache=cache)]
    pieces += [model(idx[:, t : t + 1], kv_cache=cache) for t in range(7, 24)]
    assert cache.length == 24
    assert torch.allclose(torch.cat(pieces, dim=1), model(idx), atol=1e-5)


def test_decoding_weights_compute_what_the_parameters_compute():
    """Inside `decoding(model)` the layers use fused, transposed copies of their projections (one
    matmul for q/k/v, one for gate/up, one rotation for q and k): the logits must be those of the
    parameters, with grouped-query heads, q/k/v biases, per-row positions and a KV cache."""
    torch.manual_seed(0)
    model = Transformer(tiny(n_heads=4, n_kv_heads=2, qkv_bias=True)).eval()
    with torch.no_grad():
        for layer in model.layers:
            for proj in (layer.self_attn.q_proj, layer.self_attn.k_proj, layer.self_attn.v_proj):
                proj.bias.normal_()  # non-zero biases, so a bias put on the wrong rows would show
    idx = torch.randint(0, 300, (2, 12))
    positions = torch.tensor([[0] * 3 + list(range(9)), list(range(12))])  # row 0 left-padded by 3
    real = torch.arange(12)[None, :] >= torch.tensor([[3], [0]])  # (B, keys): padding keys are hidden
    mask = (torch.ones(12, 12, dtype=torch.bool).tril()[None] & real[:, None, :]) | torch.eye(
        12, dtype=torch.bool
    )
    mask = mask[:, None]  # (B, 1, T, keys), as the engine builds it
    before = {k: v.clone() for k, v in model.state_dict().items()}
    plain = model(idx, positions=positions, attn_mask=mask)
    steps_plain = _prefill_then_steps(model, idx)
    with decoding(model):
        assert all(layer.decode_weights for layer in model.layers)
        fused = model(idx, positions=positions, attn_mask=mask)
        steps_fused = _prefill_then_steps(model, idx)
    assert torch.allclose(fused, plain, atol=1e-5)
    assert torch.allclose(steps_fused, steps_plain, atol=1e-5)
    assert all(layer.decode_weights is None for layer in model.layers)
    assert model.decode_head is None
    after = model.state_dict()
    assert after.keys() == before.keys() and all(torch.equal(after[k], before[k]) for k in before)


def _prefill_then_steps(model, idx):
    cache = KVCache(model.config, idx.size(0), idx.size(1))
    pieces = [model(idx[:, :5], kv_cache=cache)]
    pieces += [model(idx[:, t : t + 1], kv_cache=cache) for t in range(5, idx.size(1))]
    return torch.cat(pieces, dim=1)


def test_decoding_leaves_wrapped_projections_to_their_own_forward_and_cleans_up_on_error():
    """A layer whose projections are not plain nn.Linear (a LoRA adapter wraps them) is not fused:
    copying its base weights would drop the adapter. An error inside the block still removes the copies."""

    class Wrapped(torch.nn.Linear):  # stands for an adapter-wrapped projection
        def forward(self, x):
            return super().forward(x) + 1.0

    torch.manual_seed(0)
    model = Transformer(tiny()).eval()
    old = model.layers[0].self_attn.q_proj
    model.layers[0].self_attn.q_proj = wrapped = Wrapped(old.in_features, old.out_features, bias=False)
    wrapped.weight.data.copy_(old.weight.data)
    idx = torch.randint(0, 300, (1, 8))
    plain = model(idx)
    with pytest.raises(RuntimeError, match="inside"):
        with decoding(model):
            assert model.layers[0].decode_weights is None  # wrapped: the block keeps its own forward
            assert model.layers[1].decode_weights is not None
            assert torch.allclose(model(idx), plain, atol=1e-5)
            raise RuntimeError("an error inside the block")
    assert all(layer.decode_weights is None for layer in model.layers)


def test_a_model_past_the_copy_limit_decodes_from_its_parameters(monkeypatch):
    """The copies double the weights' memory: a large model goes without them."""
    monkeypatch.setattr(model_module, "DECODE_COPY_LIMIT_BYTES", 1000)
    model = Transformer(tiny()).eval()
    with decoding(model):
        assert model.decode_head is None
        assert all(layer.decode_weights is None for layer in model.layers)


def test_a_packed_matrix_gives_exactly_the_plain_products_or_is_not_used():
    """`mkl_packed` returns a packed matrix only where its products are torch.mm's bit for bit, for
    other inputs than its probe too; at some widths (here, probably the input of 1,024) it returns None."""
    torch.manual_seed(0)
    shapes = [(64, 192, 2), (384, 1152, 8), (384, 2048, 8), (1024, 384, 8), (96, 512, 33)]
    for fan_in, fan_out, rows in shapes:  # (in, out, rows)
        weight = torch.randn(fan_in, fan_out)
        packed = mkl_packed(weight, rows)
        if torch.backends.mkl.is_available() and (fan_in, fan_out) == (384, 1152):
            assert packed is not None  # the q/k/v shape of the `small` preset: the case packing is for
        if packed is not None:
            for _ in range(3):
                x = torch.randn(rows, fan_in) * 10
                product = torch.ops.mkl._mkl_linear(x, packed, weight.t(), None, rows)
                assert torch.equal(product, torch.mm(x, weight))


def test_decoding_packed_for_the_batch_gives_the_same_logits(monkeypatch):
    """`decoding(model, rows=B, steps=N)` packs the copies for B-row decode steps: prefill (more rows)
    and the steps give exactly the unpacked logits. No packing for one row, without `rows`, for a
    generation too short to repay it, or for a model above a third of the copy limit (the packed
    copies take about as much memory again as the weights)."""
    torch.manual_seed(0)
    model = Transformer(tiny(n_heads=4, n_kv_heads=2, qkv_bias=True)).eval()
    idx = torch.randint(0, 300, (3, 12))
    long = model_module.PACKED_MIN_STEPS
    with decoding(model):
        plain = _prefill_then_steps(model, idx)
    with decoding(model, rows=3, steps=long):
        fused = model.layers[0].decode_weights
        assert fused.packed_rows == 3 and model.decode_head.packed_rows == 3
        if torch.backends.mkl.is_available():
            assert any(m is not None for m in fused.packed)  # some of the tiny model's matrices pack
        packed = _prefill_then_steps(model, idx)
    assert torch.equal(packed, plain)
    third = 3 * model_module.weight_bytes(model)
    unpacked = [(None, long, None), (1, long, None), (3, long - 1, None), (3, long, third - 1)]
    for rows, steps, limit in unpacked:
        if limit is not None:
            monkeypatch.setattr(model_module, "DECODE_COPY_LIMIT_BYTES", limit)
        with decoding(model, rows=rows, steps=steps):
            assert model.layers[0].decode_weights.packed_rows == 0 and model.decode_head.packed_rows == 0


def test_a_model_not_in_fp32_or_under_autocast_decodes_from_its_parameters():
    """The copies and the in-place decode kernels are exact for fp32 only (an in-place rotation of
    bf16 heads would round twice where the plain path rounds once)."""
    model = Transformer(tiny()).eval()
    with torch.autocast("cpu", dtype=torch.bfloat16), decoding(model):
        assert all(layer.decode_weights is None for layer in model.layers) and model.decode_head is None
    model = model.to(torch.bfloat16)
    with decoding(model):
        assert all(layer.decode_weights is None for layer in model.layers) and model.decode_head is None


def test_decode_kernels_give_exactly_the_values_of_the_plain_ops():
    """The decode path's RMSNorm and in-place RoPE are the plain ops rearranged into fewer kernels;
    each must give bit-identical values, so only the fused matmuls can move a result, by rounding."""
    torch.manual_seed(0)
    for shape in [(1, 1, 384), (8, 3, 128), (2, 5, 64)]:
        x, weight = torch.randn(shape), torch.randn(shape[-1])
        eps, width = torch.tensor(1e-5), torch.tensor(float(shape[-1]))
        assert torch.equal(rms_norm(x, weight, eps, width), F.rms_norm(x, (shape[-1],), weight, 1e-5))
    head_dim, heads = 64, 6
    for positions in [torch.arange(3, 5), torch.tensor([[0, 1], [7, 8]])]:  # shared, or per row
        cos, sin = rope_cos_sin(head_dim, positions, 10000.0)
        x = torch.randn(2, 2, heads, head_dim)
        expected = apply_rope(x, cos.unsqueeze(-2), sin.unsqueeze(-2))
        sign = DecodeWeights([[torch.nn.Linear(4, 4)]], tiny(d_model=head_dim * 4)).rope_sign
        rotate_(x, cos.unsqueeze(-2), sin.unsqueeze(-2) * sign)
        assert torch.equal(x, expected)


def test_loss_ignores_minus_100_targets_and_starts_near_log_vocab():
    torch.manual_seed(0)
    model = Transformer(tiny())
    idx, targets = torch.randint(0, 300, (2, 4, 32))
    _, loss = model(idx, targets)
    assert abs(loss.item() - math.log(300)) < 0.3  # small init: predictions start near uniform
    masked = targets.clone()
    masked[:, :16] = -100
    logits, half = model(idx, masked)
    expected = torch.nn.functional.cross_entropy(logits[:, 16:].reshape(-1, 300), targets[:, 16:].reshape(-1))
    assert torch.allclose(half, expected, atol=1e-5)


def test_depth_scaled_init_on_residual_projections():
    torch.manual_seed(0)
    model = Transformer(model_config("tiny", 300, n_layers=8, d_model=256, ffn_hidden=768))
    expected = 0.02 / math.sqrt(2 * 8)
    assert abs(model.layers[3].self_attn.o_proj.weight.std().item() - expected) < 0.1 * expected
    assert abs(model.layers[3].mlp.down_proj.weight.std().item() - expected) < 0.1 * expected
    assert abs(model.layers[3].mlp.up_proj.weight.std().item() - 0.02) < 0.002
    assert torch.all(model.norm.weight == 1)
    assert not any(name.endswith("bias") for name, _ in model.named_parameters())


def test_weights_drop_the_tied_head_and_load_back_exactly():
    torch.manual_seed(0)
    model = Transformer(tiny())
    weights = model.weights()
    assert "lm_head.weight" not in weights and "embed_tokens.weight" in weights
    torch.manual_seed(1)
    other = Transformer(tiny())
    other.load_weights(weights)
    assert other.lm_head.weight is other.embed_tokens.weight
    idx = torch.randint(0, 300, (1, 8))
    assert torch.equal(model(idx), other(idx))
    untied = Transformer(tiny(tie_embeddings=False))
    assert "lm_head.weight" in untied.weights()
    with pytest.raises(UserError, match="do not match"):
        untied.load_weights(weights)
    bad = dict(weights, **{"norm.weight": torch.ones(3)})
    with pytest.raises(UserError, match="shape"):
        other.load_weights(bad)
