"""Shard plumbing shared by the docs stages (extract, filter, dedup, scrub).

A docs stage reads one or more artifacts, runs one task per input Parquet part, and each task
streams its part through a per-row function, writing kept rows to `part-NNNNN.parquet` and removed
rows (with a `reason`) to `rejected/part-NNNNN.parquet`, both named by the shard index so the
output does not depend on which worker finished first:

    def filter_shard(task):                        # module-level, so a process pool can pickle it
        chain = build_chain(task["config"])
        return split_part(task, chain.apply, added_columns=SIGNAL_COLUMNS)

    stats = run_docs_stage(inputs, out, stage="filter", shard_fn=filter_shard, config=cfg, ...)

The per-row function takes a row dict and returns `(row, reason)`: `reason` is None to keep the
row, or a string "name:signal value" (e.g. "language:de 0.97") to reject it. Counts per reason
come back to the stage, which turns them into the manifest's `funnel`.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pyarrow as pa

from llmkit.artifacts import ArtifactWriter, open_artifact
from llmkit.data.executor import merge_counts, run_shards
from llmkit.data.loud_funnel import DEFAULT_MAX_REJECT_FRACTION, check_fraction, lost_sources, report_lost
from llmkit.errors import UserError
from llmkit.parquet import ROWS_PER_GROUP, ParquetPartWriter, iter_batches, open_parquet

RowFn = Callable[[dict], tuple[dict, str | None]]


def reason_key(reason: str) -> str:
    """The countable part of a reason: 'language:de 0.97' -> 'language:de'."""
    return reason.split(" ", 1)[0]


def output_schema(
    input_schema: pa.Schema, added_columns: dict[str, pa.DataType] | None = None, drop: Sequence[str] = ()
) -> pa.Schema:
    """The input's columns (minus `drop`) followed by `added_columns` (replacing same-named ones)."""
    added = added_columns or {}
    fields = [f for f in input_schema if f.name not in drop and f.name not in added]
    return pa.schema(fields + [pa.field(name, typ) for name, typ in added.items()])


def split_part(
    task: dict,
    row_fn: RowFn,
    added_columns: dict[str, pa.DataType] | None = None,
    drop: Sequence[str] = (),
    batch_size: int = ROWS_PER_GROUP,
) -> dict:
    """Stream one input part through `row_fn`; write kept rows and rejected rows (with `reason`).

    `task` holds `input` (a Parquet file), `out` and `rejected` (the part paths to write). Rows are
    read `batch_size` at a time (smaller for big rows such as HTML pages, to bound memory).
    Returns `{"counts": {"in": n, "out": n, "removed": {reason_key: n}, "sources": {source: {"in",
    "out", "removed"}}}, "seconds": s}`: a row's source is its `source` column (the WARC it was
    crawled from), else the input part, so the loud funnel can name a source that lost everything.
    """
    start = time.perf_counter()
    schema = output_schema(open_parquet(Path(task["input"])).schema_arrow, added_columns, drop)
    rejected_schema = schema.append(pa.field("reason", pa.string()))
    removed: Counter = Counter()
    sources: dict[str, dict] = {}
    n_in = n_out = 0
    with (
        ParquetPartWriter(task["out"], schema=schema) as kept_part,
        ParquetPartWriter(task["rejected"], schema=rejected_schema) as rejected_part,
    ):
        for batch in iter_batches([Path(task["input"])], batch_size=batch_size):
            kept, rejected = [], []
            for row in batch.to_pylist():
                row, reason = row_fn(row)
                tally = sources.setdefault(
                    row.get("source") or task["input"], {"in": 0, "out": 0, "removed": {}}
                )
                tally["in"] += 1
                if reason is None:
                    kept.append(row)
                    tally["out"] += 1
                else:
                    row["reason"] = reason
                    rejected.append(row)
                    removed[reason_key(reason)] += 1
                    tally["removed"][reason_key(reason)] = tally["removed"].get(reason_key(reason), 0) + 1
            n_in += batch.num_rows
            n_out += len(kept)
            kept_part.write(kept)
            rejected_part.write(rejected)
    return {
        "counts": {"in": n_in, "out": n_out, "removed": dict(removed), "sources": sources},
        "seconds": time.perf_counter() - start,
    }


def input_parts(
    inputs: Sequence[str | Path], kinds: Sequence[str], required_columns: Sequence[str] = ()
) -> list[Path]:
    """The Parquet parts of every input artifact, in order.

    A missing input, one of another kind, or one lacking `required_columns` is a UserError.
    """
    if not inputs:
        raise UserError("give at least one input artifact")
    parts = []
    for path in inputs:
        art = open_artifact(path, kinds=kinds)
        if not art.parts:
            raise UserError(f"{path} has no Parquet parts to read")
        names = art.schema().names
        missing = [c for c in required_columns if c not in names]
        if missing:
            raise UserError(f"{path} has no column {', '.join(missing)} (it has {', '.join(names)})")
        parts.extend(art.parts)
    return parts


def funnel(steps: Sequence[str], n_in: int, removed: dict[str, int]) -> list[dict]:
    """The manifest funnel for a chain of steps that stops at a row's first removal.

    `removed` maps reason keys ("gopher_quality:mean_word_length") to counts; each is assigned to
    the step named before its colon.
    """
    rows = []
    for step in steps:
        mine = {k: v for k, v in removed.items() if k.split(":", 1)[0] == step}
        n_out = n_in - sum(mine.values())
        rows.append({"step": step, "in": n_in, "out": n_out, "removed": dict(sorted(mine.items()))})
        n_in = n_out
    return rows


def run_docs_stage(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    stage: str,
    shard_fn: Callable[[dict], dict],
    config: dict,
    steps: Sequence[str],
    input_kinds: Sequence[str] = ("docs",),
    required_columns: Sequence[str] = ("id", "url", "text"),
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    force: bool = False,
    extra_stats: Callable[[list[dict]], dict] | None = None,
    require_output: bool = False,
    max_reject_fraction: float = DEFAULT_MAX_REJECT_FRACTION,
    allow_empty: bool = False,
) -> dict:
    """Run `shard_fn` on every input part and commit a `docs` artifact; returns the manifest stats.

    Each task is `{"index", "input", "out", "rejected", "config"}`. Stats hold `funnel` (one entry
    per name in `steps`), `removed` (counts per reason), `docs_in`, `docs_out`, `docs_per_s`, plus
    whatever `extra_stats(results)` adds. With `require_output`, a run that keeps no document is a
    UserError naming the reasons, and writes nothing (an empty artifact would only fail later).
    A source (see `split_part`) that keeps nothing, or loses more than `max_reject_fraction` of its
    documents, is warned about once the artifact is written; then SourcesLost (exit 3) unless
    `allow_empty`.
    """
    check_fraction(max_reject_fraction)
    config = {**config, "max_reject_fraction": max_reject_fraction}
    parts = input_parts(inputs, input_kinds, required_columns)
    with ArtifactWriter(out_dir, kind="docs", stage=stage, config=config, inputs=inputs, force=force) as w:
        tasks = [
            {
                "index": i,
                "input": str(part),
                "out": str(w.part_path(i)),
                "rejected": str(w.part_path(i, "rejected")),
                "config": config,
            }
            for i, part in enumerate(parts)
        ]
        start = time.perf_counter()
        results = run_shards(
            shard_fn, tasks, workers=workers, executor=executor, ray_address=ray_address, desc=stage
        )
        seconds = time.perf_counter() - start
        counts = merge_counts(results)
        n_in, n_out = counts.get("in", 0), counts.get("out", 0)
        removed = dict(sorted(counts.get("removed", {}).items(), key=lambda kv: (-kv[1], kv[0])))
        if require_output and n_out == 0:
            reasons = ", ".join(f"{reason} {n:,}" for reason, n in list(removed.items())[:3])
            raise UserError(
                f"{stage} kept no document of {n_in:,}"
                + (f" (removed: {reasons}{', ...' if len(removed) > 3 else ''})" if reasons else "")
                + f"; nothing written to {out_dir}"
            )
        lost = lost_sources(counts.get("sources", {}), max_reject_fraction)
        stats = {
            "funnel": funnel(steps, n_in, removed),
            "removed": removed,
            "docs_in": n_in,
            "docs_out": n_out,
            "seconds": round(seconds, 3),
            "docs_per_s": round(n_in / seconds, 1) if seconds > 0 else None,
            **(extra_stats(results) if extra_stats else {}),
            "lost_sources": lost,
        }
        w.commit(counts={"rows": n_out, "rejected": n_in - n_out, "parts": len(parts)}, stats=stats)
    report_lost(lost, stage, out_dir, "documents", allow_empty)
    return stats
