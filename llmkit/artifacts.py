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
stage holds a whole dataset in memory (`llmkit.parquet`). Rejected rows go to
`rejected/part-NNNNN.parquet` with a `reason` column. Checkpoint artifacts' files are written and
opened by `llmkit.checkpoint_files`.

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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import pyarrow as pa

from llmkit import __version__
from llmkit.errors import UserError
from llmkit.parquet import ROWS_PER_GROUP, count_rows, iter_batches, open_parquet, parquet_files, read_schema

MANIFEST = "manifest.json"
# Bumped when the manifest layout changes incompatibly; a newer manifest is refused with a clear line.
FORMAT_VERSION = 1

KINDS = (
    "pages", "docs", "tokenizer", "tokens", "checkpoint", "chat", "prefs", "prompts",
    "generations", "eval", "sweep", "index",
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
