"""`llmkit sweep`: steps from budgets, the L(C) fit on a known law, a real sweep that is killed and
resumed without repeating a finished run, and the bad inputs through the real CLI."""

from __future__ import annotations

import json
import math

import pyarrow.parquet as pq
import pytest
from conftest import assert_one_line_error, run_cli
from test_pretrain import make_tokens

from llmkit.errors import UserError
from llmkit.model import flops_per_token
from llmkit.train import sweep
from llmkit.train.sweep import fit_frontier, plan_sweep, run_sweep

SMALL = dict(seq_len=32, batch_size=4, aspect=16, eval_tokens=128, threads=1)


@pytest.fixture(scope="module")
def tokens(tmp_path_factory):
    return make_tokens(tmp_path_factory.mktemp("sweep"), sentences=60)


def test_steps_follow_from_the_budget_and_the_models_flops_per_token():
    runs = plan_sweep([2, 1], [1e9, 3e9], vocab_size=300, seq_len=32, batch_size=4, aspect=16)
    assert [(r.depth, r.budget) for r in runs] == [(1, 1e9), (1, 3e9), (2, 1e9), (2, 3e9)]
    for r in runs:
        assert (r.model.n_layers, r.model.d_model) == (r.depth, 16 * r.depth)
        assert r.steps == int(r.budget // (flops_per_token(r.model) * 4 * 32))
    with pytest.raises(UserError, match="budget 1e\\+06 FLOPs is too small for one step of depth 1"):
        plan_sweep([1], [1e6], vocab_size=300, seq_len=32, batch_size=4, aspect=16)


def law_rows(e: float, a: float, alpha: float, budgets, noise=()) -> list[dict]:
    """Sweep rows whose frontier follows L(C) = e + a·C^-alpha exactly (plus `noise`): at each budget a
    middle-sized run on the law and two worse ones on either side."""
    rows = []
    for i, c in enumerate(budgets):
        best = e + a * c**-alpha + (noise[i] if noise else 0)
        for depth, extra in ((1, 0.3), (2, 0.0), (3, 0.2)):
            rows.append({"run": f"d{depth}-C{c:g}", "depth": depth, "parameters": 10**(depth + 3), "budget": c,
                         "val_loss": best + extra})  # fmt: skip
    return rows


def test_the_fit_recovers_a_known_law_with_uncertainties_and_r2():
    budgets = [1e12, 3e12, 1e13, 3e13, 1e14]
    fit = fit_frontier(law_rows(1.5, 400.0, 0.2, budgets))
    assert fit["E"] == pytest.approx(1.5, rel=1e-3) and fit["alpha"] == pytest.approx(0.2, rel=1e-3)
    assert fit["A"] == pytest.approx(400.0, rel=1e-2) and fit["r2"] == pytest.approx(1.0, abs=1e-9)
    noisy = fit_frontier(law_rows(1.5, 400.0, 0.2, budgets, noise=(0.01, -0.02, 0.015, -0.01, 0.005)))
    assert 0.9 < noisy["r2"] < 1 and all(noisy[k] > 0 for k in ("E_err", "A_err", "alpha_err"))
    # the middle size is best everywhere, and the parabola through log(parameters) puts the optimum near it
    assert {o["best_depth"] for o in fit["optimal"]} == {2}
    assert all(1e4 < o["optimal_parameters_fit"] < 1e6 for o in fit["optimal"])
    assert fit_frontier(law_rows(1.5, 400.0, 0.2, budgets[:2]))["E"] is None  # 2 points, 3 parameters


def test_a_killed_sweep_resumes_without_repeating_finished_runs(tokens, tmp_path, monkeypatch):
    out = tmp_path / "sweep"
    settings = dict(depths=[1, 2], budgets=[1e8, 2e8, 4e8], **SMALL, show_progress=False)
    real_train_one, trained = sweep.train_one, []

    def killed_after_two_runs(name, *args):
        if len(trained) == 2:
            raise KeyboardInterrupt
        trained.append(name)
        return real_train_one(name, *args)

    monkeypatch.setattr(sweep, "train_one", killed_after_two_runs)
    with pytest.raises(KeyboardInterrupt):
        run_sweep(tokens, out, **settings)
    assert not out.exists()
    work = tmp_path / "sweep.runs"
    finished = {name: (work / name / "manifest.json").read_text() for name in trained}

    with pytest.raises(UserError, match="holds an unfinished sweep; pass --resume"):
        run_sweep(tokens, out, **settings)
    with pytest.raises(UserError, match="cannot resume .*: it ran with --aspect 16, not 24"):
        run_sweep(tokens, out, **{**settings, "aspect": 24}, resume=True)  # other models under the same names
    monkeypatch.setattr(sweep, "train_one", real_train_one)
    manifest = run_sweep(tokens, out, **settings, workers=2, resume=True)  # the other 4 runs in 2 processes

    for name, text in finished.items():  # not trained again
        assert (out / "runs" / name / "manifest.json").read_text() == text
    assert not work.exists() and manifest["kind"] == "sweep" and manifest["counts"]["runs"] == 6
    rows = pq.read_table(out / "results.parquet").to_pylist()
    assert sorted(r["run"] for r in rows) == sorted(f"d{d}-C{c:.3g}" for d in (1, 2) for c in (1e8, 2e8, 4e8))
    assert all(math.isfinite(r["val_loss"]) and r["steps"] >= 1 for r in rows)
    fit = json.loads((out / "fit.json").read_text())
    assert fit == manifest["stats"]["fit"] and fit["points"] == 3 and len(fit["optimal"]) == 3
    assert (out / "loss_vs_compute.png").read_bytes()[:4] == b"\x89PNG"
    assert "★" in (out / "table.md").read_text()


def test_a_budget_too_small_for_one_step_ends_with_one_clear_line_and_writes_nothing(tokens, tmp_path):
    result = run_cli("sweep", tokens, "-o", tmp_path / "sweep", "--depths", "1,2", "--budgets", "1e6,1e9",
                     "--seq-len", "32", "--aspect", "16")  # fmt: skip
    assert_one_line_error(result, "budget 1e+06 FLOPs is too small for one step of depth 1")
    assert list(tmp_path.iterdir()) == []


def test_other_bad_options_are_refused_before_anything_is_written(tokens, tmp_path):
    from llmkit.cli import _numbers

    with pytest.raises(UserError, match="--depths must be comma-separated numbers"):
        _numbers("--depths", "1,x", int)
    assert _numbers("--budgets", "1e9, 3e9", float) == [1e9, 3e9] and _numbers("--depths", "2,3", int) == [
        2,
        3,
    ]
    for bad, message in (({"workers": 0}, "--workers must be greater than 0"), ({"depths": [0]}, "--depths must be positive"),
                         ({"budgets": [-1.0]}, "--budgets must be positive"), ({"aspect": 0}, "--aspect must be greater than 0")):  # fmt: skip
        with pytest.raises(UserError, match=message):
            run_sweep(tokens, tmp_path / "sweep", **{"depths": [1], "budgets": [1e9], **bad})
    assert list(tmp_path.iterdir()) == []
