"""Opening the text and JSON files users hand to llmkit, the way pandas and HF `datasets` read them.

- Compression is told by the file's first bytes, not its name: gzip, bzip2, xz and zstd inputs are
  decompressed as a stream (a multi-GB `.jsonl.zst` is never held in memory), whatever they are called.
- Text is UTF-8 with an optional byte-order mark (`utf-8-sig`): a BOM that Excel or Notepad wrote
  never becomes part of the first row.
- A damaged or cut-off compressed file is one UserError naming the file and its compression, never
  a traceback from deep inside a decompressor.

Every reader of user text (import, tokenize, train-tokenizer, eval tasks, prompt files) opens its
files here, so all of them accept the same files.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zlib
from pathlib import Path
from typing import BinaryIO, TextIO

from llmkit.errors import UserError

BOM = b"\xef\xbb\xbf"
# magic bytes → compression name (RFC 1952 gzip, bzip2, xz, zstd frame)
MAGIC = {b"\x1f\x8b": "gzip", b"BZh": "bzip2", b"\xfd7zXZ\x00": "xz", b"\x28\xb5\x2f\xfd": "zstd"}


def compression_of(path: str | Path) -> str | None:
    """'gzip', 'bzip2', 'xz' or 'zstd' when the file starts with that format's magic bytes, else None.
    A missing or unreadable file raises OSError, which each caller words for its own option."""
    with open(path, "rb") as f:
        head = f.read(6)
    return next((name for magic, name in MAGIC.items() if head.startswith(magic)), None)


class _Decompressed(io.RawIOBase):
    """A decompressing stream whose decompressor errors become one UserError naming the file."""

    def __init__(self, stream, path: Path, compression: str):
        self._stream, self._path, self._compression = stream, path, compression

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        import zstandard

        try:
            data = self._stream.read(len(buffer))
        except (OSError, EOFError, zlib.error, lzma.LZMAError, zstandard.ZstdError) as e:
            raise UserError(f"{self._path} is a damaged or cut-off {self._compression} file ({e})") from e
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._stream.close()
        super().close()


def open_binary(path: str | Path) -> BinaryIO:
    """The file's bytes, decompressed as a stream when its magic bytes say gzip/bzip2/xz/zstd."""
    path = Path(path)
    compression = compression_of(path)
    if compression is None:
        return open(path, "rb")
    if compression == "gzip":
        stream = gzip.open(path, "rb")
    elif compression == "bzip2":
        stream = bz2.open(path, "rb")
    elif compression == "xz":
        stream = lzma.open(path, "rb")
    else:
        import zstandard

        # read_across_frames: zstd's CLI writes one frame per input, `cat a.zst b.zst` several
        stream = zstandard.ZstdDecompressor().stream_reader(
            open(path, "rb"), read_across_frames=True, closefd=True
        )
    return io.BufferedReader(_Decompressed(stream, path, compression), buffer_size=1 << 16)


def open_text(path: str | Path, errors: str = "strict") -> TextIO:
    """The file as UTF-8 text (BOM dropped, universal newlines), decompressed when it is compressed.

    With `errors="strict"` a byte that is not UTF-8 raises UnicodeDecodeError while reading, which the
    caller turns into its own message (or a rejected row).
    """
    return io.TextIOWrapper(open_binary(path), encoding="utf-8-sig", errors=errors)


def read_text(path: str | Path, errors: str = "strict") -> str:
    """The whole file as text (see `open_text`)."""
    with open_text(path, errors=errors) as f:
        return f.read()
