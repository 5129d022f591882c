"""`llmkit report RUN_DIR`: a report card of a pipeline run, as Markdown with PNGs.

It reads only what the stages wrote (their manifests, metrics and tables) under RUN_DIR, by the
names the demo uses (pages, text, kept, unique, decontaminated, clean, tokenizer, tokens, base, sft, rm, ppo, dpo,
grpo, eval-*, generations); a stage that is missing is left out of the report.
"""

from __future__ import annotations

import json
from pathlib import Path

from llmkit.artifacts import MANIFEST, open_artifact, read_manifest
from llmkit.errors import UserError
from llmkit.parquet import iter_rows

DATA_STAGES = ("text", "kept", "unique", "decontaminated", "clean")
TRAIN_STAGES = ("base", "sft", "rm", "ppo", "dpo", "grpo")


def _manifest(run: Path, name: str) -> dict | None:
    return read_manifest(run / name) if (run / name / MANIFEST).is_file() else None


def funnel_rows(run: Path) -> list[dict]:
    """Every data stage's funnel steps, in pipeline order: {step, in, out, removed}."""
    rows = []
    for name in DATA_STAGES:
        m = _manifest(run, name)
        if m:
            rows += m.get("stats", {}).get("funnel", [])
    return rows


def plot_funnel(rows: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.2))
    names = [r["step"] for r in rows][::-1]
    ax.barh(names, [r["in"] for r in rows][::-1], color="#dddddd", label="in")
    ax.barh(names, [r["out"] for r in rows][::-1], color="C0", label="out")
    ax.set_xlabel("documents")
    ax.set_title("data funnel")
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    plt.close(fig)


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return "" if value is None else str(value)


def write_report(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Write RUN_DIR/REPORT.md (or `out`) with funnel.png and report-curves.png beside it; returns its path.

    One section per part of the pipeline that RUN_DIR holds, in pipeline order: data, tokenizer,
    training, evaluation, sample generations.
    """
    run = Path(run_dir)
    if not run.is_dir():
        raise UserError(f"{run} is not a directory of pipeline stages")
    out = Path(out) if out else run / "REPORT.md"
    lines = [f"# Report card: `{run}`", ""]
    found = [n for n in (*DATA_STAGES, "tokenizer", "tokens", *TRAIN_STAGES) if _manifest(run, n)]
    if not found:
        raise UserError(f"{run} holds no finished stage (no */manifest.json)")
    lines += data_section(run, out.parent)
    lines += tokenizer_section(run)
    lines += training_section(run, out.parent)
    lines += evaluation_section(run)
    lines += generations_section(run)

    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    tmp.write_text("\n".join(lines), encoding="utf-8")
    tmp.replace(out)
    return out


def data_section(run: Path, folder: Path) -> list[str]:
    """The data funnel as a table, and as funnel.png written into `folder`; [] without data stages."""
    rows = funnel_rows(run)
    if not rows:
        return []
    plot_funnel(rows, folder / "funnel.png")
    lines = [
        "## Data",
        "",
        "![data funnel](funnel.png)",
        "",
        "| step | in | out | removed by reason |",
        "|---|---:|---:|---|",
    ]
    for r in rows:
        reasons = ", ".join(f"{k} {v}" for k, v in sorted(r.get("removed", {}).items(), key=lambda x: -x[1]))
        lines.append(f"| {r['step']} | {r['in']:,} | {r['out']:,} | {reasons or '-'} |")
    return [*lines, "", *contamination_lines(run)]


def contamination_lines(run: Path) -> list[str]:
    """The decontaminate stage's documents removed per evaluation task; [] without the stage."""
    m = _manifest(run, "decontaminated")
    if not m:
        return []
    lines = [
        f"Contamination ({m['config'].get('ngram', 13)}-gram overlap with the evaluation tasks):",
        "",
        "| task | documents removed | items | items too short to check | indexed n-grams |",
        "|---|---:|---:|---:|---:|",
    ]
    for task, c in m["stats"].get("contamination", {}).items():
        lines.append(
            f"| {task} | {c['docs']:,} | {c['items']:,} | {c['items_too_short']:,} | {c['ngrams']:,} |"
        )
    return [*lines, ""]


def tokenizer_section(run: Path) -> list[str]:
    """The tokenizer's and the tokens artifact's scalar statistics; [] without either."""
    tok, tokens = _manifest(run, "tokenizer"), _manifest(run, "tokens")
    if not (tok or tokens):
        return []
    lines = ["## Tokenizer", "", "| | |", "|---|---|"]
    for key, value in {**(tok or {}).get("stats", {}), **(tokens or {}).get("stats", {})}.items():
        if not isinstance(value, dict | list):
            lines.append(f"| {key} | {_fmt(value)} |")
    return [*lines, ""]


def training_section(run: Path, folder: Path) -> list[str]:
    """Training curves (report-curves.png, written into `folder`) and one headline row per trained
    stage; [] when no stage logged metrics."""
    from llmkit.plot import plot_runs

    trained = [
        n
        for n in ("base", "sft", "ppo", "dpo", "grpo")
        if _manifest(run, n) and (run / n / "metrics.parquet").is_file()
    ]
    if not trained:
        return []
    plot_runs([run / n for n in trained], folder / "report-curves.png")
    lines = [
        "## Training",
        "",
        "![training curves](report-curves.png)",
        "",
        "| stage | steps | final loss | headline |",
        "|---|---:|---:|---|",
    ]
    for name in (n for n in TRAIN_STAGES if _manifest(run, n)):
        stats = _manifest(run, name)["stats"]
        last = (
            next(iter(reversed(list(iter_rows([run / name / "metrics.parquet"])))), {})
            if (run / name / "metrics.parquet").is_file()
            else {}
        )
        lines.append(
            f"| {name} | {stats.get('steps', '')} | {_fmt(stats.get('final_loss'))} | "
            f"{training_headline(name, stats, last)} |"
        )
    return [*lines, ""]


def training_headline(name: str, stats: dict, last: dict) -> str:
    """The number that says how a training stage went, from its manifest `stats` and `last` logged row."""
    return {
        "base": f"val {_fmt(stats.get('final_val_loss'))} nats/token, {_fmt(stats.get('final_val_bpb'))} bits/byte",
        "sft": f"val loss {_fmt(last.get('val_loss'))}, stop rate {_fmt(last.get('stop_rate'))}",
        "rm": f"held-out pairwise accuracy {_fmt(last.get('val_accuracy'))}",
        "ppo": f"held-out reward {_fmt(stats.get('initial_val_reward'))} → {_fmt(last.get('val_reward'))}, KL {_fmt(last.get('kl'))}",
        "dpo": f"implicit-reward accuracy {_fmt(stats.get('initial_val_accuracy'))} → {_fmt(last.get('val_accuracy'))}",
        "grpo": f"exact match {_fmt(stats.get('initial_val_accuracy'))} → {_fmt(last.get('val_accuracy'))}",
    }[name]


def evaluation_section(run: Path) -> list[str]:
    """One row per (task, metric), one column per eval-* artifact in pipeline order; [] without any."""
    order = [f"eval-{n}" for n in TRAIN_STAGES]  # pipeline order, then any others by name
    evals = sorted(
        (p.name for p in run.glob("eval-*") if (p / MANIFEST).is_file()),
        key=lambda e: (order.index(e) if e in order else len(order), e),
    )
    if not evals:
        return []
    metrics = {e: read_manifest(run / e)["stats"]["metrics"] for e in evals}
    keys = list(
        dict.fromkeys(
            (t, k)
            for m in metrics.values()
            for t, v in m.items()
            for k in v
            if k not in ("examples", "tokens")
        )
    )
    lines = [
        "## Evaluation",
        "",
        "| task | metric | " + " | ".join(evals) + " |",
        "|---|---|" + "---:|" * len(evals),
    ]
    for task, key in keys:
        lines.append(
            f"| {task} | {key} | " + " | ".join(_fmt(metrics[e].get(task, {}).get(key)) for e in evals) + " |"
        )
    return [*lines, "", *suite_lines(run, evals)]


def suite_lines(run: Path, evals: list[str]) -> list[str]:
    """The centred score of each published-layout task and their mean (CORE-style), one column per eval
    artifact that has them; [] when none has."""
    suites = {e: read_manifest(run / e)["stats"].get("suite") for e in evals}
    suites = {e: s for e, s in suites.items() if s}
    if not suites:
        return []
    tasks = list(dict.fromkeys(t for s in suites.values() for t in s["centered"]))
    lines = [
        "Centred scores, (score − baseline) / (1 − baseline):",
        "",
        "| task | " + " | ".join(suites) + " |",
        "|---|" + "---:|" * len(suites),
    ]
    lines += [
        f"| {t} | " + " | ".join(_fmt(s["centered"].get(t)) for s in suites.values()) + " |" for t in tasks
    ]
    lines.append("| **" + "/".join(sorted({s["name"] for s in suites.values()})) + " mean** | "
                 + " | ".join(_fmt(s["mean"]) for s in suites.values()) + " |")  # fmt: skip
    return [*lines, ""]


def generations_section(run: Path) -> list[str]:
    """The first six rows of the generations artifact: prompt (a chat's last message), completion,
    finish reason; [] without one."""
    if not _manifest(run, "generations"):
        return []
    lines = ["## Sample generations", ""]
    for row in list(iter_rows(open_artifact(run / "generations").parts))[:6]:
        prompt = (
            row["prompt"] if not row["prompt"].startswith("[") else json.loads(row["prompt"])[-1]["content"]
        )
        lines += [f"- **{prompt}** → {row['completion'].strip()!r} ({row['finish_reason']})"]
    return [*lines, ""]
