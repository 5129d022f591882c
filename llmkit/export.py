"""`llmkit export --format hf`: a checkpoint as a Hugging Face `LlamaForCausalLM` folder, or a
`MixtralForCausalLM` one for a mixture-of-experts checkpoint (the same softmax top-k routing,
renormalised over the chosen experts; see `mixtral_config`).

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
from llmkit.checkpoint import checkpoint_weights
from llmkit.checkpoint_files import open_checkpoint
from llmkit.errors import UserError
from llmkit.tokenizer import SPECIAL_ROLES, load_tokenizer

FORMATS = ("hf", "gguf")  # gguf: llmkit/gguf_export.py

# The chat template of llmkit.tokenizer (`render_chat`), in the Jinja form Hugging Face tokenizers
# apply: <|im_start|>{role}<|im_sep|>{content}<|im_end|>, and the generation prompt for the assistant;
# with tools, first a `tools` turn of signatures (`tool_signature`), assistant tool calls as
# <|tool_call|>{"name": …, "arguments": …} (`tool_call_text`; transformers' tojson is json.dumps) and
# tool messages as <|tool_result|>{content}<|im_end|>. Like render_chat it writes no <|endoftext|> in front.
CHAT_TEMPLATE = (
    "{% if tools %}{{ '<|im_start|>tools<|im_sep|>' }}{% for tool in tools %}"
    "{% set f = tool['function'] if tool['function'] is defined else tool %}"
    "{% set params = f['parameters'] if f['parameters'] is defined and f['parameters'] else {} %}"
    "{% set required = params['required'] if params['required'] is defined else [] %}"
    "{{ f['name'] + '(' }}"
    "{% for name, spec in (params['properties'] if params['properties'] is defined else {}).items() %}"
    "{{ name + ('' if name in required else '?') + ': ' }}"
    "{{ (spec['type'] if spec is mapping and spec['type'] is defined else 'any')|string }}"
    "{% if not loop.last %}{{ ', ' }}{% endif %}{% endfor %}{{ ')' }}"
    "{% if f['description'] %}{{ ': ' + f['description'] }}{% endif %}"
    "{% if not loop.last %}{{ '\n' }}{% endif %}{% endfor %}{{ '<|im_end|>' }}{% endif %}"
    "{% for message in messages %}"
    "{% if message['role'] == 'tool' %}{{ '<|tool_result|>' + message['content'] + '<|im_end|>' }}"
    "{% else %}{{ '<|im_start|>' + message['role'] + '<|im_sep|>' + (message['content'] or '') }}"
    "{% for call in (message['tool_calls'] or []) %}{% set a = call['function']['arguments'] %}"
    "{{ '<|tool_call|>{\"name\": ' + call['function']['name']|tojson + ', \"arguments\": ' }}"
    "{{ (a if a is string else a|tojson) + '}' }}{% endfor %}{{ '<|im_end|>' }}{% endif %}"
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
        # Llama 3.1's frequency scaling (an imported model's), under both names transformers has used
        **({"rope_scaling": {"rope_type": "llama3", **cfg["rope_scaling"]},
            "rope_parameters": {"rope_type": "llama3", "rope_theta": cfg["rope_theta"], **cfg["rope_scaling"]}}
           if cfg.get("rope_scaling") else {}),
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
        **(mixtral_config(cfg) if cfg.get("n_experts") else {}),
        # Qwen2 is Llama with q/k/v biases (an imported Qwen2 model: `qkv_bias`)
        **({"architectures": ["Qwen2ForCausalLM"], "model_type": "qwen2", "use_sliding_window": False}
           if cfg.get("qkv_bias") else {}),
    }  # fmt: skip


def mixtral_config(cfg: dict) -> dict:
    """What a MixtralConfig adds to (or changes in) the Llama fields for an MoE model. Mixtral routes
    exactly as llmkit.model.MoE: softmax over all experts, top k, renormalised over the k. Its
    `router_aux_loss_coef` multiplies a loss k times llmkit's (it counts load per token), hence / k."""
    return {
        "architectures": ["MixtralForCausalLM"],
        "model_type": "mixtral",
        "num_local_experts": cfg["n_experts"],
        "num_experts_per_tok": cfg["experts_per_token"],
        "router_aux_loss_coef": cfg["router_aux_coef"] / cfg["experts_per_token"],
        "router_jitter_noise": 0.0,
        "output_router_logits": False,
        "sliding_window": None,
    }


def hf_tokenizer_config(seq_len: int, special: dict = SPECIAL, chat_template: str = CHAT_TEMPLATE) -> dict:
    """tokenizer_config.json: the special tokens by role, the chat template, the context length.

    `add_bos_token` is for readers of this file such as llama.cpp's converter; transformers (5.x)
    drops it whenever tokenizer.json is present and follows tokenizer.json's post-processor, which
    `hf_tokenizer` sets to the same thing.
    """
    return {
        "tokenizer_class": "PreTrainedTokenizerFast",
        "bos_token": special["bos"],
        "eos_token": special["eos"],
        "pad_token": special["pad"],
        "unk_token": None,
        "add_bos_token": True,
        "add_eos_token": False,
        "clean_up_tokenization_spaces": False,
        "model_max_length": seq_len,
        "chat_template": chat_template,
    }


def hf_tokenizer(tokenizer_json: Path, bos_id: int, bos: str = SPECIAL["bos"]):
    """The checkpoint's tokenizer (a `tokenizers.Tokenizer`) with a post-processor that puts
    <|endoftext|> in front of each text, as `encode_prompt` does; for a pair, in front of each text,
    as documents are packed in pretraining. Nothing else changes, so the ids of the text itself (and
    llmkit's own `encode`, which adds no special tokens) stay the same."""
    from tokenizers import Tokenizer as HFTokenizer
    from tokenizers import processors

    hf = HFTokenizer.from_file(str(tokenizer_json))  # a fresh copy: llmkit's Tokenizer changes flags
    hf.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A", pair=f"{bos} $A {bos}:1 $B:1", special_tokens=[(bos, bos_id)]
    )
    return hf


# llmkit's MoE layer → the layout of Mixtral's published checkpoints (which transformers 5 merges
# into its fused expert tensors on load, and vLLM and llama.cpp's converter read as they are)
MIXTRAL_NAMES = (
    (".mlp.router.", ".block_sparse_moe.gate."),
    (".mlp.experts.", ".block_sparse_moe.experts."),
    (".gate_proj.", ".w1."),
    (".down_proj.", ".w2."),
    (".up_proj.", ".w3."),
)


def hf_tensor_name(name: str) -> str:
    """llmkit parameter name → LlamaForCausalLM's (everything but the LM head lives under `model.`),
    or MixtralForCausalLM's for an MoE layer's router and experts."""
    if ".mlp.router." in name or ".mlp.experts." in name:
        for old, new in MIXTRAL_NAMES:
            name = name.replace(old, new)
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
    # the checkpoint's own special tokens: llmkit's, or an imported tokenizer's (chat_format.json)
    roles = tokenizer.special_roles
    special = {"bos": roles["eot"], "eos": roles["eot"], "pad": roles["pad"], "im_end": roles["im_end"]}
    special_ids = {role: tokenizer.hf.token_to_id(token) for role, token in special.items()}
    chat_template = CHAT_TEMPLATE
    for role, text in roles.items():
        chat_template = chat_template.replace(SPECIAL_ROLES[role], text)
    out = Path(out)
    if out.exists() and not force:
        raise UserError(f"{out} already exists; pass --force to overwrite it")
    tmp = partial_path(out)
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    try:
        tensors = {}
        if (checkpoint.manifest.get("lora") or {}).get("save") == "adapter":  # merged onto its base first
            tensors = {hf_tensor_name(n): t.numpy() for n, t in checkpoint_weights(checkpoint).items()}
        else:
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
        config = hf_config(cfg, special_ids)
        write_json_atomic(tmp / "config.json", config)
        hf_tokenizer(checkpoint.tokenizer_path, special_ids["bos"], special["bos"]).save(
            str(tmp / "tokenizer.json")
        )
        write_json_atomic(
            tmp / "tokenizer_config.json", hf_tokenizer_config(cfg["seq_len"], special, chat_template)
        )
        write_json_atomic(
            tmp / "special_tokens_map.json",
            {"bos_token": special["bos"], "eos_token": special["eos"], "pad_token": special["pad"]},
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
        "architecture": config["architectures"][0],
        "tensors": len(tensors),
        "parameters": int(sum(t.size for t in tensors.values())),
    }
