"""`llmkit inspect`: any artifact (or plain Parquet) as rich tables, or as JSON.

`describe()` gathers everything worth showing into one dict; `render_inspect()` draws it and
`--json` prints it, so the terminal view and the JSON never disagree.
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.tree import Tree

from llmkit import artifacts, parquet
from llmkit.errors import UserError

MAX_CELL = 160
MAX_TABLE_COLUMNS = 6  # wider heads are shown one row at a time, as column/value pairs
SPARK = "▁▂▃▄▅▆▇█"


def describe(path: str | Path, rows: int = 5) -> dict:
    """Everything `inspect` shows about `path`, as plain JSON-able data."""
    art = artifacts.open_artifact(path)
    info: dict = {"path": str(art.path), "kind": art.kind}
    m = art.manifest
    if m:
        info["header"] = {k: m.get(k) for k in ("kind", "stage", "created", "duration_s", "llmkit_version")}
        info["config"] = m.get("config", {})
        info["counts"] = m.get("counts", {})
        info["stats"] = m.get("stats", {})
        info["lineage"] = artifacts.lineage(art.path)
    if art.kind == "checkpoint":
        info["checkpoint"] = describe_checkpoint(art.path)
    if art.kind == "tokenizer" or (art.path / "tokenizer.json").is_file():
        info["tokenizer"] = describe_tokenizer(art.path / "tokenizer.json")
    # tables in sub-folders (tokens' train/ and val/, eval's examples/), besides rejected/
    folders = (
        [
            d
            for d in sorted(art.path.iterdir())
            if d.is_dir() and d.name != "rejected" and parquet.parquet_files(d)
        ]
        if art.path.is_dir()
        else []
    )
    if folders:
        info["tables"] = {
            d.name: {
                "rows": parquet.count_rows(parquet.parquet_files(d)),
                "parts": len(parquet.parquet_files(d)),
            }
            for d in folders
        }
    # a checkpoint's metrics.parquet is summarised in its own panel, not shown as the artifact's table
    root_parts = [] if art.kind == "checkpoint" else art.parts
    main_parts = root_parts or (parquet.parquet_files(folders[0]) if folders else [])
    if main_parts:
        info["table"] = describe_table(main_parts, rows)
        info["table"]["folder"] = "" if root_parts else folders[0].name
    if art.rejected_parts():
        info["rejected"] = describe_rejected(art.rejected_parts())
    return info


def describe_table(parts: list[Path], rows: int) -> dict:
    schema = parquet.read_schema(parts)
    head = []
    if rows:
        for batch in parquet.iter_batches(parts, batch_size=max(rows, 1)):
            head.extend(batch.to_pylist()[: rows - len(head)])
            if len(head) >= rows:
                break
    return {
        "rows": parquet.count_rows(parts),
        "parts": len(parts),
        "bytes": sum(p.stat().st_size for p in parts),
        "schema": [{"name": f.name, "type": str(f.type)} for f in schema] if schema else [],
        "head": head,
    }


def describe_rejected(parts: list[Path]) -> dict:
    """Rejected row count and counts per reason (the reason's name, without its measured value)."""
    reasons: Counter = Counter()
    schema = parquet.read_schema(parts)
    if schema is not None and "reason" in schema.names:
        for batch in parquet.iter_batches(parts, columns=["reason"]):
            reasons.update(str(r).split(" ")[0] for r in batch.column(0).to_pylist())
    return {"rows": parquet.count_rows(parts), "reasons": dict(reasons.most_common())}


def describe_checkpoint(path: Path) -> dict:
    """Model config, parameter count (from the safetensors header, no weights loaded) and last metrics."""
    out: dict = {}
    if (path / "config.json").is_file():
        out["model_config"] = json.loads((path / "config.json").read_text())
    weights = path / "model.safetensors"
    if weights.is_file():
        from safetensors import safe_open

        try:
            with safe_open(str(weights), framework="numpy") as f:
                shapes = {k: f.get_slice(k).get_shape() for k in f.keys()}  # noqa: SIM118 (safe_open is not a dict)
        except Exception as e:  # safetensors raises its own error types for corrupt headers
            raise UserError(f"{weights} is not a valid safetensors file: {e}") from e
        n = 0
        for shape in shapes.values():
            size = 1
            for d in shape:
                size *= d
            n += size
        out["parameters"] = n
        out["tensors"] = len(shapes)
        if out.get("model_config", {}).get("n_experts"):  # mixture of experts: what one token uses
            from llmkit.model import ModelConfig, num_params

            out["active_parameters"] = num_params(ModelConfig.from_dict(out["model_config"]), active=True)
    metrics = path / "metrics.parquet"
    if metrics.is_file():
        table = parquet.open_parquet(metrics).read()
        out["metrics_rows"] = table.num_rows
        if table.num_rows:
            out["last_metrics"] = table.slice(table.num_rows - 1).to_pylist()[0]
            if "loss" in table.column_names:
                out["loss_curve"] = [v for v in table.column("loss").to_pylist() if v is not None]
    return out


def describe_tokenizer(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise UserError(f"{path} is corrupt: {e}") from e
    model = data.get("model", {})
    added = data.get("added_tokens", [])
    return {
        "type": model.get("type"),
        "vocab_size": len(model.get("vocab", {}))
        + sum(1 for t in added if t["content"] not in model.get("vocab", {})),
        "merges": len(model.get("merges", [])),
        "special_tokens": {t["content"]: t["id"] for t in added if t.get("special")},
    }


# --------------------------------------------------------------------------------------- rendering


def render_inspect(path: str | Path, rows: int, console: Console) -> None:
    info = describe(path, rows)
    if "header" in info:
        h = info["header"]
        grid = Table.grid(padding=(0, 2))
        for key in ("kind", "stage", "created", "duration_s", "llmkit_version"):
            grid.add_row(f"[bold]{key}[/]", str(h.get(key)))
        for key, value in info.get("counts", {}).items():
            grid.add_row(f"[bold]{key}[/]", f"{value:,}" if isinstance(value, int) else str(value))
        console.print(Panel(grid, title=f"[bold]{escape(info['path'])}[/]", expand=False))
        if info["lineage"]["inputs"]:
            console.print(lineage_tree(info["lineage"]))
        if info["config"]:
            console.print(config_table(info["config"]))
        stats = dict(info.get("stats", {}))
        if "funnel" in stats:
            console.print(funnel_table(stats.pop("funnel")))
        if stats:
            console.print(kv_table("stats", stats))
    else:
        console.print(
            Panel(
                "plain Parquet (no llmkit manifest)", title=f"[bold]{escape(info['path'])}[/]", expand=False
            )
        )
    if "checkpoint" in info:
        console.print(checkpoint_panel(info["checkpoint"]))
    if info.get("tokenizer"):
        console.print(kv_table("tokenizer", info["tokenizer"]))
    if "tables" in info:
        table = Table(title="tables in sub-folders", title_justify="left")
        for col in ("folder", "rows", "parts"):
            table.add_column(col, justify="left" if col == "folder" else "right")
        for name, t in info["tables"].items():
            table.add_row(f"{escape(name)}/", f"{t['rows']:,}", str(t["parts"]))
        console.print(table)
    if "table" in info:
        t = info["table"]
        console.print(schema_table(t))
        if t["head"]:
            console.print(rows_table(t["head"], t["rows"]))
    if "rejected" in info:
        r = info["rejected"]
        title = f"rejected/ ({r['rows']:,} rows)"
        table = Table(title=title, title_justify="left", min_width=len(title))  # a title never wraps
        table.add_column("reason")
        table.add_column("rows", justify="right")
        for reason, n in r["reasons"].items():
            table.add_row(escape(reason), f"{n:,}")
        console.print(table)


def lineage_tree(node: dict) -> Tree:
    """The inputs behind an artifact as a tree; an artifact met again (a shared input, e.g. the
    tokens under both a checkpoint and its eval) is shown once and marked "(see above)" after that."""
    expanded: set[str] = set()

    def label(n: dict) -> str:
        kind = n.get("kind") or "?"
        extra = f" [dim]({n['stage']}, {n.get('created')})[/]" if n.get("stage") else ""
        missing = " [red](missing)[/]" if n.get("missing") else ""
        return f"[cyan]{kind}[/] {escape(str(n['path']))}{extra}{missing}"

    def add(tree: Tree, n: dict) -> None:
        for child in n.get("inputs", []):
            key = str(Path(child["path"]).resolve())
            if child.get("inputs") and key in expanded:
                tree.add(label(child) + " [dim](see above)[/]")
                continue
            expanded.add(key)
            add(tree.add(label(child)), child)

    tree = Tree(f"[bold]lineage[/] {label(node)}")
    expanded.add(str(Path(node["path"]).resolve()))
    add(tree, node)
    return tree


def config_table(config: dict) -> Table:
    """The full resolved config, nested settings as indented key/value rows (nothing cut)."""
    table = Table(title="config", title_justify="left", show_header=False)
    table.add_column("key", style="bold", no_wrap=True)
    table.add_column("value", overflow="fold")

    def add(data: dict, depth: int) -> None:
        for key, value in data.items():
            name = "  " * depth + escape(str(key))
            if isinstance(value, dict) and value:
                table.add_row(name, "")
                add(value, depth + 1)
            else:
                table.add_row(name, truncate(value, limit=None))

    add(config, 0)
    return table


def kv_table(title: str, data: dict) -> Table:
    table = Table(title=title, title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    for key, value in data.items():
        table.add_row(str(key), truncate(value))
    return table


def funnel_table(funnel: list[dict]) -> Table:
    """Documents in → out per step, with each removal reason and its count."""
    table = Table(title="funnel", title_justify="left")
    for col, justify in (
        ("step", "left"),
        ("in", "right"),
        ("out", "right"),
        ("kept", "right"),
        ("removed by reason", "left"),
    ):
        table.add_column(col, justify=justify)
    for step in funnel:
        n_in, n_out = step.get("in", 0), step.get("out", 0)
        kept = f"{100 * n_out / n_in:.1f}%" if n_in else "-"
        reasons = ", ".join(
            f"{r} {c:,}" for r, c in sorted(step.get("removed", {}).items(), key=lambda x: -x[1])
        )
        table.add_row(escape(str(step.get("step"))), f"{n_in:,}", f"{n_out:,}", kept, escape(reasons) or "-")
    return table


def checkpoint_panel(ck: dict) -> Table:
    table = Table(title="checkpoint", title_justify="left", show_header=False)
    table.add_column("key", style="bold")
    table.add_column("value")
    if "parameters" in ck:
        table.add_row("parameters", f"{ck['parameters']:,} ({ck['tensors']} tensors)")
    if "active_parameters" in ck:
        table.add_row("active parameters", f"{ck['active_parameters']:,} per token")
    for key, value in ck.get("model_config", {}).items():
        table.add_row(f"model.{key}", truncate(value))
    for key, value in ck.get("last_metrics", {}).items():
        if key == "expert_load" and value:  # (layers, experts) fractions: show each layer's balance
            value = "max/mean per layer " + ", ".join(f"{max(row) * len(row):.2f}" for row in value)
        table.add_row(f"last.{key}", f"{value:.4g}" if isinstance(value, float) else truncate(value))
    if ck.get("loss_curve"):
        table.add_row("loss", sparkline(ck["loss_curve"]))
    return table


def schema_table(t: dict) -> Table:
    where = f" of {t['folder']}/" if t.get("folder") else ""
    title = f"schema{where} ({t['rows']:,} rows in {t['parts']} part(s), {t['bytes'] / 1e6:.2f} MB)"
    table = Table(title=title, title_justify="left", min_width=len(title))
    table.add_column("column", style="bold")
    table.add_column("type")
    for f in t["schema"]:
        table.add_row(f["name"], f["type"])
    return table


def rows_table(head: list[dict], total: int) -> Table:
    """The first rows: one column per field, or, for wide tables (docs carry ~18 columns, which
    would squeeze every cell to a few characters), one block of column/value lines per row."""
    title = f"first {len(head)} of {total:,} rows"
    columns = list(head[0].keys())
    if len(columns) > MAX_TABLE_COLUMNS:
        table = Table(title=title, title_justify="left")
        table.add_column("row", justify="right", style="dim")
        table.add_column("column", style="bold", no_wrap=True)
        table.add_column("value", overflow="fold")
        for i, row in enumerate(head):
            for j, col in enumerate(columns):
                table.add_row(
                    str(i) if j == 0 else "", col, truncate(row.get(col)), end_section=j == len(columns) - 1
                )
        return table
    table = Table(title=title, title_justify="left", show_lines=True)
    for col in columns:
        table.add_column(col, overflow="fold")
    for row in head:
        table.add_row(*(truncate(row.get(c)) for c in columns))
    return table


def truncate(value, limit: int | None = MAX_CELL) -> str:
    """A cell's text: long strings cut with the count of what was cut, long lists shortened
    (`limit=None`: nothing cut)."""
    if isinstance(value, bytes):
        value = f"<{len(value):,} bytes>"
    elif isinstance(value, list) and len(value) > 12 and limit is not None:
        value = f"[{', '.join(map(str, value[:12]))}, … {len(value) - 12:,} more]"
    elif isinstance(value, dict | list):
        value = json.dumps(value, ensure_ascii=False, default=str)
    s = str(value).replace("\n", "⏎ ")
    if limit is not None and len(s) > limit:
        s = s[:limit] + f"… (+{len(s) - limit:,} chars)"
    return escape(s)  # page text often holds [brackets] that rich would read as markup


def sparkline(values: list[float], width: int = 40) -> str:
    """A terminal sparkline of a curve, downsampled to `width` points, with its first and last value."""
    if not values:
        return ""
    step = max(1, len(values) // width)
    pts = [sum(values[i : i + step]) / len(values[i : i + step]) for i in range(0, len(values), step)]
    lo, hi = min(pts), max(pts)
    span = (hi - lo) or 1.0
    line = "".join(SPARK[int((v - lo) / span * (len(SPARK) - 1))] for v in pts)
    return f"{values[0]:.3f} {line} {values[-1]:.3f}"
