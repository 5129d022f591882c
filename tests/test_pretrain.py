"""`llmkit pretrain`: the training loop, checkpoints, resume after SIGKILL and Ctrl-C, and 2-process DDP.

Every run is a few dozen steps of a 2-layer, 64-wide model on a tokenizer and tokens artifact made
by the real tokenizer stages from a few KB of text. `--threads 1` because tiny models train fastest
single-threaded on a busy 2-core machine, and `--peak-flops` to skip measuring the matmul peak.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
from conftest import REPO, assert_one_line_error, make_checkpoint, make_tokenizer, run_cli
from safetensors.torch import load_file

from llmkit.artifacts import read_manifest
from llmkit.checkpoint import load_model
from llmkit.errors import UserError
from llmkit.inspect import describe
from llmkit.model import Transformer, model_config
from llmkit.tokenize import tokenize_docs, train_tokenizer
from llmkit.train.common import (
    TrainConfig,
    build_optimizer,
    finished_step_checkpoints,
    latest_step_checkpoint,
    lr_at,
)
from llmkit.train.muon import Muon, newton_schulz
from llmkit.train.pretrain import TokenWindows, run_pretrain

WORDS = (
    "the king and queen of a small country went down to see the sea one day while their people slept".split()
)
SMALL = ["--n-layers", "2", "--d-model", "64", "--ffn-hidden", "256", "--seq-len", "32"]
FAST = ["--threads", "1", "--peak-flops", "1e11", "--eval-tokens", "256", "--warmup-steps", "5"]


def make_tokens(folder: Path, sentences: int = 30, vocab_size: int = 300, seed: int = 0) -> Path:
    """A tokens artifact (and its tokenizer) from `sentences` random sentences over a 19-word vocabulary."""
    rng = random.Random(seed)
    lines = (
        " ".join(rng.choice(WORDS) for _ in range(rng.randint(5, 12))).capitalize() + "."
        for _ in range(sentences)
    )
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "text.txt").write_text("\n".join(lines))
    train_tokenizer(folder / "text.txt", folder / "tokenizer", vocab_size=vocab_size, show_progress=False)
    tokenize_docs(folder / "text.txt", folder / "tokenizer", folder / "tokens", show_progress=False)
    return folder / "tokens"


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> Path:
    return make_tokens(tmp_path_factory.mktemp("data"), sentences=60)


@pytest.fixture
def one_thread():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def pretrain(tokens: Path, out: Path, *args: str, **kwargs):
    return run_cli("pretrain", tokens, "-o", out, *SMALL, *FAST, *args, **kwargs)


def weights(path: Path) -> dict:
    return load_file(path / "model.safetensors")


# --------------------------------------------------------------------------------------- units


def test_schedule_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1)
    assert lr_at(cfg, 0, 0.0) == pytest.approx(0.1)
    assert lr_at(cfg, 9, 0.01) > 0.99  # warm: the decay has barely started
    assert lr_at(cfg, 50, 0.5) == pytest.approx(0.55)  # cosine midpoint between 1 and 0.1
    assert lr_at(cfg, 100, 1.0) == pytest.approx(0.1)
    linear = TrainConfig(lr=1.0, warmup_steps=0, min_lr_ratio=0.0, schedule="linear")
    assert lr_at(linear, 25, 0.25) == pytest.approx(0.75)
    wsd = TrainConfig(lr=1.0, warmup_steps=0, min_lr_ratio=0.0, schedule="wsd", decay_fraction=0.2)
    assert [round(lr_at(wsd, 0, p), 6) for p in (0.0, 0.5, 0.8, 0.9, 1.0)] == [1, 1, 1, 0.5, 0]


def test_no_weight_decay_on_norms_and_embeddings():
    model = Transformer(model_config("tiny", 300, n_layers=2))
    decay, no_decay = build_optimizer(model, TrainConfig(weight_decay=0.1)).param_groups
    assert decay["weight_decay"] == 0.1 and no_decay["weight_decay"] == 0.0
    names = {id(p): n for n, p in model.named_parameters()}
    assert {names[id(p)] for p in no_decay["params"]} == {
        n for n, p in model.named_parameters() if "norm" in n or "embed_tokens" in n
    }
    assert all("proj" in names[id(p)] for p in decay["params"])


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_newton_schulz_flattens_the_singular_values(dtype):
    torch.manual_seed(0)
    g = torch.randn(3, 32, 96) * torch.logspace(-2, 0, 32)[:, None]  # condition number about 150
    assert torch.linalg.svdvals(g).min() < 0.01 * torch.linalg.svdvals(g).max()
    x = newton_schulz(g, dtype=dtype)
    assert x.dtype == dtype
    s = torch.linalg.svdvals(x.float())
    assert s.min() > 0.6 and s.max() < 1.25  # every direction gets a step of about the same size


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_muon_steps_as_torch_muon_does(dtype, monkeypatch):
    """Ours stacks same-shaped matrices (a tall one as its transpose) into one batched Newton–Schulz call;
    torch.optim.Muon, with Moonlight's scaling, takes them one by one, always in bf16. Same steps: in bf16
    up to bf16 rounding (about 2% of the distance moved here); in fp32, against torch's with its bf16
    cast made a no-op, to about 1e-6."""
    if dtype == torch.float32:
        monkeypatch.setattr(torch.Tensor, "bfloat16", lambda self, *args, **kwargs: self)
    tolerance = 1e-5 if dtype == torch.float32 else 0.05
    torch.manual_seed(0)
    shapes = [(64, 64), (64, 64), (160, 64), (64, 160)]
    start = [torch.randn(s) * 0.02 for s in shapes]
    ours, ref = [p.clone() for p in start], [p.clone() for p in start]
    kw = dict(lr=0.01, weight_decay=0.5)
    opt = Muon(ours, dtype=dtype, **kw)
    ref_opt = torch.optim.Muon(ref, adjust_lr_fn="match_rms_adamw", **kw)
    for _ in range(3):
        grads = [torch.randn(s) for s in shapes]
        for p, q, g in zip(ours, ref, grads, strict=True):
            p.grad, q.grad = g.clone(), g.clone()
        opt.step()
        ref_opt.step()
    for p, q, p0 in zip(ours, ref, start, strict=True):
        assert (p - q).norm() < tolerance * (q - p0).norm()
    with pytest.raises(ValueError, match="2-D"):
        Muon([torch.zeros(4)])


def test_muon_optimizer_takes_the_hidden_matrices_only():
    model = Transformer(model_config("tiny", 300, n_layers=2))
    names = {id(p): n for n, p in model.named_parameters()}
    optimizer = build_optimizer(model, TrainConfig(optimizer="muon"))
    muon, adamw = optimizer.optimizers
    assert muon.dtype == torch.float32  # bf16 only when the run resolved to it
    assert build_optimizer(model, TrainConfig(optimizer="muon"), "bf16").optimizers[0].dtype == torch.bfloat16
    assert {names[id(p)] for g in muon.param_groups for p in g["params"]} == {
        n for n in names.values() if "proj" in n
    }
    assert {names[id(p)] for g in adamw.param_groups for p in g["params"]} == {
        n for n in names.values() if "proj" not in n
    }


def test_windows_are_seeded_and_two_ranks_see_what_two_micro_batches_see():
    stream = torch.arange(1000).numpy()
    data = TokenWindows(stream, seq_len=16, batch_size=4, seed=3)
    x, y = data.micro_batch(step=5, micro=0, n_micro=1, rank=0, world_size=1)
    assert x.shape == (4, 16) and torch.equal(y[:, :-1], x[:, 1:])
    assert torch.equal(x, TokenWindows(stream, 16, 4, seed=3).micro_batch(5, 0, 1, 0, 1)[0])
    assert not torch.equal(x, TokenWindows(stream, 16, 4, seed=4).micro_batch(5, 0, 1, 0, 1)[0])
    for micro_rank in range(2):
        single = data.micro_batch(7, micro_rank, 2, 0, 1)[0]
        ddp = data.micro_batch(7, 0, 1, micro_rank, 2)[0]
        assert torch.equal(single, ddp)
    # one epoch visits every window once
    starts = [data._window_start(s) for s in range(data.n_windows)]
    assert len(set(starts)) == data.n_windows
    with pytest.raises(UserError, match="too few"):
        TokenWindows(stream[:20], seq_len=16, batch_size=4, seed=0)


# --------------------------------------------------------------------------------------- training


def test_tiny_overfits_a_tiny_dataset(tmp_path, one_thread):
    tokens = make_tokens(tmp_path / "data", sentences=30)
    cfg = TrainConfig(max_steps=80, batch_size=8, lr=1e-2, warmup_steps=10, eval_every=0, weight_decay=0.0,
                      threads=1, peak_flops=1e11)  # fmt: skip
    manifest = run_pretrain(tokens, tmp_path / "base", overrides=dict(seq_len=32, n_layers=2, d_model=64,
                            ffn_hidden=256), train_config=cfg, eval_tokens=256, show_progress=False)  # fmt: skip
    stats = manifest["stats"]
    first = pq.read_table(tmp_path / "base" / "metrics.parquet").column("loss")[0].as_py()
    assert first > 4.0  # starts near ln(300) = 5.7
    assert stats["final_loss"] < 0.8  # memorized the ~450 training tokens
    assert stats["final_val_loss"] > stats["final_loss"] + 1.5  # ...which does not generalize


def test_pretrain_cli_writes_a_complete_checkpoint(tokens, tmp_path):
    out = tmp_path / "base"
    r = pretrain(
        tokens, out, "--max-steps", "12", "--batch-size", "4", "--eval-every", "6", "--log-every", "3"
    )
    assert r.returncode == 0, r.stderr
    assert "checkpoint" in r.stdout and "MFU" in r.stdout and "bits/byte" in r.stdout
    assert {p.name for p in out.iterdir()} == {
        "model.safetensors", "config.json", "tokenizer.json", "trainer_state", "metrics.parquet", "manifest.json"
    }  # fmt: skip
    assert not (tmp_path / "base.checkpoints").exists() and not (tmp_path / "base.partial").exists()
    assert (out / "tokenizer.json").read_bytes() == (tokens / "tokenizer.json").read_bytes()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "checkpoint" and manifest["stage"] == "pretrain"
    assert manifest["config"]["n_layers"] == 2 and manifest["counts"] == {"step": 12, "tokens": 12 * 4 * 32}
    assert manifest["inputs"][0]["kind"] == "tokens"
    metrics = pq.read_table(out / "metrics.parquet").to_pylist()
    assert [m["step"] for m in metrics] == [3, 6, 9, 12]
    assert [m["val_loss"] is not None for m in metrics] == [False, True, False, True]
    assert all(m["mfu"] > 0 and m["tokens_per_s"] > 0 and m["lr"] > 0 for m in metrics)
    assert len(manifest["stats"]["samples"]) == 2
    state = torch.load(out / "trainer_state" / "state.pt", weights_only=True)
    assert state["step"] == 12 and "optimizer" in state
    model, tokenizer, _ = load_model(out, device="cpu")
    assert model.config.n_layers == 2 and tokenizer.vocab_size == model.config.vocab_size == 300
    described = describe(out, 0)["checkpoint"]
    assert described["model_config"]["d_model"] == 64 and described["metrics_rows"] == 4


def quick_config(**overrides) -> TrainConfig:
    """The TrainConfig of `FAST` plus `overrides` (for runs in this process)."""
    return TrainConfig(**{"threads": 1, "peak_flops": 1e11, "warmup_steps": 5, **overrides})


def test_resume_after_sigkill_reaches_the_same_weights(tokens, tmp_path, one_thread):
    shape = dict(n_layers=2, d_model=64, ffn_hidden=256, seq_len=64, dropout=0.1)
    cfg = dict(max_steps=30, batch_size=8, eval_every=0)
    run_pretrain(
        tokens, tmp_path / "ref", "tiny", shape, quick_config(**cfg), eval_tokens=256, show_progress=False
    )

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "llmkit", "pretrain", str(tokens), "-o", str(out), *SMALL, *FAST, "--seq-len", "64",
           "--dropout", "0.1", "--max-steps", "30", "--batch-size", "8", "--eval-every", "0", "--checkpoint-every", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO)
    checkpoints = tmp_path / "run.checkpoints"
    deadline = time.time() + 120
    while not any((p / "manifest.json").exists() for p in checkpoints.glob("step-0000000[4-9]")):
        assert proc.poll() is None and time.time() < deadline, "the run ended before it could be killed"
        time.sleep(0.01)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not out.exists()  # killed: no finished artifact

    with pytest.raises(UserError, match="unfinished run .* pass --resume"):  # leftovers are not discarded
        run_pretrain(tokens, out, "tiny", shape, quick_config(**cfg), eval_tokens=256, show_progress=False)
    other = make_tokens(tmp_path / "other", sentences=60, seed=1)
    with pytest.raises(UserError, match="inputs have changed"):  # never continue on different data
        run_pretrain(other, out, "tiny", shape, quick_config(**cfg), resume=True, show_progress=False)
    manifest = run_pretrain(
        tokens, out, "tiny", shape, quick_config(**cfg), eval_tokens=256, resume=True, show_progress=False
    )
    assert manifest["stats"]["resumed_from_step"] >= 4
    a, b = weights(tmp_path / "ref"), weights(out)
    assert a.keys() == b.keys()
    assert all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a)
    assert not checkpoints.exists()
    steps = [m["step"] for m in pq.read_table(out / "metrics.parquet").to_pylist()]
    assert steps == sorted(set(steps)) and steps[-1] == 30


def test_muon_learns_and_resumes_exactly(tokens, tmp_path, one_thread):
    """A Muon run stopped at step 6 and resumed equals a 12-step run: the momentum is in the checkpoint.
    (Constant lr, so the 6-step run's schedule is the first half of the 12-step run's.)"""
    shape = dict(n_layers=2, d_model=64, ffn_hidden=256, seq_len=32)
    cfg = dict(optimizer="muon", lr=5e-3, warmup_steps=0, min_lr_ratio=1.0, batch_size=8, eval_every=0)
    ref = run_pretrain(tokens, tmp_path / "ref", "tiny", shape, quick_config(max_steps=12, **cfg),
                       eval_tokens=256, show_progress=False)  # fmt: skip
    first = pq.read_table(tmp_path / "ref" / "metrics.parquet").column("loss")[0].as_py()
    assert ref["stats"]["final_loss"] < first - 1.0
    run_pretrain(tokens, tmp_path / "half", "tiny", shape, quick_config(max_steps=6, **cfg), eval_tokens=256,
                 show_progress=False)  # fmt: skip
    (tmp_path / "run.checkpoints").mkdir()
    (tmp_path / "half").rename(tmp_path / "run.checkpoints" / "step-00000006")
    adamw = quick_config(max_steps=12, **{**cfg, "optimizer": "adamw"})
    with pytest.raises(UserError, match="with --optimizer adamw: it was trained with muon"):
        run_pretrain(tokens, tmp_path / "run", "tiny", shape, adamw, resume=True, show_progress=False)
    run_pretrain(tokens, tmp_path / "run", "tiny", shape, quick_config(max_steps=12, **cfg), eval_tokens=256,
                 resume=True, show_progress=False)  # fmt: skip
    a, b = weights(tmp_path / "ref"), weights(tmp_path / "run")
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_skips_a_step_checkpoint_killed_between_its_manifest_and_its_rename(tmp_path):
    """A SIGKILL after manifest.json is written but before step-N.partial/ is renamed leaves a partial
    folder that looks complete; resume must take the newest finished checkpoint instead."""
    out = tmp_path / "run"
    folder = tmp_path / "run.checkpoints"
    make_checkpoint(folder / "step-00000002", make_tokenizer(tmp_path / "tok"))
    shutil.copytree(folder / "step-00000002", folder / "step-00000004.partial")
    assert latest_step_checkpoint(out).path.name == "step-00000002"


def test_three_sigkills_at_random_points_then_resume_give_the_uninterrupted_weights(
    tokens, tmp_path, one_thread
):
    """The pipeline's fault-tolerance claim: kill pretraining with SIGKILL three times, at steps drawn at
    random (the kill may land while a checkpoint is being written), resume each time; the final weights
    equal those of a run that was never interrupted."""
    shape = dict(n_layers=2, d_model=64, ffn_hidden=256, seq_len=64, dropout=0.1)
    steps = 36
    run_pretrain(tokens, tmp_path / "ref", "tiny", shape, quick_config(max_steps=steps, batch_size=8, eval_every=0),
                 eval_tokens=256, show_progress=False)  # fmt: skip
    out, checkpoints = tmp_path / "run", tmp_path / "run.checkpoints"
    cmd = [sys.executable, "-m", "llmkit", "pretrain", str(tokens), "-o", str(out), *SMALL, *FAST, "--seq-len", "64",
           "--dropout", "0.1", "--max-steps", str(steps), "--batch-size", "8", "--eval-every", "0", "--checkpoint-every", "2"]  # fmt: skip
    rng = random.Random(20261122)
    kill_after = sorted(rng.sample(range(2, steps - 4, 2), 3))  # three distinct checkpoint steps
    for i, step in enumerate(kill_after):
        proc = subprocess.Popen(
            cmd + (["--resume"] if i else []), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO
        )
        deadline = time.time() + 120
        while not any(int(p.name[5:]) >= step for p in finished_step_checkpoints(out)):
            assert proc.poll() is None and time.time() < deadline, f"the run ended before step {step}"
            time.sleep(0.005)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert not out.exists()
    subprocess.run(
        cmd + ["--resume"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=REPO
    )
    a, b = weights(tmp_path / "ref"), weights(out)
    assert a.keys() == b.keys() and all(torch.allclose(a[k], b[k], atol=1e-6, rtol=0) for k in a)
    assert read_manifest(out)["counts"]["step"] == steps and not checkpoints.exists()


@pytest.mark.parametrize(
    "sig, code, said",
    [(signal.SIGINT, 130, "interrupted at step"), (signal.SIGTERM, 143, "terminated (SIGTERM) at step")],
    ids=["ctrl-c", "sigterm"],
)
def test_ctrl_c_or_sigterm_saves_a_checkpoint_and_exits_cleanly(tokens, tmp_path, sig, code, said):
    """Ctrl-C, or the SIGTERM schedulers (Slurm, Kubernetes) send before they kill a preempted job:
    the run saves a step checkpoint that --resume continues from and exits without a traceback."""
    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "llmkit", "pretrain", str(tokens), "-o", str(out), *SMALL, *FAST,
           "--max-steps", "100000", "--batch-size", "4", "--checkpoint-every", "5"]  # fmt: skip
    # a test runner started in the background (`make test &`) ignores SIGINT, and its children inherit
    # that; give the run the default handler, as a terminal's Ctrl-C finds it
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=REPO,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))  # fmt: skip
    deadline = time.time() + 120
    while not list((tmp_path / "run.checkpoints").glob("step-*/manifest.json")):
        assert proc.poll() is None and time.time() < deadline
        time.sleep(0.02)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert said in stderr and "--resume" in stderr and "Traceback" not in stderr
    assert not out.exists()
    saved = [p for p in (tmp_path / "run.checkpoints").glob("step-*") if (p / "manifest.json").exists()]
    assert len(saved) == 1 and int(saved[0].name.split("-")[1]) >= 5


def test_two_process_ddp_matches_one_process_with_the_same_global_batch(tokens, tmp_path, one_thread):
    shape = dict(n_layers=2, d_model=64, ffn_hidden=256, seq_len=32)
    cfg = dict(max_steps=8, batch_size=4, log_every=2, eval_every=0, precision="fp32")
    quiet = dict(eval_tokens=256, show_progress=False)
    single = quick_config(**cfg, tokens_per_step=2 * 4 * 32)  # 2 micro-batches of 4 = 2 ranks × 4
    run_pretrain(tokens, tmp_path / "single", "tiny", shape, single, **quiet)
    run_pretrain(tokens, tmp_path / "ddp", "tiny", shape, quick_config(**cfg), nproc=2, **quiet)
    run = [
        "--max-steps",
        "8",
        "--batch-size",
        "4",
        "--log-every",
        "2",
        "--eval-every",
        "0",
        "--precision",
        "fp32",
    ]
    torchrun = subprocess.run(
        [str(Path(sys.executable).parent / "torchrun"), "--nproc-per-node", "2", "-m", "llmkit", "pretrain",
         str(tokens), "-o", str(tmp_path / "torchrun"), *SMALL, *FAST[2:], *run],
        capture_output=True, text=True, timeout=300, cwd=REPO, env={**os.environ, "COLUMNS": "200"},
    )  # fmt: skip
    assert torchrun.returncode == 0, torchrun.stderr
    assert torchrun.stdout.count("checkpoint →") == 1  # only rank 0 reports (and writes)
    assert "cpu × 2" in torchrun.stdout

    def losses(name):
        return [m["loss"] for m in pq.read_table(tmp_path / name / "metrics.parquet").to_pylist()]

    assert len(losses("single")) == 4
    assert losses("ddp") == pytest.approx(losses("single"), rel=1e-4)
    assert losses("torchrun") == pytest.approx(losses("ddp"), rel=1e-6)
    a, b = weights(tmp_path / "single"), weights(tmp_path / "ddp")
    assert all(torch.allclose(a[k], b[k], atol=1e-4) for k in a)
    for name in ("ddp", "torchrun"):
        manifest = json.loads((tmp_path / name / "manifest.json").read_text())
        assert manifest["stats"]["world_size"] == 2 and manifest["stats"]["tokens_per_step"] == 256


# --------------------------------------------------------------------------------------- bad inputs


def test_bad_inputs_end_with_one_clear_line(tokens, tmp_path):
    out = tmp_path / "base"
    out.mkdir()
    # the tokens' own tokenizer.json replaced by a smaller vocabulary: ids no longer fit
    wrong = tmp_path / "wrong_tokens"
    shutil.copytree(tokens, wrong)
    small = make_tokens(tmp_path / "small", sentences=10, vocab_size=264)
    shutil.copyfile(small.parent / "tokenizer" / "tokenizer.json", wrong / "tokenizer.json")
    assert_one_line_error(
        pretrain(wrong, tmp_path / "x", "--max-steps", "1"), "outside its tokenizer's vocabulary"
    )
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()
    small = dict(n_layers=2, d_model=64, seq_len=32)
    quick = TrainConfig(max_steps=1, threads=1, peak_flops=1e11)
    for kwargs, fragment in [
        (dict(out_dir=out), "already exists; pass --force"),
        (dict(tokens_dir=tmp_path / "nope"), "does not exist"),
        (dict(tokens_dir=tokens.parent), "expected 'tokens'"),
        (dict(preset="huge"), "unknown preset"),
        (dict(train_config=TrainConfig(max_steps=0)), "--max-steps"),
        (dict(overrides={**small, "n_heads": 3}), "divisible"),
        (dict(train_config=TrainConfig(schedule="step")), "--schedule"),
        (dict(train_config=TrainConfig(optimizer="sgd")), "--optimizer must be one of adamw, muon"),
        (dict(nproc=0), "--nproc"),
        (dict(overrides={**small, "seq_len": 4096}), "too few"),
    ]:
        with pytest.raises(UserError, match=fragment):
            run_pretrain(**{"tokens_dir": tokens, "out_dir": tmp_path / "y", "overrides": small, "train_config": quick,
                            "show_progress": False, **kwargs})  # fmt: skip
    assert not (tmp_path / "y").exists()
