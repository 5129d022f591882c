"""Run a data stage's shard tasks: in a local process pool (default) or as Ray tasks.

A stage splits its input into shards (one input file or Parquet part each), and calls

    results = run_shards(process_shard, tasks, workers=4, executor="local", desc="filter")

where `process_shard(task) -> dict` is a module-level function that reads its shard, writes its
own output part(s) named by the shard index (so output is deterministic whatever the order of
completion), and returns picklable per-shard statistics. Results come back in task order, and
`merge_counts` sums their counters. Both executors run exactly the same function on exactly the
same tasks, so they produce the same artifact.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from llmkit.errors import UserError

EXECUTORS = ("local", "ray")


def default_workers() -> int:
    """All cores this process may use."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def progress_bar(transient: bool = False) -> Progress:
    """The progress bar every long data step uses: count, rate-bearing bar, elapsed and ETA."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        transient=transient,
    )


def run_shards(
    fn: Callable[[dict], dict],
    tasks: Sequence[dict],
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    desc: str = "shards",
    show_progress: bool = True,
) -> list[dict]:
    """Run `fn` on every task; returns the results in task order.

    `workers=1` runs in this process (no pool), which is also what tests and debuggers want.
    """
    if executor not in EXECUTORS:
        raise UserError(f"--executor must be one of {', '.join(EXECUTORS)} (got {executor!r})")
    workers = workers or default_workers()
    if workers < 1:
        raise UserError(f"--workers must be at least 1 (got {workers})")
    if not tasks:
        return []
    with progress_bar() if show_progress else _NoProgress() as progress:
        bar = progress.add_task(desc, total=len(tasks), unit="shards")
        advance = lambda: progress.advance(bar)  # noqa: E731
        if executor == "ray":
            return _run_ray(fn, tasks, workers, ray_address, advance)
        if workers == 1 or len(tasks) == 1:
            results = []
            for task in tasks:
                results.append(fn(task))
                advance()
            return results
        return _run_pool(fn, tasks, workers, advance)


def _run_pool(fn, tasks, workers, advance) -> list[dict]:
    # forkserver: workers start from a clean interpreter (no inherited threads or torch state)
    # but start fast, and each imports only the stage module it needs.
    ctx = mp.get_context("forkserver")
    results: list = [None] * len(tasks)
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
        pending = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                results[pending.pop(future)] = future.result()
                advance()
    return results


def _run_ray(fn, tasks, workers, ray_address, advance) -> list[dict]:
    try:
        import ray
    except ImportError as e:
        raise UserError("--executor ray needs Ray: pip install 'llmkit[ray]'") from e
    started_here = not ray.is_initialized()
    if started_here:
        if ray_address:
            ray.init(address=ray_address, log_to_driver=False)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
    try:
        remote = ray.remote(num_cpus=1)(fn)
        refs = [remote.remote(task) for task in tasks]
        index = {ref: i for i, ref in enumerate(refs)}
        results: list = [None] * len(tasks)
        pending = list(refs)
        while pending:
            done, pending = ray.wait(pending, num_returns=1)
            results[index[done[0]]] = ray.get(done[0])
            advance()
        return results
    finally:
        if started_here:
            ray.shutdown()


def merge_counts(results: Sequence[dict], key: str = "counts") -> dict:
    """Sum the counter dicts that shard results carry under `key` (nested dicts are merged too)."""
    total: dict = {}
    for r in results:
        _add_into(total, r.get(key, {}))
    return total


def _add_into(total: dict, part: dict) -> None:
    for k, v in part.items():
        if isinstance(v, dict):
            _add_into(total.setdefault(k, {}), v)
        else:
            total[k] = total.get(k, 0) + v


class _NoProgress:
    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def advance(self, task: int) -> None:
        return None
