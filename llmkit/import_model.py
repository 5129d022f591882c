"""`llmkit import-model`: a local Hugging Face `LlamaForCausalLM` (or `Qwen2ForCausalLM`) folder → an
ordinary llmkit checkpoint, which every post-training stage, eval, chat, serve and export then use.

What it reads (never downloads: the path is a local folder): config.json, the weights as
`*.safetensors` (one file, or shards listed in model.safetensors.index.json), tokenizer.json and
tokenizer_config.json. PyTorch `.bin` pickles are refused: loading one runs arbitrary code.

The weights need no conversion: llmkit's parameter names are Hugging Face's without the `model.`
prefix, and RoPE uses the same rotate-half layout (llmkit/model.py). Qwen2 differs from Llama only by
biases on q, k, v (`ModelConfig.qkv_bias`). Weights are stored in fp32 (llmkit's master weights),
whatever the source's dtype.

The tokenizer stays the source's; its special tokens are found by name (`find_roles`) and recorded,
by role, in chat_format.json next to tokenizer.json, which the checkpoint's chat template renders
with. The source's own ChatML-style markers are used where it has them (`<|im_start|>`/`<|im_end|>`,
or Llama 3's `<|start_header_id|>`/`<|end_header_id|>`/`<|eot_id|>`); each role it lacks gets
llmkit's token, added to the vocabulary, and the embedding grows to match (new rows = the mean
embedding, so a new token starts as an "average" token rather than a random one). The manifest says
which tokens were the source's and which were added.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import torch

from llmkit.artifacts import ArtifactWriter, _file_sha256
from llmkit.checkpoint_files import write_checkpoint_files
from llmkit.errors import UserError
from llmkit.model import ModelConfig
from llmkit.tokenizer import CHAT_FORMAT_FILE, SPECIAL_ROLES, TOKENIZER_FILE

ARCHITECTURES = ("LlamaForCausalLM", "Qwen2ForCausalLM")
# Chat-turn markers a tokenizer may already have, by family: (turn start, role/content separator,
# turn end). ChatML (SmolLM2, Qwen) has no separator token; Llama 3 has all three.
CHAT_MARKERS = (
    ("<|im_start|>", "<|im_sep|>", "<|im_end|>"),
    ("<|start_header_id|>", "<|end_header_id|>", "<|eot_id|>"),
)
LLAMA3_SCALING = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")
DOCUMENT_END = ("<|endoftext|>", "<|end_of_text|>")  # tried before the tokenizer's eos_token


def import_model(
    hf_dir: str | Path, out: str | Path, seq_len: int | None = None, force: bool = False
) -> dict:
    """Convert the Hugging Face model folder `hf_dir` into the checkpoint artifact `out`; returns its manifest.

    `seq_len`: the context the checkpoint records (default: the source's max_position_embeddings);
    lower it to bound the KV cache that generation allocates. Anything llmkit's model cannot compute
    exactly as transformers does (another architecture, RoPE scaling, biases elsewhere, sliding
    windows, a non-SiLU MLP) is a UserError, before anything is written.
    """
    src = Path(hf_dir)
    if Path(out).exists() and not force:  # before reading gigabytes of weights
        raise UserError(f"{out} already exists; pass --force to overwrite it")
    if not src.is_dir():
        raise UserError(f"{src} is not a folder; import-model takes a local Hugging Face model folder")
    hf_config = _read_json(src / "config.json")
    cfg = model_config_from_hf(hf_config, seq_len)
    weight_files = find_weight_files(src)
    if not (src / TOKENIZER_FILE).is_file():
        raise UserError(f"{src} has no {TOKENIZER_FILE}; llmkit needs the model's fast tokenizer file")
    tokenizer_config = (
        _read_json(src / "tokenizer_config.json") if (src / "tokenizer_config.json").is_file() else {}
    )

    weights = read_weights(weight_files, cfg)
    hf_tok, chat_format = import_tokenizer(src / TOKENIZER_FILE, tokenizer_config, cfg.vocab_size)
    grown = hf_tok.get_vocab_size(with_added_tokens=True) - cfg.vocab_size
    if grown > 0:
        weights = grow_embedding(weights, cfg, grown)
        cfg.vocab_size += grown
    chat_format["embedding_grown_by"] = max(grown, 0)

    source = {
        "name": hf_config.get("_name_or_path") or src.resolve().name,
        "architecture": hf_config["architectures"][0],
        "path": str(src.resolve()),
        "fingerprint": folder_fingerprint(src, weight_files),
        "dtype": hf_config.get("dtype") or hf_config.get("torch_dtype"),
    }
    with tempfile.TemporaryDirectory() as tmp, ArtifactWriter(
        out, kind="checkpoint", stage="import-model", force=force,
        config={"hf_dir": str(src), "seq_len": cfg.seq_len},
        inputs=[{"path": source["path"], "kind": "hf-model", "fingerprint": source["fingerprint"]}],
    ) as w:  # fmt: skip
        tokenizer_json = Path(tmp) / TOKENIZER_FILE
        hf_tok.save(str(tokenizer_json))
        (Path(tmp) / CHAT_FORMAT_FILE).write_text(json.dumps(chat_format, indent=2), encoding="utf-8")
        write_checkpoint_files(w.path, weights, cfg.to_dict(), tokenizer_json)
        n_params = sum(t.numel() for t in weights.values())
        return w.commit(
            counts={"parameters": n_params, "tensors": len(weights), "weight_files": len(weight_files)},
            extra={"source": source, "chat_format": chat_format},
        )


def model_config_from_hf(hf: dict, seq_len: int | None = None) -> ModelConfig:
    """llmkit's ModelConfig for a Hugging Face config.json dict, or a UserError naming what llmkit's
    model would compute differently."""
    arch = (hf.get("architectures") or [None])[0]
    if arch not in ARCHITECTURES:
        raise UserError(
            f"unsupported architecture {arch or '(none in config.json)'}; import-model reads {', '.join(ARCHITECTURES)}"
        )
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    rope_type = rope.get("rope_type") or rope.get("type") or "default"
    if rope_type not in ("default", "llama3"):
        raise UserError(
            f"{arch} with rope_scaling type {rope_type!r} is not supported: llmkit's RoPE computes plain "
            "RoPE (rope_theta) and Llama 3.1's 'llama3' scaling only"
        )
    scaling = {k: rope[k] for k in LLAMA3_SCALING} if rope_type == "llama3" else None
    refusals = {
        "hidden_act": (hf.get("hidden_act", "silu") != "silu", f"activation {hf.get('hidden_act')!r} (llmkit's MLP is SwiGLU)"),
        "attention_bias": (bool(hf.get("attention_bias")), "attention_bias (biases on every attention projection)"),
        "mlp_bias": (bool(hf.get("mlp_bias")), "mlp_bias"),
        "sliding_window": (bool(hf.get("use_sliding_window")), "sliding-window attention"),
    }  # fmt: skip
    for refused, what in refusals.values():
        if refused:
            raise UserError(f"this {arch} uses {what}, which llmkit's model does not compute")
    d_model, n_heads = hf["hidden_size"], hf["num_attention_heads"]
    if hf.get("head_dim") not in (None, d_model // n_heads):
        raise UserError(
            f"head_dim {hf['head_dim']} differs from hidden_size / num_attention_heads = {d_model // n_heads}; "
            "llmkit's model derives the head size"
        )
    theta = hf.get("rope_theta") or rope.get("rope_theta") or 10000.0
    return ModelConfig(
        vocab_size=hf["vocab_size"],
        seq_len=seq_len or hf.get("max_position_embeddings") or 2048,
        n_layers=hf["num_hidden_layers"],
        d_model=d_model,
        n_heads=n_heads,
        n_kv_heads=hf.get("num_key_value_heads") or n_heads,
        ffn_hidden=hf["intermediate_size"],
        rope_theta=float(theta),
        norm_eps=hf.get("rms_norm_eps", 1e-6),
        tie_embeddings=bool(hf.get("tie_word_embeddings", False)),
        qkv_bias=arch == "Qwen2ForCausalLM",
        rope_scaling=scaling,
    ).validate()


def find_weight_files(src: Path) -> list[Path]:
    """The folder's safetensors files (the shards its index lists, if it has one); a UserError for
    a folder with only pickled weights, or none."""
    index = src / "model.safetensors.index.json"
    if index.is_file():
        shards = sorted(set(_read_json(index).get("weight_map", {}).values()))
        missing = [s for s in shards if not (src / s).is_file()]
        if missing or not shards:
            raise UserError(
                f"{index} lists shards that are not in the folder: {', '.join(missing[:3]) or '(none)'}"
            )
        return [src / s for s in shards]
    files = sorted(src.glob("*.safetensors"))
    if files:
        return files
    pickles = sorted(p.name for p in src.iterdir() if p.suffix in (".bin", ".pt", ".pth", ".ckpt"))
    if pickles:
        raise UserError(
            f"{src} has only pickled PyTorch weights ({', '.join(pickles[:3])}), which llmkit refuses to load "
            "(unpickling runs arbitrary code); convert them to safetensors first"
        )
    raise UserError(f"{src} has no weights (no *.safetensors file)")


def read_weights(files: list[Path], cfg: ModelConfig) -> dict[str, torch.Tensor]:
    """llmkit's state dict (fp32) from Hugging Face tensors: `model.` stripped, a tied LM head (and
    RoPE buffers some old checkpoints store) left out; a missing or unexpected tensor is a UserError."""
    from safetensors import SafetensorError, safe_open

    from llmkit.model import Transformer

    weights = {}
    for f in files:
        try:
            with safe_open(str(f), framework="pt") as st:
                for name in st.keys():  # noqa: SIM118 (safe_open is not a dict)
                    if name.endswith("rotary_emb.inv_freq") or (
                        cfg.tie_embeddings and name == "lm_head.weight"
                    ):
                        continue
                    weights[name.removeprefix("model.")] = st.get_tensor(name).float()
        except (SafetensorError, OSError) as e:
            raise UserError(f"{f} is not a valid safetensors file: {e}") from e
    with torch.device("meta"):  # the expected names and shapes, without allocating a model
        expected = {k: v.shape for k, v in Transformer(cfg).weights().items()}
    missing, unexpected = sorted(set(expected) - set(weights)), sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise UserError(
            f"the weights do not match config.json (missing: {missing[:3]}, unexpected: {unexpected[:3]})"
        )
    for name, shape in expected.items():
        if weights[name].shape != shape:
            raise UserError(
                f"tensor {name} has shape {tuple(weights[name].shape)}, config.json says {tuple(shape)}"
            )
    return weights


def find_roles(hf_tok, tokenizer_config: dict) -> tuple[dict[str, str], list[str]]:
    """(role → token text for every role llmkit uses, the roles whose token the tokenizer lacks).

    By name: the first family of CHAT_MARKERS whose start and end markers the tokenizer has as special
    tokens; the document end is <|endoftext|> (or Llama 3's <|end_of_text|>), else the eos_token; the
    pad token is tokenizer_config's, else the document end (padding is masked, so any id works).
    """
    specials = {t.content for t in hf_tok.get_added_tokens_decoder().values() if t.special}
    roles: dict[str, str] = {}
    for start, sep, end in CHAT_MARKERS:
        if start in specials and end in specials:
            roles |= {"im_start": start, "im_end": end} | ({"im_sep": sep} if sep in specials else {})
            break
    eos = _token_text(tokenizer_config.get("eos_token"))
    roles["eot"] = next((t for t in (*DOCUMENT_END, eos) if t in specials), SPECIAL_ROLES["eot"])
    pad = _token_text(tokenizer_config.get("pad_token"))
    roles["pad"] = pad if pad in specials else roles["eot"]
    for role in ("tool_call", "tool_result"):
        if SPECIAL_ROLES[role] in specials:
            roles[role] = SPECIAL_ROLES[role]
    missing = [role for role in SPECIAL_ROLES if role not in roles or roles[role] not in specials]
    roles |= {role: SPECIAL_ROLES[role] for role in missing}
    return roles, missing


def import_tokenizer(path: Path, tokenizer_config: dict, model_vocab: int):
    """(the `tokenizers.Tokenizer` to store, its chat format): the source tokenizer with llmkit's
    tokens added for the roles it lacks, then padded with reserved tokens up to the model's vocabulary
    (Qwen-style embeddings have more rows than tokens; llmkit keeps the two sizes equal)."""
    from tokenizers import AddedToken
    from tokenizers import Tokenizer as HFTokenizer

    try:
        hf_tok = HFTokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises plain Exception for any parse error
        raise UserError(f"{path} is not a valid tokenizer.json: {str(e).splitlines()[0][:200]}") from e
    if hf_tok.get_vocab_size(with_added_tokens=True) > model_vocab + 10_000:
        raise UserError(
            f"{path} has far more tokens than the model's vocab_size {model_vocab}: another model's tokenizer?"
        )
    roles, missing = find_roles(hf_tok, tokenizer_config)
    added = [SPECIAL_ROLES[role] for role in missing]
    hf_tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in added])
    reserved = max(0, model_vocab - hf_tok.get_vocab_size(with_added_tokens=True))
    hf_tok.add_special_tokens(
        [AddedToken(f"<|reserved_{i}|>", special=True, normalized=False) for i in range(reserved)]
    )
    chat_format = {
        "roles": roles,
        "own": {role: text for role, text in roles.items() if role not in missing},
        "added": {role: roles[role] for role in missing},
        "reserved_tokens_added": reserved,
    }
    return hf_tok, chat_format


def grow_embedding(weights: dict, cfg: ModelConfig, n: int) -> dict:
    """`weights` with `n` new rows in the embedding (and an untied LM head), each the mean row."""
    for name in ("embed_tokens.weight", *(() if cfg.tie_embeddings else ("lm_head.weight",))):
        table = weights[name]
        weights[name] = torch.cat([table, table.mean(dim=0, keepdim=True).expand(n, -1)])
    return weights


def folder_fingerprint(src: Path, weight_files: list[Path]) -> str:
    """sha256 over the model folder's config, tokenizer and weight files (name and content)."""
    h = hashlib.sha256()
    names = ["config.json", TOKENIZER_FILE, "tokenizer_config.json", *(f.name for f in weight_files)]
    for name in names:
        if (src / name).is_file():
            h.update(name.encode())
            h.update(_file_sha256(src / name).encode())
    return "sha256:" + h.hexdigest()


def _token_text(token) -> str | None:
    """A tokenizer_config special-token entry (a string or {"content": ...}) as its text."""
    return token.get("content") if isinstance(token, dict) else token


def _read_json(path: Path) -> dict:
    if not path.is_file():
        raise UserError(f"{path.parent} has no {path.name}; is it a Hugging Face model folder?")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path} is not valid JSON: {e}") from e
    if not isinstance(data, dict):
        raise UserError(f"{path} is not a JSON object")
    return data
