"""LoRA (llmkit/lora.py): the merge against peft's own forward, the base with adapters off, what
trains, and LoRA in the reward-model and GRPO stages (a score head trained in full; the reference is
the policy itself, not a second copy)."""

from __future__ import annotations

import pytest
import torch
from conftest import SAMPLE, make_checkpoint, make_tokenizer
from test_import_model import head

from llmkit.checkpoint import load_model, load_reward_model
from llmkit.checkpoint_files import open_checkpoint
from llmkit.errors import UserError
from llmkit.lora import (
    LoraSettings,
    adapter_weights,
    adapters_off,
    add_lora,
    apply_adapter,
    merge_lora,
    trainable_parameters,
)
from llmkit.model import Transformer
from llmkit.train.common import TrainConfig


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    root = tmp_path_factory.mktemp("lora")
    tokenizer = make_tokenizer(root)
    make_checkpoint(root / "base", tokenizer, tie=True)
    return root / "base"


def test_merge_matches_peft_forward_and_adapters_off_is_the_base(base):
    model, tok, _ = load_model(base, device="cpu")
    ids = torch.tensor([tok.encode("The river runs past the old mill")])
    with torch.no_grad():
        before = model(ids)
    add_lora(model, LoraSettings(rank=4, alpha=8, targets="q_proj,v_proj,down_proj"))
    assert trainable_parameters(model) == sum(p.numel() for n, p in model.named_parameters() if ".lora_" in n)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_B." in name:  # B starts at 0; a trained adapter has B != 0
                p.normal_(0, 0.1)
        adapted = model(ids)
        assert not torch.allclose(adapted, before)
        assert torch.equal(adapters_off(model)(ids), before)  # the same weights, adapters bypassed
        merged = Transformer(model.config)
        merged.load_weights(merge_lora(model.weights(), 8 / 4))
        assert (merged(ids) - adapted).abs().max().item() < 1e-5
        # an adapter saved apart, applied to the base's weights, gives the same merged weights
        base_weights = open_checkpoint(base).weights()
        reapplied = apply_adapter(base_weights, adapter_weights(model.weights()), 8 / 4)
        assert all(torch.allclose(reapplied[k], v) for k, v in merged.weights().items())


def test_targets_must_name_layers(base):
    model, _, _ = load_model(base, device="cpu")
    with pytest.raises(UserError, match="--lora-targets lm_head matches no layer"):
        add_lora(model, LoraSettings(rank=4, targets="q_proj,lm_head"))
    with pytest.raises(UserError, match="--lora-rank must be greater than 0"):
        add_lora(model, LoraSettings(rank=0))


def test_reward_model_and_grpo_with_lora(tmp_path, base):
    from llmkit.train.grpo import build_grpo, run_grpo
    from llmkit.train.reward import run_train_reward

    lora = LoraSettings(rank=4)
    cfg = TrainConfig.for_stage("train-reward", max_steps=2, batch_size=4, eval_every=0, precision="fp32")
    prefs = head(SAMPLE / "prefs.jsonl", tmp_path, 24)
    run_train_reward(base, prefs, tmp_path / "rm", cfg, lora=lora, show_progress=False)
    rm, _, _ = load_reward_model(tmp_path / "rm", device="cpu")  # merged: a plain reward checkpoint
    base_weights = open_checkpoint(base).weights()
    saved = open_checkpoint(tmp_path / "rm").weights()
    assert not torch.equal(
        saved["layers.0.self_attn.q_proj.weight"], base_weights["layers.0.self_attn.q_proj.weight"]
    )
    assert torch.equal(saved["layers.0.mlp.up_proj.weight"], base_weights["layers.0.mlp.up_proj.weight"])

    prompts = head(SAMPLE / "prompts.jsonl", tmp_path, 16)
    cfg = TrainConfig.for_stage("grpo", max_steps=1, batch_size=2, eval_every=0, precision="fp32")
    options = dict(group_size=2, max_new_tokens=4, temperature=1.0, clip=0.2, kl_coef=0.1, updates_per_batch=1,
                   reward=None, val_fraction=0.1, max_val=2, data_format="auto", tools=None, max_tool_calls=0)  # fmt: skip
    stage = build_grpo(cfg, 1, base, prompts, lora=lora, **options)
    reference = stage.data.reference
    assert isinstance(reference, adapters_off) and reference.model is stage.model  # no second copy
    assert sum(isinstance(m, Transformer) for m in vars(stage.data).values()) == 1
    manifest = run_grpo(base, prompts, tmp_path / "grpo", cfg, lora=lora, show_progress=False,
                        **{k: v for k, v in options.items() if k not in ("data_format",)})  # fmt: skip
    assert manifest["lora"]["rank"] == 4 and manifest["stats"]["steps"] == 1


def test_lora_run_killed_and_resumed_reaches_the_same_weights(tmp_path, base):
    """Step checkpoints keep base + adapters apart (and their optimizer state), so a LoRA run killed
    mid-way and resumed ends bitwise where an uninterrupted run does; only the end merges."""
    import signal
    import subprocess
    import sys
    import time

    from conftest import REPO

    from llmkit.train.sft import run_sft

    chats = head(SAMPLE / "chat.jsonl", tmp_path, 48)
    steps, lora = 12, LoraSettings(rank=4, dropout=0.1)  # dropout: the RNG must resume too
    cfg = dict(max_steps=steps, batch_size=4, eval_every=0, precision="fp32", threads=1, seed=3)
    run_sft(
        base, chats, tmp_path / "ref", TrainConfig.for_stage("sft", **cfg), lora=lora, show_progress=False
    )

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "llmkit", "sft", str(base), str(chats), "-o", str(out), "--lora-rank", "4",
           "--lora-dropout", "0.1", "--max-steps", str(steps), "--batch-size", "4", "--eval-every", "0",
           "--precision", "fp32", "--threads", "1", "--seed", "3", "--checkpoint-every", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    deadline = time.time() + 180
    checkpoints = tmp_path / "run.checkpoints"
    while not any((p / "manifest.json").exists() for p in checkpoints.glob("step-0000000[4-9]")):
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    step = open_checkpoint(sorted(checkpoints.glob("step-*"))[-1]).weights()
    assert any(".lora_A." in name for name in step)  # the adapters apart, for --resume

    manifest = run_sft(
        base, chats, out, TrainConfig.for_stage("sft", **cfg), lora=lora, resume=True, show_progress=False
    )
    assert manifest["stats"]["resumed_from_step"] >= 4
    a, b = open_checkpoint(tmp_path / "ref").weights(), open_checkpoint(out).weights()
    assert a.keys() == b.keys() and not any(".lora_" in name for name in a)  # merged at the end
    assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a)
