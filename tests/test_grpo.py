"""GRPO mechanics: group-normalised advantages, the clipped objective, rewards, and a short real run."""

from __future__ import annotations

import json
import random

import pyarrow.parquet as pq
import pytest
import torch
from conftest import add_one_prompts, make_checkpoint, make_tokenizer, write_jsonl

from llmkit.errors import UserError
from llmkit.train.chat_data import IGNORE
from llmkit.train.common import TrainConfig
from llmkit.train.grpo import exact_match_reward, grpo_loss, load_reward_fn, run_grpo
from llmkit.train.sft import run_sft


class FixedLogits(torch.nn.Module):
    """A 'model' whose log-probabilities are a learnable table, to check the loss by hand."""

    def __init__(self, logits: torch.Tensor):
        super().__init__()
        self.logits = torch.nn.Parameter(logits.clone())

    def forward(self, inputs):
        return self.logits.expand(inputs.size(0), -1, -1)


def test_clipped_objective_by_hand():
    # one answer of one token; vocab of 2; target token 0 with p = 0.5 under both old and new policy
    model = FixedLogits(torch.zeros(1, 1, 2))
    inputs, targets = torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 1, dtype=torch.long)
    old = torch.log(torch.tensor([[0.5]]))
    loss = grpo_loss(clip=0.2, kl_coef=0.0)(model, (inputs, targets, torch.tensor([2.0]), old, old))
    assert loss.item() == pytest.approx(-2.0)  # ratio 1: −min(1·A, clip(1)·A) = −A
    loss.backward()
    # d/dlogit0 of −A·p0/p_old = −A · p0(1 − p0) / p_old = −2 · 0.25 / 0.5 = −1
    assert model.logits.grad[0, 0].tolist() == pytest.approx([-1.0, 1.0])
    # a ratio past 1 + clip with a positive advantage is clipped: no gradient
    far_old = torch.log(torch.tensor([[0.25]]))  # ratio 2
    model.logits.grad = None
    loss = grpo_loss(clip=0.2, kl_coef=0.0)(model, (inputs, targets, torch.tensor([1.0]), far_old, far_old))
    assert loss.item() == pytest.approx(-1.2)
    loss.backward()
    assert model.logits.grad.abs().sum().item() == 0.0


def test_ignored_positions_and_kl_term():
    model = FixedLogits(torch.zeros(1, 2, 2))
    inputs = torch.zeros(1, 2, dtype=torch.long)
    targets = torch.tensor([[IGNORE, 1]])
    logp = torch.log(torch.tensor([[0.5, 0.5]]))
    assert grpo_loss(0.2, 0.0)(
        model, (inputs, targets, torch.tensor([0.0]), logp, logp)
    ).item() == pytest.approx(0.0)
    ref = torch.log(torch.tensor([[0.5, 0.25]]))  # k3: e^(ref−logp) − (ref−logp) − 1 = 0.5 + ln 2 − 1
    kl = grpo_loss(0.2, 1.0)(model, (inputs, targets, torch.tensor([0.0]), logp, ref)).item()
    assert kl == pytest.approx(0.5 + 0.693147 - 1, abs=1e-5)


def test_rewards():
    assert exact_match_reward("q", "It is 12.", "12") == 1.0
    assert exact_match_reward("q", "#### 7", "8") == 0.0
    assert load_reward_fn("llmkit.train.grpo:exact_match_reward") is exact_match_reward
    with pytest.raises(UserError, match="module:function"):
        load_reward_fn("nocolon")
    with pytest.raises(UserError, match="cannot import"):
        load_reward_fn("no_such_module_xyz:f")


def test_short_grpo_run_logs_rewards_and_writes_a_policy(tmp_path):
    tok = make_tokenizer(tmp_path / "tok")
    make_checkpoint(tmp_path / "sft", tok, n_layers=1, d_model=32, seq_len=48)
    rows = add_one_prompts(40)
    write_jsonl(tmp_path / "prompts.jsonl", rows)
    cfg = TrainConfig(lr=1e-3, warmup_steps=0, max_steps=4, batch_size=2, eval_every=2, log_every=2)
    manifest = run_grpo(
        tmp_path / "sft",
        tmp_path / "prompts.jsonl",
        tmp_path / "out",
        cfg,
        group_size=4,
        max_new_tokens=4,
        updates_per_batch=2,
        kl_coef=0.1,
        show_progress=False,
    )
    assert manifest["stage"] == "grpo" and manifest["counts"]["step"] == 4
    assert manifest["stats"]["initial_val_accuracy"] is not None
    metrics = pq.read_table(tmp_path / "out" / "metrics.parquet").to_pylist()
    assert [m["step"] for m in metrics] == [2, 4]
    assert all(0.0 <= m["reward"] <= 1.0 and m["answer_tokens"] > 0 for m in metrics)
    with pytest.raises(UserError, match="--group-size must be at least 2"):
        run_grpo(tmp_path / "sft", tmp_path / "prompts.jsonl", tmp_path / "o2", cfg, group_size=1)
    with pytest.raises(UserError, match="--nproc must be greater than 0"):
        run_grpo(tmp_path / "sft", tmp_path / "prompts.jsonl", tmp_path / "o2", cfg, nproc=0)
    with pytest.raises(UserError, match="--max-val must be 0 or more"):
        run_grpo(tmp_path / "sft", tmp_path / "prompts.jsonl", tmp_path / "o2", cfg, max_val=-1)
    (tmp_path / "noanswers.jsonl").write_text(json.dumps({"prompt": "hi"}) + "\n")
    with pytest.raises(UserError, match="no reference answers"):
        run_grpo(tmp_path / "sft", tmp_path / "noanswers.jsonl", tmp_path / "o3", cfg, val_fraction=0.0)


@pytest.fixture(scope="module")
def number_sft(tmp_path_factory):
    """SFT teaches "Say a number." → one of 2, 3, 5, 7 at random; the prompts' checker rewards only 7."""
    root = tmp_path_factory.mktemp("numbers")
    tok = make_tokenizer(root / "tok")
    rng = random.Random(0)
    chats = [
        {"messages": [{"role": "user", "content": f"Q{i}: Say a number."},
                      {"role": "assistant", "content": f"{rng.choice([2, 3, 5, 7])}."}]}
        for i in range(200)
    ]  # fmt: skip
    prompts = [
        {"prompt": [{"role": "user", "content": f"P{i}: Say a number."}], "answer": "7"} for i in range(200)
    ]
    write_jsonl(root / "chat.jsonl", chats)
    write_jsonl(root / "prompts.jsonl", prompts)
    make_checkpoint(root / "base", tok, n_layers=2, d_model=64, seq_len=64)
    sft_cfg = TrainConfig(
        lr=5e-3, warmup_steps=5, max_steps=60, batch_size=16, eval_every=0, log_every=10, seed=0
    )
    run_sft(root / "base", root / "chat.jsonl", root / "sft", sft_cfg, show_progress=False)
    return root


@pytest.mark.parametrize("nproc", [1, 2])
def test_grpo_reinforces_the_answers_the_checker_rewards(number_sft, tmp_path, nproc):
    """Sampled groups differ in reward, and GRPO must move the greedy answer on held-out prompts to 7;
    with two processes (DistributedDataParallel, each sampling its own prompts) as well as one."""
    root = number_sft
    cfg = TrainConfig(lr=1e-3, warmup_steps=0, max_steps=15, batch_size=4 // nproc, eval_every=5, log_every=5)
    manifest = run_grpo(root / "sft", root / "prompts.jsonl", tmp_path / "grpo", cfg, group_size=8,
                        max_new_tokens=6, val_fraction=0.2, max_val=16, show_progress=False, nproc=nproc)  # fmt: skip
    metrics = pq.read_table(tmp_path / "grpo" / "metrics.parquet").to_pylist()
    assert manifest["stats"]["world_size"] == nproc
    assert manifest["stats"]["initial_val_accuracy"] <= 0.25  # greedy SFT picks one number, rarely 7
    assert metrics[-1]["val_accuracy"] == 1.0
    assert metrics[-1]["reward"] > metrics[0]["reward"] > 0  # sampled answers drift towards 7
