"""Bring your own model: `import-model` of small random Hugging Face Llama and Qwen2 folders (built with
transformers, tokenizers trained on the spot), LoRA post-training on them, and the way back out through
`export` into transformers."""

from __future__ import annotations

import io
import json
import sys

import pytest
import torch
from conftest import SAMPLE, Result, assert_one_line_error
from hf_folders import make_hf_folder

from llmkit.artifacts import fingerprint
from llmkit.checkpoint import load_model
from llmkit.checkpoint_files import open_checkpoint
from llmkit.engine import SamplingConfig, generate
from llmkit.errors import UserError
from llmkit.generate import run_chat
from llmkit.import_model import import_model

PROMPTS = ["The river runs past the old mill", "Bread rises slowly"]


@pytest.fixture(scope="module")
def hf_models(tmp_path_factory):
    """{arch: (folder, transformers model)}: a tied, sharded Llama (no chat markers in its tokenizer)
    and an untied Qwen2 (ChatML markers, q/k/v biases, more embedding rows than tokens)."""
    root = tmp_path_factory.mktemp("hf")
    return {
        "llama": (root / "llama", make_hf_folder(root / "llama", "llama", tie=True, shard=True)),
        "qwen": (root / "qwen", make_hf_folder(root / "qwen", "qwen", tie=False)),
        "llama3": (root / "llama3", make_hf_folder(root / "llama3", "llama3", tie=False)),
    }


@pytest.fixture
def llmkit(capsys, monkeypatch):
    """`llmkit ARGS` run in this process (its entry point: errors, exit codes, stderr and all), which
    spares each call the seconds a fresh interpreter spends importing torch."""
    from llmkit.cli import main

    def run(*args) -> Result:
        monkeypatch.setattr(sys, "argv", ["llmkit", *map(str, args)])
        with pytest.raises(SystemExit) as exit_:
            main()
        out, err = capsys.readouterr()
        return Result(exit_.value.code, out, err)

    threads = torch.get_num_threads()
    yield run
    torch.set_num_threads(threads)  # --threads sets it for the whole process


def head(path, folder, n: int):
    """The first `n` lines of a JSONL file, as a file in `folder` (a small data set runs faster)."""
    out = folder / path.name
    out.write_text("".join(path.read_text(encoding="utf-8").splitlines(keepends=True)[:n]), encoding="utf-8")
    return out


def hf_logits(hf_model, ids: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return hf_model(ids).logits


@pytest.mark.parametrize("arch", ["llama", "qwen", "llama3"])
def test_imported_model_computes_what_transformers_does(tmp_path, hf_models, arch):
    folder, hf_model = hf_models[arch]
    manifest = import_model(folder, tmp_path / "ckpt")
    model, tok, ckpt = load_model(tmp_path / "ckpt", device="cpu")

    # the manifest names the source and fingerprints it; the chat format says whose tokens are whose
    assert manifest["source"]["architecture"] == hf_model.config.architectures[0]
    assert manifest["source"]["name"] == arch and manifest["source"]["fingerprint"].startswith("sha256:")
    assert manifest["inputs"][0]["fingerprint"] == manifest["source"]["fingerprint"]
    chat = manifest["chat_format"]
    if arch.startswith("llama"):  # no ChatML markers: llmkit's are added, the embedding grows by as many rows
        assert chat["own"] == {"eot": "</s>", "pad": "</s>"}
        assert chat["embedding_grown_by"] == len(chat["added"]) == 5
        assert model.config.vocab_size == hf_model.config.vocab_size + 5
    else:  # the tokenizer's own <|im_start|>/<|im_end|>; only the separator and tool tokens are new,
        # and they fill spare embedding rows before one reserved token pads the vocabulary to the model's
        assert chat["own"]["im_start"] == "<|im_start|>" and chat["own"]["im_end"] == "<|im_end|>"
        assert set(chat["added"]) == {"im_sep", "tool_call", "tool_result"}
        assert chat["embedding_grown_by"] == 0 and chat["reserved_tokens_added"] == 1
        assert model.config.qkv_bias and tok.im_start_id == 1 and tok.im_end_id == 2
    assert (ckpt.path / "chat_format.json").is_file()

    ids = torch.tensor([tok.encode(p)[:6] for p in PROMPTS])
    ours = model(ids)
    theirs = hf_logits(hf_model, ids)
    assert (ours[..., : theirs.size(-1)] - theirs).abs().max().item() < 1e-4
    # identical greedy continuations (transformers' generate on the same prompt ids)
    new = generate(model, ids.tolist(), SamplingConfig(max_new_tokens=8, temperature=0.0))
    with torch.no_grad():
        out = hf_model.generate(ids, max_new_tokens=8, do_sample=False, eos_token_id=None, pad_token_id=0)
    assert new == out[:, ids.size(1) :].tolist()
    if arch == "llama3":  # the scaling is computed (without it these logits differ by ≈ 4e-3) and exported
        assert model.config.rope_scaling["factor"] == 8.0
        from transformers import AutoModelForCausalLM

        from llmkit.export import export_hf

        export_hf(ckpt.path, tmp_path / "hf")
        back = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", dtype=torch.float32).eval()
        assert (hf_logits(back, ids) - ours).abs().max().item() < 1e-4


def test_llama_import_lora_sft_dpo_eval_chat_export(tmp_path, hf_models, llmkit):
    """The chain a user runs on a model they have: import → LoRA SFT → DPO → eval → chat → export, and
    transformers loads the result with the same logits."""
    from transformers import AutoModelForCausalLM

    folder, _ = hf_models["llama"]
    base, sft, dpo = tmp_path / "base", tmp_path / "sft", tmp_path / "dpo"
    chats, prefs = head(SAMPLE / "chat.jsonl", tmp_path, 48), head(SAMPLE / "prefs.jsonl", tmp_path, 40)
    r = llmkit("import-model", folder, "-o", base)
    assert r.returncode == 0, r.stderr
    assert "chat tokens added: <|im_start|>" in " ".join(r.stdout.split())

    tiny = ["--batch-size", "4", "--eval-every", "0", "--precision", "fp32", "--threads", "1"]
    r = llmkit("sft", base, chats, "-o", sft, "--max-steps", "3", "--lr", "1e-2", "--lora-rank", "8", *tiny)
    assert r.returncode == 0, r.stderr
    manifest = json.loads((sft / "manifest.json").read_text())
    assert manifest["lora"]["rank"] == 8 and manifest["lora"]["save"] == "merged"
    assert manifest["lora"]["base"]["fingerprint"] == manifest["inputs"][0]["fingerprint"]
    # merged on save: a plain checkpoint in which only the adapted projections changed
    before, after = open_checkpoint(base).weights(), open_checkpoint(sft).weights()
    assert before.keys() == after.keys()
    changed = {name for name in before if not torch.equal(before[name], after[name])}
    assert changed and all(
        name.endswith(("q_proj.weight", "k_proj.weight", "v_proj.weight", "o_proj.weight"))
        for name in changed
    )
    assert (sft / "chat_format.json").read_text() == (base / "chat_format.json").read_text()

    r = llmkit("dpo", sft, prefs, "-o", dpo, "--max-steps", "2", "--lora-rank", "8",
                "--lora-targets", "q_proj,v_proj,down_proj", *tiny)  # fmt: skip
    assert r.returncode == 0, r.stderr
    dpo_manifest = json.loads((dpo / "manifest.json").read_text())
    assert dpo_manifest["stats"]["initial_val_margin"] == 0  # the reference is the SFT model exactly

    r = llmkit(
        "eval", dpo, SAMPLE / "eval" / "multiple_choice.jsonl", "-o", tmp_path / "eval", "--max-examples", "8"
    )
    assert r.returncode == 0, r.stderr
    scores = json.loads((tmp_path / "eval" / "manifest.json").read_text())
    assert scores["kind"] == "eval"

    # chat renders with the checkpoint's chat format (the added <|im_start|> …), greedy, piped
    reply = io.StringIO()
    sampling = SamplingConfig(max_new_tokens=4, temperature=0.0)
    run_chat(dpo, sampling, stdin=io.StringIO("What is 2 + 2?\n/exit\n"), stdout=reply, device="cpu")
    assert reply.getvalue().strip()
    model, tok, _ = load_model(dpo, device="cpu")
    ids, _ = tok.render_chat([{"role": "user", "content": "hi"}], add_generation_prompt=True)
    assert ids[0] == tok.hf.token_to_id("<|im_start|>") == tok.im_start_id >= 300  # an added token

    r = llmkit("export", dpo, tmp_path / "hf")
    assert r.returncode == 0, r.stderr
    hf_model = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", dtype=torch.float32).eval()
    ids = torch.tensor([tok.encode(p)[:6] for p in PROMPTS])
    assert (model(ids) - hf_logits(hf_model, ids)).abs().max().item() < 1e-4
    template = json.loads((tmp_path / "hf" / "tokenizer_config.json").read_text())
    assert template["eos_token"] == "</s>"


def test_qwen_lora_adapter_saved_apart_and_exported(tmp_path, hf_models):
    """--lora-save adapter: the checkpoint holds only the adapters and its base's fingerprint; it opens
    as the base with the adapter merged, and exports as a Qwen2 folder transformers reads."""
    from transformers import AutoModelForCausalLM

    from llmkit.lora import LoraSettings
    from llmkit.train.common import TrainConfig
    from llmkit.train.sft import run_sft

    folder, _ = hf_models["qwen"]
    import_model(folder, tmp_path / "base")
    cfg = TrainConfig.for_stage("sft", max_steps=2, lr=1e-2, batch_size=4, eval_every=0, precision="fp32")
    lora = LoraSettings(rank=4, targets="q_proj,gate_proj", save="adapter")
    chats = head(SAMPLE / "chat.jsonl", tmp_path, 32)
    run_sft(tmp_path / "base", chats, tmp_path / "sft", cfg, lora=lora, show_progress=False)
    ckpt = open_checkpoint(tmp_path / "sft")
    saved = ckpt.weights()
    assert saved and all(".lora_" in name for name in saved)
    assert ckpt.manifest["lora"]["base"]["fingerprint"] == fingerprint(tmp_path / "base")
    model, tok, _ = load_model(tmp_path / "sft", device="cpu")
    base, _, _ = load_model(tmp_path / "base", device="cpu")
    ids = torch.tensor([tok.encode(p)[:6] for p in PROMPTS])
    assert not torch.allclose(model(ids), base(ids))  # the adapter changed the model

    from llmkit.export import export_hf

    assert export_hf(tmp_path / "sft", tmp_path / "hf")["architecture"] == "Qwen2ForCausalLM"
    hf_model = AutoModelForCausalLM.from_pretrained(tmp_path / "hf", dtype=torch.float32).eval()
    assert (model(ids) - hf_logits(hf_model, ids)).abs().max().item() < 1e-4

    # the adapter fits its base only: a changed base is refused, not silently merged
    manifest = json.loads((tmp_path / "base" / "manifest.json").read_text())
    (tmp_path / "base" / "manifest.json").write_text(json.dumps({**manifest, "created": "changed"}))
    with pytest.raises(UserError, match="has changed since"):
        load_model(tmp_path / "sft", device="cpu")


def test_bad_inputs_one_line_and_nothing_written(tmp_path, hf_models, llmkit):
    folder, _ = hf_models["llama"]
    no_weights = tmp_path / "no_weights"
    no_weights.mkdir()
    for name in ("config.json", "tokenizer.json", "tokenizer_config.json"):
        (no_weights / name).write_bytes((folder / name).read_bytes())
    pickles = tmp_path / "pickles"
    pickles.mkdir()
    for name in ("config.json", "tokenizer.json"):
        (pickles / name).write_bytes((folder / name).read_bytes())
    (pickles / "pytorch_model.bin").write_bytes(b"not read")
    mistral = tmp_path / "mistral"
    mistral.mkdir()
    config = json.loads((folder / "config.json").read_text()) | {"architectures": ["MistralForCausalLM"]}
    (mistral / "config.json").write_text(json.dumps(config))
    yarn = tmp_path / "yarn"
    yarn.mkdir()
    rope = {"rope_type": "yarn", "rope_theta": 5e5, "factor": 8.0}
    (yarn / "config.json").write_text(
        json.dumps({**config, "architectures": ["LlamaForCausalLM"], "rope_parameters": rope})
    )

    cases = [
        (["import-model", no_weights], "no weights"),
        (["import-model", pickles], "pytorch_model.bin"),
        (["import-model", mistral], "unsupported architecture MistralForCausalLM"),
        (["import-model", yarn], "rope_scaling type 'yarn'"),
    ]
    for args, fragment in cases:
        out = tmp_path / "out"
        assert_one_line_error(llmkit(*args, "-o", out), fragment)
        assert not out.exists() and not (tmp_path / "out.partial").exists()

    base = tmp_path / "base"
    import_model(folder, base)
    out = tmp_path / "sft"
    r = llmkit(
        "sft", base, SAMPLE / "chat.jsonl", "-o", out, "--lora-rank", "4", "--lora-targets", "q_proj,qkv"
    )
    assert_one_line_error(r, "--lora-targets qkv matches no layer")
    assert (
        not out.exists()
        and not (tmp_path / "sft.partial").exists()
        and not (tmp_path / "sft.checkpoints").exists()
    )
    r = llmkit("sft", base, SAMPLE / "chat.jsonl", "-o", out, "--lora-alpha", "32")
    assert_one_line_error(r, "--lora-alpha needs --lora-rank")
    r = llmkit("pretrain", tmp_path, "-o", out, "--lora-rank", "8")
    assert_one_line_error(r, "No such option: --lora-rank")
    assert not out.exists()


def test_special_tokens_are_found_by_name_llama3_style(tmp_path):
    """A Llama 3 tokenizer's own header and end-of-turn tokens fill llmkit's three chat roles."""
    from hf_folders import train_hf_tokenizer
    from tokenizers import Tokenizer

    from llmkit.import_model import find_roles

    specials = [
        "<|begin_of_text|>",
        "<|end_of_text|>",
        "<|start_header_id|>",
        "<|end_header_id|>",
        "<|eot_id|>",
    ]
    train_hf_tokenizer(
        tmp_path, {"tokens": specials, "bos_token": specials[0], "eos_token": "<|eot_id|>", "pad_token": None}
    )
    tok = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    roles, missing = find_roles(tok, {"eos_token": "<|eot_id|>"})
    assert roles["im_start"] == "<|start_header_id|>" and roles["im_sep"] == "<|end_header_id|>"
    assert roles["im_end"] == "<|eot_id|>" and roles["eot"] == roles["pad"] == "<|end_of_text|>"
    assert missing == ["tool_call", "tool_result"]  # only the tool tokens are llmkit's
