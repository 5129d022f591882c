"""The byte-level BPE tokenizer: training, loading, encoding, the chat template, and the tokenize stage.

`tokenizer.json` (HF `tokenizers` format) is the one canonical file; everything loads it (`tokenizers`,
`transformers.PreTrainedTokenizerFast`, `load_tokenizer`). Training runs HF's BPE trainer (start from
the 256 bytes, merge the most frequent pair until the vocabulary is full) behind a GPT-4-style split.
The trained merges are then rewritten in tiktoken's form (every split of every token into two tokens,
ranked by the merged token's id, with whole-piece lookup first: `ignore_merges`, as in Llama 3's
tokenizer.json), so that a `tiktoken.Encoding` built from the same vocabulary gives exactly the same
ids as `tokenizers` does. Bulk encoding goes through tiktoken (several times faster); a tokenizer.json
not in that exact form (not written by llmkit) is encoded by `tokenizers` instead.

Special tokens have fixed ids 0..4 in every tokenizer llmkit trains; the 256 bytes and the merges come
after them. Special-token text inside ordinary text is always encoded as text, never as a control
token, so a user cannot close a chat turn by typing `<|im_end|>`.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

import pyarrow as pa

from llmkit.artifacts import ArtifactWriter, fingerprint, open_artifact, partial_path
from llmkit.data.executor import default_workers, progress_bar
from llmkit.errors import UserError
from llmkit.parquet import ParquetPartWriter

SPECIAL_TOKENS = ("<|endoftext|>", "<|pad|>", "<|im_start|>", "<|im_sep|>", "<|im_end|>")
# GPT-4's (cl100k) pre-tokenizer split: contractions, letter runs (with one leading non-letter), digit
# groups of at most 3, punctuation runs, newlines, other whitespace. BPE merges never cross these pieces.
SPLIT_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
MIN_VOCAB_SIZE = len(SPECIAL_TOKENS) + 256 + 1  # specials, the 256 bytes, at least one merge
TOKENIZER_FILE = "tokenizer.json"
PIECE_CHARS = 1 << 20  # training reads long documents in pieces of this many characters
TOKENS_SCHEMA = pa.schema([("id", pa.string()), ("input_ids", pa.list_(pa.int32()))])


def _byte_to_char() -> dict[int, str]:
    """GPT-2's byte-level alphabet: each byte as one printable character (how tokenizer.json spells bytes).

    Printable Latin-1 bytes stand for themselves; the others are shifted to code points 256 and up.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    shifted = [b for b in range(256) if b not in printable]
    return {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(shifted)}


BYTE_TO_CHAR = _byte_to_char()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


# --------------------------------------------------------------------------------------- the tokenizer


class Tokenizer:
    """A trained tokenizer: a thin wrapper over `tokenizers.Tokenizer` (and a tiktoken twin for speed).

    Build it with `load_tokenizer(path)`. Ids are Python ints; text is str.
    """

    def __init__(self, path: Path, hf):
        self.path = path
        self.hf = hf
        # Special-token text in input is ordinary text (the chat template inserts control ids itself).
        self.hf.encode_special_tokens = True
        self.vocab_size: int = hf.get_vocab_size(with_added_tokens=True)
        self.eot_id, self.pad_id, self.im_start_id, self.im_sep_id, self.im_end_id = range(
            len(SPECIAL_TOKENS)
        )
        self._fast = _tiktoken_twin(hf)  # None when tokenizer.json is not in llmkit's exact form

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of tokenizer.json; a checkpoint records it to detect a tokenizer mismatch."""
        return fingerprint(self.path)

    @property
    def encoder(self) -> str:
        """Which library encodes: 'tiktoken' (same ids, faster) or 'tokenizers'."""
        return "tiktoken" if self._fast is not None else "tokenizers"

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` (no special tokens added; special-token text is encoded as text)."""
        if self._fast is not None:
            return self._fast.encode_ordinary(text)
        return self.hf.encode(_valid_unicode(text), add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str], threads: int | None = None) -> list[list[int]]:
        """`encode` of each text, in order, on `threads` threads (default: all cores)."""
        texts = list(texts)
        if self._fast is not None:
            # Each thread encodes a contiguous slice in a plain loop (tiktoken releases the GIL):
            # tiktoken's own encode_ordinary_batch submits one pool task per text, whose overhead
            # exceeds the encoding itself for web-page-sized documents.
            threads = min(threads or default_workers(), len(texts))
            if threads <= 1:
                return [self._fast.encode_ordinary(t) for t in texts]
            size = -(-len(texts) // (4 * threads))  # 4 slices per thread evens out uneven documents
            slices = [texts[i : i + size] for i in range(0, len(texts), size)]
            with ThreadPoolExecutor(threads) as pool:
                encoded = pool.map(lambda part: [self._fast.encode_ordinary(t) for t in part], slices)
                return [ids for part in encoded for ids in part]
        texts = [_valid_unicode(t) for t in texts]
        return [e.ids for e in self.hf.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`; special tokens appear as their text; invalid UTF-8 becomes U+FFFD."""
        ids = [int(i) for i in ids]  # also numpy arrays and torch tensors
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token id {bad[0]} is outside the vocabulary (size {self.vocab_size})")
        if self._fast is not None:
            return self._fast.decode(ids, errors="replace")
        return self.hf.decode(ids, skip_special_tokens=False)

    def id_to_token(self, token_id: int) -> str:
        """The vocabulary entry of `token_id`, in tokenizer.json's byte-level spelling."""
        return self.hf.id_to_token(token_id)

    def render_chat(
        self, messages: Sequence[dict], add_generation_prompt: bool = False
    ) -> tuple[list[int], list[int]]:
        """Token ids of a conversation and its assistant mask (1 = a token the assistant wrote).

        Each message renders as `<|im_start|>{role}<|im_sep|>{content}<|im_end|>`. The mask is 1 on
        assistant content tokens and their `<|im_end|>` (what SFT learns to produce), 0 elsewhere.
        `add_generation_prompt` appends `<|im_start|>assistant<|im_sep|>` for the model to continue.
        `messages` are dicts with str `role` and `content`; anything else is a UserError.
        """
        ids: list[int] = []
        mask: list[int] = []
        for i, message in enumerate(messages):
            role, content = _check_message(message, i)
            header = [self.im_start_id, *self.encode(role), self.im_sep_id]
            body = [*self.encode(content), self.im_end_id]
            ids += header + body
            mask += [0] * len(header) + [int(role == "assistant")] * len(body)
        if add_generation_prompt:
            prompt = [self.im_start_id, *self.encode("assistant"), self.im_sep_id]
            ids += prompt
            mask += [0] * len(prompt)
        return ids, mask

    def __repr__(self) -> str:
        return f"Tokenizer({str(self.path)!r}, vocab_size={self.vocab_size}, encoder={self.encoder!r})"


def _check_message(message, index: int) -> tuple[str, str]:
    if not isinstance(message, dict):
        raise UserError(
            f"chat message {index} must be an object with 'role' and 'content' (got {message!r:.60})"
        )
    role, content = message.get("role"), message.get("content")
    if not isinstance(role, str) or not role:
        raise UserError(f"chat message {index} needs a non-empty string 'role' (got {role!r:.60})")
    if not isinstance(content, str):
        raise UserError(f"chat message {index} needs a string 'content' (got {content!r:.60})")
    return role, content


def _valid_unicode(text: str) -> str:
    """`text` with lone surrogates (which UTF-8 cannot encode) replaced by U+FFFD, as tiktoken does."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def load_tokenizer(path: str | Path) -> Tokenizer:
    """Load a tokenizer from a tokenizer.json file, or from any directory holding one (tokenizer or
    tokens artifact, checkpoint). A missing or invalid file, or one without llmkit's special tokens at
    ids 0..4, is a UserError."""
    from tokenizers import Tokenizer as HFTokenizer

    p = Path(path)
    if p.is_dir():
        p = p / TOKENIZER_FILE
        if not p.is_file():
            raise UserError(
                f"{path} has no {TOKENIZER_FILE}; expected a tokenizer, tokens or checkpoint directory"
            )
    elif not p.exists():
        hint = " (a previous run did not finish)" if partial_path(p).exists() else ""
        raise UserError(f"{path} does not exist{hint}")
    try:
        hf = HFTokenizer.from_file(str(p))
    except Exception as e:  # tokenizers raises plain Exception for any parse error
        raise UserError(f"{p} is not a valid tokenizer.json: {str(e).splitlines()[0][:200]}") from e
    found = tuple(hf.id_to_token(i) for i in range(len(SPECIAL_TOKENS)))
    if found != SPECIAL_TOKENS:
        raise UserError(
            f"{p} is not an llmkit tokenizer: ids 0..4 must be {', '.join(SPECIAL_TOKENS)} (found {found})"
        )
    return Tokenizer(p, hf)


# --------------------------------------------------------------------------------------- tiktoken twin


def _tiktoken_form(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The merges tiktoken implies for a vocabulary: every split of a token into two tokens, by rank.

    tiktoken merges whichever adjacent pair forms the lowest-id token; listing every such pair with that
    token's rank (ties by the parts' ranks, as transformers' tiktoken converter does) makes HF's BPE do
    the same.
    """
    merges = []
    for token, rank in ranks.items():
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in ranks and right in ranks:
                merges.append((rank, ranks[left], ranks[right], left, right))
    merges.sort()
    return [(left, right) for *_, left, right in merges]


def _byte_ranks(vocab: dict[str, int]) -> dict[bytes, int]:
    """The BPE vocabulary (without special tokens) as bytes -> id."""
    return {bytes(CHAR_TO_BYTE[c] for c in tok): i for tok, i in vocab.items() if i >= len(SPECIAL_TOKENS)}


def _tiktoken_twin(hf):
    """A tiktoken Encoding with the same ids as `hf`, or None if `hf` is not in llmkit's exact form.

    The form: no normalizer, no added tokens but the special ones, the GPT-4 split then ByteLevel, a
    BPE with whole-piece lookup first and exactly the merges tiktoken implies (`_tiktoken_form`).
    Anything else could encode differently, so it is left to `tokenizers`.
    """
    import tiktoken

    spec = json.loads(hf.to_str())
    model = spec.get("model") or {}
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else []
    expected_steps = [
        ("Split", {"Regex": SPLIT_PATTERN}, "Isolated", False),
        ("ByteLevel", False, False),
    ]
    got_steps = [
        (s.get("type"), s.get("pattern"), s.get("behavior"), s.get("invert"))
        if s.get("type") == "Split"
        else (s.get("type"), s.get("add_prefix_space"), s.get("use_regex"))
        for s in steps
    ]
    added = [(t.get("id"), t.get("content"), t.get("special")) for t in spec.get("added_tokens", [])]
    if (
        spec.get("normalizer") is not None
        or added != [(i, t, True) for i, t in enumerate(SPECIAL_TOKENS)]  # other added tokens split text
        or got_steps != expected_steps
        or model.get("type") != "BPE"
        or not model.get("ignore_merges")
        or model.get("byte_fallback")
        or model.get("continuing_subword_prefix")
        or model.get("end_of_word_suffix")
    ):
        return None
    try:
        ranks = _byte_ranks(model["vocab"])
    except KeyError:  # a character outside the byte-level alphabet
        return None
    if len(ranks) + len(SPECIAL_TOKENS) != hf.get_vocab_size(with_added_tokens=True):
        return None
    to_chars = lambda b: "".join(BYTE_TO_CHAR[x] for x in b)  # noqa: E731
    merges = [[to_chars(left), to_chars(right)] for left, right in _tiktoken_form(ranks)]
    if merges != [m if isinstance(m, list) else m.split(" ", 1) for m in model.get("merges", [])]:
        return None
    return tiktoken.Encoding(
        "llmkit",
        pat_str=SPLIT_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={t: i for i, t in enumerate(SPECIAL_TOKENS)},
    )


# --------------------------------------------------------------------------------------- reading inputs


@dataclass
class DocumentBatch:
    """A batch of input documents: parallel lists of ids and texts, and which split each belongs to."""

    ids: list[str]
    texts: list[str]
    is_val: list[bool]


def in_val_split(doc_id: str, val_fraction: float) -> bool:
    """Whether a document belongs to the validation split: a stable hash of its id, so every run (and
    every stage) puts the same documents on the same side."""
    h = int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "big")
    return h < val_fraction * 2**64


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
            text = path.read_text(encoding="utf-8")
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
    config: dict | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> dict:
    """Train a byte-level BPE on the documents at `input_path`; write a tokenizer artifact to `out_dir`.

    Trains on the train split only (the same documents `tokenize` puts in train, given the same
    `val_fraction`/`val_tail_fraction`), reading at most `max_chars` characters (None: all), streamed.
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
    _check_fraction("val-fraction", val_fraction)
    _check_fraction("val-tail-fraction", val_tail_fraction)
    input_path = Path(input_path)
    total_docs = count_documents(input_path, val_tail_fraction)
    config = {
        "vocab_size": vocab_size,
        "max_chars": max_chars,
        "val_fraction": val_fraction,
        "val_tail_fraction": val_tail_fraction,
        **(config or {}),
    }

    with ArtifactWriter(
        out_dir, kind="tokenizer", stage="train-tokenizer", config=config, inputs=[input_path], force=force
    ) as w:
        read = _TrainingRead()
        start = time.perf_counter()
        with progress_bar() if show_progress else _Quiet() as progress:
            bar = progress.add_task("reading", total=total_docs, unit="docs")
            texts = _training_texts(
                input_path, val_fraction, val_tail_fraction, max_chars, heldout_chars, read, progress, bar
            )
            hf = _train_bpe(texts, vocab_size)
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
            "special_tokens": {t: i for i, t in enumerate(SPECIAL_TOKENS)},
            "heldout_chars": read.heldout_chars,
            "heldout_bytes_per_token": round(heldout_bytes / heldout_tokens, 4) if heldout_tokens else None,
            "encoder": tok.encoder,
            "fingerprint": tok.fingerprint,
        }
        w.commit(counts={"vocab_size": tok.vocab_size, "training_chars": read.chars}, stats=stats)
    return {"out": str(out_dir), **stats}


def _train_bpe(texts: Iterator[str], vocab_size: int):
    """HF's byte-level BPE trained on `texts` behind the GPT-4 split, merges as trained (a
    `tokenizers.Tokenizer`). `train_tokenizer` then rewrites the merges in tiktoken's form."""
    from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
    from tokenizers import Tokenizer as HFTokenizer

    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERN), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),  # first, so they get ids 0..4
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, seen or not
        show_progress=False,
    )
    hf.train_from_iterator(texts, trainer)
    return hf


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

    # Text mode with universal newlines, as `Path.read_text` (and so `tokenize`) reads the file.
    try:
        with open(path, encoding="utf-8") as f:
            # no tail: nothing to place, so no counting pass
            n_chars = sum(map(len, pieces(f, math.inf))) if val_tail_fraction else math.inf
            cut = _tail_start(n_chars, val_tail_fraction) if val_tail_fraction else n_chars
            f.seek(0)
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


def _rewrite_in_tiktoken_form(hf):
    """`hf` with its merges replaced by the ones tiktoken implies for its vocabulary (module docstring)."""
    from tokenizers import models

    vocab = hf.get_vocab(with_added_tokens=False)
    ranks = _byte_ranks(vocab)
    to_chars = lambda b: "".join(BYTE_TO_CHAR[x] for x in b)  # noqa: E731
    merges = [(to_chars(left), to_chars(right)) for left, right in _tiktoken_form(ranks)]
    hf.model = models.BPE(vocab=vocab, merges=merges, ignore_merges=True)
    return hf


class _Quiet:
    """Stands in for a rich Progress when progress is not shown."""

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        return None

    def add_task(self, *args, **kwargs) -> int:
        return 0

    def update(self, *args, **kwargs) -> None:
        return None


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
        with progress_bar() if show_progress else _Quiet() as progress, ThreadPoolExecutor(1) as reader:
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


def _check_same_as_tokenizers(tok: Tokenizer, texts: list[str], encoded: list[list[int]]) -> None:
    """Fail loudly if the tiktoken twin and `tokenizers` disagree on real input.

    They agree by construction and in the tests; this guards against a future version of either
    library changing its regex engine's Unicode tables, at the cost of encoding a few documents twice.
    """
    if tok.encoder != "tiktoken":
        return
    for text, ids in zip(texts, encoded, strict=True):
        if ids != tok.hf.encode(_valid_unicode(text), add_special_tokens=False).ids:
            import tiktoken
            import tokenizers

            raise UserError(
                f"tiktoken {tiktoken.__version__} and tokenizers {tokenizers.__version__} encode "
                f"{text[:40]!r} differently, so llmkit cannot use tiktoken with them; please report this"
            )


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
