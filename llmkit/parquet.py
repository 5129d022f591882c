"""Parquet parts: how every tabular artifact stores its rows.

A part is one `part-NNNNN.parquet` file, zstd-compressed, written a row group at a time by
`ParquetPartWriter` and read back a record batch at a time by `iter_batches` / `iter_rows`, so no
stage holds a whole dataset in memory. Unreadable files and missing columns are UserErrors that name
the file. The artifact contract (manifests, atomic commit) is in `llmkit.artifacts`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from llmkit.errors import UserError

ROWS_PER_GROUP = 1024
# A row group is also written once its buffered text reaches this size, so a writer's memory stays
# bounded however big the rows (web pages of up to 10 MB each) are.
BYTES_PER_GROUP = 64 * 1024 * 1024


# --------------------------------------------------------------------------------------- writing


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


# --------------------------------------------------------------------------------------- reading


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
