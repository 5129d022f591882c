"""Run a data stage's shard tasks: in a local process pool (default) or as Ray tasks.

A stage splits its input into shards (one input file or Parquet part each), and calls

    results = run_shards(process_shard, tasks, workers=4, executor="local", desc="filter")

where `process_shard(task) -> dict` is a module-level function that reads its shard, writes its
own output part(s) named by the shard index (so output is deterministic whatever the order of
completion), and returns picklable per-shard statistics. Results come back in task order, and
`merge_counts` sums their counters. Both executors run exactly the same function on exactly the
same tasks, so they produce the same artifact.

With `executor="ray"` each task is a Ray task (one CPU) on the cluster at `ray_address` (or
$RAY_ADDRESS), else on a local Ray instance of `workers` CPUs started on first use. Tasks read
their shard and write their parts themselves, so on several machines every node must see the
input and output paths (a shared filesystem).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import socket
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


def progress_bar(transient: bool = False, show: bool = True) -> Progress:
    """The progress bar every long data step uses: count, rate-bearing bar, elapsed and ETA.

    `show=False` gives the same object, drawing nothing (for tests and library use)."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[unit]}"),
        TimeElapsedColumn(),
        TextColumn("eta"),
        TimeRemainingColumn(),
        transient=transient,
        disable=not show,
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

    `workers=None` means all cores; `workers=1` runs in this process (no pool), which is also what
    tests and debuggers want.
    """
    if executor not in EXECUTORS:
        raise UserError(f"--executor must be one of {', '.join(EXECUTORS)} (got {executor!r})")
    workers = default_workers() if workers is None else workers  # 0 is an error, never "all cores"
    if workers < 1:
        raise UserError(f"--workers must be at least 1 (got {workers})")
    if not tasks:
        return []
    ray = _connect_ray(workers, ray_address) if executor == "ray" else None
    with progress_bar(show=show_progress) as progress:
        bar = progress.add_task(desc, total=len(tasks), unit="shards")
        advance = lambda: progress.advance(bar)  # noqa: E731
        if ray is not None:
            return _run_ray(ray, fn, tasks, advance)
        if workers == 1 or len(tasks) == 1:
            results = []
            for task in tasks:
                results.append(fn(task))
                advance()
            return results
        return _run_pool(fn, tasks, workers, advance)


def _run_pool(fn, tasks, workers, advance) -> list[dict]:
    # forkserver: workers start from a clean interpreter (no inherited threads or torch state)
    # but start fast. The server imports the stage's module once (a no-op once it runs), so every
    # worker, and every later pool of the same stage, is forked with it already imported.
    ctx = mp.get_context("forkserver")
    ctx.set_forkserver_preload(["__main__", fn.__module__])
    results: list = [None] * len(tasks)
    with ProcessPoolExecutor(max_workers=min(workers, len(tasks)), mp_context=ctx) as pool:
        pending = {pool.submit(fn, task): i for i, task in enumerate(tasks)}
        while pending:
            done, _ = wait(pending, return_when=FIRST_COMPLETED)
            for future in done:
                results[pending.pop(future)] = future.result()
                advance()
    return results


def _connect_ray(workers: int, ray_address: str | None):
    """The `ray` module, connected to a cluster (`ray_address`, else $RAY_ADDRESS) or to a new local
    instance of `workers` CPUs. The connection is kept for the rest of the process, so a stage's
    several passes (dedup has two) pay Ray's start-up once; Ray shuts it down at exit."""
    try:
        import ray
    except ImportError as e:
        raise UserError("--executor ray needs Ray: pip install 'llmkit[ray]'") from e
    if ray.is_initialized():
        return ray
    address = ray_address or os.environ.get("RAY_ADDRESS")
    if address:
        _check_reachable(address)
    quiet = dict(log_to_driver=False, logging_level=logging.ERROR)  # errors still raise; no chatter
    try:
        if address:
            ray.init(address=address, **quiet)
        else:
            ray.init(num_cpus=workers, include_dashboard=False, **quiet)
    except (ConnectionError, ValueError) as e:
        raise UserError(f"cannot start or reach Ray at {address or 'a local instance'}: {e}") from e
    return ray


def _run_ray(ray, fn, tasks, advance) -> list[dict]:
    from ray.exceptions import RayTaskError

    remote = ray.remote(num_cpus=1)(fn)
    refs = [remote.remote(task) for task in tasks]
    index = {ref: i for i, ref in enumerate(refs)}
    results: list = [None] * len(tasks)
    pending = list(refs)
    while pending:
        done, pending = ray.wait(pending, num_returns=1)
        try:
            results[index[done[0]]] = ray.get(done[0])
        except RayTaskError as e:  # a user error inside a task stays one line, as with the local pool
            if isinstance(e.cause, UserError):
                raise UserError(str(e.cause)) from None
            raise
        advance()
    return results


def _check_reachable(address: str) -> None:
    """Fail in one line on a HOST:PORT nobody listens on (Ray itself retries for minutes)."""
    host, _, port = address.rpartition(":")
    if "://" in address or not host or not port.isdigit():  # "auto", "ray://...": Ray resolves them
        return
    try:
        socket.create_connection((host, int(port)), timeout=5).close()
    except OSError as e:
        raise UserError(f"cannot reach a Ray cluster at {address}: {e.strerror or e}") from e


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
