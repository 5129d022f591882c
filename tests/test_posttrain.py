"""SFT, reward model and DPO on a tiny model and a small synthetic task, end to end through the shared loop.

The task: "What color is the X?" → "The X is Y." (chosen) versus a rude reply (rejected). A
2-layer model learns it in seconds, so each stage's claimed effect is checked for real: SFT answers
and stops at <|im_end|>, the reward model ranks held-out pairs, DPO raises implicit-reward accuracy.
"""

from __future__ import annotations

import json
import random
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest
import torch
from conftest import REPO, assert_one_line_error, make_checkpoint, make_tokenizer, run_cli
from safetensors.torch import load_file

from llmkit.checkpoint import load_model, load_reward_model
from llmkit.engine import SamplingConfig, generate
from llmkit.errors import UserError
from llmkit.train.chat_data import IGNORE, ChatBatches, encode_chats, encode_pairs, lm_rows
from llmkit.train.common import Output, TrainConfig, finished_step_checkpoints, lm_loss
from llmkit.train.dpo import run_dpo
from llmkit.train.loop import train
from llmkit.train.ppo import PPOConfig, gae, run_ppo, whiten
from llmkit.train.reward import run_train_reward, score_chats
from llmkit.train.sft import run_sft

THINGS = {
    "sky": "blue",
    "grass": "green",
    "sun": "yellow",
    "snow": "white",
    "coal": "black",
    "blood": "red",
    "lemon": "yellow",
    "night": "dark",
}
RUDE = ["Go away.", "I do not care.", "Figure it out yourself.", "Whatever."]


def quick(steps: int, lr: float, batch: int = 16) -> TrainConfig:
    return TrainConfig(
        lr=lr, warmup_steps=5, max_steps=steps, batch_size=batch, eval_every=0, log_every=10, seed=0
    )


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"), vocab_size=320)


@pytest.fixture(scope="module")
def data(tmp_path_factory, tokenizer):
    root = tmp_path_factory.mktemp("posttrain")
    rng = random.Random(0)
    with open(root / "chat.jsonl", "w") as f:
        for i in range(160):
            thing = rng.choice(list(THINGS))
            f.write(
                json.dumps(
                    {
                        "messages": [
                            {"role": "user", "content": f"Q{i}: What color is the {thing}?"},
                            {"role": "assistant", "content": f"The {thing} is {THINGS[thing]}."},
                        ]
                    }
                )
                + "\n"
            )
    with open(root / "prefs.jsonl", "w") as f, open(root / "prompts.jsonl", "w") as g:
        for i in range(240):
            thing = rng.choice(list(THINGS))
            prompt = [{"role": "user", "content": f"P{i}: What color is the {thing}?"}]
            g.write(json.dumps({"prompt": prompt}) + "\n")
            f.write(
                json.dumps(
                    {
                        "prompt": prompt,
                        "chosen": f"The {thing} is {THINGS[thing]}.",
                        "rejected": rng.choice(RUDE),
                    }
                )
                + "\n"
            )
    make_checkpoint(root / "base", tokenizer, n_layers=2, d_model=64, seq_len=64)
    run_sft(root / "base", root / "chat.jsonl", root / "sft", quick(100, 5e-3), show_progress=False)
    return root, tokenizer


def test_sft_loss_mask_covers_assistant_tokens_and_im_end_only(tokenizer):
    tok = tokenizer
    conv = {
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello."},
        ]
    }
    [(ids, mask)], dropped = encode_chats([conv], tok, max_len=100)
    inputs, targets = lm_rows(ids, mask)
    learned = [t for t in targets if t != IGNORE]
    assert learned == tok.encode("Hello.") + [tok.im_end_id]  # the answer and its <|im_end|>, nothing else
    assert len(inputs) == len(targets) == len(ids) - 1 and not dropped


def test_long_conversations_are_truncated_or_dropped_and_counted(tokenizer):
    tok = tokenizer
    long = {"messages": [{"role": "user", "content": "word " * 200}, {"role": "assistant", "content": "ok"}]}
    short = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    kept, dropped = encode_chats([long, short], tok, max_len=40, long="drop")
    assert len(kept) == 1 and dropped == {"too_long": 1}
    kept, dropped = encode_chats([long, short], tok, max_len=40, long="truncate")
    assert len(kept) == 1 and dropped == {"no_assistant_tokens": 1}  # cut before the answer: nothing to learn
    with pytest.raises(UserError, match="--long must be"):
        encode_chats([short], tok, 40, long="wrap")


def test_sft_model_answers_in_the_template_and_stops(data):
    root, _ = data
    model, tok, ckpt = load_model(root / "sft", device="cpu")
    assert ckpt.manifest["stage"] == "sft" and ckpt.manifest["stats"]["packing"] is False
    prompts = [
        tok.render_chat(
            [{"role": "user", "content": f"Q5: What color is the {t}?"}], add_generation_prompt=True
        )[0]
        for t in ("snow", "grass")
    ]
    outs = generate(
        model,
        prompts,
        SamplingConfig(max_new_tokens=32, temperature=0.0),
        stop_ids=[tok.im_end_id, tok.eot_id],
    )
    assert all(o and o[-1] == tok.im_end_id for o in outs)  # stopped at <|im_end|>
    assert [tok.decode(o[:-1]) for o in outs] == ["The snow is white.", "The grass is green."]


@pytest.fixture(scope="module")
def reward_model(data):
    root, _ = data
    manifest = run_train_reward(
        root / "sft", root / "prefs.jsonl", root / "rm", quick(30, 1e-3, batch=8), show_progress=False
    )
    return root / "rm", manifest


def test_reward_model_ranks_held_out_pairs(reward_model, tmp_path):
    rm_path, manifest = reward_model
    metrics = pq.read_table(rm_path / "metrics.parquet").to_pylist()
    final = metrics[-1]
    assert manifest["stats"]["val_pairs"] >= 10
    assert final["val_accuracy"] >= 0.9 and final["val_margin"] > 0
    rm, _, _ = load_reward_model(rm_path, device="cpu")
    assert rm.score.weight.shape == (1, rm.config.d_model)
    chats = tmp_path / "two.jsonl"
    chats.write_text(
        json.dumps({"messages": [{"role": "user", "content": "What color is the sun?"}, {"role": "assistant", "content": "The sun is yellow."}]}) + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "What color is the sun?"}, {"role": "assistant", "content": "Go away."}]}) + "\n"
    )  # fmt: skip
    helpful, rude = score_chats(rm_path, chats, device="cpu")
    assert helpful["reward"] > rude["reward"]
    r = run_cli("score", rm_path, chats, "--json")
    assert r.returncode == 0, r.stderr
    assert [json.loads(line)["response"] for line in r.stdout.splitlines()] == [
        "The sun is yellow.",
        "Go away.",
    ]


def test_dpo_raises_implicit_reward_accuracy(data, tmp_path):
    root, _ = data
    manifest = run_dpo(
        root / "sft",
        root / "prefs.jsonl",
        tmp_path / "dpo",
        quick(30, 1e-3, batch=8),
        beta=0.1,
        show_progress=False,
    )
    final = pq.read_table(tmp_path / "dpo" / "metrics.parquet").to_pylist()[-1]
    assert manifest["stats"]["initial_val_loss"] == pytest.approx(
        0.6931, abs=1e-3
    )  # policy == reference: log 2
    assert (
        final["val_loss"] < 0.5 and final["val_accuracy"] >= 0.9 > manifest["stats"]["initial_val_accuracy"]
    )
    model, _, _ = load_model(tmp_path / "dpo", device="cpu")  # a DPO policy is an ordinary checkpoint


def test_pairs_that_cannot_fit_are_dropped(tokenizer):
    tok = tokenizer
    pairs, dropped = encode_pairs(
        [{"prompt": [{"role": "user", "content": "x " * 100}], "chosen": "yes", "rejected": "no"}],
        tok,
        max_len=30,
    )
    ((chosen, rejected, start),) = pairs
    assert len(chosen) <= 30 and chosen[start:] == tok.encode("yes") + [
        tok.im_end_id
    ]  # the prompt was cut from the left
    pairs, dropped = encode_pairs(
        [{"prompt": [{"role": "user", "content": "q"}], "chosen": "long " * 50, "rejected": "no"}],
        tok,
        max_len=30,
    )
    assert not pairs and dropped == {"response_too_long": 1}


def test_posttrain_bad_inputs(data, tmp_path):
    root, _ = data
    with pytest.raises(UserError, match="holds chat data .* this stage needs prefs"):
        run_train_reward(root / "sft", root / "chat.jsonl", tmp_path / "rm")
    with pytest.raises(UserError, match="is not a reward model"):
        load_reward_model(root / "sft")
    with pytest.raises(UserError, match="--beta must be greater than 0"):
        run_dpo(root / "sft", root / "prefs.jsonl", tmp_path / "dpo", beta=0)
    (tmp_path / "empty.jsonl").write_text("")
    with pytest.raises(UserError, match="no JSON object rows"):
        run_sft(root / "base", tmp_path / "empty.jsonl", tmp_path / "sft")
    assert_one_line_error(
        run_cli("sft", root / "base", tmp_path / "missing.jsonl", "-o", tmp_path / "x"), "does not exist"
    )
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


def test_ppo_raises_held_out_reward_with_bounded_kl(data, reward_model, tmp_path):
    root, tok = data
    # a policy with room to improve: SFT for 40 steps only (the fixture's 100-step model already
    # answers well, so its reward can barely rise); measured: held-out reward −4.3 → +2 to +4
    run_sft(root / "base", root / "chat.jsonl", tmp_path / "sft40", quick(40, 5e-3), show_progress=False)
    pcfg = PPOConfig(rollout_size=16, minibatches=2, ppo_epochs=2, max_new_tokens=16)
    cfg = TrainConfig(lr=3e-4, warmup_steps=0, eval_every=8, log_every=8)
    manifest = run_ppo(
        tmp_path / "sft40",
        reward_model[0],
        root / "prompts.jsonl",
        tmp_path / "ppo",
        cfg,
        pcfg,
        rollouts=12,
        show_progress=False,
    )
    metrics = pq.read_table(tmp_path / "ppo" / "metrics.parquet").to_pylist()
    last = metrics[-1]
    assert last["val_reward"] > manifest["stats"]["initial_val_reward"] + 2.0  # the RM prefers the new policy
    assert 0 <= last["kl"] < 20 and all(0 <= m["clip_fraction"] <= 1 for m in metrics)
    for key in ("entropy", "approx_kl", "value_loss", "response_length", "eos_rate", "kl_coef"):
        assert key in last
    model, _, ckpt = load_model(tmp_path / "ppo", device="cpu")  # the policy is an ordinary checkpoint
    assert "value_model" in ckpt.trainer_state()["extra"]  # the value model is kept for --resume


def test_ppo_resume_after_sigkill_mid_rollout_batch_reaches_the_same_weights(data, reward_model, tmp_path):
    """A PPO run killed at a random step (usually inside a rollout batch) and resumed ends with the weights
    of the uninterrupted run: the checkpoint keeps the value model, the adaptive β and the rollout in use."""
    root, _ = data
    args = [str(root / "sft"), str(reward_model[0]), str(root / "prompts.jsonl"), "--rollouts", "4",
            "--rollout-size", "8", "--minibatches", "2", "--max-new-tokens", "12", "--lr", "3e-4",
            "--target-kl", "0.5", "--eval-every", "0", "--threads", "1"]  # fmt: skip
    cmd = [sys.executable, "-m", "llmkit", "ppo", *args]
    subprocess.run([*cmd, "-o", str(tmp_path / "ref")], check=True, capture_output=True, cwd=REPO)

    out = tmp_path / "run"
    proc = subprocess.Popen([*cmd, "-o", str(out), "--checkpoint-every", "1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, cwd=REPO)  # fmt: skip
    deadline = time.time() + 120
    while not [p for p in finished_step_checkpoints(out) if p.name >= "step-00000005"]:
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()
    subprocess.run([*cmd, "-o", str(out), "--resume"], check=True, capture_output=True, cwd=REPO)

    manifest = json.loads((out / "manifest.json").read_text())
    assert 5 <= manifest["stats"]["resumed_from_step"] < 16  # 4 rollouts × 2 epochs × 2 minibatches
    a, b = load_file(tmp_path / "ref" / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(a[k], b[k]) for k in a)
    states = [load_model(p, device="cpu")[2].trainer_state() for p in (tmp_path / "ref", out)]
    value = [state["extra"]["value_model"] for state in states]
    assert all(torch.equal(value[0][k], value[1][k]) for k in value[0])
    kl_coefs = [state["data"]["kl_coef"] for state in states]
    assert kl_coefs[0] == kl_coefs[1] != 0.05  # β adapted, and the resumed run carried it on


def test_ppo_with_two_processes(data, reward_model, tmp_path):
    """Two DistributedDataParallel processes, each sampling its own rollout batch; one policy written."""
    root, _ = data
    pcfg = PPOConfig(rollout_size=8, minibatches=2, ppo_epochs=1, max_new_tokens=8, target_kl=0.5)
    cfg = TrainConfig(lr=3e-4, warmup_steps=0, eval_every=4, log_every=2)
    manifest = run_ppo(root / "sft", reward_model[0], root / "prompts.jsonl", tmp_path / "ppo", cfg, pcfg,
                       rollouts=2, show_progress=False, nproc=2)  # fmt: skip
    assert manifest["stats"]["world_size"] == 2 and manifest["counts"]["step"] == 4
    assert manifest["stats"]["initial_val_reward"] is not None
    metrics = pq.read_table(tmp_path / "ppo" / "metrics.parquet").to_pylist()
    assert metrics[-1]["val_reward"] is not None and metrics[-1]["kl_coef"] != 0.05
    load_model(tmp_path / "ppo", device="cpu")


def test_gae_and_whitening_by_hand():
    # one answer of 3 tokens after 1 prompt position; reward 1 at the end; values 0.5; γ = λ = 1
    rewards = torch.tensor([[0.0, 0.0, 0.0, 1.0]])
    values = torch.tensor([[0.0, 0.5, 0.5, 0.5]])
    mask = torch.tensor([[0.0, 1.0, 1.0, 1.0]])
    adv, ret = gae(rewards, values * mask, mask, gamma=1.0, lam=1.0)
    assert adv.tolist() == [[0.0, 0.5, 0.5, 0.5]] and ret.tolist() == [[0.0, 1.0, 1.0, 1.0]]
    adv, _ = gae(rewards, values * mask, mask, gamma=0.5, lam=0.5)
    # δ3 = 1 − 0.5 = 0.5; δ2 = 0.5·0.5 − 0.5 = −0.25, A2 = −0.25 + 0.25·0.5; δ1 = −0.25, A1 = δ1 + 0.25·A2
    assert adv[0].tolist() == pytest.approx([0.0, -0.25 + 0.25 * (-0.125), -0.125, 0.5])
    w = whiten(torch.tensor([[9.0, 1.0, 2.0, 3.0]]), mask)
    assert w[0, 0] == 0 and w[0, 1:].mean().item() == pytest.approx(0.0, abs=1e-6)
    assert w[0, 1:].pow(2).mean().item() == pytest.approx(1.0, rel=1e-4)


def test_ppo_bad_inputs(data, reward_model, tmp_path):
    root, _ = data
    with pytest.raises(UserError, match="multiple of --minibatches"):
        run_ppo(
            root / "sft",
            reward_model[0],
            root / "prompts.jsonl",
            tmp_path / "p",
            ppo_config=PPOConfig(rollout_size=10, minibatches=4),
        )
    with pytest.raises(UserError, match="--nproc must be greater than 0"):
        run_ppo(root / "sft", reward_model[0], root / "prompts.jsonl", tmp_path / "p", nproc=0)
    with pytest.raises(UserError, match="is not a reward model"):
        run_ppo(root / "sft", root / "sft", root / "prompts.jsonl", tmp_path / "p")
    other = make_tokenizer(tmp_path / "tok2", vocab_size=300)
    make_checkpoint(tmp_path / "foreign", other, n_layers=1, d_model=32, seq_len=64)
    with pytest.raises(UserError, match="use different tokenizers"):
        run_ppo(tmp_path / "foreign", reward_model[0], root / "prompts.jsonl", tmp_path / "p")
    (tmp_path / "none.jsonl").write_text("")
    with pytest.raises(UserError, match="no JSON object rows"):
        run_ppo(root / "sft", reward_model[0], tmp_path / "none.jsonl", tmp_path / "p")
    assert not (tmp_path / "p").exists() and not (tmp_path / "p.partial").exists()


def test_a_non_finite_loss_stops_the_run_with_one_clear_line(data, tmp_path):
    root, _ = data
    model, tok, _ = load_model(root / "sft", device="cpu")
    batches = ChatBatches(
        encode_chats(
            [{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}],
            tok,
            64,
        )[0],
        tok.pad_id,
        1,
        0,
    )
    output = Output(tmp_path / "nan", "sft", {}, [], tok.path)

    def nan_after_two_steps(model, batch):
        loss = lm_loss(model, batch)
        nan_after_two_steps.calls += 1
        return loss * float("nan") if nan_after_two_steps.calls > 2 else loss

    nan_after_two_steps.calls = 0
    cfg = TrainConfig(max_steps=5, checkpoint_every=1, log_every=1, eval_every=0, batch_size=1)
    with pytest.raises(
        UserError,
        match=r"the loss became nan at step 3; stopped, the last good checkpoint is .*step-00000002",
    ):
        train(model, batches, cfg, output, loss_fn=nan_after_two_steps, show_progress=False)
    assert not (tmp_path / "nan").exists()
