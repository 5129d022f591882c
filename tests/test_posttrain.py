"""SFT, reward model and DPO on a tiny model and a small synthetic task, end to end through the shared loop.

The task: "What color is the X?" → "The X is Y." (chosen) versus a rude reply (rejected). A
2-layer model learns it in seconds, so each stage's claimed effect is checked for real: SFT answers
and stops at <|im_end|>, the reward model ranks held-out pairs, DPO raises implicit-reward accuracy.
"""

from __future__ import annotations

import json
import random

import pyarrow.parquet as pq
import pytest
from conftest import assert_one_line_error, make_checkpoint, make_tokenizer, run_cli

from llmkit.errors import UserError
from llmkit.sampling import SamplingConfig, generate
from llmkit.train.chat_data import IGNORE, encode_chats, encode_pairs, lm_rows
from llmkit.train.common import TrainConfig, load_model
from llmkit.train.dpo import run_dpo
from llmkit.train.reward import load_reward_model, run_train_reward, score_chats
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
    with open(root / "prefs.jsonl", "w") as f:
        for i in range(240):
            thing = rng.choice(list(THINGS))
            prompt = [{"role": "user", "content": f"P{i}: What color is the {thing}?"}]
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


def test_reward_model_ranks_held_out_pairs(data, tmp_path):
    root, _ = data
    manifest = run_train_reward(
        root / "sft", root / "prefs.jsonl", tmp_path / "rm", quick(30, 1e-3, batch=8), show_progress=False
    )
    metrics = pq.read_table(tmp_path / "rm" / "metrics.parquet").to_pylist()
    final = metrics[-1]
    assert manifest["stats"]["val_pairs"] >= 10
    assert final["val_accuracy"] >= 0.9 and final["val_margin"] > 0
    rm, _, _ = load_reward_model(tmp_path / "rm", device="cpu")
    assert rm.score.weight.shape == (1, rm.config.d_model)
    chats = tmp_path / "two.jsonl"
    chats.write_text(
        json.dumps({"messages": [{"role": "user", "content": "What color is the sun?"}, {"role": "assistant", "content": "The sun is yellow."}]}) + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "What color is the sun?"}, {"role": "assistant", "content": "Go away."}]}) + "\n"
    )  # fmt: skip
    helpful, rude = score_chats(tmp_path / "rm", chats, device="cpu")
    assert helpful["reward"] > rude["reward"]
    r = run_cli("score", tmp_path / "rm", chats, "--json")
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
