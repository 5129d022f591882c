"""`llmkit export --format gguf`: a checkpoint as one llama.cpp GGUF file (architecture `llama`).

Written with `gguf`, llama.cpp's own Python writer, following what its `convert_hf_to_gguf.py` does
for a `LlamaForCausalLM` folder, so llama.cpp and the programs built on it load it:

- hyper-parameters under `llama.*` (context length, width, layers, grouped-query head counts,
  feed-forward size, RoPE theta and dimension, RMSNorm eps);
- tensors named by gguf's own HF → GGUF name map (`token_embd`, `blk.N.attn_q`, ..., `output_norm`,
  `output`; no `output` when the head is tied: llama.cpp then reads `token_embd`), in f32, f16 or
  q8_0 (norm gains stay f32, as the converter keeps every 1-D tensor);
- q and k projections with their rows permuted from Hugging Face's rotate-half RoPE layout (which
  llmkit's model uses) to the interleaved pairs that llama.cpp's `llama` architecture rotates;
- the byte-level BPE as llama.cpp's `gpt2` tokenizer model with the `llama-bpe` pre-tokenizer (the
  GPT-4 split llmkit trains behind, with whole-piece lookup first), special tokens as CONTROL, their
  roles, and the chat template. A tokenizer trained with `--digits single` is refused: no llama.cpp
  pre-tokenizer splits exactly as it does.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from llmkit.artifacts import partial_path
from llmkit.checkpoint import checkpoint_weights
from llmkit.checkpoint_files import open_checkpoint
from llmkit.defaults import stage_default
from llmkit.errors import UserError
from llmkit.export import CHAT_TEMPLATE, hf_tensor_name
from llmkit.model import ModelConfig, Transformer
from llmkit.tokenizer import SPECIAL_TOKENS, load_tokenizer

GGUF_TYPES = ("f32", "f16", "q8_0")
# llama.cpp's pre-tokenizer whose split is llmkit's SPLIT_PATTERN (Llama 3's, GPT-4's cl100k) and
# which, like llmkit's tokenizer.json (`ignore_merges`), looks a whole piece up before merging.
PRE_TOKENIZER = "llama-bpe"
BOS, PAD, EOT = "<|endoftext|>", "<|pad|>", "<|im_end|>"


def rope_interleave(w: np.ndarray, n_heads: int) -> np.ndarray:
    """Rows of a q or k projection (n_heads · head_dim, d_model), reordered within each head from
    rotate-half pairs (i, i + head_dim/2) to interleaved pairs (2i, 2i + 1).

    llama.cpp's `llama` architecture rotates adjacent pairs (RoPE as in Meta's original code), while
    Hugging Face's Llama (and llmkit) rotates halves; this is the permutation `convert_hf_to_gguf`
    applies to `q_proj` (with n_heads) and `k_proj` (with n_kv_heads). q·k is unchanged because both
    sides are permuted alike; v and o are not touched.
    """
    rows = w.shape[0]
    return w.reshape(n_heads, 2, rows // n_heads // 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def rope_deinterleave(w: np.ndarray, n_heads: int) -> np.ndarray:
    """The inverse of `rope_interleave`: a GGUF q or k projection back in Hugging Face's layout."""
    rows = w.shape[0]
    return w.reshape(n_heads, rows // n_heads // 2, 2, *w.shape[1:]).swapaxes(1, 2).reshape(w.shape)


def export_gguf(
    checkpoint: str | Path,
    out: str | Path,
    gguf_type: str = stage_default("export", "gguf_type"),
    force: bool = False,
) -> dict:
    """Write `checkpoint` as one GGUF file at `out` with 2-D weights in `gguf_type` (f32, f16, q8_0).

    Written to `out.partial` and renamed at the end, so a failed export leaves no `out`. A reward
    model (score head), an unknown type, or an existing `out` without `force` is a UserError.
    Returns a summary: out, type, tensors, parameters, bytes.
    """
    import gguf

    if gguf_type not in GGUF_TYPES:
        raise UserError(f"--gguf-type must be one of {', '.join(GGUF_TYPES)} (got {gguf_type!r})")
    ckpt = open_checkpoint(checkpoint)
    cfg = ModelConfig.from_dict(ckpt.model_config)
    if cfg.n_experts:
        raise UserError(
            f"{ckpt.path} is a mixture-of-experts model; --format gguf writes dense Llama models: "
            "export --format hf (a Mixtral folder) and convert that with llama.cpp's convert_hf_to_gguf.py"
        )
    if cfg.rope_scaling or cfg.qkv_bias:  # an imported Llama 3.1 or Qwen2 model
        raise UserError(
            f"{ckpt.path} uses {'RoPE scaling' if cfg.rope_scaling else 'q/k/v biases'}, which this GGUF writer "
            "does not write: export --format hf and convert that with llama.cpp's convert_hf_to_gguf.py"
        )
    out = Path(out)
    if out.is_dir():
        raise UserError(f"{out} is a directory; --format gguf writes one file (e.g. {out}/model.gguf)")
    if out.exists() and not force:
        raise UserError(f"{out} already exists; pass --force to overwrite it")
    # a LoRA adapter saved apart comes merged onto its base
    weights = {name: t.float().numpy() for name, t in checkpoint_weights(ckpt).items()}
    if "score.weight" in weights:
        raise UserError(f"{ckpt.path} is a reward model (it has score.weight); GGUF holds language models")
    _check_shapes(weights, cfg, ckpt.path)
    tensors = gguf_tensors(weights, cfg, gguf_type)

    writer = gguf.GGUFWriter(None, gguf.MODEL_ARCH_NAMES[gguf.MODEL_ARCH.LLAMA])
    _add_hyperparameters(writer, cfg, ckpt.path.name, gguf_type)
    _add_tokenizer(writer, ckpt.tokenizer_path, cfg.vocab_size)
    for name, (data, qtype) in tensors.items():
        writer.add_tensor(name, data, raw_dtype=qtype)
    tmp = partial_path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    try:
        writer.write_header_to_file(tmp)
        writer.write_kv_data_to_file()
        writer.write_tensors_to_file()
        writer.flush()
        os.fsync(writer.fout[0].fileno())
        writer.close()
        os.replace(tmp, out)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    return {
        "out": str(out),
        "type": gguf_type,
        "tensors": len(tensors),
        "parameters": int(sum(w.size for w in weights.values())),
        "bytes": out.stat().st_size,
    }


def _check_shapes(weights: dict[str, np.ndarray], cfg: ModelConfig, path: Path) -> None:
    """The tensors the config implies, with their shapes: a GGUF file built from anything else would
    only fail when llama.cpp loads it."""
    import torch

    with torch.device("meta"):  # shapes only, no memory
        expected = {name: tuple(t.shape) for name, t in Transformer(cfg).weights().items()}
    got = {name: w.shape for name, w in weights.items()}
    if got != expected:
        wrong = sorted(n for n in set(got) | set(expected) if got.get(n) != expected.get(n))
        raise UserError(
            f"{path}: weights do not match config.json ({', '.join(wrong[:3])}: "
            f"{[got.get(n) for n in wrong[:3]]} in the file, {[expected.get(n) for n in wrong[:3]]} expected)"
        )


def gguf_tensors(weights: dict[str, np.ndarray], cfg: ModelConfig, gguf_type: str) -> dict:
    """llmkit weights → {GGUF name: (array, GGMLQuantizationType)}, permuted and converted.

    1-D tensors (norm gains) stay f32. With q8_0 a matrix whose rows are not a multiple of the
    32-value block falls back to f16, as the converter does.
    """
    import gguf

    names = gguf.get_tensor_name_map(gguf.MODEL_ARCH.LLAMA, cfg.n_layers)
    Q = gguf.GGMLQuantizationType
    tensors = {}
    for name, w in weights.items():
        if cfg.tie_embeddings and name == "lm_head.weight":
            continue  # llama.cpp uses token_embd when there is no output tensor
        gguf_name = names.get_name(hf_tensor_name(name), try_suffixes=(".weight",))
        if gguf_name is None:
            raise UserError(f"checkpoint tensor {name} has no place in a GGUF llama model")
        if name.endswith("q_proj.weight"):
            w = rope_interleave(w, cfg.n_heads)
        elif name.endswith("k_proj.weight"):
            w = rope_interleave(w, cfg.n_kv_heads)
        w = np.ascontiguousarray(w, dtype=np.float32)
        if w.ndim == 1 or gguf_type == "f32":
            tensors[gguf_name] = (w, Q.F32)
            continue
        if gguf_type == "q8_0":
            try:
                tensors[gguf_name] = (gguf.quants.quantize(w, Q.Q8_0), Q.Q8_0)
                continue
            except gguf.quants.QuantError:
                pass
        tensors[gguf_name] = (w.astype(np.float16), Q.F16)
    return tensors


def _add_hyperparameters(writer, cfg: ModelConfig, name: str, gguf_type: str) -> None:
    """The `general.*` and `llama.*` keys llama.cpp reads to build the model."""
    import gguf

    file_types = {
        "f32": gguf.LlamaFileType.ALL_F32,
        "f16": gguf.LlamaFileType.MOSTLY_F16,
        "q8_0": gguf.LlamaFileType.MOSTLY_Q8_0,
    }
    writer.add_type(gguf.GGUFType.MODEL)
    writer.add_name(name)
    writer.add_file_type(file_types[gguf_type])
    writer.add_quantization_version(gguf.GGML_QUANT_VERSION)
    writer.add_vocab_size(cfg.vocab_size)
    writer.add_context_length(cfg.seq_len)
    writer.add_embedding_length(cfg.d_model)
    writer.add_block_count(cfg.n_layers)
    writer.add_feed_forward_length(cfg.ffn_hidden)
    writer.add_head_count(cfg.n_heads)
    writer.add_head_count_kv(cfg.n_kv_heads)
    writer.add_key_length(cfg.head_dim)
    writer.add_value_length(cfg.head_dim)
    writer.add_rope_dimension_count(cfg.head_dim)
    writer.add_rope_freq_base(cfg.rope_theta)
    writer.add_layer_norm_rms_eps(cfg.norm_eps)


def _add_tokenizer(writer, tokenizer_json: Path, vocab_size: int) -> None:
    """The vocabulary, merges, special tokens and their roles, and the chat template.

    Roles as llmkit uses them: plain text is read after <|endoftext|> (bos, added), which also ends
    a document (eos); <|im_end|> ends a chat turn (eot); <|pad|> pads.
    """
    import gguf

    tok = load_tokenizer(tokenizer_json)
    if tok.encoder != "tiktoken":
        raise UserError(
            f"{tokenizer_json} is not in the form llmkit trains (GPT-4 split, byte-level BPE), "
            f"so llama.cpp's {PRE_TOKENIZER} pre-tokenizer might split text differently"
        )
    # llama.cpp has no pre-tokenizer that both splits one digit per piece exactly as llmkit does and
    # looks a whole piece up first (its `bailingmoe` has the same regex but not the lookup, which the
    # tiktoken-form merges rely on), so a GGUF file could encode differently: refused, not guessed.
    if tok.digits != "groups":
        raise UserError(
            f"{tokenizer_json} splits numbers into single digits (train-tokenizer --digits single), which "
            "no llama.cpp pre-tokenizer reproduces exactly: export --format hf instead"
        )
    spec = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    ids = dict(spec["model"]["vocab"])
    ids.update({t["content"]: t["id"] for t in spec.get("added_tokens", [])})
    tokens = sorted(ids, key=ids.__getitem__)
    if [ids[t] for t in tokens] != list(range(len(tokens))):
        raise UserError(f"{tokenizer_json}: token ids are not 0..{len(tokens) - 1} without gaps")
    if len(tokens) > vocab_size:
        raise UserError(f"{tokenizer_json} has {len(tokens)} tokens, more than the model's {vocab_size}")
    types = [gguf.TokenType.CONTROL if t in SPECIAL_TOKENS else gguf.TokenType.NORMAL for t in tokens]
    # embedding rows past the tokenizer's vocabulary get placeholder tokens, as the converter writes
    padding = range(len(tokens), vocab_size)
    tokens += [f"[PAD{i}]" for i in padding]
    types += [gguf.TokenType.UNUSED] * len(padding)
    merges = [m if isinstance(m, str) else " ".join(m) for m in spec["model"]["merges"]]

    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(PRE_TOKENIZER)
    writer.add_token_list(tokens)
    writer.add_token_types(types)
    writer.add_token_merges(merges)
    writer.add_bos_token_id(ids[BOS])
    writer.add_eos_token_id(ids[BOS])
    writer.add_eot_token_id(ids[EOT])
    writer.add_pad_token_id(ids[PAD])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    writer.add_chat_template(CHAT_TEMPLATE)
