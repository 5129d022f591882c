"""Mixture of experts vs dense at the same active parameters and the same wall-clock budget, on
tinyshakespeare.

    .venv/bin/python benchmarks/moe.py                 # 300 s per model (about 11 minutes in all)
    .venv/bin/python benchmarks/moe.py --budget 30     # a quick check (about 1.5 minutes)

One run, one machine, one tokenizer: a BPE tokenizer trained on the first 90% of tinyshakespeare and
its tokens artifact (benchmarks/pretrain.py's `prepare`), then `run_pretrain` (the loop `llmkit
pretrain` runs) twice for `--budget` seconds of wall clock each, with the same training settings:

- dense: 4 layers × 192, SwiGLU hidden 512;
- MoE: the same, with 8 SwiGLU experts of hidden 256 per layer and each token routed to 2 of them,
  so a token uses the same 2 × 256 = 512 hidden units (plus a 192 × 8 router) — the same active
  parameters and FLOPs per token — out of 4× the MLP parameters.

Reported per model: validation loss over the whole last 10% in nats per character (tokenizer-free),
training tokens/s, and for the MoE model the expert load (each layer's busiest expert's share over
the mean share; 1 = perfectly even) at the end and its median over the run. The training-loss
curves against wall-clock seconds, the loss gap at quarters of the budget and at equal tokens, and a
rough estimate of the budget at which the curves would cross (`compare_curves`) go to
benchmarks/results/moe.json; `llmkit plot`'s picture of both runs (loss, tokens/s, router loss,
expert-load heatmap) to benchmarks/results/moe.png.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as benchmarks/pretrain.py: no spinning threads

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import torch
from pretrain import DEFAULT_TEXT, prepare
from rich.console import Console
from rich.table import Table

from llmkit.device import cpu_model
from llmkit.plot import plot_runs
from llmkit.train.common import TrainConfig
from llmkit.train.pretrain import run_pretrain

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=120)

DENSE = dict(
    n_layers=4, d_model=192, n_heads=4, n_kv_heads=4, ffn_hidden=512, seq_len=256, tie_embeddings=False
)
MOE = {**DENSE, "ffn_hidden": 256, "n_experts": 8, "experts_per_token": 2, "router_aux_coef": 0.01}
# benchmarks/pretrain.py's quality recipe without --compile (the MoE layer's per-expert token counts
# change every step, which would recompile), the same for both models
TRAIN = dict(
    optimizer="muon", batch_size=8, lr=4e-3, warmup_steps=20, schedule="wsd", decay_fraction=0.5,
    min_lr_ratio=0.05, weight_decay=1.0, log_every=5, eval_every=0,
)  # fmt: skip


def train(name: str, shape: dict, tokens: Path, work: Path, budget: float, optimizer: str) -> dict:
    """One model for `budget` seconds; its numbers and its training-loss curve."""
    cfg = TrainConfig(max_time=budget, **{**TRAIN, "optimizer": optimizer})
    console.print(f"[bold]{name}[/] for {budget:.0f} s")
    start = time.perf_counter()
    manifest = run_pretrain(tokens, work / name, "small", shape, cfg, eval_tokens=10**9, force=True)
    s = manifest["stats"]
    rows = pq.read_table(work / name / "metrics.parquet").to_pylist()
    result = {
        "model": shape, "parameters": s["parameters"], "active_parameters": s["active_parameters"],
        "flops_per_token": s["flops_per_token"], "steps": s["steps"], "tokens": s["tokens"],
        "train_s": s["train_s"], "wall_s": round(time.perf_counter() - start, 1),
        "tokens_per_s": s["tokens_per_s"], "mfu": s["mfu"], "precision": s["precision"],
        "val_nats_per_char": rows[-1]["val_nats_per_char"], "val_loss_nats_per_token": s["final_val_loss"],
        "final_train_loss": s["final_loss"],
        "curve": [{"elapsed_s": round(r["elapsed_s"], 2), "tokens": r["tokens"], "loss": r["loss"]}
                  for r in rows if r["loss"] is not None],
    }  # fmt: skip
    if shape.get("n_experts"):
        balance = [
            [max(layer) * len(layer) for layer in r["expert_load"]] for r in rows if r.get("expert_load")
        ]
        result["expert_load_max_over_mean_final"] = balance[-1]  # per layer
        result["expert_load_max_over_mean_median"] = sorted(max(b) for b in balance)[len(balance) // 2]
        result["router_aux_loss_final"] = next(
            r["router_aux_loss"] for r in reversed(rows) if r.get("router_aux_loss") is not None
        )
    return result


def loss_at(curve: list[dict], value: float, key: str = "elapsed_s", window: int = 3) -> float:
    """Training loss around `value` of `key` (seconds or tokens): the mean of the `window` logged
    rows nearest to it."""
    nearest = sorted(curve, key=lambda r: abs(r[key] - value))[:window]
    return sum(r["loss"] for r in nearest) / len(nearest)


def stable_phase_fit(result: dict, budget: float) -> tuple[float, float] | None:
    """(a, b) of loss ≈ a − b · ln(tokens), fitted to the training loss logged in the stable phase of
    the schedule (after warmup, before the last `decay_fraction` of the clock decays): the curve a
    longer run at this learning rate would follow. None with fewer than 3 points."""
    warmup_tokens = TRAIN["warmup_steps"] * TRAIN["batch_size"] * result["model"]["seq_len"]
    stable_end = budget * (1 - TRAIN["decay_fraction"])
    rows = [r for r in result["curve"] if r["tokens"] > warmup_tokens and r["elapsed_s"] <= stable_end]
    if len(rows) < 3:
        return None
    slope, intercept = np.polyfit([math.log(r["tokens"]) for r in rows], [r["loss"] for r in rows], 1)
    return float(intercept), float(-slope)


def compare_curves(dense: dict, moe: dict, budget: float) -> dict:
    """The MoE-minus-dense training-loss gap at quarters of the budget (negative: MoE is ahead) and
    at equal tokens, and a rough estimate of the budget where the MoE model would overtake.

    The estimate: each model's stable-phase loss as a − b · ln(tokens) (stable_phase_fit), tokens as
    its measured tokens/s × seconds; the curves cross where a_m − b_m · ln(r_m t) = a_d − b_d · ln(r_d t).
    None when the MoE model is already ahead at the end, or its curve does not fall faster."""
    quarters = [budget * q for q in (0.25, 0.5, 0.75, 1.0)]
    gaps = [loss_at(moe["curve"], t) - loss_at(dense["curve"], t) for t in quarters]
    # per token rather than per second: both at the tokens the slower model reached
    tokens = min(dense["curve"][-1]["tokens"], moe["curve"][-1]["tokens"])
    per_token = loss_at(moe["curve"], tokens, "tokens") - loss_at(dense["curve"], tokens, "tokens")
    fits = {"dense": stable_phase_fit(dense, budget), "moe": stable_phase_fit(moe, budget)}
    crossing = None
    if fits["dense"] and fits["moe"] and gaps[-1] > 0:
        (a_d, b_d), (a_m, b_m) = fits["dense"], fits["moe"]
        r_d, r_m = dense["tokens_per_s"], moe["tokens_per_s"]
        if b_m > b_d:  # ln t = (a_m − a_d − b_m ln r_m + b_d ln r_d) / (b_m − b_d)
            crossing = round(math.exp((a_m - a_d - b_m * math.log(r_m) + b_d * math.log(r_d)) / (b_m - b_d)))
    return {
        "at_s": quarters, "train_loss_gap": gaps, "at_tokens": tokens, "train_loss_gap_at_equal_tokens": per_token,
        "stable_phase_fit_a_b": fits, "estimated_crossing_s": crossing,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT)
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--budget", type=float, default=300.0, help="seconds of training per model")
    parser.add_argument(
        "--quick", action="store_true", help="a 20-second budget per model, to check the script"
    )
    parser.add_argument(
        "--optimizer", choices=("muon", "adamw"), default="muon",
        help="for both models; Muon orthogonalizes every expert's matrices, which costs the MoE model more per step",
    )  # fmt: skip
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "moe.json")
    args = parser.parse_args()
    if not args.text.is_file():
        raise SystemExit(f"{args.text} not found (pass --text FILE)")
    budget = 20.0 if args.quick else args.budget

    result: dict = {
        "cpu": cpu_model(), "threads": torch.get_num_threads(), "budget_s": budget,
        "load_average_1min_at_start": os.getloadavg()[0], "train": {**TRAIN, "optimizer": args.optimizer}, "vocab_size": args.vocab_size,
    }  # fmt: skip
    console.print(
        f"[bold]MoE benchmark[/] on {result['cpu']}, {result['threads']} threads, "
        f"load {result['load_average_1min_at_start']:.2f}, {budget:.0f} s per model"
    )
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        tokens = prepare(args.text, work, args.vocab_size)
        dense = train("dense", DENSE, tokens, work, budget, args.optimizer)
        moe = train("moe", MOE, tokens, work, budget, args.optimizer)
        png = args.out.with_suffix(".png")
        png.parent.mkdir(parents=True, exist_ok=True)
        plot_runs([work / "dense", work / "moe"], png, labels=["dense", "MoE 8 experts, top 2"])
    result.update(dense=dense, moe=moe, curves=compare_curves(dense, moe, budget))
    result["val_nats_per_char_moe_minus_dense"] = moe["val_nats_per_char"] - dense["val_nats_per_char"]
    result["tokens_per_s_moe_over_dense"] = moe["tokens_per_s"] / dense["tokens_per_s"]
    result["load_average_1min_at_end"] = os.getloadavg()[0]

    table = Table(title=f"tinyshakespeare, {budget:.0f} s of training each (val = last 10%)")
    for col in ("model", "params", "active", "steps", "tokens/s", "val nats/char", "expert load max/mean"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for name, r in (("dense 4 × 192, MLP 512", dense), ("MoE 8 × 256, top 2", moe)):
        load = r.get("expert_load_max_over_mean_final")
        table.add_row(
            name, f"{r['parameters'] / 1e6:.2f}M", f"{r['active_parameters'] / 1e6:.2f}M", f"{r['steps']:,}",
            f"{r['tokens_per_s']:,.0f}", f"{r['val_nats_per_char']:.4f}",
            "-" if load is None else f"{max(load):.2f} worst layer, {sum(load) / len(load):.2f} mean",
        )  # fmt: skip
    curves = result["curves"]
    table.caption = (
        f"MoE − dense: val {result['val_nats_per_char_moe_minus_dense']:+.4f} nats/char, "
        f"tokens/s ×{result['tokens_per_s_moe_over_dense']:.2f}; train-loss gap at "
        + ", ".join(
            f"{t:.0f} s {g:+.3f}" for t, g in zip(curves["at_s"], curves["train_loss_gap"], strict=True)
        )
        + (
            f"; would cross at ≈ {curves['estimated_crossing_s']:,} s"
            if curves["estimated_crossing_s"]
            else ""
        )
        + f"; at equal tokens ({curves['at_tokens']:,}) {curves['train_loss_gap_at_equal_tokens']:+.3f}"
    )
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {args.out} and {png}")


if __name__ == "__main__":
    main()
