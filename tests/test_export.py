"""`llmkit export --format hf`: transformers loads the folder and gives llmkit's logits and token ids."""

from __future__ import annotations

import json

import pytest
import torch
import transformers  # in the dev extra: the round trip needs the real library
from conftest import assert_one_line_error, run_cli
from safetensors.torch import save_file

from llmkit.artifacts import ArtifactWriter
from llmkit.export import export_hf
from llmkit.model import Transformer, model_config
from llmkit.tokenizer import load_tokenizer, train_tokenizer

TEXT = (
    "The river runs past the old mill, and the miller counts 1234 sacks of grain each autumn.\n"
    "Bread rises slowly in a warm kitchen; patience is the baker's main ingredient.\n"
    "Émilie visited Zürich in 2019 — 東京 too — and wrote 42 postcards. 🙂\n"
) * 40


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    root = tmp_path_factory.mktemp("tok")
    (root / "text.txt").write_text(TEXT, encoding="utf-8")
    train_tokenizer(root / "text.txt", root / "tokenizer", vocab_size=320, show_progress=False)
    return load_tokenizer(root / "tokenizer")


def make_checkpoint(path, tokenizer, tie: bool):
    torch.manual_seed(0)
    cfg = model_config(
        "tiny",
        vocab_size=tokenizer.vocab_size,
        n_layers=2,
        d_model=64,
        n_heads=4,
        n_kv_heads=2,
        ffn_hidden=96,
        seq_len=64,
        tie_embeddings=tie,
    )
    model = Transformer(cfg)
    with torch.no_grad():  # non-trivial norm gains, so a mis-mapped norm would show
        for name, p in model.named_parameters():
            if name.endswith("layernorm.weight") or name == "norm.weight":
                p.uniform_(0.5, 1.5)
    with ArtifactWriter(path, kind="checkpoint", stage="pretrain") as w:
        save_file({k: v.contiguous() for k, v in model.weights().items()}, str(w.path / "model.safetensors"))
        (w.path / "config.json").write_text(json.dumps(cfg.to_dict()))
        (w.path / "tokenizer.json").write_bytes(tokenizer.path.read_bytes())
        w.commit()
    return model.eval()


@pytest.mark.parametrize("tie", [True, False])
def test_hf_export_gives_the_same_logits(tmp_path, tokenizer, tie):
    model = make_checkpoint(tmp_path / "ckpt", tokenizer, tie)
    summary = export_hf(tmp_path / "ckpt", tmp_path / "hf")
    assert summary["parameters"] == sum(p.numel() for p in model.weights().values())
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf", dtype=torch.float32).eval()
    assert type(hf).__name__ == "LlamaForCausalLM"
    ids = torch.randint(0, tokenizer.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours = model(ids)
        theirs = hf(ids).logits
    assert (ours - theirs).abs().max().item() < 1e-4


def test_hf_tokenizer_gives_the_same_ids_and_chat_template(tmp_path, tokenizer):
    make_checkpoint(tmp_path / "ckpt", tokenizer, tie=True)
    export_hf(tmp_path / "ckpt", tmp_path / "hf")
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    for text in ["Hello world", TEXT[:300], "  spaces\tand\nnewlines  ", "digits 1234567 and 東京 🙂"]:
        assert hf_tok(text)["input_ids"] == tokenizer.encode(text)
    messages = [{"role": "user", "content": "What is 2 + 2?"}, {"role": "assistant", "content": "It is 4."}]
    ids, _ = tokenizer.render_chat(messages)
    assert hf_tok.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"] == ids
    prompt_ids, _ = tokenizer.render_chat(messages[:1], add_generation_prompt=True)
    assert (
        hf_tok.apply_chat_template(messages[:1], add_generation_prompt=True, tokenize=True, return_dict=True)[
            "input_ids"
        ]
        == prompt_ids
    )
    gen = json.loads((tmp_path / "hf" / "generation_config.json").read_text())
    assert (
        gen["eos_token_id"] == [tokenizer.eot_id, tokenizer.im_end_id]
        and gen["pad_token_id"] == tokenizer.pad_id != tokenizer.eot_id
    )


def test_export_cli_and_errors(tmp_path, tokenizer):
    make_checkpoint(tmp_path / "ckpt", tokenizer, tie=True)
    r = run_cli("export", tmp_path / "ckpt", tmp_path / "hf", "--format", "hf")
    assert r.returncode == 0, r.stderr
    assert "LlamaForCausalLM" in r.stdout
    assert {p.name for p in (tmp_path / "hf").iterdir()} == {
        "config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "generation_config.json"
    }  # fmt: skip
    assert_one_line_error(run_cli("export", tmp_path / "ckpt", tmp_path / "hf"), "already exists")
    assert run_cli("export", tmp_path / "ckpt", tmp_path / "hf", "--force").returncode == 0
    assert_one_line_error(
        run_cli("export", tmp_path / "ckpt", tmp_path / "x", "--format", "gguf"), "--format must be"
    )
    assert_one_line_error(run_cli("export", tmp_path / "missing", tmp_path / "y"), "does not exist")
    with ArtifactWriter(tmp_path / "docs", kind="docs", stage="test") as w:
        w.commit()
    assert_one_line_error(
        run_cli("export", tmp_path / "docs", tmp_path / "z"), "is a 'docs' artifact; expected 'checkpoint'"
    )
    (tmp_path / "ckpt" / "model.safetensors").unlink()
    assert_one_line_error(run_cli("export", tmp_path / "ckpt", tmp_path / "w"), "no model.safetensors")
    assert not (tmp_path / "w").exists() and not (tmp_path / "w.partial").exists()
