"""`llmkit export --format gguf`: the file read back with gguf's own reader holds the checkpoint's
tensors, vocabulary, special tokens, chat template and hyper-parameters; a forward pass written from
the file alone with llama.cpp's conventions gives llmkit's logits; and, where llama-cpp-python is
installed, llama.cpp itself tokenizes and continues prompts as llmkit does."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from conftest import TOKENIZER_TEXT, assert_one_line_error, make_checkpoint, make_tokenizer, run_cli

from llmkit.export import CHAT_TEMPLATE
from llmkit.gguf_export import export_gguf, rope_deinterleave, rope_interleave

gguf = pytest.importorskip("gguf")

PROMPTS = ["The river runs", "Bread rises slowly in", "Émilie visited 東京 🙂", "1234 sacks"]


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))


def read(path):
    """(metadata {key: value}, tensors {name: ReaderTensor}) of a GGUF file, via gguf's reader."""
    reader = gguf.GGUFReader(path)
    fields = {k: f.contents() for k, f in reader.fields.items() if not k.startswith("GGUF.")}
    return fields, {t.name: t for t in reader.tensors}


def as_float(t) -> np.ndarray:
    """A GGUF tensor as a float32 copy (the reader maps the file read-only), in (rows, columns) order."""
    shape = tuple(reversed(t.shape.tolist()))
    return np.array(gguf.quants.dequantize(t.data, t.tensor_type), dtype=np.float32).reshape(shape)


def llmkit_tensors(file_tensors, n_heads, n_kv_heads) -> dict[str, np.ndarray]:
    """The GGUF tensors under llmkit's names, q and k back in the Hugging Face RoPE layout."""
    out = {}
    for name, t in file_tensors.items():
        w = as_float(t)
        parts = name.split(".")
        if name.startswith("blk."):
            i, kind = parts[1], parts[2]
            if kind == "attn_q":
                w = rope_deinterleave(w, n_heads)
            elif kind == "attn_k":
                w = rope_deinterleave(w, n_kv_heads)
            names = {
                "attn_q": "self_attn.q_proj", "attn_k": "self_attn.k_proj", "attn_v": "self_attn.v_proj",
                "attn_output": "self_attn.o_proj", "ffn_gate": "mlp.gate_proj", "ffn_up": "mlp.up_proj",
                "ffn_down": "mlp.down_proj", "attn_norm": "input_layernorm",
                "ffn_norm": "post_attention_layernorm",
            }  # fmt: skip
            out[f"layers.{i}.{names[kind]}.weight"] = w
        else:
            top = {"token_embd": "embed_tokens", "output_norm": "norm", "output": "lm_head"}
            out[f"{top[parts[0]]}.weight"] = w
    return out


def test_permutation_is_invertible_and_per_head():
    w = np.arange(4 * 8 * 3, dtype=np.float32).reshape(32, 3)
    p = rope_interleave(w, 4)
    assert np.array_equal(rope_deinterleave(p, 4), w)
    # within head 0 (rows 0..7): the pairs (0, 4), (1, 5), ... become adjacent rows
    assert [int(r) for r in p[:8, 0] // 3] == [0, 4, 1, 5, 2, 6, 3, 7]


@pytest.mark.parametrize("tie", [True, False])
def test_f32_round_trip_is_bit_identical(tmp_path, tokenizer, tie):
    model = make_checkpoint(tmp_path / "ckpt", tokenizer, tie, n_heads=4, n_kv_heads=2)
    summary = export_gguf(tmp_path / "ckpt", tmp_path / "m.gguf", "f32")
    fields, tensors = read(tmp_path / "m.gguf")
    cfg = model.config
    assert ("output.weight" in tensors) is not tie  # tied: llama.cpp falls back to token_embd
    assert summary["tensors"] == len(tensors) == 2 + (not tie) + 9 * cfg.n_layers
    assert {t.tensor_type for t in tensors.values()} == {gguf.GGMLQuantizationType.F32}
    ours = {k: v.numpy() for k, v in model.weights().items()}
    theirs = llmkit_tensors(tensors, cfg.n_heads, cfg.n_kv_heads)
    assert set(theirs) == set(ours)
    for name, w in ours.items():
        assert theirs[name].shape == w.shape, name
        assert np.array_equal(theirs[name].view(np.uint32), w.view(np.uint32)), name
    # the q/k rows really are reordered in the file (not identical to the checkpoint)
    assert not np.array_equal(as_float(tensors["blk.0.attn_q.weight"]), ours["layers.0.self_attn.q_proj.weight"])
    assert fields["general.architecture"] == "llama" and fields["general.file_type"] == 0
    assert {
        k.removeprefix("llama."): v for k, v in fields.items() if k.startswith("llama.")
    } == pytest.approx({
        "vocab_size": tokenizer.vocab_size, "context_length": cfg.seq_len, "embedding_length": cfg.d_model,
        "block_count": cfg.n_layers, "feed_forward_length": cfg.ffn_hidden,
        "attention.head_count": cfg.n_heads, "attention.head_count_kv": cfg.n_kv_heads,
        "attention.key_length": cfg.head_dim, "attention.value_length": cfg.head_dim,
        "rope.dimension_count": cfg.head_dim, "rope.freq_base": cfg.rope_theta,
        "attention.layer_norm_rms_epsilon": cfg.norm_eps,
    })  # fmt: skip


def test_tokenizer_special_tokens_and_chat_template(tmp_path, tokenizer):
    make_checkpoint(tmp_path / "ckpt", tokenizer, tie=True)
    export_gguf(tmp_path / "ckpt", tmp_path / "m.gguf")
    fields, _ = read(tmp_path / "m.gguf")
    assert fields["tokenizer.ggml.model"] == "gpt2" and fields["tokenizer.ggml.pre"] == "llama-bpe"
    tokens = fields["tokenizer.ggml.tokens"]
    assert tokens == [tokenizer.id_to_token(i) for i in range(tokenizer.vocab_size)]
    control, normal = gguf.TokenType.CONTROL, gguf.TokenType.NORMAL
    n_special = len(tokenizer.special_ids)  # the chat tokens and the two tool tokens
    assert fields["tokenizer.ggml.token_type"] == [control] * n_special + [normal] * (tokenizer.vocab_size - n_special)
    spec = json.loads(tokenizer.path.read_text())
    assert fields["tokenizer.ggml.merges"] == [" ".join(m) for m in spec["model"]["merges"]]
    assert fields["tokenizer.ggml.bos_token_id"] == fields["tokenizer.ggml.eos_token_id"] == tokenizer.eot_id
    assert fields["tokenizer.ggml.eot_token_id"] == tokenizer.im_end_id
    assert fields["tokenizer.ggml.padding_token_id"] == tokenizer.pad_id
    assert fields["tokenizer.ggml.add_bos_token"] is True and fields["tokenizer.ggml.add_eos_token"] is False
    assert fields["tokenizer.chat_template"] == CHAT_TEMPLATE


def test_f16_and_q8_0_are_within_their_rounding(tmp_path, tokenizer):
    model = make_checkpoint(tmp_path / "ckpt", tokenizer, tie=False)
    cfg, ours = model.config, {k: v.numpy() for k, v in model.weights().items()}
    sizes = {}
    for kind in ("f16", "q8_0"):
        export_gguf(tmp_path / "ckpt", tmp_path / f"{kind}.gguf", kind)
        fields, tensors = read(tmp_path / f"{kind}.gguf")
        sizes[kind] = (tmp_path / f"{kind}.gguf").stat().st_size
        theirs = llmkit_tensors(tensors, cfg.n_heads, cfg.n_kv_heads)
        for name, w in ours.items():
            if w.ndim == 1:  # norm gains stay f32
                assert np.array_equal(theirs[name], w), name
            elif kind == "f16":
                assert np.array_equal(theirs[name], w.astype(np.float16).astype(np.float32)), name
            else:  # q8_0: blocks of 32 values q · d, d = amax / 127 stored in f16 (relative error
                # ≤ 2⁻¹¹), q rounded: off by at most d / 2 + 127 · d · 2⁻¹¹
                d = np.abs(w.reshape(-1, 32)).max(axis=1, keepdims=True) / 127
                err = np.abs(theirs[name].reshape(-1, 32) - w.reshape(-1, 32))
                assert (err <= d * (0.5 + 127 * 2**-11) * 1.0001).all(), name
                assert err.max() > 0, name
        types = {t.tensor_type for name, t in tensors.items() if not name.endswith("norm.weight")}
        assert types == {gguf.GGMLQuantizationType.F16 if kind == "f16" else gguf.GGMLQuantizationType.Q8_0}
    assert sizes["q8_0"] < sizes["f16"]


def gguf_logits(fields: dict, w: dict[str, torch.Tensor], ids: torch.Tensor) -> torch.Tensor:
    """Logits (T, vocab) of token ids (T,) from a GGUF file's metadata and tensors alone, computed the
    way llama.cpp's `llama` graph does: RoPE on adjacent pairs (2i, 2i + 1), grouped-query heads,
    SwiGLU, and the token embedding as the output matrix when there is no `output.weight`."""
    n_heads, n_kv = fields["llama.attention.head_count"], fields["llama.attention.head_count_kv"]
    eps, theta = fields["llama.attention.layer_norm_rms_epsilon"], fields["llama.rope.freq_base"]
    d = fields["llama.embedding_length"]
    hd, T = d // n_heads, ids.numel()
    angles = torch.arange(T)[:, None] * theta ** (-torch.arange(0, hd, 2) / hd)  # (T, hd/2)
    cos, sin = angles.cos()[None], angles.sin()[None]

    def rope(z):  # (H, T, hd) → rotated adjacent pairs
        a, b = z[..., 0::2], z[..., 1::2]
        return torch.stack([a * cos - b * sin, a * sin + b * cos], dim=-1).flatten(-2)

    def norm(z, gain):
        return F.rms_norm(z, (d,), gain, eps)

    x = w["token_embd.weight"][ids]
    for i in range(fields["llama.block_count"]):
        blk = lambda n, i=i: w[f"blk.{i}.{n}.weight"]  # noqa: E731
        h = norm(x, blk("attn_norm"))
        q = rope((h @ blk("attn_q").T).view(T, n_heads, hd).transpose(0, 1))
        k = rope((h @ blk("attn_k").T).view(T, n_kv, hd).transpose(0, 1))
        v = (h @ blk("attn_v").T).view(T, n_kv, hd).transpose(0, 1)
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
        x = x + y.transpose(0, 1).reshape(T, d) @ blk("attn_output").T
        h = norm(x, blk("ffn_norm"))
        x = x + (F.silu(h @ blk("ffn_gate").T) * (h @ blk("ffn_up").T)) @ blk("ffn_down").T
    return norm(x, w["output_norm.weight"]) @ w.get("output.weight", w["token_embd.weight"]).T


@pytest.mark.parametrize("tie", [True, False])
def test_llama_cpp_style_forward_of_the_file_gives_llmkits_logits(tmp_path, tokenizer, tie):
    model = make_checkpoint(tmp_path / "ckpt", tokenizer, tie, n_heads=4, n_kv_heads=2)
    export_gguf(tmp_path / "ckpt", tmp_path / "m.gguf", "f32")
    ids = torch.tensor(tokenizer.encode(TOKENIZER_TEXT[:200])[:40])
    with torch.no_grad():
        ours = model(ids[None])[0]
    fields, tensors = read(tmp_path / "m.gguf")
    w = {name: torch.from_numpy(as_float(t)) for name, t in tensors.items()}
    assert (ours - gguf_logits(fields, w, ids)).abs().max().item() < 1e-4
    # the same pass over q and k left in Hugging Face's layout is clearly wrong: the check sees RoPE
    for name in [n for n in w if n.endswith(("attn_q.weight", "attn_k.weight"))]:
        heads = fields["llama.attention.head_count" + ("_kv" if "attn_k" in name else "")]
        w[name] = torch.from_numpy(rope_deinterleave(w[name].numpy(), heads))
    assert (ours - gguf_logits(fields, w, ids)).abs().max().item() > 1e-3


def test_export_gguf_cli_and_errors(tmp_path, tokenizer):
    import torch as _torch

    from llmkit.checkpoint_files import save_checkpoint
    from llmkit.model import RewardModel, model_config

    make_checkpoint(tmp_path / "ckpt", tokenizer, tie=True)
    out = tmp_path / "m.gguf"
    r = run_cli("export", tmp_path / "ckpt", out, "--format", "gguf", "--gguf-type", "q8_0")
    assert r.returncode == 0, r.stderr
    assert "GGUF (q8_0)" in r.stdout and out.is_file()
    assert_one_line_error(run_cli("export", tmp_path / "ckpt", out, "--format", "gguf"), "already exists")
    assert run_cli("export", tmp_path / "ckpt", out, "--format", "gguf", "--force").returncode == 0
    assert read(out)[0]["general.file_type"] == 1  # f16, the default
    assert_one_line_error(
        run_cli("export", tmp_path / "ckpt", tmp_path / "x", "--format", "onnx"), "--format must be", "gguf"
    )
    assert_one_line_error(
        run_cli("export", tmp_path / "ckpt", tmp_path / "x", "--format", "gguf", "--gguf-type", "q4"),
        "--gguf-type must be",
    )
    assert_one_line_error(run_cli("export", tmp_path / "ckpt", tmp_path, "--format", "gguf"), "is a directory")
    _torch.manual_seed(0)
    cfg = model_config("tiny", vocab_size=tokenizer.vocab_size, n_layers=1, d_model=32, n_heads=2)
    save_checkpoint(tmp_path / "rm", RewardModel(cfg).weights(), cfg.to_dict(), tokenizer.path, stage="test")
    assert_one_line_error(
        run_cli("export", tmp_path / "rm", tmp_path / "rm.gguf", "--format", "gguf"), "reward model"
    )
    weights = {k: v for k, v in RewardModel(cfg).weights().items() if k != "score.weight"}
    weights["layers.0.mlp.up_proj.weight"] = weights["layers.0.mlp.up_proj.weight"][:10]
    save_checkpoint(tmp_path / "bad", weights, cfg.to_dict(), tokenizer.path, stage="test")
    assert_one_line_error(
        run_cli("export", tmp_path / "bad", tmp_path / "bad.gguf", "--format", "gguf"),
        "weights do not match config.json", "up_proj",
    )
    assert not (tmp_path / "x").exists() and not (tmp_path / "rm.gguf").exists()
    assert not (tmp_path / "bad.gguf").exists()
    assert not list(tmp_path.glob("*.partial"))


def test_a_single_digit_tokenizer_is_refused(tmp_path):
    """llama.cpp has no pre-tokenizer that splits one digit per piece exactly as llmkit does: one line,
    exit 2, no file (export --format hf carries the split instead)."""
    make_checkpoint(tmp_path / "ckpt", make_tokenizer(tmp_path / "tok", digits="single"), tie=True)
    out = tmp_path / "m.gguf"
    assert_one_line_error(
        run_cli("export", tmp_path / "ckpt", out, "--format", "gguf"), "single digits", "--format hf"
    )
    assert not out.exists() and not list(tmp_path.glob("*.partial"))


def test_a_failed_write_leaves_no_output_and_keeps_the_old_file(tmp_path, tokenizer, monkeypatch):
    make_checkpoint(tmp_path / "ckpt", tokenizer, tie=True)
    out = tmp_path / "m.gguf"
    export_gguf(tmp_path / "ckpt", out, "f32")
    before = out.read_bytes()

    def fail(self, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(gguf.GGUFWriter, "write_tensors_to_file", fail)
    for target in (out, tmp_path / "new.gguf"):
        with pytest.raises(OSError, match="disk full"):
            export_gguf(tmp_path / "ckpt", target, "f16", force=True)
    assert out.read_bytes() == before
    assert not (tmp_path / "new.gguf").exists() and not list(tmp_path.glob("*.partial"))


# --------------------------------------------------------------------------------------- other readers


def test_transformers_gguf_loader_gives_llmkits_logits_ids_and_chat_ids(tmp_path, tokenizer):
    """transformers reads GGUF files on its own (it undoes the converter's q/k permutation and builds
    a tokenizer from the metadata): a second, independent reader of what the file means."""
    transformers = pytest.importorskip("transformers")
    pytest.importorskip("accelerate")  # transformers needs it to load a GGUF file
    model = make_checkpoint(tmp_path / "ckpt", tokenizer, tie=False, n_heads=4, n_kv_heads=2)
    ids = torch.randint(0, tokenizer.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(ids)
    for kind, tolerance in (("f32", 1e-5), ("f16", 1e-2), ("q8_0", 5e-2)):
        export_gguf(tmp_path / "ckpt", tmp_path / f"{kind}.gguf", kind)
        hf = transformers.AutoModelForCausalLM.from_pretrained(
            tmp_path, gguf_file=f"{kind}.gguf", dtype=torch.float32
        ).eval()
        assert type(hf).__name__ == "LlamaForCausalLM"
        with torch.no_grad():
            assert (hf(ids).logits - ours).abs().max().item() < tolerance, kind
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path, gguf_file="f32.gguf")
    for text in [*PROMPTS, TOKENIZER_TEXT[:300], "  spaces\tand\nnewlines  "]:
        assert hf_tok(text)["input_ids"] == [tokenizer.eot_id, *tokenizer.encode(text)]  # bos added
    messages = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "It is 4."}]
    rendered = hf_tok.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=False)
    assert hf_tok(rendered, add_special_tokens=False)["input_ids"] == tokenizer.render_chat(
        messages[:1], add_generation_prompt=True
    )[0]
    rendered = hf_tok.apply_chat_template(messages, tokenize=False)
    assert hf_tok(rendered, add_special_tokens=False)["input_ids"] == tokenizer.render_chat(messages)[0]


# --------------------------------------------------------------------------------------- llama.cpp itself


def peaked_checkpoint(path, tokenizer):
    """A random model whose next-token logits are far apart (weights ×20), so greedy decoding by two
    implementations cannot differ on a float-rounding tie."""
    from llmkit.checkpoint_files import save_checkpoint

    model = make_checkpoint(path.with_name("unused"), tokenizer, tie=False, n_heads=4, n_kv_heads=2)
    weights = {k: v * 20 if v.dim() == 2 else v for k, v in model.weights().items()}
    save_checkpoint(path, weights, model.config.to_dict(), tokenizer.path, stage="test")
    return path


def test_llama_cpp_loads_the_file_and_continues_prompts_as_llmkit_does(tmp_path, tokenizer):
    llama_cpp = pytest.importorskip("llama_cpp")
    from llmkit.checkpoint import load_model
    from llmkit.engine import SamplingConfig
    from llmkit.generate import encode_prompt, run_generate
    from llmkit.parquet import open_parquet

    ckpt = peaked_checkpoint(tmp_path / "ckpt", tokenizer)
    export_gguf(ckpt, tmp_path / "m.gguf", "f32")
    f32 = llama_cpp.GGML_TYPE_F32  # its KV cache too (f16 by default), so logits compare closely
    llm = llama_cpp.Llama(
        model_path=str(tmp_path / "m.gguf"), n_ctx=64, n_threads=1, logits_all=True, type_k=f32, type_v=f32,
        verbose=False,
    )
    assert llm.metadata["tokenizer.chat_template"] == CHAT_TEMPLATE
    for text in [*PROMPTS, "  spaces\tand\nnewlines  ", "<|im_end|> is text here", TOKENIZER_TEXT[:200]]:
        assert llm.tokenize(text.encode(), add_bos=True, special=False) == encode_prompt(tokenizer, text, False)
    chat_text = b"<|im_start|>user<|im_sep|>What is 2 + 2?<|im_end|><|im_start|>assistant<|im_sep|>"
    chat_ids = encode_prompt(tokenizer, [{"role": "user", "content": "What is 2 + 2?"}], chat=True)
    assert llm.tokenize(chat_text, add_bos=False, special=True) == chat_ids

    model = load_model(ckpt, "cpu")[0]
    for prompt in PROMPTS:  # logits at every prompt position
        ids = encode_prompt(tokenizer, prompt, False)
        llm.reset()
        llm.eval(ids)
        with torch.no_grad():
            ours = model(torch.tensor([ids]))[0].numpy()
        assert np.abs(np.asarray(llm.scores[: len(ids)]) - ours).max() < 1e-3  # logits' std ≈ 3.5

    n_new = 12
    run_generate(ckpt, PROMPTS, SamplingConfig(max_new_tokens=n_new, temperature=0), out_dir=tmp_path / "gen")
    rows = open_parquet(tmp_path / "gen" / "part-00000.parquet").read().to_pylist()
    stops = (tokenizer.eot_id, tokenizer.im_end_id)
    for prompt, row in zip(PROMPTS, rows, strict=True):
        new = []
        for token in llm.generate(encode_prompt(tokenizer, prompt, False), temp=0.0, top_k=1, reset=True):
            new.append(token)
            if len(new) == n_new or token in stops:
                break
        text = llm.detokenize([t for t in new if t not in stops]).decode("utf-8", errors="replace")
        assert text == row["completion"], prompt
    assert sum(row["completion_tokens"] for row in rows) > 2 * len(PROMPTS)  # they say something

    # f16 and q8_0 files load too; llama.cpp also rounds activations for q8_0 matmuls, hence the bound
    for kind, bound in (("f16", 0.01), ("q8_0", 0.2)):
        export_gguf(ckpt, tmp_path / f"{kind}.gguf", kind)
        llm = llama_cpp.Llama(
            model_path=str(tmp_path / f"{kind}.gguf"), n_ctx=64, n_threads=1, logits_all=True, verbose=False
        )
        ids = encode_prompt(tokenizer, TOKENIZER_TEXT[:90], False)
        llm.eval(ids)
        with torch.no_grad():
            ours = model(torch.tensor([ids]))[0].numpy()
        assert np.abs(np.asarray(llm.scores[: len(ids)]) - ours).mean() < bound * ours.std(), kind
