"""`llmkit plot`: training curves from checkpoints' metrics.parquet, several runs overlaid.

Each panel is one metric against tokens seen (or steps when some run has no token count): loss with
val loss dashed, learning rate, tokens/s, and for RL runs reward, KL and entropy. A panel is drawn
only when some run logged that metric. A mixture-of-experts run adds its router's load-balancing loss
and a heatmap of each layer's expert load over training.
"""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow.parquet as pq

from llmkit.errors import UserError

# (panel title, metric columns drawn in it); the first column is solid, the others dashed.
PANELS = (
    ("loss", ("loss", "val_loss")),
    ("learning rate", ("lr",)),
    ("tokens/s", ("tokens_per_s",)),
    ("MFU", ("mfu",)),
    ("reward", ("reward", "val_reward")),
    ("KL", ("kl",)),
    ("entropy", ("entropy",)),
    ("accuracy", ("accuracy", "val_accuracy")),
    ("router load-balancing loss (1 = even)", ("router_aux_loss",)),
)


def read_metrics(run: str | Path) -> dict[str, list]:
    """The metrics table of a checkpoint directory (or a metrics.parquet file) as column lists."""
    p = Path(run)
    path = p / "metrics.parquet" if p.is_dir() else p
    if not path.is_file():
        raise UserError(
            f"{run} has no metrics.parquet (is it a training checkpoint?)"
            if p.exists()
            else f"{run} does not exist"
        )
    try:
        table = pq.read_table(path)
    except Exception as e:  # pyarrow raises several error types for a damaged file
        raise UserError(f"{path} is not a valid Parquet file: {str(e).splitlines()[0]}") from e
    return table.to_pydict()


def plot_runs(runs: list[str | Path], out: str | Path, labels: list[str] | None = None) -> dict:
    """Draw every run's curves into one PNG at `out`; returns {"panels": [...], "runs": n}."""
    import matplotlib

    matplotlib.use("Agg")  # no display needed; must precede pyplot
    import matplotlib.pyplot as plt

    if not runs:
        raise UserError("give at least one run or checkpoint to plot")
    out = Path(out)
    if out.suffix.lower() != ".png":
        raise UserError(f"--out must be a .png file (got {out.name})")
    labels = labels or [Path(r).name for r in runs]
    if len(labels) != len(runs):
        raise UserError(f"--label given {len(labels)} times for {len(runs)} runs")
    metrics = [read_metrics(r) for r in runs]
    panels = [(title, cols) for title, cols in PANELS if any(_has(m, cols[0]) for m in metrics)]
    moe_runs = [(m, label) for m, label in zip(metrics, labels, strict=True) if _has(m, "expert_load")]
    if not panels and not moe_runs:
        raise UserError("no plottable metrics (loss, lr, tokens_per_s, reward, ...) in the given runs")
    x_name = "tokens" if all(_has(m, "tokens") for m in metrics) else "step"  # one x axis for every run
    n_panels = len(panels) + len(moe_runs)
    ncols = 2 if n_panels > 1 else 1
    nrows = math.ceil(n_panels / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(6 * ncols, 3.6 * nrows), squeeze=False)
    for ax, (title, cols) in zip(axes.flat, panels, strict=False):
        for i, (m, label) in enumerate(zip(metrics, labels, strict=True)):
            for j, col in enumerate(cols):
                if not _has(m, col):
                    continue
                xs, ys = zip(
                    *[
                        (x, y)
                        for x, y in zip(m[x_name], m[col], strict=True)
                        if y is not None and x is not None
                    ],
                    strict=True,
                )
                name = label if j == 0 else f"{label} ({col})"
                ax.plot(
                    xs,
                    ys,
                    color=f"C{i}",
                    linestyle="-" if j == 0 else "--",
                    marker="o" if len(xs) < 3 else None,
                    label=name,
                )
            ax.set_xlabel(x_name)
        ax.set_title(title)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    for ax, (m, label) in zip(list(axes.flat)[len(panels) :], moe_runs, strict=False):
        _expert_load_heatmap(fig, ax, m, label, x_name)
    for ax in list(axes.flat)[n_panels:]:
        ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)  # a reader never sees half a PNG
    titles = [title for title, _ in panels] + [f"expert load: {label}" for _, label in moe_runs]
    return {"panels": titles, "runs": len(runs)}


def _expert_load_heatmap(fig, ax, m: dict, label: str, x_name: str) -> None:
    """Each layer's expert load over training: one row per (layer, expert), coloured by the expert's
    share of the tokens × the number of experts (1 = an even share)."""
    import numpy as np

    rows = [(x, load) for x, load in zip(m[x_name], m["expert_load"], strict=True) if load and x is not None]
    xs = [x for x, _ in rows]
    loads = np.array([load for _, load in rows], dtype=float)  # (rows, layers, experts)
    n_layers, n_experts = loads.shape[1:]
    grid = loads.reshape(len(rows), -1).T * n_experts  # (layers · experts, rows)
    right = xs[-1] if xs[-1] > xs[0] else xs[0] + 1  # one logged row: a strip of width 1
    image = ax.imshow(
        grid, aspect="auto", cmap="viridis", vmin=0, interpolation="nearest",
        extent=(xs[0], right, n_layers * n_experts, 0),
    )  # fmt: skip
    for layer in range(1, n_layers):
        ax.axhline(layer * n_experts, color="white", linewidth=0.8)
    ax.set_yticks([(layer + 0.5) * n_experts for layer in range(n_layers)], [f"layer {i}" for i in range(n_layers)])
    ax.set_xlabel(x_name)
    ax.set_title(f"expert load: {label} ({n_experts} experts per layer)")
    fig.colorbar(image, ax=ax, label="share × experts (1 = even)")


def _has(m: dict, col: str) -> bool:
    return col in m and any(v is not None for v in m[col])


def plot_sweep(rows: list[dict], fit: dict, out: str | Path) -> None:
    """A scaling-law sweep's PNG: final validation loss against training FLOPs (log scale), one line
    per depth, the frontier (the lowest loss at each budget) ringed, and the fitted L(C) dashed."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for i, depth in enumerate(sorted({r["depth"] for r in rows})):
        runs = sorted((r for r in rows if r["depth"] == depth), key=lambda r: r["budget"])
        label = f"depth {depth} ({runs[0]['parameters'] / 1e6:.2f}M params)"
        ax.plot([r["budget"] for r in runs], [r["val_loss"] for r in runs], "o-", color=f"C{i}", label=label)
    best = [next(r for r in rows if r["run"] == o["best_run"]) for o in fit["optimal"]]
    ax.scatter([r["budget"] for r in best], [r["val_loss"] for r in best], s=160, facecolors="none",
               edgecolors="black", linewidths=1.5, label="frontier", zorder=3)  # fmt: skip
    if fit.get("E") is not None:
        c = np.geomspace(min(r["budget"] for r in rows), max(r["budget"] for r in rows), 100)
        label = f"fit: {fit['E']:.3f} + {fit['A']:.3g}·C^(−{fit['alpha']:.3f}), R² = {fit['r2']:.3f}"
        ax.plot(c, fit["E"] + fit["A"] * c ** -fit["alpha"], "k--", label=label)
    ax.set_xscale("log")
    ax.set_xlabel("training compute C (FLOPs)")
    ax.set_ylabel("final validation loss (nats/token)")
    ax.set_title("loss vs compute")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)
