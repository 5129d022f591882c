"""`llmkit export --format hf`: a checkpoint as a Hugging Face `LlamaForCausalLM` folder.

llmkit's model already uses Llama's parameter names and RoPE layout (model.py), so export is a
rename (`embed_tokens` → `model.embed_tokens`, ...) plus the config, tokenizer and generation files
that `transformers`, lm-evaluation-harness, vLLM and llama.cpp's converter read. No weight is
changed, so logits match llmkit's to float precision.

The text path matches llmkit's too (llmkit/generate.py `encode_prompt`): plain text is continued
after <|endoftext|>, where every pretraining document starts, so the exported tokenizer adds it as
the BOS token in front of plain text; chat renderings start with <|im_start|> and get nothing
(`apply_chat_template` tokenizes without special tokens). Generation stops at <|endoftext|> or
<|im_end|>, as llmkit's does.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from safetensors import SafetensorError, safe_open
from safetensors.numpy import save_file

from llmkit.artifacts import partial_path, write_json_atomic
from llmkit.checkpoint_files import open_checkpoint
from llmkit.errors import UserError
from llmkit.tokenizer import load_tokenizer

FORMATS = ("hf", "gguf")  # gguf: llmkit/gguf_export.py

# The chat template of llmkit.tokenizer, in the Jinja form Hugging Face tokenizers apply:
# <|im_start|>{role}<|im_sep|>{content}<|im_end|>, and the generation prompt for the assistant.
# Like llmkit's render_chat it writes no <|endoftext|> in front.
CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{{ '<|im_start|>' + message['role'] + '<|im_sep|>' + message['content'] + '<|im_end|>' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant<|im_sep|>' }}{% endif %}"
)
# <|endoftext|> both starts a document (BOS: llmkit puts it in front of plain-text prompts) and ends
# one (EOS); <|im_end|> also ends generation, as it closes the assistant's turn.
SPECIAL = {"bos": "<|endoftext|>", "eos": "<|endoftext|>", "pad": "<|pad|>", "im_end": "<|im_end|>"}


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
        "bos_token_id": special_ids["bos"],
        "eos_token_id": special_ids["eos"],
        "pad_token_id": special_ids["pad"],
        "torch_dtype": "float32",
    }


def hf_tokenizer_config(seq_len: int) -> dict:
    """tokenizer_config.json: the special tokens by role, the chat template, the context length.

    `add_bos_token` is for readers of this file such as llama.cpp's converter; transformers (5.x)
    drops it whenever tokenizer.json is present and follows tokenizer.json's post-processor, which
    `hf_tokenizer` sets to the same thing.
    """
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": SPECIAL["bos"],
        "eos_token": SPECIAL["eos"],
        "pad_token": SPECIAL["pad"],
        "unk_token": None,
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": seq_len,
        "chat_template": CHAT_TEMPLATE,
    }


def hf_tokenizer(tokenizer_json: Path, bos_id: int):
    """The checkpoint's tokenizer (a `tokenizers.Tokenizer`) with a post-processor that puts
    <|endoftext|> in front of each text, as `encode_prompt` does; for a pair, in front of each text,
    as documents are packed in pretraining. Nothing else changes, so the ids of the text itself (and
    llmkit's own `encode`, which adds no special tokens) stay the same."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import processors

    hf = HFTokenizer.from_file(str(tokenizer_json))  # a fresh copy: llmkit's Tokenizer changes flags
    bos = SPECIAL["bos"]
    hf.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos}:1 $B:1", special_tokens=[(bos, bos_id)]
    )
    return hf


def hf_tensor_name(name: str) -> str:
    """llmkit parameter name → LlamaForCausalLM's (everything but the LM head lives under `model.`)."""
    return name if name.startswith("lm_head.") else f"model.{name}"


def export_hf(checkpoint: str | Path, out: str | Path, force: bool = False) -> dict:
    """Write a Hugging Face Llama folder for `checkpoint` at `out`; returns a summary dict.

    Files: config.json, model.safetensors, tokenizer.json (the checkpoint's, adding <|endoftext|> in
    front of plain text), tokenizer_config.json (special tokens and the chat template),
    special_tokens_map.json, generation_config.json (BOS, the two stop tokens, pad, greedy). Written
    into `out.partial/` and renamed, like every artifact.
    """
    checkpoint = open_checkpoint(checkpoint)
    ckpt, cfg = checkpoint.path, checkpoint.model_config
    tokenizer = load_tokenizer(checkpoint.tokenizer_path)  # one with llmkit's special tokens, or a UserError
    special_ids = {role: tokenizer.hf.token_to_id(token) for role, token in SPECIAL.items()}
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
        if "model.score.weight" in tensors:
            raise UserError(
                f"{ckpt} is a reward model (it has score.weight); --format hf is for language models"
            )
        if not cfg["tie_embeddings"] and "lm_head.weight" not in tensors:
            raise UserError(f"{ckpt}: untied model without lm_head.weight")
        save_file(tensors, str(tmp / "model.safetensors"), metadata={"format": "pt"})
        write_json_atomic(tmp / "config.json", hf_config(cfg, special_ids))
        hf_tokenizer(checkpoint.tokenizer_path, special_ids["bos"]).save(str(tmp / "tokenizer.json"))
        write_json_atomic(tmp / "tokenizer_config.json", hf_tokenizer_config(cfg["seq_len"]))
        write_json_atomic(
            tmp / "special_tokens_map.json",
            {"bos_token": SPECIAL["bos"], "eos_token": SPECIAL["eos"], "pad_token": SPECIAL["pad"]},
        )
        write_json_atomic(
            tmp / "generation_config.json",
            {
                "bos_token_id": special_ids["bos"],
                "eos_token_id": [special_ids["eos"], special_ids["im_end"]],  # llmkit's chat_stop_ids
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
