"""Artifact directories: the only contract between stages.

Every stage writes exactly one output directory through `ArtifactWriter`:

    with ArtifactWriter(out, kind="docs", stage="filter", config=cfg, inputs=[src], force=force) as w:
        with ParquetPartWriter(w.part_path(0)) as parts:
            parts.write(rows)                      # lists of dicts or pyarrow RecordBatches
        w.commit(counts={"rows": n}, stats={...})

It writes into `<out>.partial/`, writes `manifest.json` last, and renames the directory to `<out>/`
only then, so a stage that dies leaves no `<out>/` and no later stage reads half an output. A
Python exception inside the `with` block removes the partial directory; a SIGKILL leaves it, and
the next run of the stage clears it before starting.

Tabular data is Parquet in `part-NNNNN.parquet` files, written and read in record batches so no
stage holds a whole dataset in memory. Rejected rows go to `rejected/part-NNNNN.parquet` with a
`reason` column.

Manifest `stats` conventions that `llmkit inspect` renders specially:
  - `funnel`: a list of `{"step": name, "in": n, "out": n, "removed": {reason: count}}`, one per
    step in order (filters, dedup passes, extraction), shown as a funnel table.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from llmkit import __version__
from llmkit.errors import UserError

MANIFEST = "manifest.json"
# Bumped when the manifest layout changes incompatibly; a newer manifest is refused with a clear line.
FORMAT_VERSION = 1
ROWS_PER_GROUP = 1024
# A row group is also written once its buffered text reaches this size, so a writer's memory stays
# bounded however big the rows (web pages of up to 10 MB each) are.
BYTES_PER_GROUP = 64 * 1024 * 1024

KINDS = (
    "pages", "docs", "tokenizer", "tokens", "checkpoint", "chat", "prefs", "prompts",
    "generations", "eval",
)  # fmt: skip
# Artifact kinds whose data is Parquet parts (the others are checkpoints, tokenizers, reports).
TABULAR_KINDS = ("pages", "docs", "tokens", "chat", "prefs", "prompts", "generations", "eval")


def part_name(index: int) -> str:
    """File name of the `index`-th Parquet part: part-00000.parquet, part-00001.parquet, ..."""
    return f"part-{index:05d}.parquet"


def partial_path(out: Path) -> Path:
    """Where a stage writes before the atomic rename to `out`."""
    return out.with_name(out.name + ".partial")


# --------------------------------------------------------------------------------------- fingerprints


def fingerprint(path: str | Path) -> str:
    """A content fingerprint for an input: sha256 of a file, or of an artifact's manifest.

    An artifact's manifest records its own inputs' fingerprints, config and counts, so hashing it
    identifies the whole lineage without reading the data again. URLs are fingerprinted by name.
    """
    s = str(path)
    if s.startswith(("http://", "https://")):
        return "url:" + hashlib.sha256(s.encode()).hexdigest()[:16]
    p = Path(path)
    target = p / MANIFEST if p.is_dir() else p
    if p.is_dir() and not target.exists():  # a plain folder of Parquet files
        h = hashlib.sha256()
        for f in sorted(p.rglob("*.parquet")):
            h.update(f.name.encode())
            h.update(_file_sha256(f).encode())
        return "sha256:" + h.hexdigest()
    return "sha256:" + _file_sha256(target)


def _file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def input_record(path: str | Path) -> dict:
    """The manifest entry for one input: absolute path, kind (or 'file'/'url'), fingerprint."""
    s = str(path)
    if s.startswith(("http://", "https://")):
        return {"path": s, "kind": "url", "fingerprint": fingerprint(s)}
    p = Path(path).resolve()
    kind = "file"
    if (p / MANIFEST).is_file():
        kind = read_manifest(p).get("kind", "unknown")
    elif p.is_dir():
        kind = "directory"
    return {"path": str(p), "kind": kind, "fingerprint": fingerprint(p)}


# --------------------------------------------------------------------------------------- writing


class ArtifactWriter:
    """Writes one artifact directory atomically; see the module docstring for the protocol.

    `path` is the partial directory to write files into; `commit()` writes the manifest and renames.
    """

    def __init__(
        self,
        out: str | Path,
        kind: str,
        stage: str,
        config: dict | None = None,
        inputs: Sequence[str | Path | dict] = (),
        force: bool = False,
    ):
        if kind not in KINDS:
            raise ValueError(f"unknown artifact kind {kind!r}")
        self.out = Path(out)
        if self.out.name in ("", ".", ".."):
            raise UserError(f"output path {str(out)!r} must name a directory")
        if self.out.exists() and not force:
            raise UserError(f"{self.out} already exists; pass --force to overwrite it")
        if self.out.exists() and not self.out.is_dir():
            raise UserError(f"{self.out} exists and is not a directory")
        self.kind, self.stage, self.force = kind, stage, force
        self.config = config or {}
        self.inputs = [i if isinstance(i, dict) else input_record(i) for i in inputs]
        self.path = partial_path(self.out)
        self._start = time.time()
        self.committed = False
        if self.path.exists():  # left by a killed run
            shutil.rmtree(self.path)
        try:
            self.path.mkdir(parents=True)
        except OSError as e:
            raise UserError(f"cannot create {self.path}: {e.strerror or e}") from e

    def part_path(self, index: int, subdir: str | None = None) -> Path:
        """Path of Parquet part `index` (in `subdir`, e.g. 'rejected', if given); creates the folder."""
        folder = self.path / subdir if subdir else self.path
        folder.mkdir(parents=True, exist_ok=True)
        return folder / part_name(index)

    def commit(
        self, counts: dict | None = None, stats: dict | None = None, extra: dict | None = None
    ) -> dict:
        """Write manifest.json last, flush it, and rename `<out>.partial/` to `<out>/`. Returns the manifest."""
        manifest = {
            "kind": self.kind,
            "stage": self.stage,
            "llmkit_version": __version__,
            "format_version": FORMAT_VERSION,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
            "duration_s": round(time.time() - self._start, 3),
            "config": _jsonable(self.config),
            "inputs": self.inputs,
            "counts": _jsonable(counts or {}),
            "stats": _jsonable(stats or {}),
            **_jsonable(extra or {}),
        }
        write_json_atomic(self.path / MANIFEST, manifest)
        _fsync_dir(self.path)
        if self.out.exists():  # only reachable with force=True
            old = self.out.with_name(self.out.name + ".replaced")
            if old.exists():
                shutil.rmtree(old)
            os.rename(self.out, old)
            os.rename(self.path, self.out)
            shutil.rmtree(old)
        else:
            os.rename(self.path, self.out)
        _fsync_dir(self.out.parent)
        self.committed = True
        return manifest

    def abort(self) -> None:
        """Remove the partial directory (called on any exception inside the `with` block)."""
        shutil.rmtree(self.path, ignore_errors=True)

    def __enter__(self) -> ArtifactWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self.committed:
            self.abort()
        if exc_type is None and not self.committed:
            raise RuntimeError(f"stage {self.stage} finished without committing {self.out}")


class ParquetPartWriter:
    """Streams rows into one Parquet file, a row group at a time.

    `write()` takes a list of dicts or a pyarrow RecordBatch/Table. Dict rows are buffered until
    `rows_per_group` rows or `bytes_per_group` bytes of their str/bytes values, then written as one
    row group. The schema is `schema` if given, else inferred from the first rows. A part that
    received no rows is still written (with `schema`, or an empty schema), so readers see every shard.
    """

    def __init__(
        self,
        path: str | Path,
        schema: pa.Schema | None = None,
        rows_per_group: int = ROWS_PER_GROUP,
        bytes_per_group: int = BYTES_PER_GROUP,
    ):
        self.path = Path(path)
        self.schema = schema
        self.rows_per_group = rows_per_group
        self.bytes_per_group = bytes_per_group
        self.rows = 0
        self._buffer: list[dict] = []
        self._buffered_bytes = 0
        self._writer: pq.ParquetWriter | None = None

    def write(self, rows: Iterable[dict] | pa.RecordBatch | pa.Table) -> None:
        if isinstance(rows, pa.RecordBatch | pa.Table):
            self._flush()
            table = rows if isinstance(rows, pa.Table) else pa.Table.from_batches([rows])
            self._write_table(table)
            return
        for row in rows:
            self._buffer.append(row)
            self._buffered_bytes += sum(len(v) for v in row.values() if isinstance(v, str | bytes))
        if len(self._buffer) >= self.rows_per_group or self._buffered_bytes >= self.bytes_per_group:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        self._buffer, self._buffered_bytes = [], 0
        self._write_table(table)

    def _write_table(self, table: pa.Table) -> None:
        if self._writer is None:
            self.schema = self.schema or table.schema
            self._writer = pq.ParquetWriter(self.path, self.schema, compression="zstd")
        self._writer.write_table(table.cast(self.schema), row_group_size=self.rows_per_group)
        self.rows += table.num_rows

    def close(self) -> None:
        self._flush()
        if self._writer is None:
            self._writer = pq.ParquetWriter(self.path, self.schema or pa.schema([]), compression="zstd")
        self._writer.close()

    def __enter__(self) -> ParquetPartWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        elif self._writer is not None:
            self._writer.close()


def write_json_atomic(path: Path, obj) -> None:
    """Write JSON to `path` via a temporary file, flushed and renamed, so readers never see half a file."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _jsonable(obj):
    """Paths, tuples and sets as JSON types, so any resolved config can go into a manifest."""
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | set | frozenset):
        items = sorted(obj) if isinstance(obj, set | frozenset) else obj
        return [_jsonable(v) for v in items]
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, float) and obj != obj:  # NaN is not JSON
        return None
    return obj


# --------------------------------------------------------------------------------------- reading


def read_manifest(path: str | Path) -> dict:
    """The manifest of an artifact directory; a missing, corrupt or too-new manifest is a UserError."""
    p = Path(path)
    mf = p / MANIFEST
    if not mf.is_file():
        if p.name and partial_path(p).exists():  # "/" (e.g. from a crafted manifest) has no name
            raise UserError(
                f"{p} is incomplete (only {partial_path(p).name} exists); re-run the stage that writes it"
            )
        raise UserError(f"{p} is not an llmkit artifact (no {MANIFEST})")
    try:
        manifest = json.loads(mf.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{mf} is corrupt: {e}") from e
    if not isinstance(manifest, dict) or "kind" not in manifest:
        raise UserError(f"{mf} is not an llmkit manifest (no 'kind')")
    if manifest.get("format_version", 1) > FORMAT_VERSION:
        raise UserError(
            f"{p} was written by llmkit {manifest.get('llmkit_version', '?')} (artifact format "
            f"{manifest['format_version']}); this llmkit {__version__} reads format {FORMAT_VERSION}: upgrade llmkit"
        )
    return manifest


@dataclass
class Artifact:
    """An artifact directory (or a plain Parquet file or folder, with `manifest` empty) opened for reading."""

    path: Path
    kind: str
    manifest: dict = field(default_factory=dict)

    @property
    def parts(self) -> list[Path]:
        """The Parquet parts of the main data, in order (not those in rejected/ or other subfolders)."""
        return parquet_files(self.path)

    def rejected_parts(self) -> list[Path]:
        return parquet_files(self.path / "rejected") if (self.path / "rejected").is_dir() else []

    def num_rows(self) -> int:
        return count_rows(self.parts)

    def schema(self) -> pa.Schema | None:
        return read_schema(self.parts)

    def iter_batches(
        self, columns: list[str] | None = None, batch_size: int = ROWS_PER_GROUP
    ) -> Iterator[pa.RecordBatch]:
        return iter_batches(self.parts, columns=columns, batch_size=batch_size)


def open_artifact(
    path: str | Path, kinds: Sequence[str] | None = None, allow_plain_parquet: bool = True
) -> Artifact:
    """Open an input for reading, checking that it exists and is one of `kinds`.

    Plain Parquet (a `.parquet` file, or a folder of them with no manifest) is accepted as a
    tabular artifact of unknown kind when `allow_plain_parquet`; the caller checks its columns.
    """
    p = Path(path)
    if not p.exists():
        hint = (
            f" (a previous run left {partial_path(p).name}; it did not finish)"
            if partial_path(p).exists()
            else ""
        )
        raise UserError(f"{p} does not exist{hint}")
    if p.is_dir() and (p / MANIFEST).exists():
        manifest = read_manifest(p)
        kind = manifest["kind"]
        if kinds and kind not in kinds:
            raise UserError(f"{p} is a '{kind}' artifact; expected {' or '.join(repr(k) for k in kinds)}")
        return Artifact(p, kind, manifest)
    if allow_plain_parquet and (p.suffix == ".parquet" or (p.is_dir() and parquet_files(p))):
        if p.is_file():
            open_parquet(p)
        return Artifact(p, "parquet")
    what = "directory" if p.is_dir() else "file"
    expected = " or ".join(repr(k) for k in kinds) if kinds else "an llmkit artifact"
    raise UserError(f"{p} is a {what} that is not an llmkit artifact; expected {expected}")


def parquet_files(path: Path) -> list[Path]:
    """A Parquet file itself, or the sorted `*.parquet` files directly inside a folder."""
    path = Path(path)
    if path.is_file():
        return [path]
    return sorted(f for f in path.glob("*.parquet") if f.is_file())


def open_parquet(path: Path) -> pq.ParquetFile:
    """A ParquetFile handle (footer read, no data); an unreadable file is a UserError."""
    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as e:
        raise UserError(f"{path} is not a valid Parquet file: {str(e).splitlines()[0]}") from e


def count_rows(files: Iterable[Path]) -> int:
    """Total rows of Parquet files, from their footers (no data read)."""
    return sum(open_parquet(f).metadata.num_rows for f in files)


def read_schema(files: Sequence[Path]) -> pa.Schema | None:
    return open_parquet(files[0]).schema_arrow if files else None


def iter_batches(
    files: Iterable[Path], columns: list[str] | None = None, batch_size: int = ROWS_PER_GROUP
) -> Iterator[pa.RecordBatch]:
    """Record batches from Parquet files in order; memory stays at about one batch."""
    for f in files:
        pf = open_parquet(f)
        if columns:
            missing = [c for c in columns if c not in pf.schema_arrow.names]
            if missing:
                raise UserError(
                    f"{f} has no column {', '.join(missing)} (it has {', '.join(pf.schema_arrow.names)})"
                )
        try:
            yield from pf.iter_batches(batch_size=batch_size, columns=columns)
        except (pa.ArrowException, OSError) as e:
            raise UserError(f"{f} is corrupt: {str(e).splitlines()[0]}") from e


def iter_rows(files: Iterable[Path], columns: list[str] | None = None) -> Iterator[dict]:
    """Rows as dicts, a batch at a time."""
    for batch in iter_batches(files, columns=columns):
        yield from batch.to_pylist()


def lineage(path: str | Path, _seen: frozenset = frozenset()) -> dict:
    """The tree of inputs behind an artifact: {path, kind, stage, created, inputs: [subtrees]}.

    Follows each input's manifest recursively; inputs that are plain files, URLs, moved or deleted
    artifacts end the branch (marked `missing`).
    """
    p = Path(path)
    node = {"path": str(p), "kind": "file", "inputs": []}
    key = str(p.resolve())
    if key in _seen:
        return {**node, "cycle": True}
    try:
        m = read_manifest(p)
    except UserError:
        return {**node, "missing": not p.exists()}
    node.update(kind=m.get("kind"), stage=m.get("stage"), created=m.get("created"))
    for inp in m.get("inputs", []):
        ip = inp.get("path", "?")
        if inp.get("kind") in ("file", "url", "directory") or str(ip).startswith(("http://", "https://")):
            node["inputs"].append(
                {
                    "path": ip,
                    "kind": inp.get("kind"),
                    "inputs": [],
                    "missing": not Path(ip).exists() and inp.get("kind") != "url",
                }
            )
        else:
            node["inputs"].append(lineage(ip, _seen | {key}))
    return node


# --------------------------------------------------------------------------------------- checkpoints
# A checkpoint is a directory artifact of kind "checkpoint":
#   model.safetensors        the weights (as trained: fp32 master weights)
#   config.json              the model config (n_layers, d_model, ..., vocab_size)
#   tokenizer.json           the tokenizer the model was trained with
#   trainer_state/state.pt   what resuming needs (optimizer, step, data position); read with
#                            torch.load(weights_only=True), which refuses arbitrary pickled objects
#   metrics.parquet          one row per logged step
#   manifest.json
# torch and safetensors are imported inside the functions, so reading manifests stays light.

CHECKPOINT_FILES = ("model.safetensors", "config.json", "tokenizer.json")


def write_checkpoint_files(
    folder: Path,
    weights: dict,
    model_config: dict,
    tokenizer_json: str | Path,
    trainer_state: dict | None = None,
    metrics: Sequence[dict] = (),
) -> None:
    """Write a checkpoint's files into `folder` (an ArtifactWriter's partial directory).

    `weights`: name → tensor (contiguous, no shared storage); `trainer_state`: a dict of tensors and
    plain Python values; `metrics`: one dict per logged step.
    """
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()}, folder / "model.safetensors")
    write_json_atomic(folder / "config.json", model_config)
    shutil.copyfile(tokenizer_json, folder / "tokenizer.json")
    if trainer_state is not None:
        (folder / "trainer_state").mkdir(exist_ok=True)
        torch.save(trainer_state, folder / "trainer_state" / "state.pt")
    if metrics:
        # every key of every row: evaluation rows carry keys (val_loss, val_accuracy, ...) that the
        # first row lacks, and from_pylist alone would take its columns from the first row only
        columns = list(dict.fromkeys(k for row in metrics for k in row))
        rows = [{k: row.get(k) for k in columns} for row in metrics]
        pq.write_table(pa.Table.from_pylist(rows), folder / "metrics.parquet", compression="zstd")


def save_checkpoint(
    out: str | Path,
    weights: dict,
    model_config: dict,
    tokenizer_json: str | Path,
    *,
    stage: str,
    config: dict | None = None,
    inputs: Sequence[str | Path | dict] = (),
    trainer_state: dict | None = None,
    metrics: Sequence[dict] = (),
    counts: dict | None = None,
    stats: dict | None = None,
    extra: dict | None = None,
    force: bool = False,
) -> dict:
    """Write a complete checkpoint artifact to `out` atomically; returns its manifest. `extra` adds
    (or overrides, e.g. `duration_s` with the training time) top-level manifest fields."""
    with ArtifactWriter(out, kind="checkpoint", stage=stage, config=config, inputs=inputs, force=force) as w:
        write_checkpoint_files(w.path, weights, model_config, tokenizer_json, trainer_state, metrics)
        return w.commit(counts=counts, stats=stats, extra=extra)


@dataclass
class Checkpoint:
    """A checkpoint artifact opened for reading (files checked, nothing large loaded yet)."""

    path: Path
    manifest: dict
    model_config: dict

    @property
    def tokenizer_path(self) -> Path:
        return self.path / "tokenizer.json"

    def weights(self, device: str = "cpu") -> dict:
        """name → tensor, from model.safetensors."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(self.path / "model.safetensors", device=device)
        except (SafetensorError, OSError) as e:
            raise UserError(f"{self.path / 'model.safetensors'} is not a valid safetensors file: {e}") from e

    def trainer_state(self) -> dict | None:
        """The saved training state, or None for a checkpoint without one."""
        import pickle

        import torch

        state = self.path / "trainer_state" / "state.pt"
        if not state.is_file():
            return None
        try:
            return torch.load(state, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as e:
            raise UserError(f"{state} cannot be loaded safely: {str(e).splitlines()[0]}") from e

    def metrics(self) -> list[dict]:
        """The logged metrics rows, oldest first ([] if none were logged)."""
        f = self.path / "metrics.parquet"
        return open_parquet(f).read().to_pylist() if f.is_file() else []


def open_checkpoint(path: str | Path) -> Checkpoint:
    """Open a checkpoint artifact; a wrong kind, a missing file or a corrupt config.json is a UserError."""
    art = open_artifact(path, kinds=["checkpoint"], allow_plain_parquet=False)
    for name in CHECKPOINT_FILES:
        if not (art.path / name).is_file():
            raise UserError(f"{art.path} is not a complete checkpoint: {name} is missing")
    try:
        model_config = json.loads((art.path / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{art.path / 'config.json'} is corrupt: {e}") from e
    if not isinstance(model_config, dict):
        raise UserError(f"{art.path / 'config.json'} is not a model config")
    return Checkpoint(art.path, art.manifest, model_config)
