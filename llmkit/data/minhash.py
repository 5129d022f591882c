"""MinHash signatures of documents, FineWeb style, vectorised with numpy over datasketch's permutations.

A document's text is normalised as FineWeb's (datatrove's `simplify_text`): lowercase, diacritics
stripped, every number (a run of digits, optionally with one decimal part: `2024`, `3.14`, `1,5`)
turned into one `0`, punctuation removed, whitespace collapsed. It is cut into word n-gram shingles
(5-grams by default; a document with fewer words is one shingle), and each shingle is hashed to 32
bits. The signature applies datasketch's `affine32` MinHash permutations (a MurmurHash3 `fmix32`
pre-mix, then `a*h + b mod 2^32` per permutation) and keeps the minimum per permutation: it is bit for
bit what `datasketch.MinHash(num_perm, seed, hashfunc=int, scheme="affine32").update_batch(hashes)`
computes (tests check this), but for a whole batch of documents in a few numpy calls. datasketch
itself only supplies the permutation parameters (and `lsh_params`). Hashes and signature values are
32-bit, where datatrove's MinHash uses 64-bit ones: half the memory and disk, at the cost of more
chance collisions (about 2^-32 per value compared, negligible next to MinHash's own estimation error).

Shingles are hashed without a Python loop: the normalised text is one byte string whose words are
separated by single spaces, so a shingle is a byte span, and a polynomial hash mod 2^64 of any span
comes from two prefix sums (`(P[end] - P[start]) * B^-start`, B odd hence invertible mod 2^64).
"""

from __future__ import annotations

import functools
import hashlib
import re
import sys
import unicodedata
from collections.abc import Sequence

import numpy as np

# FineWeb's MinHash defaults: 5-gram word shingles, 14 bands x 8 rows = 112 permutations.
SHINGLE_SIZE = 5
BANDS = 14
ROWS = 8

_SPACE = ord(" ")
# ASCII fast path, with bytes methods only (a regex scan alone would take longer than all of them):
# numbers become "0" (FineWeb's rule: a digit run, optionally with one decimal part) by turning digits
# into "0" and "," into ".", squeezing runs of "0" and replacing "0.0" (left to right, as the regex
# matches); then one translate lowercases and turns everything that is not a letter or digit
# (punctuation, symbols, control characters, whitespace) into a space.
_ASCII_DIGITS = bytes(ord("0") if 48 <= c <= 57 else ord(".") if c == ord(",") else c for c in range(256))
_ASCII_TABLE = bytes(
    c + 32 if 65 <= c <= 90 else c if 48 <= c <= 57 or 97 <= c <= 122 else _SPACE for c in range(256)
)
# Non-ASCII path, equivalent on ASCII characters: \d is any Unicode decimal digit (FineWeb's \p{Nd}),
# and the decimal separators are FineWeb's.
_NUMBER = re.compile(r"\d+(?:[.,\u060c\u066b\u2396\u2397\u2398]\d+)?")
_NON_WORD = re.compile(r"[\W_]+")


@functools.cache
def _combining_marks() -> dict[int, int | None]:
    """str.translate table deleting every combining mark (built on first use: it scans all of Unicode).

    ASCII characters map to themselves: a hit is much cheaper than a miss in str.translate, and most
    characters of most texts are ASCII (this makes the non-ASCII path about 1.4x as fast)."""
    table: dict[int, int | None] = {c: c for c in range(128)}
    table.update(dict.fromkeys(c for c in range(sys.maxunicode + 1) if unicodedata.combining(chr(c))))
    return table


def normalize_text(text: str) -> bytes:
    """FineWeb-style normalisation, as UTF-8 bytes: words of letters and `0`s joined by single spaces."""
    if text.isascii():
        data = text.encode("ascii").translate(_ASCII_DIGITS)
        while b"00" in data:  # each pass halves the runs of "0"
            data = data.replace(b"00", b"0")
        return b" ".join(data.replace(b"0.0", b"0").translate(_ASCII_TABLE).split())
    text = unicodedata.normalize("NFKD", text.lower()).translate(_combining_marks())  # é -> e
    return _NON_WORD.sub(" ", _NUMBER.sub("0", text)).strip().encode("utf-8")


def exact_hash(normalized: bytes) -> int:
    """64-bit hash of a normalised text: equal for texts that differ only in case, punctuation, spacing."""
    return int.from_bytes(hashlib.blake2b(normalized, digest_size=8).digest(), "little")


# ------------------------------------------------------------------------------------ shingle hashing

_BASE = np.uint64(0x9E3779B97F4A7C15)  # odd, so it has an inverse mod 2^64
_BASE_INV = np.uint64(pow(int(_BASE), -1, 1 << 64))
_powers = np.ones(1, dtype=np.uint64)  # _BASE**i and _BASE_INV**i, grown on demand
_inv_powers = np.ones(1, dtype=np.uint64)


def _power_tables(n: int) -> tuple[np.ndarray, np.ndarray]:
    global _powers, _inv_powers
    if len(_powers) < n:
        size = max(n, 2 * len(_powers))
        _powers = np.cumprod(np.full(size, _BASE, dtype=np.uint64)) * _BASE_INV  # 1, B, B^2, ...
        _inv_powers = np.cumprod(np.full(size, _BASE_INV, dtype=np.uint64)) * _BASE
    return _powers[:n], _inv_powers[:n]


def shingle_hashes(docs: Sequence[bytes], size: int = SHINGLE_SIZE) -> tuple[np.ndarray, np.ndarray]:
    """32-bit hashes of the word `size`-gram shingles of normalised documents.

    Returns `(hashes, counts)`: all shingle hashes (uint32), document after document, and how many
    each document has (0 for an empty document; 1 for a document shorter than `size` words).
    """
    h, _, _, counts = shingle_spans(docs, size)
    return (h >> np.uint64(32)).astype(np.uint32), counts  # the high half mixes every byte


def shingle_spans(
    docs: Sequence[bytes], size: int = SHINGLE_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """`(hashes, starts, ends, counts)` of the word `size`-gram shingles of normalised documents: the
    full 64-bit polynomial hashes (uint64), each shingle's byte span in `b" ".join(docs)`, and how many
    shingles each document has (as `shingle_hashes`)."""
    buf = np.frombuffer(b" ".join(docs), dtype=np.uint8)
    doc_starts = np.cumsum([0] + [len(d) + 1 for d in docs[:-1]])
    # Words are the runs of non-space bytes; their [start, end) byte offsets:
    is_word = np.concatenate(([0], (buf != _SPACE).view(np.int8), [0]))
    edges = np.diff(is_word)
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    words_per_doc = np.bincount(np.searchsorted(doc_starts, starts, "right") - 1, minlength=len(docs))
    first_word = np.concatenate(([0], np.cumsum(words_per_doc)[:-1]))
    counts = np.where(words_per_doc >= size, words_per_doc - size + 1, np.minimum(words_per_doc, 1))
    # Shingle j of document d spans words first_word[d] + j ... + size - 1 (or to the doc's last word).
    shingle_doc = np.repeat(np.arange(len(docs)), counts)
    j = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    first = first_word[shingle_doc] + j
    last = np.minimum(first + size - 1, first_word[shingle_doc] + words_per_doc[shingle_doc] - 1)
    span_start, span_end = starts[first], ends[last]

    powers, inv_powers = _power_tables(len(buf) + 1)
    prefix = np.zeros(len(buf) + 1, dtype=np.uint64)
    np.cumsum(buf.astype(np.uint64) * powers[: len(buf)], out=prefix[1:])
    h = (prefix[span_end] - prefix[span_start]) * inv_powers[span_start]
    return h, span_start, span_end, counts


# ------------------------------------------------------------------------------------ signatures


def _fmix32(h: np.ndarray) -> np.ndarray:
    # MurmurHash3's finaliser: the pre-mix datasketch's affine32 scheme applies to each input hash.
    h = h ^ (h >> np.uint32(16))
    h = h * np.uint32(0x85EBCA6B)
    h = h ^ (h >> np.uint32(13))
    h = h * np.uint32(0xC2B2AE35)
    return h ^ (h >> np.uint32(16))


def permutations(num_perm: int = BANDS * ROWS, seed: int = 1) -> np.ndarray:
    """datasketch's seeded affine32 permutation parameters (a, b): a (2, num_perm) uint32 array.

    Computed once by the stage and shipped to shard tasks, so workers never import datasketch
    (whose package import pulls in scipy: over a second per process).
    """
    from datasketch import MinHash

    return MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations.astype(np.uint32)


class MinHasher:
    """MinHash signatures (`num_perm` uint32 values per document) from given permutation parameters."""

    EMPTY = np.uint32(0xFFFFFFFF)  # the signature value of a document with no shingles
    BLOCK = 1 << 15  # shingles per (shingles x permutations) matrix: 32k x 112 x 4 B = 14 MB
    MAX_BYTES = 1 << 21  # normalised text hashed at once

    def __init__(self, permutations: np.ndarray, shingle_size: int = SHINGLE_SIZE):
        """`permutations`: the (2, num_perm) parameters from `permutations(num_perm, seed)`."""
        self.a, self.b = np.asarray(permutations, dtype=np.uint32)
        self.num_perm, self.shingle_size = len(self.a), shingle_size

    def _permute(self, hashes: np.ndarray) -> np.ndarray:
        """(num_perm, len(hashes)) permuted values; this layout makes the per-document min contiguous."""
        permuted = np.multiply(self.a[:, None], hashes[None, :])
        permuted += self.b[:, None]
        return permuted

    def signatures(self, normalized: Sequence[bytes]) -> np.ndarray:
        """Signatures of normalised documents: a (len(normalized), num_perm) uint32 array."""
        out = np.empty((len(normalized), self.num_perm), dtype=np.uint32)
        # Hashing needs about 25 bytes of temporaries per byte of text, and power tables as long
        # as the text hashed at once: so at most MAX_BYTES at once (or one longer document).
        start = 0
        while start < len(normalized):
            stop, size = start + 1, len(normalized[start])
            while stop < len(normalized) and size + len(normalized[stop]) < self.MAX_BYTES:
                size += len(normalized[stop]) + 1
                stop += 1
            out[start:stop] = self._signatures(normalized[start:stop])
            start = stop
        return out

    def _signatures(self, normalized: Sequence[bytes]) -> np.ndarray:
        hashes, counts = shingle_hashes(normalized, self.shingle_size)
        hashes = _fmix32(hashes)
        out = np.full((len(normalized), self.num_perm), self.EMPTY, dtype=np.uint32)
        ends = np.cumsum(counts)
        docs = np.flatnonzero(counts)
        # Blocks of whole documents of about BLOCK shingles; a longer document is a block of its own,
        # reduced in slices so memory stays bounded.
        i = 0
        while i < len(docs):
            lo = ends[docs[i]] - counts[docs[i]]
            k = max(i + 1, int(np.searchsorted(ends[docs], lo + self.BLOCK, "right")))
            block = docs[i:k]
            hi = ends[block[-1]]
            if len(block) == 1:
                for s in range(lo, hi, self.BLOCK):
                    permuted = self._permute(hashes[s : min(s + self.BLOCK, hi)])
                    out[block[0]] = np.minimum(out[block[0]], permuted.min(axis=1))
            else:
                permuted = self._permute(hashes[lo:hi])
                out[block] = np.minimum.reduceat(permuted, (ends[block] - counts[block]) - lo, axis=1).T
            i = k
        return out


def band_hashes(signatures: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit hash per LSH band: (n, bands) uint64 from (n, >= bands*rows) uint32 signatures.

    Two documents share a band's bucket when their `rows` values in that band are all equal.
    """
    sig = signatures[:, : bands * rows].reshape(len(signatures), bands, rows).astype(np.uint64)
    h = np.zeros((len(signatures), bands), dtype=np.uint64)
    for r in range(rows):  # FNV-1a-style fold of the band's values, then a 64-bit finaliser
        h = (h ^ sig[:, :, r]) * np.uint64(0x100000001B3)
        h ^= h >> np.uint64(29)
    h *= np.uint64(0xBF58476D1CE4E5B9)
    return h ^ (h >> np.uint64(32))


def estimated_jaccard(sig_a: np.ndarray, sig_b: np.ndarray) -> np.ndarray:
    """MinHash estimate of the Jaccard similarity of row pairs: the fraction of equal values."""
    return (sig_a == sig_b).mean(axis=-1)


def lsh_params(threshold: float, num_perm: int = BANDS * ROWS) -> tuple[int, int]:
    """(bands, rows) that datasketch's MinHashLSH picks for a Jaccard `threshold` with `num_perm` values."""
    from datasketch import MinHashLSH

    lsh = MinHashLSH(threshold=threshold, num_perm=num_perm)
    return lsh.b, lsh.r
