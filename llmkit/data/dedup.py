"""`llmkit dedup`: exact and MinHash near-duplicate removal (docs -> docs), FineWeb defaults.

The stage runs in four steps, so that no step holds the texts of more than one shard:

1. signatures (parallel, one task per input part): normalise each text, hash it (exact pass) and
   compute its MinHash signature and LSH band hashes; write them to `_work/signatures/part-N.parquet`
   (id, exact hash, band hashes, signature).
2. clusters (one process, ids and hashes only, never texts): documents with equal exact hashes are
   joined; among the first document of each exact group, documents sharing any band bucket are
   candidate pairs (each bucket member is paired with the bucket's first member); with `verify`,
   candidate pairs whose estimated Jaccard is below the threshold are dropped. Clusters are the
   connected components (union-find) of all these pairs. The document **kept** in a cluster is the
   one that comes first in input order (input, part, row), so the result never depends on timing.
   Per-shard decisions go to `_work/decisions/part-N.parquet`.
3. filter (parallel): each shard's documents go to `part-N.parquet` (kept, with `minhash_cluster`,
   the input position of the cluster's kept document, and `minhash_cluster_size`) or to
   `rejected/part-N.parquet` with `dup_of` (the kept id), `similarity` (estimated Jaccard with the
   kept document) and `reason`: `dedup:exact_dup <id>` when the normalised texts are equal, else
   `dedup:near_dup <id> 0.87` (the first word of a reason is its funnel key).
4. `_work/` is removed and the manifest written (funnel: exact, then near; cluster sizes).
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from llmkit.artifacts import ArtifactWriter, part_name
from llmkit.data import minhash
from llmkit.data.executor import progress_bar, run_shards
from llmkit.data.shards import input_parts
from llmkit.errors import UserError
from llmkit.parquet import ParquetPartWriter, iter_batches, open_parquet

REQUIRED_COLUMNS = ("id", "text")
ADDED_COLUMNS = [pa.field("minhash_cluster", pa.int64()), pa.field("minhash_cluster_size", pa.int32())]
REJECTED_COLUMNS = [
    pa.field("dup_of", pa.string()),
    pa.field("similarity", pa.float32()),
    pa.field("reason", pa.string()),
]
_BATCH = 512  # documents per signature batch
EXACT, NEAR = "dedup:exact_dup", "dedup:near_dup"  # funnel keys, and the first word of each reason
SEED_MAX = 2**32 - 1  # datasketch seeds numpy's RandomState, which takes 0 ... 2**32 - 1


def run_dedup(
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    config: dict | None = None,
    *,
    shingle_size: int = minhash.SHINGLE_SIZE,
    bands: int | None = None,
    rows: int | None = None,
    threshold: float | None = None,
    seed: int = 1,
    verify: bool = False,
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> dict:
    """Remove exact and near-duplicate documents from docs artifacts; returns the manifest stats.

    `inputs`: docs artifacts (or Parquet with `id` and `text` columns); ids must be unique across them.
    `out_dir`: the docs artifact written: kept documents, and the duplicates in `rejected/`.
    LSH: `bands` x `rows` permutations (default 14 x 8); given only `threshold` (a Jaccard similarity
    in (0, 1)), the bands and rows datasketch's MinHashLSH picks for it from 112 permutations.
    `verify` drops candidate pairs whose estimated Jaccard is below `threshold` (by default the LSH
    curve's midpoint (1/bands)^(1/rows), about 0.72 for 14 x 8); `threshold` with `bands`/`rows` has
    no other use, so without `verify` it is an error. `seed`: 0 ... 2**32 - 1. `config` is recorded
    in the manifest. Stats: `funnel` (exact, then near), `lsh` (bands, rows, num_perm, the curve's
    `midpoint` and the `threshold`), `clusters` (counts and sizes), `docs_in`, `docs_out`,
    `seconds` (total), `step_seconds` (signatures, clusters, filter) and `docs_per_s`.
    """
    bands, rows, threshold = _lsh_settings(bands, rows, threshold, verify, shingle_size, seed)
    parts = input_parts(inputs, kinds=["docs"], required_columns=REQUIRED_COLUMNS)
    midpoint = (1 / bands) ** (1 / rows)  # about where the LSH S-curve makes a pair a likely candidate
    threshold = midpoint if threshold is None else threshold
    lsh = {"bands": bands, "rows": rows, "num_perm": bands * rows}
    lsh |= {"midpoint": round(midpoint, 4), "threshold": round(threshold, 4)}
    config = {**(config or {}), "shingle_size": shingle_size, "seed": seed, "verify": verify, **lsh}
    permutations = minhash.permutations(bands * rows, seed)
    started = time.perf_counter()

    with ArtifactWriter(out_dir, kind="docs", stage="dedup", config=config, inputs=inputs, force=force) as w:
        work = w.path / "_work"
        (work / "signatures").mkdir(parents=True)
        (work / "decisions").mkdir(parents=True)
        tasks = [
            {
                "index": i,
                "input": str(part),
                "signatures": str(work / "signatures" / part_name(i)),
                "decisions": str(work / "decisions" / part_name(i)),
                "out": str(w.part_path(i)),
                "rejected": str(w.part_path(i, "rejected")),
                "shingle_size": shingle_size,
                "bands": bands,
                "rows": rows,
                "permutations": permutations.tolist(),
            }
            for i, part in enumerate(parts)
        ]
        run = dict(workers=workers, executor=executor, ray_address=ray_address, show_progress=show_progress)
        shard_rows = [r["rows"] for r in run_shards(signature_shard, tasks, desc="dedup: signatures", **run)]
        signed = time.perf_counter()
        verify_threshold = threshold if verify else None
        clusters = find_clusters(inputs, tasks, shard_rows, verify_threshold, bands, show_progress)
        clustered = time.perf_counter()
        run_shards(filter_shard, tasks, desc="dedup: filter", **run)
        shutil.rmtree(work)

        n = sum(shard_rows)
        exact, near = clusters.pop("exact_removed"), clusters.pop("near_removed")
        kept = n - exact - near
        elapsed = time.perf_counter() - started
        step_seconds = {"signatures": signed - started, "clusters": clustered - signed}
        step_seconds["filter"] = elapsed - step_seconds["signatures"] - step_seconds["clusters"]
        stats = {
            "funnel": [
                {"step": "dedup_exact", "in": n, "out": n - exact, "removed": {EXACT: exact}},
                {"step": "dedup_near", "in": n - exact, "out": kept, "removed": {NEAR: near}},
            ],
            "lsh": lsh,
            "clusters": clusters,
            "docs_in": n,
            "docs_out": kept,
            "seconds": round(elapsed, 3),
            "step_seconds": {k: round(v, 3) for k, v in step_seconds.items()},
            "docs_per_s": round(n / elapsed, 1) if elapsed > 0 else None,
        }
        w.commit(counts={"rows": kept, "rejected": n - kept, "parts": len(parts)}, stats=stats)
    return stats


def _lsh_settings(
    bands: int | None, rows: int | None, threshold: float | None, verify: bool, shingle_size: int, seed: int
) -> tuple[int, int, float | None]:
    """Validated (bands, rows, threshold) from the options."""
    if shingle_size < 1:
        raise UserError(f"--shingle-size must be at least 1 (got {shingle_size})")
    if not 0 <= seed <= SEED_MAX:
        raise UserError(f"--seed must be between 0 and {SEED_MAX} (got {seed})")
    if threshold is not None and not 0 < threshold < 1:
        raise UserError(f"--threshold must be a Jaccard similarity between 0 and 1 (got {threshold})")
    if threshold is not None and bands is None and rows is None:
        bands, rows = minhash.lsh_params(threshold, minhash.BANDS * minhash.ROWS)
    elif threshold is not None and not verify:
        raise UserError(
            "--threshold with --bands/--rows does nothing without --verify (it is only the --verify "
            "cut-off then): add --verify, or drop --bands/--rows to derive them from --threshold"
        )
    bands = minhash.BANDS if bands is None else bands
    rows = minhash.ROWS if rows is None else rows
    for name, value in (("bands", bands), ("rows", rows)):
        if value < 1:
            raise UserError(f"--{name} must be at least 1 (got {value})")
    if bands * rows > 1024:
        raise UserError(f"--bands x --rows must be at most 1024 permutations (got {bands * rows})")
    return bands, rows, threshold


# ------------------------------------------------------------------------------------ 1. signatures


def signature_shard(task: dict) -> dict:
    """Shard task: write the shard's ids, exact hashes, band hashes and signatures; returns its row count."""
    hasher = minhash.MinHasher(task["permutations"], task["shingle_size"])
    schema = pa.schema(
        [
            ("id", pa.string()),
            ("exact", pa.uint64()),
            ("empty", pa.bool_()),
            *[(f"band_{b}", pa.uint64()) for b in range(task["bands"])],
            ("signature", pa.list_(pa.uint32(), hasher.num_perm)),
        ]
    )
    with ParquetPartWriter(task["signatures"], schema) as out:
        for batch in iter_batches([Path(task["input"])], columns=["id", "text"], batch_size=_BATCH):
            ids = batch.column("id")
            if ids.null_count:
                raise UserError(f"{task['input']} has documents with no id")
            texts = [t or "" for t in batch.column("text").to_pylist()]
            normalized = [minhash.normalize_text(t) for t in texts]
            signatures = hasher.signatures(normalized)
            bands = minhash.band_hashes(signatures, task["bands"], task["rows"])
            columns = {
                "id": ids.cast(pa.string()),
                "exact": pa.array([minhash.exact_hash(t) for t in normalized], pa.uint64()),
                "empty": pa.array([not t for t in normalized]),
                **{f"band_{b}": pa.array(bands[:, b]) for b in range(task["bands"])},
                "signature": pa.FixedSizeListArray.from_arrays(signatures.ravel(), hasher.num_perm),
            }
            out.write(pa.RecordBatch.from_pydict(columns, schema=schema))
    return {"rows": out.rows}


# ------------------------------------------------------------------------------------ 2. clusters


def find_clusters(
    inputs: Sequence[str | Path],
    tasks: list[dict],
    shard_rows: list[int],
    verify_threshold: float | None,
    bands: int,
    show_progress: bool = True,
) -> dict:
    """Global step: cluster all documents from their signature files; write per-shard decisions.

    Holds per document its id, exact hash, cluster label and decision (about 170 bytes a document
    in benchmarks/dedup.py), one band column at a time, and the signatures of documents in
    candidate pairs only. Returns cluster stats.
    """
    paths = [t["signatures"] for t in tasks]
    offsets = np.concatenate(([0], np.cumsum(shard_rows, dtype=np.int64)))
    n = int(offsets[-1])
    ids = read_ids(paths)
    _check_unique_ids(ids, inputs)
    exact = _read_column(paths, "exact", pa.uint64()).to_numpy()
    empty = _read_column(paths, "empty", pa.bool_()).to_numpy(zero_copy_only=False)

    # Exact pass: every document is paired with the first document of its exact group.
    exact_first = _first_of_group(exact, np.arange(n))
    pairs = [np.stack([exact_first, np.arange(n)])[:, exact_first != np.arange(n)]]
    # Near pass, on the first document of each exact group: LSH buckets, one band at a time.
    candidates = np.flatnonzero((exact_first == np.arange(n)) & ~empty)
    with progress_bar(transient=True, show=show_progress) as progress:
        bar = progress.add_task("dedup: bands", total=bands, unit="bands")
        near = []
        for b in range(bands):
            bucket = _read_column(paths, f"band_{b}", pa.uint64()).to_numpy()[candidates]
            first = _first_of_group(bucket, candidates)
            near.append(np.stack([first, candidates])[:, first != candidates])
            progress.advance(bar)
    near_pairs = np.unique(np.concatenate(near, axis=1), axis=1) if near else np.zeros((2, 0), np.int64)
    candidate_pairs = near_pairs.shape[1]
    if verify_threshold is not None and candidate_pairs:
        sig = _read_signatures(paths, offsets, near_pairs.ravel())
        similar = minhash.estimated_jaccard(sig[:candidate_pairs], sig[candidate_pairs:]) >= verify_threshold
        near_pairs = near_pairs[:, similar]
    pairs.append(near_pairs)
    cluster = connected_components(n, np.concatenate(pairs, axis=1))  # label = first document

    # Decisions: removed documents, their kept document and their estimated similarity to it.
    removed = np.flatnonzero(cluster != np.arange(n))
    is_exact = exact[removed] == exact[cluster[removed]]
    similarity = np.ones(len(removed), dtype=np.float32)
    near_removed = removed[~is_exact]
    if len(near_removed):
        sig = _read_signatures(paths, offsets, np.concatenate([near_removed, cluster[near_removed]]))
        half = len(near_removed)
        similarity[~is_exact] = minhash.estimated_jaccard(sig[:half], sig[half:])
    sizes = np.bincount(cluster, minlength=n)
    _write_decisions(tasks, offsets, cluster, sizes, removed, is_exact, similarity, ids)

    cluster_sizes = sizes[sizes > 1]
    return {
        "exact_removed": int(is_exact.sum()),
        "near_removed": int((~is_exact).sum()),
        "candidate_pairs": int(candidate_pairs),
        "pairs_dropped_by_verify": int(candidate_pairs - near_pairs.shape[1]),
        "clusters": len(cluster_sizes),
        "docs_in_clusters": int(cluster_sizes.sum()),
        "largest_cluster": int(cluster_sizes.max()) if len(cluster_sizes) else 0,
        "cluster_sizes": _size_histogram(cluster_sizes),
    }


def _read_column(paths: list[str], column: str, type_: pa.DataType) -> pa.Array:
    """One column of all signature files as one array (each chunk cast to `type_`)."""
    columns = [pq.read_table(p, columns=[column]).column(column) for p in paths]
    chunks = [chunk.cast(type_) for chunked in columns for chunk in chunked.chunks]
    return pa.chunked_array(chunks, type_).combine_chunks()


def read_ids(paths: list[str]) -> pa.Array:
    """All document ids, in input order, as `large_string`: its 64-bit offsets hold any number of ids,
    where one `string` array stops at 2 GiB of ids (about 130 million documents of 16-char ids)."""
    return _read_column(paths, "id", pa.large_string())


def _check_unique_ids(ids: pa.Array, inputs: Sequence[str | Path]) -> None:
    if len(ids) and pc.count_distinct(ids).as_py() < len(ids):
        counts = pc.value_counts(ids)
        dup = counts.filter(pc.greater(counts.field("counts"), 1))[0]
        raise UserError(
            f"{', '.join(map(str, inputs))} has duplicate document ids (e.g. {dup['values'].as_py()!r} appears "
            f"{dup['counts'].as_py()} times); dedup needs unique ids"
        )


def _first_of_group(keys: np.ndarray, index: np.ndarray) -> np.ndarray:
    """For each element, the smallest `index` among elements with the same key (index is ascending)."""
    order = np.argsort(keys, kind="stable")
    sorted_keys = keys[order]
    starts = np.concatenate(([True], sorted_keys[1:] != sorted_keys[:-1]))
    group_first = order[np.maximum.accumulate(np.where(starts, np.arange(len(keys)), 0))]
    first = np.empty_like(index)
    first[order] = index[group_first]
    return first


def connected_components(n: int, pairs: np.ndarray) -> np.ndarray:
    """Union-find over `pairs` (2, m) of node indices in [0, n): each node's label is the smallest node
    of its component. Vectorised: hook the larger root under the smaller, then compress paths."""
    parent = np.arange(n)
    u, v = pairs
    while len(u):
        root_u, root_v = parent[u], parent[v]
        differ = root_u != root_v
        if not differ.any():
            break
        u, v, root_u, root_v = u[differ], v[differ], root_u[differ], root_v[differ]
        np.minimum.at(parent, np.maximum(root_u, root_v), np.minimum(root_u, root_v))
        while True:  # path compression: point every node at its root
            grandparent = parent[parent]
            if np.array_equal(grandparent, parent):
                break
            parent = grandparent
    return parent


def _read_signatures(paths: list[str], offsets: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Signatures of the documents at global positions `rows` (in that order), read shard by shard."""
    out = None
    shard = np.searchsorted(offsets, rows, "right") - 1
    for s in np.unique(shard):
        mine = np.flatnonzero(shard == s)
        column = pq.read_table(paths[s], columns=["signature"]).column("signature").combine_chunks()
        values = column.flatten().to_numpy().reshape(len(column), -1)
        if out is None:
            out = np.empty((len(rows), values.shape[1]), dtype=np.uint32)
        out[mine] = values[rows[mine] - offsets[s]]
    return out


def _write_decisions(tasks, offsets, cluster, sizes, removed, is_exact, similarity, ids) -> None:
    dup_of = np.full(len(cluster), None, dtype=object)
    sim = np.full(len(cluster), np.nan, dtype=np.float32)
    reason = np.full(len(cluster), None, dtype=object)
    kept_ids = ids.take(pa.array(cluster[removed])).to_pylist()
    dup_of[removed] = kept_ids
    sim[removed] = similarity
    reason[removed] = [
        f"{EXACT} {k}" if e else f"{NEAR} {k} {s:.2f}"
        for k, e, s in zip(kept_ids, is_exact, similarity, strict=True)
    ]
    for i, task in enumerate(tasks):
        lo, hi = offsets[i], offsets[i + 1]
        table = pa.table(
            {
                "minhash_cluster": pa.array(cluster[lo:hi], pa.int64()),
                "minhash_cluster_size": pa.array(sizes[cluster[lo:hi]], pa.int32()),
                "dup_of": pa.array(dup_of[lo:hi], pa.string()),
                "similarity": pa.array(sim[lo:hi], pa.float32(), from_pandas=True),
                "reason": pa.array(reason[lo:hi], pa.string()),
            }
        )
        pq.write_table(table, task["decisions"])


def _size_histogram(sizes: np.ndarray) -> dict[str, int]:
    bins = {"2": (2, 2), "3-5": (3, 5), "6-10": (6, 10), "11-100": (11, 100), ">100": (101, np.inf)}
    return {name: int(((sizes >= lo) & (sizes <= hi)).sum()) for name, (lo, hi) in bins.items()}


# ------------------------------------------------------------------------------------ 3. filter


def filter_shard(task: dict) -> dict:
    """Shard task: split the shard's documents into kept and rejected parts by its decisions."""
    pf = open_parquet(Path(task["input"]))
    decisions = pq.read_table(task["decisions"])
    new_columns = ADDED_COLUMNS + REJECTED_COLUMNS
    # An input deduplicated before gets fresh values in place of its old dedup columns.
    carried = [f for f in pf.schema_arrow if f.name not in {c.name for c in new_columns}]
    kept_schema = pa.schema(carried + ADDED_COLUMNS)
    rejected_schema = pa.schema(list(kept_schema) + REJECTED_COLUMNS)
    start = 0
    with (
        ParquetPartWriter(task["out"], kept_schema) as kept_part,
        ParquetPartWriter(task["rejected"], rejected_schema) as rejected_part,
    ):
        for batch in iter_batches([Path(task["input"])], batch_size=_BATCH):
            decided = decisions.slice(start, batch.num_rows)
            start += batch.num_rows
            table = pa.Table.from_batches([batch]).select([f.name for f in carried])
            for field in new_columns:
                table = table.append_column(field, decided.column(field.name))
            is_kept = pc.is_null(decided.column("dup_of"))
            kept_part.write(table.filter(is_kept).select(kept_schema.names))
            rejected_part.write(table.filter(pc.invert(is_kept)))
    return {"rows": start}
