"""`llmkit sweep`: a tokens artifact → a scaling-law sweep (a `sweep` artifact).

Trains one model per (depth, compute budget) pair with `run_pretrain`, records each run's final
validation loss, and fits the compute frontier (Kaplan et al. 2020; Hoffmann et al. 2022):

    L(C) = E + A · C^(−α)

to the lowest loss reached at each budget C (in training FLOPs). The shape follows from one dial,
the depth (nanochat's): n_layers = depth, d_model = aspect · depth, 64-wide heads, a SwiGLU hidden
size of 3 · d_model. A run's steps are its budget over (FLOPs per token × tokens per step), with
FLOPs per token from `model.flops_per_token` (6 · matmul parameters + attention), so every run of
one budget spends the same compute. Its warmup is 10% of its steps, its schedule cosine, and it
evaluates once, at the end.

The runs live in `SWEEP.runs/` until every one has finished, so a killed sweep continues with
`--resume`: a finished run (its checkpoint's manifest is written) is not repeated and an unfinished
one continues from its last step checkpoint. Then the runs move into `SWEEP/runs/`, next to
`results.parquet` (one row per run), `fit.json`, `table.md` and `loss_vs_compute.png`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import warnings
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from llmkit.artifacts import ArtifactWriter, input_record, open_artifact, write_json_atomic
from llmkit.defaults import stage_default
from llmkit.errors import UserError
from llmkit.model import ModelConfig, flops_per_token, model_config, num_params

HEAD_DIM = 64
WARMUP_FRACTION = 0.1
CHECKPOINTS_PER_RUN = 4  # a killed run loses at most a quarter of its steps


@dataclass
class SweepRun:
    """One (depth, budget) pair of the sweep and what it costs."""

    depth: int
    budget: float  # training FLOPs
    model: ModelConfig
    steps: int

    @property
    def name(self) -> str:
        return f"d{self.depth}-C{self.budget:.3g}"


def depth_config(depth: int, vocab_size: int, seq_len: int, aspect: int) -> ModelConfig:
    """The model of one depth: d_model = aspect · depth, heads of 64 (fewer, wider ones below 64)."""
    d_model = aspect * depth
    n_heads = max(1, d_model // HEAD_DIM)
    return model_config(
        "tiny", vocab_size, n_layers=depth, d_model=d_model, n_heads=n_heads, n_kv_heads=n_heads,
        ffn_hidden=3 * d_model, seq_len=seq_len,
    )  # fmt: skip


def plan_sweep(
    depths, budgets, vocab_size: int, seq_len: int, batch_size: int, aspect: int
) -> list[SweepRun]:
    """Every (depth, budget) run with its step count; a budget too small for one step is a UserError."""
    if not depths or not budgets:
        raise UserError("--depths and --budgets must each name at least one value")
    if any(d < 1 for d in depths):
        raise UserError(f"--depths must be positive integers (got {', '.join(map(str, depths))})")
    if any(not c > 0 for c in budgets):
        raise UserError(
            f"--budgets must be positive FLOP counts (got {', '.join(f'{c:g}' for c in budgets)})"
        )
    if aspect < 1:
        raise UserError(f"--aspect must be greater than 0 (got {aspect})")
    tokens_per_step = batch_size * seq_len
    runs = []
    for depth in sorted(set(depths)):
        mcfg = depth_config(depth, vocab_size, seq_len, aspect)
        step_flops = flops_per_token(mcfg) * tokens_per_step
        for budget in sorted(set(budgets)):
            steps = int(budget // step_flops)
            if steps < 1:
                raise UserError(
                    f"budget {budget:g} FLOPs is too small for one step of depth {depth} "
                    f"({step_flops:.3g} FLOPs per step of {tokens_per_step:,} tokens); raise --budgets"
                )
            runs.append(SweepRun(depth, budget, mcfg, steps))
    return runs


def run_sweep(
    tokens_dir: str | Path,
    out_dir: str | Path,
    depths: list[int],
    budgets: list[float],
    workers: int = stage_default("sweep", "workers"),
    lr: float = stage_default("sweep", "lr"),
    batch_size: int = stage_default("sweep", "batch_size"),
    seq_len: int = stage_default("sweep", "seq_len"),
    aspect: int = stage_default("sweep", "aspect"),
    eval_tokens: int = stage_default("sweep", "eval_tokens"),
    seed: int = 0,
    threads: int | None = None,
    config: dict | None = None,
    force: bool = False,
    resume: bool = False,
    show_progress: bool = True,
) -> dict:
    """Train every (depth, budget) run on `tokens_dir`, fit the frontier, write the sweep artifact
    `out_dir`; returns its manifest. `workers` runs train at a time, each in its own process with
    `threads` CPU threads (default: the cores / workers)."""
    from llmkit.tokenizer import load_tokenizer

    if workers < 1:
        raise UserError(f"--workers must be greater than 0 (got {workers})")
    for name, value in (
        ("lr", lr),
        ("batch-size", batch_size),
        ("seq-len", seq_len),
        ("eval-tokens", eval_tokens),
    ):
        if not value > 0:
            raise UserError(f"--{name} must be greater than 0 (got {value})")
    art = open_artifact(tokens_dir, kinds=["tokens"], allow_plain_parquet=False)
    vocab_size = load_tokenizer(art.path).vocab_size
    runs = plan_sweep(depths, budgets, vocab_size, seq_len, batch_size, aspect)

    out = Path(out_dir)
    work = out.with_name(out.name + ".runs")
    if out.exists() and not force:
        raise UserError(f"{out} already exists; pass --force to overwrite it")
    # what a finished run's result depends on besides its (depth, budget): a resumed sweep must match
    plan = {"tokens": input_record(art.path)["fingerprint"], "lr": lr, "batch-size": batch_size,
            "seq-len": seq_len, "aspect": aspect, "eval-tokens": eval_tokens, "seed": seed}  # fmt: skip
    if work.exists():
        if not resume and not force:
            raise UserError(
                f"{work} holds an unfinished sweep; pass --resume to continue it or --force to start over"
            )
        if not resume:
            shutil.rmtree(work)
        elif (work / "plan.json").is_file():
            saved = json.loads((work / "plan.json").read_text(encoding="utf-8"))
            for key in (k for k in plan if saved.get(k) != plan[k]):
                what = (
                    "the tokens have changed since"
                    if key == "tokens"
                    else f"it ran with --{key} {saved.get(key)}, not {plan[key]}"
                )
                raise UserError(f"cannot resume {work}: {what}; pass --force to start over")
    work.mkdir(parents=True, exist_ok=True)
    write_json_atomic(work / "plan.json", plan)

    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    settings = dict(
        tokens_dir=str(art.path),
        lr=lr,
        batch_size=batch_size,
        eval_tokens=eval_tokens,
        seed=seed,
        threads=threads,
    )
    pending = [r for r in runs if not (work / r.name / "manifest.json").is_file()]
    _train_all(pending, work, settings, workers, show_progress, len(runs) - len(pending))

    rows = [result_row(r, work / r.name) for r in runs]
    fit = fit_frontier(rows)
    with ArtifactWriter(
        out, kind="sweep", stage="sweep", inputs=[art.path], force=force,
        config={**(config or {}), "depths": sorted(set(depths)), "budgets": sorted(set(budgets)), "workers": workers,
                "lr": lr, "batch_size": batch_size, "seq_len": seq_len, "aspect": aspect, "eval_tokens": eval_tokens,
                "seed": seed, "warmup_fraction": WARMUP_FRACTION, "schedule": "cosine"},
    ) as w:  # fmt: skip
        _write_results(w.path, rows, fit)
        shutil.move(str(work), str(w.path / "runs"))
        (w.path / "runs" / "plan.json").unlink()
        manifest = w.commit(counts={"runs": len(rows)}, stats={"fit": fit, "runs": rows})
    return manifest


def _train_all(
    pending: list[SweepRun], work: Path, settings: dict, workers: int, show_progress: bool, done: int
) -> None:
    """Train the pending runs, `workers` at a time, with one progress bar over all runs."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    total = done + len(pending)
    progress = Progress(
        TextColumn("[bold]sweep"), BarColumn(), MofNCompleteColumn(), TextColumn("runs"), TimeElapsedColumn(),
        console=console, disable=not show_progress,
    )  # fmt: skip
    if show_progress and done:
        console.print(f"{done} of {total} runs already finished: not repeated")
    with progress:
        task = progress.add_task("sweep", total=total, completed=done)
        jobs = [(r.name, r.model.to_dict(), r.steps, str(work / r.name), settings) for r in pending]
        pool = get_context("spawn").Pool(workers) if workers > 1 else None
        results = pool.imap_unordered(_train_job, jobs) if pool else map(_train_job, jobs)
        try:
            for name, val_loss, seconds in results:
                progress.advance(task)
                if show_progress:
                    progress.console.print(f"{name}: val loss {val_loss:.4f} ({seconds:.0f} s)")
        except BaseException:
            # Ctrl-C or a failed run: stop the other runs now (each has step checkpoints, written
            # atomically, that --resume continues from) rather than wait for them to finish
            if pool:
                pool.terminate()
            raise
        finally:
            if pool:
                pool.close()
                pool.join()


def _train_job(job: tuple) -> tuple[str, float, float]:
    return train_one(*job)


def train_one(name: str, model: dict, steps: int, out: str, settings: dict) -> tuple[str, float, float]:
    """Train one sweep run (in a worker process); an unfinished earlier attempt is resumed."""
    from llmkit.train.common import TrainConfig, step_checkpoints_dir
    from llmkit.train.pretrain import run_pretrain

    shape = {k: model[k] for k in ("n_layers", "d_model", "n_heads", "n_kv_heads", "ffn_hidden", "seq_len")}
    cfg = TrainConfig.for_stage(
        "pretrain", lr=settings["lr"], batch_size=settings["batch_size"], max_steps=steps,
        warmup_steps=max(1, round(WARMUP_FRACTION * steps)), eval_every=0, log_every=max(1, steps // 20),
        checkpoint_every=max(1, steps // CHECKPOINTS_PER_RUN), seed=settings["seed"], threads=settings["threads"],
    )  # fmt: skip
    resume = step_checkpoints_dir(Path(out)).is_dir()
    manifest = run_pretrain(
        settings["tokens_dir"], out, "tiny", shape, cfg, eval_tokens=settings["eval_tokens"],
        resume=resume, show_progress=False,
    )  # fmt: skip
    return name, manifest["stats"]["final_val_loss"], manifest["stats"]["train_s"]


def result_row(run: SweepRun, run_dir: Path) -> dict:
    """One row of results.parquet: the run's size, budget, steps and final validation loss."""
    from llmkit.checkpoint_files import open_checkpoint

    ckpt = open_checkpoint(run_dir)
    stats = ckpt.manifest["stats"]
    final = next((r for r in reversed(ckpt.metrics()) if r.get("val_loss") is not None), {})
    return {
        "run": run.name, "depth": run.depth, "d_model": run.model.d_model,
        "parameters": num_params(run.model), "non_embedding_parameters": num_params(run.model, embedding=False),
        "flops_per_token": flops_per_token(run.model), "budget": run.budget, "steps": stats["steps"],
        "tokens": stats["tokens"], "flops": flops_per_token(run.model) * stats["tokens"],
        "val_loss": stats["final_val_loss"], "val_nats_per_char": final.get("val_nats_per_char"),
        "train_s": stats["train_s"],
    }  # fmt: skip


def fit_frontier(rows: list[dict]) -> dict:
    """Fit L(C) = E + A · C^(−α) to the lowest validation loss at each budget (the frontier).

    Returns the parameters with their standard errors (from the fit's covariance; None when there
    are no more points than parameters), R² on the frontier points, and per budget the best run and,
    with 3 or more sizes and the minimum inside the range, the compute-optimal parameter count from a
    parabola in log(parameters) through the losses (Chinchilla's approach 2).
    """
    import numpy as np
    from scipy.optimize import OptimizeWarning, curve_fit

    budgets = sorted({r["budget"] for r in rows})
    frontier = [min((r for r in rows if r["budget"] == c), key=lambda r: r["val_loss"]) for c in budgets]
    optimal = [{"budget": c, "best_run": f["run"], "best_depth": f["depth"], "best_parameters": f["parameters"],
                "best_val_loss": f["val_loss"], "optimal_parameters_fit": _parabola_optimum(rows, c)}
               for c, f in zip(budgets, frontier, strict=True)]  # fmt: skip
    result: dict = {"law": "L(C) = E + A * C^(-alpha)", "points": len(frontier), "optimal": optimal}
    if len(frontier) < 3:
        return {**result, "E": None, "A": None, "alpha": None, "r2": None,
                "note": "fewer than 3 budgets: no fit (3 parameters)"}  # fmt: skip
    c = np.array(budgets, dtype=float)
    loss = np.array([f["val_loss"] for f in frontier], dtype=float)
    # fit log A rather than A (A spans many orders of magnitude), with C in units of the smallest budget
    scale = c[0]

    def law(x, e, log_a, alpha):
        return e + np.exp(log_a - alpha * np.log(x))

    p0 = (0.8 * loss.min(), math.log(max(loss[0] - 0.8 * loss.min(), 1e-3)), 0.3)
    try:
        with warnings.catch_warnings():  # 3 points give no covariance: reported as no standard errors
            warnings.simplefilter("ignore", OptimizeWarning)
            params, cov = curve_fit(
                law, c / scale, loss, p0=p0, bounds=([0, -20, 0], [loss.min(), 20, 5]), maxfev=20000
            )
    except (RuntimeError, ValueError) as e:
        return {**result, "E": None, "A": None, "alpha": None, "r2": None, "note": f"fit failed: {e}"}
    e, log_a, alpha = (float(p) for p in params)
    errors = np.sqrt(np.diag(cov)) if len(frontier) > 3 and np.all(np.isfinite(cov)) else [None] * 3
    residual = loss - law(c / scale, *params)
    ss_tot = float(((loss - loss.mean()) ** 2).sum())
    a = math.exp(log_a) * scale**alpha  # back to C in FLOPs
    return {
        **result,
        "E": e, "E_err": _float(errors[0]),
        "A": a, "A_err": None if errors[1] is None else a * float(errors[1]),  # d(A) = A · d(log A)
        "alpha": alpha, "alpha_err": _float(errors[2]),
        "r2": 1 - float((residual**2).sum()) / ss_tot if ss_tot > 0 else None,
    }  # fmt: skip


def _float(x) -> float | None:
    return None if x is None else float(x)


def _parabola_optimum(rows: list[dict], budget: float) -> float | None:
    """The loss-minimising parameter count at `budget` from a parabola in log(parameters), or None
    with fewer than 3 sizes or a minimum at the edge of the sizes tried (an extrapolation)."""
    import numpy as np

    runs = sorted((r for r in rows if r["budget"] == budget), key=lambda r: r["parameters"])
    if len(runs) < 3:
        return None
    x = np.log([r["parameters"] for r in runs])
    curve = np.polyfit(x, [r["val_loss"] for r in runs], 2)
    if curve[0] <= 0:
        return None
    vertex = -curve[1] / (2 * curve[0])
    return float(math.exp(vertex)) if x[0] < vertex < x[-1] else None


def _write_results(folder: Path, rows: list[dict], fit: dict) -> None:
    """results.parquet, fit.json, table.md and loss_vs_compute.png into the artifact's folder."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from llmkit.plot import plot_sweep

    pq.write_table(pa.Table.from_pylist(rows), folder / "results.parquet")
    write_json_atomic(folder / "fit.json", fit)
    (folder / "table.md").write_text(sweep_table(rows, fit), encoding="utf-8")
    plot_sweep(rows, fit, folder / "loss_vs_compute.png")


def sweep_table(rows: list[dict], fit: dict) -> str:
    """The runs and the fit as Markdown (what the README shows)."""
    lines = [
        "| run | depth | parameters | budget (FLOPs) | steps | tokens | val loss (nats/token) | nats/char |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    best = {o["best_run"] for o in fit["optimal"]}
    for r in rows:
        mark = " ★" if r["run"] in best else ""
        npc = "-" if r["val_nats_per_char"] is None else f"{r['val_nats_per_char']:.4f}"
        lines.append(
            f"| {r['run']}{mark} | {r['depth']} | {r['parameters']:,} | {r['budget']:.3g} | {r['steps']:,} | "
            f"{r['tokens']:,} | {r['val_loss']:.4f} | {npc} |"
        )
    lines.append("")
    lines.append(f"Fit {fit_line(fit)}; ★ = lowest loss at its budget.")
    return "\n".join(lines) + "\n"


def fit_line(fit: dict) -> str:
    """`L(C) = E + A·C^-α` with its numbers, standard errors and R², on one line."""
    if fit.get("E") is None:
        return f"not made ({fit.get('note', '')})"

    def pm(value, err, fmt):
        return f"{value:{fmt}}" + ("" if err is None else f" ± {err:{fmt}}")

    return (
        f"L(C) = E + A·C^(−α): E = {pm(fit['E'], fit['E_err'], '.3f')}, A = {pm(fit['A'], fit['A_err'], '.3g')}, "
        f"α = {pm(fit['alpha'], fit['alpha_err'], '.3f')}, R² = {fit['r2']:.4f} over {fit['points']} budgets"
    )
