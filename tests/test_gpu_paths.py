"""The CUDA paths, checked without a GPU: generation, the serve batcher and the training stages run
with their models on a pretend GPU (tests/pretend_cuda.py), which fails every op whose tensors a
real GPU would find on two devices, and they must give exactly the CPU's results. Several stages run
as the process of rank 1 (LOCAL_RANK=1), whose GPU is cuda:1: every model it loads must land there.
"""

from __future__ import annotations

import pytest
import torch
from conftest import add_one_prompts, make_checkpoint, make_tokenizer, write_jsonl
from pretend_cuda import DeviceMismatch, device_of, pretend_cuda
from test_pretrain import make_tokens
from torch import nn

from llmkit.batcher import DecodeBatch, Request
from llmkit.checkpoint import load_model
from llmkit.device import peak_flops, resolve_device, resolve_precision
from llmkit.engine import SamplingConfig, generate
from llmkit.train.common import TrainConfig
from llmkit.train.dpo import build_dpo, run_dpo
from llmkit.train.grpo import run_grpo
from llmkit.train.ppo import PPOConfig, run_ppo
from llmkit.train.pretrain import run_pretrain
from llmkit.train.reward import run_train_reward
from llmkit.train.sft import run_sft

CUDA0, CUDA1 = torch.device("cuda", 0), torch.device("cuda", 1)


def test_the_pretend_gpu_refuses_what_cuda_refuses(monkeypatch):
    with pretend_cuda(monkeypatch):
        layer = nn.Linear(4, 3).to("cuda")
        assert layer.weight.device == CUDA0
        with pytest.raises(DeviceMismatch):
            layer(torch.ones(2, 4))  # input left on the CPU
        x = torch.ones(2, 4, device="cuda")
        probs = layer(x).softmax(-1)
        assert device_of(probs) == CUDA0
        with pytest.raises(DeviceMismatch, match="generator"):
            torch.multinomial(probs, 1, generator=torch.Generator())
        assert torch.multinomial(probs, 1, generator=torch.Generator(device="cuda")).device == CUDA0
        with pytest.raises(DeviceMismatch):
            x.numpy()
        with pytest.raises(DeviceMismatch):
            x + x.to("cuda:1")
        # what CUDA allows: CPU indices, a CPU value into a slice, a 0-dim CPU tensor in arithmetic
        assert x[torch.tensor([1, 0])].device == CUDA0
        x[0] = torch.zeros(4)
        assert (x * torch.tensor(2.0)).device == CUDA0 and x.cpu().device.type == "cpu"


def test_devices_and_precision_on_gpus(monkeypatch):
    with pretend_cuda(monkeypatch, capability=(7, 0)):  # a V100: bf16 only emulated
        assert resolve_precision("auto", CUDA0) == "fp32"
        assert resolve_device("auto") == CUDA0
        monkeypatch.setenv("LOCAL_RANK", "1")  # under torchrun: this process's GPU is its rank's
        assert resolve_device("auto") == resolve_device("cuda") == CUDA1
        assert resolve_device("cuda:0") == CUDA0
    with pretend_cuda(monkeypatch, capability=(8, 0)):  # an A100 on
        assert resolve_precision("auto", CUDA0) == "bf16"


@pytest.mark.parametrize(
    "name, peak",
    [("NVIDIA H100 80GB HBM3", 989e12), ("NVIDIA H100 PCIe", 756e12), ("NVIDIA H100 NVL", 835e12),
     ("NVIDIA A100-SXM4-40GB", 312e12), ("Tesla V100-SXM2-16GB", None)],
)  # fmt: skip
def test_mfu_peaks_are_the_cards_datasheet_bf16(name, peak, monkeypatch):
    with pretend_cuda(monkeypatch):
        monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: name)
        assert peak_flops(CUDA0, "bf16")[0] == peak
        assert peak_flops(CUDA0, "fp32")[0] is None  # no datasheet fp32 figure: --peak-flops


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """A tokenizer, a small policy checkpoint, prompts with answers, the same as preference pairs and
    as conversations, and a reward model (1 step)."""
    root = tmp_path_factory.mktemp("gpu")
    tokenizer = make_tokenizer(root / "tok")
    make_checkpoint(root / "sft", tokenizer, n_layers=1, d_model=32, seq_len=48)
    rows = add_one_prompts(24)
    write_jsonl(root / "prompts.jsonl", rows)
    pairs = [{**r, "chosen": r["answer"], "rejected": "no"} for r in rows]
    write_jsonl(root / "prefs.jsonl", pairs)
    chats = [{"messages": [*r["prompt"], {"role": "assistant", "content": r["answer"]}]} for r in rows]
    write_jsonl(root / "chats.jsonl", chats)
    cfg = TrainConfig(max_steps=1, batch_size=4, eval_every=0, device="cpu", precision="fp32")
    run_train_reward(root / "sft", root / "prefs.jsonl", root / "rm", cfg, show_progress=False)
    return root


def test_generation_on_a_gpu_gives_the_cpus_ids(checkpoints, monkeypatch):
    model, _, _ = load_model(checkpoints / "sft", device="cpu")
    prompts = [[5, 6, 7, 8], [9, 10]]  # left-padded into one batch
    sampled = SamplingConfig(max_new_tokens=8, temperature=0.9, top_k=20, seed=3)
    greedy = SamplingConfig(max_new_tokens=8, temperature=0.0)
    on_cpu = [generate(model, prompts, sampled, samples_per_prompt=2), generate(model, prompts, greedy)]
    with pretend_cuda(monkeypatch):
        model.to("cuda")
        on_gpu = [generate(model, prompts, sampled, samples_per_prompt=2), generate(model, prompts, greedy)]
        assert generate(model, prompts, greedy, use_kv_cache=False) == on_cpu[1]
    assert on_gpu == on_cpu


def test_the_serve_batcher_on_a_gpu_gives_the_cpus_tokens(checkpoints, monkeypatch):
    def serve(model) -> list[list]:
        batch, events = DecodeBatch(model), [[], [], []]
        requests = [
            Request([5, 6, 7, 8], SamplingConfig(max_new_tokens=4, temperature=0.0), [], events[0].append),
            Request([9, 10], SamplingConfig(max_new_tokens=6, temperature=0.8, seed=1), [], events[1].append),
            Request([11], SamplingConfig(max_new_tokens=5, temperature=0.8, seed=2), [], events[2].append),
        ]
        batch.add(requests[0])
        batch.add(requests[1])  # a shorter prompt: the batch is left-padded, with masks and positions
        batch.step()
        batch.add(requests[2])  # joins a running batch
        while len(batch):
            batch.step()
        return events

    model, _, _ = load_model(checkpoints / "sft", device="cpu")
    on_cpu = serve(model)
    with pretend_cuda(monkeypatch):
        model.to("cuda")
        assert serve(model) == on_cpu
    assert [sum(kind == "token" for kind, _ in e) for e in on_cpu] == [4, 6, 5]


def test_pretraining_on_the_gpu_of_rank_1(tmp_path, monkeypatch):
    tokens = make_tokens(tmp_path / "data")
    cfg = TrainConfig(max_steps=2, batch_size=2, eval_every=2, log_every=1, precision="fp32")
    shape = dict(n_layers=1, d_model=32, seq_len=32)
    with pretend_cuda(monkeypatch):
        monkeypatch.setenv("LOCAL_RANK", "1")
        manifest = run_pretrain(tokens, tmp_path / "base", "tiny", shape, cfg, show_progress=False)
    assert manifest["stats"]["device"] == "cuda:1" and manifest["counts"]["step"] == 2


@pytest.mark.parametrize("stage", ["grpo", "ppo", "dpo", "sft --teacher"])
def test_posttraining_stages_load_every_model_on_the_gpu_of_rank_1(stage, checkpoints, tmp_path, monkeypatch):
    """The policy goes to this rank's GPU in the training loop; the frozen reference (and PPO's reward
    model, DPO's reference log-probs, distillation's teacher) are made by the stage itself, and every
    op that combines them with the policy's tensors must find them on that same GPU."""
    root = checkpoints
    cfg = TrainConfig(max_steps=2, batch_size=2, eval_every=0, log_every=1, precision="fp32")
    with pretend_cuda(monkeypatch):
        monkeypatch.setenv("LOCAL_RANK", "1")
        if stage == "grpo":
            manifest = run_grpo(root / "sft", root / "prompts.jsonl", tmp_path / "out", cfg, group_size=2,
                                max_new_tokens=4, kl_coef=0.1, max_val=2, show_progress=False)  # fmt: skip
        elif stage == "sft --teacher":
            manifest = run_sft(root / "sft", root / "chats.jsonl", tmp_path / "out", cfg, teacher=root / "sft",
                               show_progress=False)  # fmt: skip
        elif stage == "dpo":
            manifest = run_dpo(root / "sft", root / "prefs.jsonl", tmp_path / "out", cfg, show_progress=False)
        else:
            pcfg = PPOConfig(rollout_size=2, minibatches=1, ppo_epochs=1, max_new_tokens=4)
            manifest = run_ppo(root / "sft", root / "rm", root / "prompts.jsonl", tmp_path / "out", cfg, pcfg,
                               max_val=2, show_progress=False)  # fmt: skip
    assert manifest["stats"]["device"] == "cuda:1" and manifest["counts"]["step"] == 2


def test_dpo_computes_its_reference_in_the_training_precision(checkpoints):
    """On a GPU DPO trains in bf16: the frozen reference log-probs are computed in bf16 too, so before
    any step the policy's log-ratio to them, and every margin, is exactly 0 (not bf16's rounding noise
    summed over each answer). bf16 runs here emulated, which is slow but exact enough to show it."""
    cfg = TrainConfig(batch_size=4, device="cpu", precision="bf16")
    stage = build_dpo(cfg, 1, checkpoints / "sft", checkpoints / "prefs.jsonl", beta=0.1, epochs=1,
                      val_fraction=0.25, data_format="auto")  # fmt: skip
    margins = {k: v for k, v in stage.evaluate(stage.model, "bf16").items() if k.endswith("_margin")}
    assert margins and all(v == 0.0 for v in margins.values()), margins
