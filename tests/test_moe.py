"""Mixture-of-experts feed-forward layers: the routing math by hand, the router losses, training
(aux loss and expert load logged, resume bit-identical, 2-process DDP), KV-cache generation, Muon,
inspect and plot, export to transformers' MixtralForCausalLM, and bad inputs."""

from __future__ import annotations

import math
import re

import pyarrow.parquet as pq
import pytest
import torch
from conftest import assert_one_line_error, make_checkpoint, make_tokenizer, run_cli
from test_pretrain import make_tokens, one_thread, pretrain, quick_config, weights  # noqa: F401 (a fixture)

from llmkit.engine import SamplingConfig, generate
from llmkit.errors import UserError
from llmkit.export import export_hf
from llmkit.gguf_export import export_gguf
from llmkit.inspect import describe
from llmkit.model import (
    ModelConfig,
    MoE,
    Transformer,
    flops_per_token,
    model_config,
    num_params,
    router_losses,
)
from llmkit.plot import plot_runs
from llmkit.train.common import TrainConfig, build_optimizer
from llmkit.train.muon import Muon
from llmkit.train.pretrain import run_pretrain

MOE_SHAPE = dict(n_layers=2, d_model=64, ffn_hidden=64, seq_len=32, n_experts=4, experts_per_token=2)


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    return make_tokens(tmp_path_factory.mktemp("data"), sentences=60)


def silu(z: float) -> float:
    return z / (1 + math.exp(-z))


# --------------------------------------------------------------------------------------- the math


def test_routing_and_expert_sum_by_hand():
    """Two tokens, three experts of hidden size 1, top-2: every number written out."""
    cfg = ModelConfig(vocab_size=8, d_model=2, n_heads=1, n_kv_heads=1, ffn_hidden=1, n_experts=3).validate()
    moe = MoE(cfg).eval()
    a, b = (1.0, 2.0, 3.0), (-1.0, 0.5, 2.0)
    with torch.no_grad():
        # token [1, 0] scores the experts (1, 2, 0); token [0, 1] scores them (0, -1, 3)
        moe.router.weight.copy_(torch.tensor([[1.0, 0.0], [2.0, -1.0], [0.0, 3.0]]))
        for i, expert in enumerate(moe.experts):  # expert i maps x to [silu(a_i x0 + b_i x1) · (x0 + x1), 0]
            expert.gate_proj.weight.copy_(torch.tensor([[a[i], b[i]]]))
            expert.up_proj.weight.copy_(torch.tensor([[1.0, 1.0]]))
            expert.down_proj.weight.copy_(torch.tensor([[1.0], [0.0]]))
        y = moe(torch.tensor([[[1.0, 0.0], [0.0, 1.0]]]))
    e = math.e
    # token 1: experts 1 (p ∝ e²) and 0 (p ∝ e), renormalised over the two; expert 2 is not used
    first = e**2 / (e**2 + e) * silu(a[1]) + e / (e**2 + e) * silu(a[0])
    # token 2: experts 2 (p ∝ e³) and 0 (p ∝ 1)
    second = e**3 / (e**3 + 1) * silu(b[2]) + 1 / (e**3 + 1) * silu(b[0])
    assert torch.allclose(y, torch.tensor([[[first, 0.0], [second, 0.0]]]), atol=1e-6)


def test_grouped_experts_equal_a_per_token_loop_with_their_gradients():
    torch.manual_seed(0)
    cfg = model_config(
        "tiny", 64, d_model=32, n_heads=2, n_kv_heads=1, ffn_hidden=16, n_experts=5, experts_per_token=3
    )
    moe = MoE(cfg)
    with torch.no_grad():
        moe.router.weight.mul_(50)  # decisive routing, so every expert gets a different share
    x = torch.randn(3, 7, 32, requires_grad=True)
    y = moe(x)
    expected = []
    for token in x.reshape(-1, 32):
        top = moe.router(token).softmax(-1).topk(3)
        expected.append(sum(w / top.values.sum() * moe.experts[i](token) for w, i in zip(*top, strict=True)))
    expected = torch.stack(expected).view_as(y)
    assert torch.allclose(y, expected, atol=1e-5)
    # the gradients of the grouped computation are the per-token loop's, for the input, the router
    # and every expert
    upstream = torch.randn_like(y)
    params = [x, *moe.parameters()]
    grouped = torch.autograd.grad((y * upstream).sum(), params)
    looped = torch.autograd.grad((expected * upstream).sum(), params)
    for name, a, b in zip(["x", *(n for n, _ in moe.named_parameters())], grouped, looped, strict=True):
        assert torch.allclose(a, b, atol=1e-5), name


def test_load_balancing_loss_is_minimal_for_uniform_load():
    """Switch's E · Σ f·P: 1 for an even load. With confident routing (P follows f) it is E · Σ f²,
    which every uneven load exceeds; at an even load its gradient is zero, and with an uneven load
    gradient descent lowers the overloaded expert's probability."""
    n_experts = 4
    uniform = torch.zeros(8, n_experts, requires_grad=True)
    even = torch.tensor([[0, 1], [2, 3]] * 4)  # each expert gets 4 of the 16 assignments
    balance, z, load = router_losses(uniform, even)
    assert balance.item() == pytest.approx(1.0) and load.tolist() == [0.25] * 4
    assert z.item() == pytest.approx(math.log(4) ** 2)  # logsumexp of four zeros, squared
    balance.backward()
    assert uniform.grad.abs().max().item() < 1e-7

    def confident(assignment: list[int]) -> float:  # top-1, probability ≈ 1 on the chosen expert
        chosen = torch.tensor(assignment)[:, None]
        logits = torch.nn.functional.one_hot(chosen[:, 0], n_experts).float() * 30
        return router_losses(logits, chosen)[0].item()

    assert confident([0, 1, 2, 3] * 2) == pytest.approx(1.0, abs=1e-6)
    generator = torch.Generator().manual_seed(0)
    for _ in range(50):
        assignment = torch.randint(0, n_experts, (8,), generator=generator).tolist()
        if sorted(assignment) != sorted([0, 1, 2, 3] * 2):
            assert confident(assignment) > 1.0 + 1e-3
    assert confident([0] * 8) == pytest.approx(n_experts, rel=1e-4)  # all on one expert: E

    logits = torch.zeros(8, n_experts, requires_grad=True)
    router_losses(logits, torch.tensor([[0, 1]] * 8))[0].backward()  # experts 0 and 1 overloaded
    assert (logits.grad[:, :2] > 0).all() and (logits.grad[:, 2:] < 0).all()


def test_counts_total_and_active_parameters_and_flops():
    dense = model_config("tiny", 300, n_layers=2, d_model=64, ffn_hidden=128, seq_len=32)
    moe = model_config("tiny", 300, **{**MOE_SHAPE, "n_experts": 8, "ffn_hidden": 64})
    assert num_params(moe) == sum(p.numel() for p in Transformer(moe).weights().values())
    router = 2 * 64 * 8
    assert num_params(moe, active=True) == num_params(dense) + router  # 2 experts of 64 = one MLP of 128
    assert num_params(moe) == num_params(dense) + router + 2 * 3 * 64 * 64 * 6  # 6 more experts per layer
    assert flops_per_token(moe) == flops_per_token(dense) + 6 * router
    assert "n_experts" not in dense.to_dict()  # a dense config.json reads as before MoE existed


def test_muon_takes_the_experts_and_adamw_the_router():
    model = Transformer(model_config("tiny", 300, **MOE_SHAPE))
    optimizer = build_optimizer(model, TrainConfig(optimizer="muon"))
    muon, adamw = optimizer.optimizers
    assert isinstance(muon, Muon)
    names = {id(p): n for n, p in model.named_parameters()}
    on_muon = {names[id(p)] for g in muon.param_groups for p in g["params"]}
    on_adamw = {names[id(p)] for g in adamw.param_groups for p in g["params"]}
    assert (
        "layers.0.mlp.experts.3.down_proj.weight" in on_muon and "layers.1.self_attn.q_proj.weight" in on_muon
    )
    assert {"layers.0.mlp.router.weight", "layers.1.mlp.router.weight"} <= on_adamw
    assert not any("router" in n for n in on_muon)


# --------------------------------------------------------------------------------------- training


@pytest.mark.usefixtures("one_thread")
def test_moe_run_logs_router_losses_and_resumes_bit_identically(tokens, tmp_path):
    """An MoE run stopped at step 6 and resumed equals a 12-step run (constant lr, so the 6-step
    run's schedule is the first half of the 12-step run's); Muon for the experts, AdamW for routers."""
    shape = {**MOE_SHAPE, "router_z_coef": 1e-3}
    cfg = dict(
        optimizer="muon", lr=5e-3, warmup_steps=0, min_lr_ratio=1.0, batch_size=8, eval_every=0, log_every=2
    )
    quiet = dict(eval_tokens=256, show_progress=False)
    ref = run_pretrain(tokens, tmp_path / "ref", "tiny", shape, quick_config(max_steps=12, **cfg), **quiet)
    stats = ref["stats"]
    assert stats["active_parameters"] < stats["parameters"]
    assert stats["flops_per_token"] == flops_per_token(model_config("tiny", 300, **shape))
    rows = pq.read_table(tmp_path / "ref" / "metrics.parquet").to_pylist()
    assert rows[-1]["loss"] < rows[0]["loss"] - 1.0  # it learns
    for row in rows:
        assert row["router_aux_loss"] >= 0.99 and row["router_z_loss"] > 0
        assert len(row["expert_load"]) == 2 and all(len(layer) == 4 for layer in row["expert_load"])
        assert all(sum(layer) == pytest.approx(1.0) for layer in row["expert_load"])

    run_pretrain(tokens, tmp_path / "half", "tiny", shape, quick_config(max_steps=6, **cfg), **quiet)
    (tmp_path / "run.checkpoints").mkdir()
    (tmp_path / "half").rename(tmp_path / "run.checkpoints" / "step-00000006")
    dense = {k: v for k, v in shape.items() if k not in ("n_experts", "experts_per_token", "router_z_coef")}
    with pytest.raises(UserError, match="another model config"):  # a dense run cannot resume an MoE one
        run_pretrain(
            tokens, tmp_path / "run", "tiny", dense, quick_config(max_steps=12, **cfg), resume=True, **quiet
        )
    run_pretrain(
        tokens, tmp_path / "run", "tiny", shape, quick_config(max_steps=12, **cfg), resume=True, **quiet
    )
    a, b = weights(tmp_path / "ref"), weights(tmp_path / "run")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    resumed = pq.read_table(tmp_path / "run" / "metrics.parquet").to_pylist()
    assert [r["expert_load"] for r in resumed] == [r["expert_load"] for r in rows]

    # inspect shows total and active parameters and each layer's balance; plot draws the expert load
    info = describe(tmp_path / "ref")
    assert info["checkpoint"]["active_parameters"] == stats["active_parameters"]
    summary = plot_runs([tmp_path / "ref"], tmp_path / "curves.png", labels=["moe"])
    assert "expert load: moe" in summary["panels"] and any("load-balancing" in p for p in summary["panels"])
    assert (tmp_path / "curves.png").stat().st_size > 10_000


@pytest.mark.usefixtures("one_thread")
def test_two_process_moe_matches_one_process(tokens, tmp_path):
    """DDP with experts that may get no tokens on a rank: they still get a (zero) gradient."""
    cfg = dict(max_steps=4, batch_size=4, log_every=2, eval_every=0, precision="fp32")
    quiet = dict(eval_tokens=256, show_progress=False)
    run_pretrain(
        tokens,
        tmp_path / "single",
        "tiny",
        MOE_SHAPE,
        quick_config(**cfg, tokens_per_step=2 * 4 * 32),
        **quiet,
    )
    run_pretrain(tokens, tmp_path / "ddp", "tiny", MOE_SHAPE, quick_config(**cfg), nproc=2, **quiet)
    a, b = weights(tmp_path / "single"), weights(tmp_path / "ddp")
    assert all(torch.allclose(a[k], b[k], atol=1e-5) for k in a)
    one, two = (pq.read_table(tmp_path / r / "metrics.parquet").to_pylist() for r in ("single", "ddp"))
    assert [r["router_aux_loss"] for r in two] == pytest.approx([r["router_aux_loss"] for r in one], abs=1e-5)


# --------------------------------------------------------------------------------------- generation, export


@pytest.fixture(scope="module")
def moe_checkpoint(tmp_path_factory):
    root = tmp_path_factory.mktemp("moe")
    tokenizer = make_tokenizer(root)
    model = make_checkpoint(
        root / "ckpt", tokenizer, tie=False, n_experts=4, experts_per_token=2, ffn_hidden=48
    )
    return root / "ckpt", model, tokenizer


def test_kv_cache_generation_equals_recomputing(moe_checkpoint):
    _, model, _ = moe_checkpoint
    prompts = [[5, 9, 13, 2, 7], [3, 4]]  # left-padded together
    greedy = SamplingConfig(max_new_tokens=12, temperature=0)
    assert generate(model, prompts, greedy) == generate(model, prompts, greedy, use_kv_cache=False)


def test_export_to_mixtral_gives_the_same_logits_and_greedy_ids(moe_checkpoint, tmp_path):
    transformers = pytest.importorskip("transformers")
    path, model, tokenizer = moe_checkpoint
    with torch.no_grad():  # decisive routing, so a wrong expert order or mapping would show
        for layer in model.layers:
            layer.mlp.router.weight.mul_(40)
    from llmkit.checkpoint_files import save_checkpoint

    save_checkpoint(tmp_path / "ckpt", model.weights(), model.config.to_dict(), tokenizer.path, stage="test")
    assert export_hf(tmp_path / "ckpt", tmp_path / "hf")["architecture"] == "MixtralForCausalLM"
    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "hf", dtype=torch.float32).eval()
    assert type(hf).__name__ == "MixtralForCausalLM"
    ids = torch.randint(0, tokenizer.vocab_size, (2, 40), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        ours, theirs = model(ids), hf(ids).logits
        chosen = [layer.mlp.router(model.embed_tokens(ids)).argmax(-1) for layer in model.layers[:1]]
    assert chosen[0].unique().numel() > 1  # tokens really go to different experts
    assert (ours - theirs).abs().max().item() < 1e-4
    greedy = SamplingConfig(max_new_tokens=16, temperature=0)
    stops = [tokenizer.eot_id, tokenizer.im_end_id]  # what the exported generation_config stops at
    for text in ("The river runs", "Bread rises", "Émilie visited Zürich in 2019"):
        prompt = [tokenizer.eot_id, *tokenizer.encode(text)]
        ids_ours = generate(model, [prompt], greedy, stop_ids=stops)[0]
        out = hf.generate(torch.tensor([prompt]), max_new_tokens=16, do_sample=False)
        assert ids_ours == out[0, len(prompt) :].tolist()
    with pytest.raises(UserError, match="mixture-of-experts model; --format gguf writes dense"):
        export_gguf(path, tmp_path / "x.gguf")
    assert not (tmp_path / "x.gguf").exists()


def test_post_training_stages_and_eval_take_an_moe_checkpoint(moe_checkpoint, tmp_path):
    """sft, train-reward, dpo, grpo and ppo (whose trained model holds an MoE policy and an MoE value
    model) on an MoE checkpoint: each trains with the router losses and logs the expert load."""
    import json

    from llmkit.eval import EvalConfig, detect_task, run_eval
    from llmkit.train.dpo import run_dpo
    from llmkit.train.grpo import run_grpo
    from llmkit.train.ppo import PPOConfig, run_ppo
    from llmkit.train.reward import run_train_reward
    from llmkit.train.sft import run_sft

    path, _, _ = moe_checkpoint
    prompt = [{"role": "user", "content": "What is 2 + 2?"}]
    with open(tmp_path / "chat.jsonl", "w") as chat, open(tmp_path / "prefs.jsonl", "w") as prefs:
        for i in range(12):
            turn = [{"role": "user", "content": f"Q{i}: the sky?"}]
            chat.write(json.dumps({"messages": [*turn, {"role": "assistant", "content": "Blue."}]}) + "\n")
            prefs.write(json.dumps({"prompt": turn, "chosen": "Blue.", "rejected": "Go away."}) + "\n")
    (tmp_path / "prompts.jsonl").write_text((json.dumps({"prompt": prompt, "answer": "4"}) + "\n") * 8)
    cfg = TrainConfig(max_steps=2, batch_size=4, warmup_steps=0, eval_every=0, log_every=1, threads=1)
    quiet = dict(show_progress=False)
    run_sft(path, tmp_path / "chat.jsonl", tmp_path / "sft", cfg, **quiet)
    run_train_reward(tmp_path / "sft", tmp_path / "prefs.jsonl", tmp_path / "rm", cfg, **quiet)
    run_dpo(tmp_path / "sft", tmp_path / "prefs.jsonl", tmp_path / "dpo", cfg, **quiet)
    run_grpo(tmp_path / "sft", tmp_path / "prompts.jsonl", tmp_path / "grpo", cfg, group_size=2,
             max_new_tokens=4, val_fraction=0.0, **quiet)  # fmt: skip
    pcfg = PPOConfig(rollout_size=4, minibatches=2, ppo_epochs=1, max_new_tokens=4)
    ppo_cfg = TrainConfig(warmup_steps=0, eval_every=0, log_every=2, threads=1)
    run_ppo(tmp_path / "sft", tmp_path / "rm", tmp_path / "prompts.jsonl", tmp_path / "ppo", ppo_cfg, pcfg,
            rollouts=1, val_fraction=0.0, **quiet)  # fmt: skip
    for stage in ("sft", "rm", "dpo", "grpo", "ppo"):
        last = pq.read_table(tmp_path / stage / "metrics.parquet").to_pylist()[-1]
        assert last["router_aux_loss"] >= 0.99 and len(last["expert_load"]) == 2, stage
    assert describe(tmp_path / "rm")["checkpoint"]["active_parameters"] > 0
    (tmp_path / "t.txt").write_text("The river runs past the old mill.\n")
    manifest = run_eval(tmp_path / "sft", [detect_task(tmp_path / "t.txt")], tmp_path / "eval", EvalConfig())
    assert all(math.isfinite(v) for v in manifest["stats"]["metrics"]["t"].values() if isinstance(v, float))


# --------------------------------------------------------------------------------------- bad inputs


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        (
            dict(n_experts=4, experts_per_token=5),
            "--experts-per-token must be between 1 and --experts 4 (got 5)",
        ),
        (dict(n_experts=1), "--experts must be 0 (a dense MLP) or at least 2 (got 1)"),
        (dict(n_experts=-2), "--experts must be 0 (a dense MLP) or at least 2 (got -2)"),
        (
            dict(n_experts=4, experts_per_token=0),
            "--experts-per-token must be between 1 and --experts 4 (got 0)",
        ),
        (dict(n_experts=4, experts_per_token=-1), "--experts-per-token must be between 1"),
        (dict(n_experts=4, router_aux_coef=-0.1), "--router-aux-coef must be 0 or more"),
        (dict(n_experts=4, router_z_coef=-1.0), "--router-z-coef must be 0 or more"),
        (
            dict(experts_per_token=2),
            "--experts-per-token applies to a mixture-of-experts model: add --experts N",
        ),
        (dict(n_experts=0, router_aux_coef=0.1), "--router-aux-coef applies to a mixture-of-experts model"),
    ],
)
def test_bad_moe_options_are_user_errors(options, fragment):
    with pytest.raises(UserError, match=re.escape(fragment)):
        model_config("tiny", 300, **options)


def test_bad_moe_option_on_the_cli_ends_with_one_clear_line(tokens, tmp_path):
    r = pretrain(tokens, tmp_path / "out", "--max-steps", "1", "--experts", "4", "--experts-per-token", "5")
    assert_one_line_error(r, "--experts-per-token must be between 1 and --experts 4 (got 5)")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_moe_options_on_a_stage_that_loads_a_dense_checkpoint(tmp_path):
    tokenizer = make_tokenizer(tmp_path)
    make_checkpoint(tmp_path / "dense", tokenizer)
    (tmp_path / "chat.jsonl").write_text('{"messages": [{"role": "user", "content": "hi"}]}\n')
    r = run_cli("sft", tmp_path / "dense", tmp_path / "chat.jsonl", "-o", tmp_path / "sft", "--experts", "4")
    assert_one_line_error(r, "No such option: --experts")
    assert not (tmp_path / "sft").exists()
