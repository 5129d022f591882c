"""`llmkit decontaminate`: remove training documents that contain evaluation questions.

A document is contaminated when it shares one word n-gram (13-grams by default, as GPT-3 and
lm-evaluation-harness's decontamination) with an evaluation item: its question together with its
right answer (`llmkit.task_layouts.item_texts`). Both sides are normalised as `llmkit dedup`
normalises (`minhash.normalize_text`: lowercase, no accents or punctuation, numbers as `0`), so a
copy that only differs in case, punctuation or spacing is still found. Items shorter than n words
cannot be checked this way and are counted (`items_too_short`).

The index is one sorted array of the items' 64-bit n-gram hashes (`minhash.shingle_spans`), with the
task and the byte span of each n-gram in one buffer of normalised item text: about 20 bytes per
indexed n-gram plus its text. A document's n-grams are hashed in bulk and looked up with one
`searchsorted`; a hash hit is confirmed by comparing the bytes, so a hash collision never removes a
document. Removed documents go to `rejected/` with `reason` = `decontaminate:<task> <the n-gram>`.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from llmkit.data import minhash
from llmkit.data.shards import run_docs_stage, split_part
from llmkit.errors import UserError
from llmkit.parquet import iter_batches
from llmkit.task_layouts import KNOWN, detect_layout, import_rows, item_texts, read_rows

NGRAM = 13
TASK_SUFFIXES = (".jsonl", ".json", ".parquet")


def task_files(paths: list[str | Path]) -> list[Path]:
    """The task files named, a folder standing for the task files in it (each file one task)."""
    files = []
    for path in map(Path, paths):
        if not path.exists():
            raise UserError(f"task {path} does not exist")
        if path.is_dir():
            found = sorted(p for p in path.iterdir() if p.suffix in TASK_SUFFIXES)
            if not found:
                raise UserError(f"{path} holds no task files (.jsonl, .json, .parquet)")
            files += found
        else:
            files.append(path)
    if not files:
        raise UserError("give at least one evaluation task with --against")
    return files


def task_items(path: Path) -> list[dict]:
    """The items of a task file: a published layout, or llmkit's own multiple-choice or prompt/answer rows."""
    rows = read_rows(path)
    if not rows:
        raise UserError(f"task file {path} has no rows")
    layout = detect_layout(rows[0], path)
    if layout is not None:
        return import_rows(layout, rows, path)
    if {"context", "choices", "label"} <= set(rows[0]):
        return [
            {"kind": "choice", "context": r["context"], "choices": r["choices"], "label": r["label"]}
            for r in rows
        ]
    if "answer" in rows[0] and "prompt" in rows[0]:
        return [
            {"kind": "exact_match", "answer": r["answer"],
             "prompt": r["prompt"] if isinstance(r["prompt"], str) else " ".join(m["content"] for m in r["prompt"])}
            for r in rows
        ]  # fmt: skip
    raise UserError(
        f"cannot tell the task type of {path} from its keys {sorted(rows[0])}: expected context/choices/label, "
        f"prompt/answer, or a published layout ({KNOWN})"
    )


@dataclass
class NgramIndex:
    """The n-grams of every evaluation item, sorted by hash (see the module docstring)."""

    n: int
    tasks: list[str]
    hashes: np.ndarray  # uint64, sorted, unique
    task_ids: np.ndarray  # int32: which task the n-gram came from (the first that has it)
    starts: np.ndarray  # int64 byte spans in `text`
    ends: np.ndarray
    text: bytes  # the normalised item texts, joined by spaces
    counts: dict  # per task: items, items_too_short, ngrams

    @property
    def nbytes(self) -> int:
        return (
            self.hashes.nbytes + self.task_ids.nbytes + self.starts.nbytes + self.ends.nbytes + len(self.text)
        )

    def ngram(self, i: int) -> str:
        return self.text[self.starts[i] : self.ends[i]].decode("utf-8", errors="replace")


def build_index(files: list[Path], n: int = NGRAM) -> NgramIndex:
    """Index the n-grams of every item of `files` (a task is named by its file's stem)."""
    texts, text_task, counts, tasks = [], [], {}, []
    for path in files:
        name = path.stem if path.stem not in tasks else str(path)
        tasks.append(name)
        normalized = [minhash.normalize_text(t) for item in task_items(path) for t in item_texts(item)]
        long_enough = [t for t in normalized if t.count(b" ") + 1 >= n]
        counts[name] = {"items": len(normalized), "items_too_short": len(normalized) - len(long_enough)}
        texts += long_enough
        text_task += [len(tasks) - 1] * len(long_enough)
    if not texts:
        raise UserError(f"no evaluation item has {n} words or more: nothing to check documents against")
    hashes, starts, ends, per_text = minhash.shingle_spans(texts, n)
    task_ids = np.repeat(np.array(text_task, dtype=np.int32), per_text)
    hashes, first = np.unique(hashes, return_index=True)  # sorted; a shared n-gram keeps its first task
    index = NgramIndex(
        n, tasks, hashes, task_ids[first], starts[first], ends[first], b" ".join(texts), counts
    )
    per_task = np.bincount(index.task_ids, minlength=len(tasks))
    for name, k in zip(tasks, per_task.tolist(), strict=True):
        counts[name]["ngrams"] = k
    return index


@functools.lru_cache(maxsize=2)
def _cached_index(files: tuple[str, ...], n: int) -> NgramIndex:
    # each worker process builds the index once (a fraction of a second for 10k questions)
    return build_index([Path(f) for f in files], n)


def contaminated(index: NgramIndex, texts: list[str]) -> list[tuple[int, int] | None]:
    """For each text: (task id, index n-gram) of its first n-gram found in the index, else None."""
    docs = [minhash.normalize_text(t or "") for t in texts]
    hashes, starts, ends, counts = minhash.shingle_spans(docs, index.n)
    pos = np.minimum(np.searchsorted(index.hashes, hashes), len(index.hashes) - 1)
    hits = np.flatnonzero(index.hashes[pos] == hashes)
    out: list[tuple[int, int] | None] = [None] * len(docs)
    if not len(hits):
        return out
    owner = np.repeat(np.arange(len(docs)), counts)
    joined = b" ".join(docs)
    for h in hits.tolist():
        d = owner[h]
        if (
            out[d] is not None or docs[d].count(b" ") + 1 < index.n
        ):  # found already, or a short doc's one shingle
            continue
        i = pos[h]
        if joined[starts[h] : ends[h]] == index.text[index.starts[i] : index.ends[i]]:  # not a hash collision
            out[d] = (int(index.task_ids[i]), int(i))
    return out


def decontaminate_shard(task: dict) -> dict:
    """Move the documents of one part that share an n-gram with an evaluation item to rejected/."""
    cfg = task["config"]
    index = _cached_index(tuple(cfg["against"]), cfg["ngram"])
    found = []
    for batch in iter_batches([Path(task["input"])], columns=["text"]):
        found += contaminated(index, batch.column("text").to_pylist())
    rows = iter(found)

    def check(row: dict) -> tuple[dict, str | None]:
        hit = next(rows)
        return row, None if hit is None else f"decontaminate:{index.tasks[hit[0]]} {index.ngram(hit[1])}"

    return split_part(task, check)


def run_decontaminate(
    inputs: list[str | Path],
    out_dir: str | Path,
    against: list[str | Path],
    config: dict | None = None,
    *,
    ngram: int = NGRAM,
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    force: bool = False,
    max_reject_fraction: float = 1.0,
    allow_empty: bool = False,
) -> dict:
    """Remove documents of `docs` artifacts that contain an n-gram of an evaluation task in `against`.

    Writes a `docs` artifact; returns the manifest stats, which add `contamination`: per task, the
    documents removed for it, its items, the items too short to check and its indexed n-grams.
    """
    if ngram < 1:
        raise UserError(f"--ngram must be 1 or more (got {ngram})")
    files = task_files(list(against))
    index = _cached_index(tuple(str(f.resolve()) for f in files), ngram)  # every task file checked up front
    config = {**(config or {}), "against": [str(f.resolve()) for f in files], "ngram": ngram}

    def contamination(results: list[dict]) -> dict:
        removed: Counter = Counter()
        for r in results:
            removed.update(r["counts"].get("removed", {}))
        return {
            "contamination": {
                name: {"docs": removed.get(f"decontaminate:{name}", 0), **index.counts[name]}
                for name in index.tasks
            },
            "index_bytes_per_ngram": round(index.nbytes / max(1, len(index.hashes)), 1),
        }

    return run_docs_stage(
        inputs,
        out_dir,
        stage="decontaminate",
        shard_fn=decontaminate_shard,
        config=config,
        steps=["decontaminate"],
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        force=force,
        extra_stats=contamination,
        max_reject_fraction=max_reject_fraction,  # the loud funnel (llmkit/data/loud_funnel.py)
        allow_empty=allow_empty,
    )
