"""`llmkit export --format hf`: transformers loads the folder and gives llmkit's logits and token ids."""

from __future__ import annotations

import json

import pytest
import torch
from conftest import TOKENIZER_TEXT, assert_one_line_error, make_checkpoint, make_tokenizer, run_cli

from llmkit.artifacts import ArtifactWriter
from llmkit.checkpoint_files import save_checkpoint
from llmkit.export import export_hf
from llmkit.model import RewardModel, model_config

# The round trip needs the real library: the dev extra installs it, so CI runs these tests.
transformers = pytest.importorskip("transformers")


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))


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
    for text in [
        "Hello world",
        TOKENIZER_TEXT[:300],
        "  spaces\tand\nnewlines  ",
        "digits 1234567 and 東京 🙂",
    ]:
        # plain text after <|endoftext|>, as llmkit generate reads a prompt (test_export_fidelity.py)
        assert hf_tok(text)["input_ids"] == [tokenizer.eot_id, *tokenizer.encode(text)]
        assert hf_tok(text, add_special_tokens=False)["input_ids"] == tokenizer.encode(text)
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


def test_hf_tokenizer_of_a_single_digit_tokenizer_gives_the_same_ids(tmp_path):
    """tokenizer.json carries its split: transformers splits numbers one digit per token as llmkit does."""
    single = make_tokenizer(tmp_path / "tok", digits="single")
    make_checkpoint(tmp_path / "ckpt", single, tie=True)
    export_hf(tmp_path / "ckpt", tmp_path / "hf")
    hf_tok = transformers.AutoTokenizer.from_pretrained(tmp_path / "hf")
    texts = ["Multiply 9968 by 224.", "2232832", "4817*93 = 447981, or 4,817.5 ÷ 0.25 ٣٤٥ ²", TOKENIZER_TEXT[:300]]
    for text in texts:
        ids = single.encode(text)
        assert hf_tok(text, add_special_tokens=False)["input_ids"] == ids
        assert hf_tok.decode(ids) == text
    pieces = [hf_tok.decode([i]) for i in hf_tok("2232832", add_special_tokens=False)["input_ids"]]
    assert pieces == list("2232832")


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
        run_cli("export", tmp_path / "ckpt", tmp_path / "x", "--format", "onnx"), "--format must be"
    )
    assert_one_line_error(run_cli("export", tmp_path / "missing", tmp_path / "y"), "does not exist")
    with ArtifactWriter(tmp_path / "docs", kind="docs", stage="test") as w:
        w.commit()
    assert_one_line_error(
        run_cli("export", tmp_path / "docs", tmp_path / "z"), "is a 'docs' artifact; expected 'checkpoint'"
    )
    torch.manual_seed(0)
    cfg = model_config("tiny", vocab_size=tokenizer.vocab_size, n_layers=1, d_model=32, n_heads=2)
    save_checkpoint(tmp_path / "rm", RewardModel(cfg).weights(), cfg.to_dict(), tokenizer.path, stage="test")
    assert_one_line_error(run_cli("export", tmp_path / "rm", tmp_path / "v"), "is a reward model")
    (tmp_path / "rm" / "tokenizer.json").write_text("{not json")
    assert_one_line_error(run_cli("export", tmp_path / "rm", tmp_path / "v"), "not a valid tokenizer.json")
    assert not (tmp_path / "v").exists() and not (tmp_path / "v.partial").exists()
    (tmp_path / "ckpt" / "model.safetensors").unlink()
    assert_one_line_error(
        run_cli("export", tmp_path / "ckpt", tmp_path / "w"), "model.safetensors is missing"
    )
    assert not (tmp_path / "w").exists() and not (tmp_path / "w.partial").exists()
