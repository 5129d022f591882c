"""The tokenizer stages: `llmkit train-tokenizer` (a byte-level BPE trained on documents, written as a
tokenizer artifact) and `llmkit tokenize` (documents encoded into a tokens artifact with `train/` and
`val/` splits).

Both read their input the same way (`iter_documents`): a docs artifact or Parquet file/folder, split by
document id hash, or a plain text file, split at its last characters; so a tokenizer trains on exactly
the documents `tokenize` puts in train. The BPE itself (its form, encoding, special tokens, the chat
template) is the tokenizer core, llmkit/tokenizer.py.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from llmkit.artifacts import ArtifactWriter, open_artifact
from llmkit.data.executor import default_workers, progress_bar
from llmkit.defaults import stage_default
from llmkit.errors import UserError
from llmkit.parquet import ParquetPartWriter
from llmkit.textfiles import open_text, read_text
from llmkit.tokenizer import (
    MIN_VOCAB_SIZE,
    SPECIAL_TOKENS,
    SPLIT_PATTERNS,
    TOKENIZER_FILE,
    _check_same_as_tokenizers,
    _rewrite_in_tiktoken_form,
    _train_bpe,
    _valid_unicode,
    in_val_split,
    load_tokenizer,
)

PIECE_CHARS = 1 << 20  # training reads long documents in pieces of this many characters
TOKENS_SCHEMA = pa.schema([("id", pa.string()), ("input_ids", pa.list_(pa.int32()))])


# --------------------------------------------------------------------------------------- reading inputs


@dataclass
class DocumentBatch:
    """A batch of input documents: parallel lists of ids and texts, and which split each belongs to."""

    ids: list[str]
    texts: list[str]
    is_val: list[bool]


def _is_text_file(path: Path) -> bool:
    return path.is_file() and path.suffix != ".parquet"


def count_documents(path: Path, val_tail_fraction: float) -> int:
    """How many documents `iter_documents` yields (from Parquet footers; a text file gives one or two:
    its train part and its validation tail)."""
    if _is_text_file(path):
        return 1 + (val_tail_fraction > 0)
    return open_artifact(path, kinds=("docs",)).num_rows()


def iter_documents(
    path: str | Path, val_fraction: float, val_tail_fraction: float, batch_size: int = 1024
) -> Iterator[DocumentBatch]:
    """Documents of a docs artifact, a Parquet file/folder with a `text` column, or a plain text file.

    Parquet input is streamed a batch at a time and split by id hash (`val_fraction`); rows without an
    `id` column are named by their row number. A text file is one document (named by the file's stem)
    whose last `val_tail_fraction` of characters is the validation part, as nanoGPT splits a book.
    """
    path = Path(path)
    if _is_text_file(path):
        try:
            text = read_text(path)  # BOM dropped; .gz/.zst/.bz2/.xz decompressed (textfiles.py)
        except UnicodeDecodeError as e:
            raise UserError(f"{path} is not UTF-8 text ({e.reason} at byte {e.start})") from e
        cut = _tail_start(len(text), val_tail_fraction)
        parts = [(text[:cut], False), (text[cut:], True)]
        parts = [(t, v) for t, v in parts if t]
        yield DocumentBatch([path.stem] * len(parts), [t for t, _ in parts], [v for _, v in parts])
        return
    artifact = open_artifact(path, kinds=("docs",))
    schema = artifact.schema()
    if schema is None:
        return
    if "text" not in schema.names:
        raise UserError(f"{path} has no 'text' column (it has {', '.join(schema.names)})")
    columns = ["id", "text"] if "id" in schema.names else ["text"]
    row = 0
    for batch in artifact.iter_batches(columns=columns, batch_size=batch_size):
        texts = [t or "" for t in batch.column("text").to_pylist()]
        if "id" in columns:
            ids = [str(i) for i in batch.column("id").to_pylist()]
        else:
            ids = [str(row + i) for i in range(len(texts))]
        row += len(texts)
        yield DocumentBatch(ids, texts, [in_val_split(i, val_fraction) for i in ids])


def _tail_start(n_chars: int, val_tail_fraction: float) -> int:
    """Where a text file's validation tail starts (a character index): the same cut in every stage."""
    return int(n_chars * (1 - val_tail_fraction))


def _check_fraction(name: str, value: float) -> None:
    if not 0 <= value < 1:
        raise UserError(f"--{name} must be at least 0 and below 1 (got {value})")


# --------------------------------------------------------------------------------------- training


def train_tokenizer(
    input_path: str | Path,
    out_dir: str | Path,
    vocab_size: int = 32768,
    max_chars: int | None = None,
    val_fraction: float = 0.05,
    val_tail_fraction: float = 0.1,
    heldout_chars: int = 2_000_000,
    digits: str = stage_default("train-tokenizer", "digits"),
    config: dict | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> dict:
    """Train a byte-level BPE on the documents at `input_path`; write a tokenizer artifact to `out_dir`.

    Trains on the train split only (the same documents `tokenize` puts in train, given the same
    `val_fraction`/`val_tail_fraction`), reading at most `max_chars` characters (None: all), streamed.
    `digits` is the pre-tokenizer's number split: "groups" (GPT-4's, up to 3 digits per piece) or
    "single" (one digit per piece, so every digit is its own token).
    Compression (UTF-8 bytes per token) is measured on up to `heldout_chars` characters of the
    validation split. Returns the manifest stats (training chars, seconds, vocab size, held-out bytes per
    token; the vocabulary can end smaller than `vocab_size` when the text has no pairs left to merge).
    """
    if vocab_size < MIN_VOCAB_SIZE:
        raise UserError(
            f"--vocab-size must be at least {MIN_VOCAB_SIZE} ({len(SPECIAL_TOKENS)} special tokens + 256 bytes "
            f"+ 1 merge; got {vocab_size})"
        )
    if max_chars is not None and max_chars <= 0:
        raise UserError(f"--max-chars must be greater than 0 (got {max_chars})")
    if digits not in SPLIT_PATTERNS:
        raise UserError(f"--digits must be one of {', '.join(SPLIT_PATTERNS)} (got {digits!r})")
    _check_fraction("val-fraction", val_fraction)
    _check_fraction("val-tail-fraction", val_tail_fraction)
    input_path = Path(input_path)
    total_docs = count_documents(input_path, val_tail_fraction)
    config = {
        "vocab_size": vocab_size,
        "max_chars": max_chars,
        "val_fraction": val_fraction,
        "val_tail_fraction": val_tail_fraction,
        "digits": digits,
        **(config or {}),
    }

    with ArtifactWriter(
        out_dir, kind="tokenizer", stage="train-tokenizer", config=config, inputs=[input_path], force=force
    ) as w:
        read = _TrainingRead()
        start = time.perf_counter()
        with progress_bar(show=show_progress) as progress:
            bar = progress.add_task("reading", total=total_docs, unit="docs")
            texts = _training_texts(
                input_path, val_fraction, val_tail_fraction, max_chars, heldout_chars, read, progress, bar
            )
            hf = _train_bpe(texts, vocab_size, digits)
            progress.update(bar, description="trained")
        train_s = time.perf_counter() - start
        if read.chars == 0:
            raise UserError(
                f"{input_path} has no training text (all documents are empty or in the val split)"
            )

        hf = _rewrite_in_tiktoken_form(hf)
        hf.save(str(w.path / TOKENIZER_FILE))
        tok = load_tokenizer(w.path / TOKENIZER_FILE)
        heldout_tokens = sum(map(len, tok.encode_batch(read.heldout)))
        heldout_bytes = sum(len(t.encode("utf-8", "replace")) for t in read.heldout)
        stats = {
            "training_docs": read.docs,
            "training_chars": read.chars,
            "training_bytes": read.bytes,
            "training_s": round(train_s, 3),
            "training_s_per_mb": round(train_s / max(read.bytes / 1e6, 1e-9), 3),
            "vocab_size": tok.vocab_size,
            "merged_tokens": tok.vocab_size - MIN_VOCAB_SIZE + 1,
            "digits": digits,
            "split_pattern": SPLIT_PATTERNS[digits],
            "special_tokens": {t: i for i, t in enumerate(SPECIAL_TOKENS)},
            "heldout_chars": read.heldout_chars,
            "heldout_bytes_per_token": round(heldout_bytes / heldout_tokens, 4) if heldout_tokens else None,
            "encoder": tok.encoder,
            "fingerprint": tok.fingerprint,
        }
        w.commit(counts={"vocab_size": tok.vocab_size, "training_chars": read.chars}, stats=stats)
    return {"out": str(out_dir), **stats}


@dataclass
class _TrainingRead:
    """What training read: the training text's size, and the held-out sample for compression."""

    docs: int = 0
    chars: int = 0
    bytes: int = 0
    heldout: list[str] = field(default_factory=list)
    heldout_chars: int = 0


def _training_texts(
    input_path: Path,
    val_fraction: float,
    val_tail_fraction: float,
    max_chars: int | None,
    heldout_chars: int,
    read: _TrainingRead,
    progress,
    bar,
) -> Iterator[str]:
    """Training text for the BPE trainer, counted into `read`; validation documents go to
    `read.heldout` instead (up to `heldout_chars`). After `max_chars`, reading goes on only until the
    held-out sample is full."""
    if _is_text_file(input_path):
        yield from _text_file_training_texts(input_path, val_tail_fraction, max_chars, heldout_chars, read)
        progress.update(bar, advance=count_documents(input_path, val_tail_fraction))
        progress.update(bar, description="merging pairs")
        return
    for batch in iter_documents(input_path, val_fraction, val_tail_fraction):
        for text, is_val in zip(batch.texts, batch.is_val, strict=True):
            if is_val:
                if read.heldout_chars < heldout_chars:
                    read.heldout.append(text[: heldout_chars - read.heldout_chars])
                    read.heldout_chars += len(read.heldout[-1])
                continue
            if max_chars is not None:
                text = text[: max_chars - read.chars]
            if not text:
                continue
            read.docs += 1
            read.chars += len(text)
            read.bytes += len(text.encode("utf-8", "replace"))
            # A long document goes in pieces so the trainer's counting stays parallel.
            yield from (_valid_unicode(text[i : i + PIECE_CHARS]) for i in range(0, len(text), PIECE_CHARS))
        progress.update(bar, advance=len(batch.texts), unit=f"docs  {read.chars / 1e6:.1f}M chars")
        if max_chars is not None and read.chars >= max_chars and read.heldout_chars >= heldout_chars:
            break
    progress.update(bar, description="merging pairs")  # the trainer merges once the input is read


def _text_file_training_texts(
    path: Path, val_tail_fraction: float, max_chars: int | None, heldout_chars: int, read: _TrainingRead
) -> Iterator[str]:
    """A plain text file's training text, streamed in `PIECE_CHARS` pieces and never held whole.

    The file is one document split as `iter_documents` splits it (head for training, the last
    `val_tail_fraction` of characters held out), so a first pass counts its characters to place the
    cut; the second yields the head (at most `max_chars`) in the same pieces a whole-file read would
    give (so the tokenizer is the same), skips to the tail, and keeps its first `heldout_chars`.
    """

    def pieces(f, n_chars: float) -> Iterator[str]:
        while n_chars > 0 and (piece := f.read(min(PIECE_CHARS, n_chars))):
            n_chars -= len(piece)
            yield piece

    # Text mode with universal newlines and the BOM dropped, as `tokenize` reads the file; opened
    # twice rather than rewound, since a compressed file's stream cannot seek (textfiles.py).
    try:
        with open_text(path) as f:
            # no tail: nothing to place, so no counting pass
            n_chars = sum(map(len, pieces(f, math.inf))) if val_tail_fraction else math.inf
        cut = _tail_start(n_chars, val_tail_fraction) if val_tail_fraction else n_chars
        with open_text(path) as f:
            head = cut if max_chars is None else min(cut, max_chars)
            for piece in pieces(f, head):
                read.chars += len(piece)
                read.bytes += len(piece.encode("utf-8"))
                yield _valid_unicode(piece)
            read.docs = int(read.chars > 0)
            if val_tail_fraction and heldout_chars:
                for _ in pieces(f, cut - read.chars):  # the rest of the head, unread
                    pass
                tail = f.read(min(heldout_chars, n_chars - cut))
                read.heldout, read.heldout_chars = ([tail] if tail else []), len(tail)
    except UnicodeDecodeError as e:
        raise UserError(f"{path} is not UTF-8 text ({e.reason})") from e


# --------------------------------------------------------------------------------------- tokenize


def tokenize_docs(
    input_path: str | Path,
    tokenizer_path: str | Path,
    out_dir: str | Path,
    val_fraction: float = 0.05,
    val_tail_fraction: float = 0.1,
    threads: int | None = None,
    batch_size: int = 1024,
    tokens_per_part: int = 50_000_000,
    config: dict | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> dict:
    """Encode documents into a tokens artifact with `train/` and `val/` Parquet parts.

    Each row is (`id`, `input_ids` = the document's ids followed by `<|endoftext|>`). Parquet input is
    split by document id hash (`val_fraction`); a plain text file by its last `val_tail_fraction` of
    characters. Encoding runs in batches of `batch_size` documents on `threads` threads; a new part
    starts after `tokens_per_part` tokens. tokenizer.json is copied into the artifact. Returns stats:
    documents, tokens and bytes per token per split, vocab size, tokenizer fingerprint.
    """
    _check_fraction("val-fraction", val_fraction)
    _check_fraction("val-tail-fraction", val_tail_fraction)
    if threads is not None and threads < 1:
        raise UserError(f"--threads must be at least 1 (got {threads})")
    input_path = Path(input_path)
    tok = load_tokenizer(tokenizer_path)
    total_docs = count_documents(input_path, val_tail_fraction)
    threads = threads or default_workers()
    config = {"val_fraction": val_fraction, "val_tail_fraction": val_tail_fraction, **(config or {})}
    inputs = [input_path, tokenizer_path]

    with ArtifactWriter(
        out_dir, kind="tokens", stage="tokenize", config=config, inputs=inputs, force=force
    ) as w:
        splits = {name: _SplitWriter(w, name, tokens_per_part) for name in ("train", "val")}
        start = time.perf_counter()
        done_docs = done_bytes = 0
        with progress_bar(show=show_progress) as progress, ThreadPoolExecutor(1) as reader:
            bar = progress.add_task("tokenize", total=total_docs, unit="docs")
            batches = iter_documents(input_path, val_fraction, val_tail_fraction, batch_size)
            # Read (Parquet decode) the next batch while this one encodes.
            pending = reader.submit(next, batches, None)
            checked = False
            while (batch := pending.result()) is not None:
                pending = reader.submit(next, batches, None)
                encoded = tok.encode_batch(batch.texts, threads=threads)
                if not checked:
                    _check_same_as_tokenizers(tok, batch.texts[:64], encoded[:64])
                    checked = True
                sizes = [len(t.encode("utf-8", "replace")) for t in batch.texts]
                for name, want_val in (("train", False), ("val", True)):
                    rows = [k for k, v in enumerate(batch.is_val) if v == want_val]
                    if rows:
                        splits[name].write(
                            [batch.ids[k] for k in rows],
                            [[*encoded[k], tok.eot_id] for k in rows],
                            sum(sizes[k] for k in rows),
                        )
                done_docs += len(batch.texts)
                done_bytes += sum(sizes)
                rate = done_bytes / 1e6 / max(time.perf_counter() - start, 1e-9)
                progress.update(bar, completed=done_docs, unit=f"docs  {rate:.1f} MB/s")
        encode_s = time.perf_counter() - start
        for split in splits.values():
            split.close()

        (w.path / TOKENIZER_FILE).write_bytes(tok.path.read_bytes())
        per_split = {name: s.stats() for name, s in splits.items()}
        total_bytes = sum(s.bytes for s in splits.values())
        total_tokens = sum(s.tokens for s in splits.values())
        stats = {
            "splits": per_split,
            "bytes_per_token": round(total_bytes / total_tokens, 4) if total_tokens else None,
            "encode_s": round(encode_s, 3),
            "mb_per_s": round(total_bytes / 1e6 / max(encode_s, 1e-9), 3),
            "threads": threads,
            "encoder": tok.encoder,
            "vocab_size": tok.vocab_size,
            "tokenizer_fingerprint": tok.fingerprint,
        }
        counts = {
            "documents": sum(s.docs for s in splits.values()),
            "tokens": total_tokens,
            **{
                f"{name}_{k}": v
                for name, s in per_split.items()
                for k, v in s.items()
                if k in ("documents", "tokens")
            },
        }
        w.commit(counts=counts, stats=stats, extra={"tokenizer_fingerprint": tok.fingerprint})
    return {"out": str(out_dir), **counts, **stats}


class _SplitWriter:
    """Writes one split's rows into `<split>/part-NNNNN.parquet`, starting a new part every N tokens."""

    def __init__(self, writer: ArtifactWriter, name: str, tokens_per_part: int):
        self.writer, self.name, self.tokens_per_part = writer, name, tokens_per_part
        self.part: ParquetPartWriter | None = None
        self.parts = self.docs = self.tokens = self.bytes = self.part_tokens = 0

    def write(self, ids: list[str], input_ids: list[list[int]], n_bytes: int) -> None:
        if self.part is None or self.part_tokens >= self.tokens_per_part:
            self._next_part()
        batch = pa.RecordBatch.from_arrays(
            [pa.array(ids, pa.string()), pa.array(input_ids, pa.list_(pa.int32()))], schema=TOKENS_SCHEMA
        )
        self.part.write(batch)
        tokens = sum(map(len, input_ids))
        self.docs += len(ids)
        self.tokens += tokens
        self.part_tokens += tokens
        self.bytes += n_bytes

    def _next_part(self) -> None:
        if self.part is not None:
            self.part.close()
        self.part = ParquetPartWriter(self.writer.part_path(self.parts, self.name), schema=TOKENS_SCHEMA)
        self.parts += 1
        self.part_tokens = 0

    def close(self) -> None:
        if self.part is None:  # an empty split still gets one (empty) part, so readers see the split
            self._next_part()
        self.part.close()

    def stats(self) -> dict:
        return {
            "documents": self.docs,
            "tokens": self.tokens,
            "bytes": self.bytes,
            "bytes_per_token": round(self.bytes / self.tokens, 4) if self.tokens else None,
            "parts": self.parts,
        }
