"""`llmkit plot`: training curves from checkpoints' metrics.parquet, several runs overlaid.

Each panel is one metric against tokens seen (or steps when some run has no token count): loss with
val loss dashed, learning rate, tokens/s, and for RL runs reward, KL and entropy. A panel is drawn
only when some run logged that metric.
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
    if not panels:
        raise UserError("no plottable metrics (loss, lr, tokens_per_s, reward, ...) in the given runs")
    x_name = "tokens" if all(_has(m, "tokens") for m in metrics) else "step"  # one x axis for every run
    ncols = 2 if len(panels) > 1 else 1
    nrows = math.ceil(len(panels) / ncols)
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
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial.png")
    fig.savefig(tmp, dpi=110)
    plt.close(fig)
    tmp.replace(out)  # a reader never sees half a PNG
    return {"panels": [title for title, _ in panels], "runs": len(runs)}


def _has(m: dict, col: str) -> bool:
    return col in m and any(v is not None for v in m[col])
