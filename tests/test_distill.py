"""`llmkit distill` and `llmkit sft --teacher`: the loss, that a student really learns the teacher's
distribution, resume, MFU with the teacher's FLOPs, and the bad inputs (through the real CLI).

Models are 1–2 layers, 32–64 wide, on the 19-word tokens artifact of test_pretrain.py.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow.parquet as pq
import pytest
import torch
import torch.nn.functional as F
from conftest import assert_one_line_error, make_checkpoint, make_tokenizer, run_cli
from test_pretrain import make_tokens

from llmkit.checkpoint import load_model
from llmkit.checkpoint_files import save_checkpoint
from llmkit.model import Transformer, flops_per_token, model_config
from llmkit.train.common import TrainConfig
from llmkit.train.distill import DistillationLoss, distillation_loss, run_distill
from llmkit.train.pretrain import TokenWindows, load_token_stream, run_pretrain
from llmkit.train.sft import run_sft

STUDENT = dict(n_layers=1, d_model=32, n_heads=2, n_kv_heads=2, ffn_hidden=64, seq_len=32)


def quick(steps: int, **overrides) -> TrainConfig:
    return TrainConfig(**{"lr": 3e-3, "warmup_steps": 2, "max_steps": steps, "batch_size": 8, "eval_every": 0,
                          "log_every": 2, "threads": 1, "peak_flops": 1e11, **overrides})  # fmt: skip


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """Tokens, and a teacher with a peaked (far from uniform) next-token distribution: random weights
    with the embedding scaled up, so there is something definite for a student to learn."""
    root = tmp_path_factory.mktemp("distill")
    tokens = make_tokens(root / "data", sentences=60)
    from llmkit.tokenizer import load_tokenizer

    tokenizer = load_tokenizer(tokens)
    torch.manual_seed(1)
    cfg = model_config(
        "tiny",
        tokenizer.vocab_size,
        n_layers=2,
        d_model=64,
        n_heads=4,
        n_kv_heads=2,
        ffn_hidden=128,
        seq_len=64,
    )
    teacher = Transformer(cfg)
    with torch.no_grad():
        teacher.embed_tokens.weight.mul_(10)
    save_checkpoint(root / "teacher", teacher.weights(), cfg.to_dict(), tokenizer.path, stage="pretrain")
    return root, tokens


# --------------------------------------------------------------------------------------- the loss


def test_loss_is_cross_entropy_at_alpha_0_and_scaled_kl_at_alpha_1():
    torch.manual_seed(0)
    student, teacher = torch.randn(2, 5, 11), torch.randn(2, 5, 11) * 3
    targets = torch.randint(0, 11, (2, 5))
    targets[0, :2] = -100  # not counted: neither term may see these positions
    keep = targets != -100
    ce = F.cross_entropy(student[keep], targets[keep])
    assert torch.allclose(distillation_loss(student, teacher, targets, 2.0, 0.0), ce)
    # KL(p_t ‖ p_s) by hand, per kept position, at T = 2, times T²
    p_t = torch.softmax(teacher[keep] / 2, -1)
    kl = (p_t * (p_t.log() - torch.log_softmax(student[keep] / 2, -1))).sum(-1).mean()
    assert torch.allclose(distillation_loss(student, teacher, targets, 2.0, 1.0), 4 * kl, atol=1e-6)
    mixed = distillation_loss(student, teacher, targets, 2.0, 0.25)
    assert torch.allclose(mixed, 0.25 * 4 * kl + 0.75 * ce, atol=1e-6)
    # a student that already matches its teacher has no soft loss
    assert distillation_loss(teacher, teacher, targets, 3.0, 1.0).abs() < 1e-6


def test_alpha_0_is_pretraining(world, tmp_path):
    """With α = 0 the teacher has no say: the same batches and loss as `pretrain`, so the same weights."""
    root, tokens = world
    run_pretrain(tokens, tmp_path / "pre", "tiny", STUDENT, quick(4), eval_tokens=0, show_progress=False)
    run_distill(root / "teacher", tokens, tmp_path / "dis", "tiny", STUDENT, quick(4), eval_tokens=0, alpha=0.0,
                show_progress=False)  # fmt: skip
    a, _, _ = load_model(tmp_path / "pre", device="cpu")
    b, _, _ = load_model(tmp_path / "dis", device="cpu")
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.allclose(x, y, atol=1e-6), name


def kl_to_teacher(student_dir: Path, teacher_dir: Path, tokens: Path) -> float:
    """Mean KL(teacher ‖ student) per token on the first validation-sized windows of the train split."""
    student, _, _ = load_model(student_dir, device="cpu")
    teacher, _, _ = load_model(teacher_dir, device="cpu")
    inputs, targets = TokenWindows(load_token_stream(tokens, "train"), 32, 16, seed=5).micro_batch(
        0, 0, 1, 0, 1
    )
    with torch.no_grad():
        return distillation_loss(student(inputs), teacher(inputs), targets, 1.0, 1.0).item()


def test_distilled_student_learns_the_teachers_distribution(world, tmp_path):
    """A student distilled at α = 1 ends far closer to its teacher (in KL) than the same student trained
    on the data alone; its manifest records the teacher, and MFU counts the teacher's forward FLOPs."""
    root, tokens = world
    run_pretrain(
        tokens, tmp_path / "scratch", "tiny", STUDENT, quick(30, lr=1e-2), eval_tokens=0, show_progress=False
    )
    manifest = run_distill(root / "teacher", tokens, tmp_path / "student", "tiny", STUDENT, quick(30, lr=1e-2), eval_tokens=256,
                           alpha=1.0, temperature=2.0, show_progress=False)  # fmt: skip
    distilled = kl_to_teacher(tmp_path / "student", root / "teacher", tokens)
    scratch = kl_to_teacher(tmp_path / "scratch", root / "teacher", tokens)
    assert distilled < 0.3 * scratch, (distilled, scratch)  # measured: 0.28 vs 2.78

    assert manifest["stage"] == "distill"
    assert manifest["config"] | {"temperature": 2.0, "alpha": 1.0} == manifest["config"]
    assert [Path(i["path"]).name for i in manifest["inputs"]] == ["tokens", "teacher"]
    s = manifest["stats"]
    teacher_cfg = load_model(root / "teacher", device="cpu")[0].config
    assert s["teacher_flops_per_token"] == flops_per_token(teacher_cfg, 32) // 3
    assert s["teacher_val_loss"] > 0 and math.isfinite(s["teacher_val_nats_per_char"])
    row = next(r for r in pq.read_table(tmp_path / "student" / "metrics.parquet").to_pylist() if r["mfu"])
    counted = row["mfu"] * 1e11 / row["tokens_per_s"]  # FLOPs per token behind the MFU figure
    assert counted == pytest.approx(s["flops_per_token"] + s["teacher_flops_per_token"], rel=1e-6)


def test_resume_continues_a_distillation_to_the_same_weights(world, tmp_path, monkeypatch):
    root, tokens = world
    run_distill(
        root / "teacher",
        tokens,
        tmp_path / "whole",
        "tiny",
        STUDENT,
        quick(6),
        eval_tokens=0,
        show_progress=False,
    )
    calls = {"n": 0}
    real_call = DistillationLoss.__call__

    def interrupted_at_step_5(self, model, batch):
        calls["n"] += 1
        if calls["n"] == 5:
            raise KeyboardInterrupt  # as Ctrl-C: the loop saves a step checkpoint at step 4
        return real_call(self, model, batch)

    monkeypatch.setattr(DistillationLoss, "__call__", interrupted_at_step_5)
    with pytest.raises(KeyboardInterrupt):
        run_distill(root / "teacher", tokens, tmp_path / "resumed", "tiny", STUDENT, quick(6), eval_tokens=0,
                    show_progress=False)  # fmt: skip
    monkeypatch.setattr(DistillationLoss, "__call__", real_call)
    manifest = run_distill(root / "teacher", tokens, tmp_path / "resumed", "tiny", STUDENT, quick(6), eval_tokens=0,
                           resume=True, show_progress=False)  # fmt: skip
    assert manifest["stats"]["resumed_from_step"] == 4
    a, _, _ = load_model(tmp_path / "whole", device="cpu")
    b, _, _ = load_model(tmp_path / "resumed", device="cpu")
    for (name, x), y in zip(a.state_dict().items(), b.state_dict().values(), strict=True):
        assert torch.equal(x, y), name


def test_sft_with_a_teacher_distils_on_the_assistant_tokens(tmp_path):
    """With the base itself as teacher and α = 1 the loss starts at 0 (same distributions); with α = 0
    it is the ordinary SFT loss. The teacher is recorded and MFU-counted."""
    tokenizer = make_tokenizer(tmp_path / "tok")
    make_checkpoint(tmp_path / "base", tokenizer, n_layers=1, d_model=32, seq_len=64)
    (tmp_path / "chat.jsonl").write_text(
        "\n".join(
            f'{{"messages": [{{"role": "user", "content": "Say {i}"}}, {{"role": "assistant", "content": "{i} it is."}}]}}'
            for i in range(24)
        )
    )
    cfg = quick(2, log_every=1, lr=1e-4, weight_decay=0.0)
    soft = run_sft(tmp_path / "base", tmp_path / "chat.jsonl", tmp_path / "soft", cfg, teacher=tmp_path / "base",
                   alpha=1.0, show_progress=False)  # fmt: skip
    hard = run_sft(tmp_path / "base", tmp_path / "chat.jsonl", tmp_path / "hard", cfg, teacher=tmp_path / "base",
                   alpha=0.0, show_progress=False)  # fmt: skip
    first = {
        name: pq.read_table(tmp_path / name / "metrics.parquet").to_pylist()[0]["loss"]
        for name in ("soft", "hard")
    }
    assert first["soft"] < 1e-6 < 1.0 < first["hard"]
    assert soft["config"]["teacher"] == str((tmp_path / "base").resolve())
    assert soft["stats"]["teacher_flops_per_token"] > 0 and hard["stage"] == "sft"


# --------------------------------------------------------------------------------------- bad inputs


@pytest.fixture(scope="module")
def bad_teachers(world):
    """A teacher with another tokenizer, and a reward model (a checkpoint with a score head)."""
    root, tokens = world
    other = make_tokens(root / "other", sentences=40, vocab_size=280, seed=3)
    from llmkit.tokenizer import load_tokenizer

    make_checkpoint(root / "other_teacher", load_tokenizer(other), n_layers=1, d_model=32, seq_len=64)
    model, tok, _ = load_model(root / "teacher", device="cpu")
    weights = {**model.weights(), "score.weight": torch.zeros(1, model.config.d_model)}
    save_checkpoint(root / "reward", weights, model.config.to_dict(), tok.path, stage="train-reward")
    return root, tokens


@pytest.mark.parametrize(
    "case, args, fragments",
    [
        ("tokenizer", ["other_teacher"], ["teacher's tokenizer", "other_teacher", "differs from the student's", "tokens/tokenizer.json"]),
        ("reward", ["reward"], ["is a reward model"]),
        ("alpha", ["teacher", "--alpha", "1.5"], ["--alpha must be in [0, 1] (got 1.5)"]),
    ],
)  # fmt: skip
def test_bad_inputs_end_with_one_clear_line_and_write_nothing(bad_teachers, tmp_path, case, args, fragments):
    root, tokens = bad_teachers
    out = tmp_path / "student"
    result = run_cli("distill", root / args[0], tokens, "-o", out, *args[1:], "--max-steps", "1")
    assert_one_line_error(result, *fragments)
    assert not out.exists() and not (tmp_path / "student.partial").exists()
    assert list(tmp_path.iterdir()) == []


def test_sft_teacher_with_another_tokenizer_and_bad_settings_are_refused(bad_teachers, tmp_path):
    root, tokens = bad_teachers
    from llmkit.errors import UserError

    (tmp_path / "chat.jsonl").write_text(
        '{"messages": [{"role": "user", "content": "a"}, {"role": "assistant", "content": "b"}]}\n'
    )
    with pytest.raises(UserError, match="differs from the student's"):
        run_sft(
            root / "teacher",
            tmp_path / "chat.jsonl",
            tmp_path / "sft",
            quick(1),
            teacher=root / "other_teacher",
        )
    assert not (tmp_path / "sft").exists()
    # the settings are checked before anything is loaded, by distill and sft alike
    for bad, message in (({"temperature": 0.0}, "--temperature must be greater than 0"),
                         ({"temperature": -1.0}, "--temperature must be greater than 0"),
                         ({"alpha": -0.1}, r"--alpha must be in \[0, 1\] \(got -0.1\)")):  # fmt: skip
        with pytest.raises(UserError, match=message):
            run_sft(
                root / "teacher", tmp_path / "chat.jsonl", tmp_path / "sft", teacher=root / "teacher", **bad
            )
        with pytest.raises(UserError, match=message):
            run_distill(root / "teacher", tokens, tmp_path / "student", **bad)
    assert list(tmp_path.iterdir()) == [tmp_path / "chat.jsonl"]
