"""`llmkit export --format hf`: a checkpoint as a Hugging Face `LlamaForCausalLM` folder.

llmkit's model already uses Llama's parameter names and RoPE layout (model.py), so export is a
rename (`embed_tokens` → `model.embed_tokens`, ...) plus the config, tokenizer and generation files
that `transformers`, lm-evaluation-harness, vLLM and llama.cpp's converter read. No weight is
changed, so logits match llmkit's to float precision.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from llmkit.artifacts import partial_path, write_json_atomic
from llmkit.checkpoint_files import open_checkpoint
from llmkit.errors import UserError

FORMATS = ("hf",)

# The chat template of llmkit.tokenizer, in the Jinja form Hugging Face tokenizers apply:
# <|im_start|>{role}<|im_sep|>{content}<|im_end|>, and the generation prompt for the assistant.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}"
)
SPECIAL = {"eos": "<|endoftext|>", "pad": "<|pad|>", "im_end": "<|im_end|>"}


def hf_config(cfg: dict, special_ids: dict[str, int]) -> dict:
    """LlamaConfig fields for an llmkit model config (config.json of a checkpoint)."""
    return {
        "architectures": ["LlamaForCausalLM"],
        "model_type": "llama",
        "vocab_size": cfg["vocab_size"],
        "hidden_size": cfg["d_model"],
        "intermediate_size": cfg["ffn_hidden"],
        "num_hidden_layers": cfg["n_layers"],
        "num_attention_heads": cfg["n_heads"],
        "num_key_value_heads": cfg["n_kv_heads"],
        "head_dim": cfg["d_model"] // cfg["n_heads"],
        "max_position_embeddings": cfg["seq_len"],
        "rms_norm_eps": cfg["norm_eps"],
        # transformers >= 5 reads rope_parameters; older versions and llama.cpp read rope_theta
        "rope_theta": cfg["rope_theta"],
        "rope_parameters": {"rope_type": "default", "rope_theta": cfg["rope_theta"]},
        "tie_word_embeddings": cfg["tie_embeddings"],
        "hidden_act": "silu",
        "attention_bias": False,
        "mlp_bias": False,
        "attention_dropout": 0.0,
        "initializer_range": 0.02,
        "bos_token_id": None,
        "eos_token_id": special_ids["eos"],
        "pad_token_id": special_ids["pad"],
        "torch_dtype": "float32",
    }


def hf_tensor_name(name: str) -> str:
    """llmkit parameter name → LlamaForCausalLM's (everything but the LM head lives under `model.`)."""
    return name if name.startswith("lm_head.") else f"model.{name}"


def export_hf(checkpoint: str | Path, out: str | Path, force: bool = False) -> dict:
    """Write a Hugging Face Llama folder for `checkpoint` at `out`; returns a summary dict.

    Files: config.json, model.safetensors, tokenizer.json, tokenizer_config.json (special tokens and
    the chat template), special_tokens_map.json, generation_config.json. Written into
    `out.partial/` and renamed, like every artifact.
    """
    checkpoint = open_checkpoint(checkpoint)
    ckpt, cfg = checkpoint.path, checkpoint.model_config
    vocab = _token_ids(ckpt / "tokenizer.json")
    special_ids = {k: vocab[tok] for k, tok in SPECIAL.items() if tok in vocab}
    if len(special_ids) != len(SPECIAL):
        raise UserError(
            f"{ckpt}/tokenizer.json lacks llmkit's special tokens ({', '.join(SPECIAL.values())})"
        )
    out = Path(out)
    if out.exists() and not force:
        raise UserError(f"{out} already exists; pass --force to overwrite it")
    tmp = partial_path(out)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        tensors = {}
        try:
            with safe_open(str(ckpt / "model.safetensors"), framework="numpy") as f:
                for name in f.keys():  # noqa: SIM118 (safe_open is not a dict)
                    tensors[hf_tensor_name(name)] = f.get_tensor(name)
        except SafetensorError as e:
            raise UserError(f"{ckpt / 'model.safetensors'} is not a valid safetensors file: {e}") from e
        if not cfg["tie_embeddings"] and "lm_head.weight" not in tensors:
            raise UserError(f"{ckpt}: untied model without lm_head.weight")
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        write_json_atomic(tmp / "config.json", hf_config(cfg, special_ids))
        shutil.copyfile(ckpt / "tokenizer.json", tmp / "tokenizer.json")
        write_json_atomic(
            tmp / "tokenizer_config.json",
            {
                "tokenizer_class": "PreTrainedTokenizerFast",
                "eos_token": SPECIAL["eos"],
                "pad_token": SPECIAL["pad"],
                "bos_token": None,
                "unk_token": None,
                "add_bos_token": False,
                "add_eos_token": False,
                "clean_up_tokenization_spaces": False,
                "model_max_length": cfg["seq_len"],
                "chat_template": CHAT_TEMPLATE,
            },
        )
        write_json_atomic(
            tmp / "special_tokens_map.json", {"eos_token": SPECIAL["eos"], "pad_token": SPECIAL["pad"]}
        )
        write_json_atomic(
            tmp / "generation_config.json",
            {
                "eos_token_id": [special_ids["eos"], special_ids["im_end"]],
                "pad_token_id": special_ids["pad"],
                "do_sample": False,
            },
        )
        if out.exists():
            shutil.rmtree(out)
        tmp.rename(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {
        "out": str(out),
        "tensors": len(tensors),
        "parameters": int(sum(t.size for t in tensors.values())),
    }


def _token_ids(tokenizer_json: Path) -> dict[str, int]:
    data = json.loads(tokenizer_json.read_text(encoding="utf-8"))
    ids = dict(data.get("model", {}).get("vocab", {}))
    ids.update({t["content"]: t["id"] for t in data.get("added_tokens", [])})
    return ids
