"""Small random Hugging Face model folders, built with transformers and a tokenizer trained on the spot,
for the import-model and LoRA tests (nothing is downloaded)."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import TOKENIZER_TEXT

# Llama 2 style: no chat markers at all; Qwen / SmolLM2 style: ChatML's start and end markers
LLAMA_SPECIALS = {
    "tokens": ["<unk>", "<s>", "</s>"],
    "bos_token": "<s>",
    "eos_token": "</s>",
    "pad_token": None,
}
CHATML_SPECIALS = {
    "tokens": ["<|endoftext|>", "<|im_start|>", "<|im_end|>"],
    "bos_token": None,
    "eos_token": "<|im_end|>",
    "pad_token": "<|endoftext|>",
}


def train_hf_tokenizer(folder: Path, specials: dict, vocab_size: int = 300) -> int:
    """A byte-level BPE (not in llmkit's form) with `specials` at ids 0.., written as tokenizer.json and
    tokenizer_config.json into `folder`; returns its vocabulary size."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=specials["tokens"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(TOKENIZER_TEXT.splitlines(), trainer)
    folder.mkdir(parents=True, exist_ok=True)
    tok.save(str(folder / "tokenizer.json"))
    config = {k: specials[k] for k in ("bos_token", "eos_token", "pad_token")}
    (folder / "tokenizer_config.json").write_text(
        json.dumps({"tokenizer_class": "PreTrainedTokenizerFast", **config}), encoding="utf-8"
    )
    return tok.get_vocab_size(with_added_tokens=True)


def make_hf_folder(folder: Path, arch: str = "llama", tie: bool = True, shard: bool = False, seed: int = 0):
    """A random LlamaForCausalLM (GQA, rope_theta 50,000; `llama3`: with Llama 3.1's RoPE scaling) or
    Qwen2ForCausalLM (random q/k/v biases, 4 spare embedding rows, as Qwen pads its vocabulary) saved
    with transformers; returns the model."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, Qwen2Config, Qwen2ForCausalLM

    specials = CHATML_SPECIALS if arch == "qwen" else LLAMA_SPECIALS
    vocab = train_hf_tokenizer(folder, specials)
    shape = dict(
        hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
        num_key_value_heads=2, max_position_embeddings=128, rms_norm_eps=1e-6, tie_word_embeddings=tie,
    )  # fmt: skip
    torch.manual_seed(seed)
    if arch == "llama":
        config = LlamaConfig(vocab_size=vocab, rope_theta=50_000.0, **shape)
        model = LlamaForCausalLM(config)
    elif arch == "llama3":  # Llama 3.1's RoPE scaling, with an original context short enough to matter
        rope = dict(rope_type="llama3", rope_theta=500_000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                    original_max_position_embeddings=16)  # fmt: skip
        model = LlamaForCausalLM(LlamaConfig(vocab_size=vocab, rope_parameters=rope, **shape))
    else:
        config = Qwen2Config(vocab_size=vocab + 4, **shape)
        model = Qwen2ForCausalLM(config)
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("bias"):
                    p.normal_(0, 0.5)  # transformers initialises them to 0, which would test nothing
    model.save_pretrained(folder, max_shard_size="60KB" if shard else "1GB")
    return model.eval()
