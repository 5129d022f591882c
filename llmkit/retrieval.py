"""Retrieval: open an `index` artifact, search it with BM25, and put what it finds in a model's context.

An index (written by `llmkit index`, `llmkit.data.index`) is a directory:

    passages/part-NNNNN.parquet   passage_id, doc_id, url, text — row i is BM25 document i
    bm25/                         bm25s's sparse score matrix (.npy) and vocabulary (.json)
    manifest.json                 kind "index": documents, passages, vocabulary, build time

Passages and queries are split into words by one rule (`word_tokenizer`): lowercased runs of two or
more word characters, English stop words removed, no stemming. The score is BM25 as Lucene computes
it (bm25s's default `method="lucene"`, k1=1.5, b=0.75), whose idf is never negative.

The context message generation, chat and eval put before the user's question, and the one the
grounded-QA training data holds, is `context_message(hits)`:

    {"role": "system", "content": "Answer from these sources.\\n[1] URL\\nTEXT\\n[2] URL\\nTEXT"}
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from llmkit.artifacts import open_artifact
from llmkit.defaults import stage_default
from llmkit.errors import UserError
from llmkit.parquet import parquet_files

PASSAGES_DIR = "passages"
BM25_DIR = "bm25"
PASSAGE_COLUMNS = ("passage_id", "doc_id", "url", "text")
CONTEXT_HEADER = "Answer from these sources."
STOPWORDS = "en"  # bm25s's English stop-word list
DEFAULT_RETRIEVE_K = stage_default("retrieval", "retrieve_k")


def word_tokenizer():
    """The one word-splitting rule of index build and query (a fresh bm25s Tokenizer, empty vocabulary)."""
    from bm25s.tokenization import Tokenizer

    return Tokenizer(lower=True, stopwords=STOPWORDS)


def query_words(query: str) -> list[str]:
    """The words of `query` that BM25 scores: lowercased, stop words removed (may be empty)."""
    words = word_tokenizer().tokenize([query], update_vocab=True, return_as="string", show_progress=False)
    return [w for w in words[0] if w]


@dataclass
class Hit:
    """One retrieved passage: its 1-based rank, BM25 score and row of the passages table."""

    rank: int
    score: float
    passage_id: str
    doc_id: str
    url: str
    text: str


class Index:
    """An opened index artifact: `search(query, k)` returns the top passages, best first.

    The score matrix is memory-mapped; passage texts are read from Parquet one row group at a time
    when a hit needs them, so opening a large index costs little memory.
    """

    def __init__(self, path: str | Path):
        import bm25s

        art = open_artifact(path, kinds=["index"], allow_plain_parquet=False)
        self.path, self.manifest = art.path, art.manifest
        self.parts = parquet_files(self.path / PASSAGES_DIR) if (self.path / PASSAGES_DIR).is_dir() else []
        try:
            self.bm25 = bm25s.BM25.load(str(self.path / BM25_DIR), mmap=True, show_progress=False)
            files = [pq.ParquetFile(p) for p in self.parts]
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            raise UserError(f"index {self.path} is corrupt: {e}") from e
        # (part, row group) of every row group, and the global row each one starts at
        self._groups = [(f, g) for f in files for g in range(f.metadata.num_row_groups)]
        sizes = [f.metadata.row_group(g).num_rows for f, g in self._groups]
        self._group_starts = np.cumsum([0, *sizes])
        self.num_passages = int(self._group_starts[-1])
        if not self.parts or self.num_passages != self.bm25.scores["num_docs"]:
            raise UserError(
                f"index {self.path} is corrupt: {self.num_passages:,} passages in {PASSAGES_DIR}/ but "
                f"{self.bm25.scores['num_docs']:,} in its BM25 matrix; re-run llmkit index"
            )
        self._read_group = lru_cache(maxsize=64)(self._read_group_uncached)

    def search(self, query: str, k: int = stage_default("retrieval", "k")) -> list[Hit]:
        """The top `k` passages for `query` (fewer if fewer contain one of its words), best first.

        A query with no word left after stop-word removal is a UserError: nothing could match it.
        """
        if k < 1:
            raise UserError(f"the number of passages to retrieve must be at least 1 (got {k})")
        words = query_words(query)
        if not words:
            raise UserError(
                f"the query {query!r:.80} has only stop words (or no words); nothing to search for"
            )
        rows, scores = self.bm25.retrieve(
            [words], k=min(k, self.num_passages), show_progress=False, n_threads=1
        )
        hits = []
        for row, score in zip(rows[0].tolist(), scores[0].tolist(), strict=True):
            if score <= 0:  # no query word in it: bm25s still fills the k slots
                break
            hits.append(Hit(len(hits) + 1, float(score), *self.passage(row)))
        return hits

    def passage(self, row: int) -> tuple[str, str, str, str]:
        """(passage_id, doc_id, url, text) of global row `row`."""
        group = int(np.searchsorted(self._group_starts, row, side="right")) - 1
        table = self._read_group(group)
        i = row - int(self._group_starts[group])
        return tuple(table[c][i] for c in PASSAGE_COLUMNS)

    def _read_group_uncached(self, group: int) -> dict[str, list]:
        f, g = self._groups[group]
        return f.read_row_group(g, columns=list(PASSAGE_COLUMNS)).to_pydict()


def open_index(path: str | Path) -> Index:
    """An index artifact opened for search; a missing, foreign or corrupt one is a UserError."""
    return Index(path)


def context_message(hits: list[Hit]) -> dict:
    """The context message with numbered sources: the same template at inference and in training data."""
    sources = "\n".join(f"[{h.rank}] {h.url}\n{h.text}" for h in hits)
    return {"role": "system", "content": f"{CONTEXT_HEADER}\n{sources}"}


def with_context(messages: list[dict], hits: list[Hit]) -> list[dict]:
    """`messages` with the context message inserted just before the last user message (after any
    system prompt and earlier turns). No hits: the messages unchanged."""
    if not hits:
        return list(messages)
    last_user = max((i for i, m in enumerate(messages) if m.get("role") == "user"), default=len(messages))
    return [*messages[:last_user], context_message(hits), *messages[last_user:]]


def ground(index: Index, prompts: list, k: int) -> tuple[list[list[dict]], list[list[Hit]]]:
    """Each prompt (text, or chat messages) as chat messages with the context message of its top `k`
    passages for its last user message; and those hits."""
    grounded, hits = [], []
    for prompt in prompts:
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else list(prompt)
        found = index.search(last_user_text(messages), k)
        grounded.append(with_context(messages, found))
        hits.append(found)
    return grounded, hits


def format_sources(hits: list[Hit]) -> str:
    """The sources line(s) shown under an answer: `[1] url (passage id)`, one per hit."""
    if not hits:
        return "sources: none matched"
    return "sources:\n" + "\n".join(f"  [{h.rank}] {h.url or h.doc_id} ({h.passage_id})" for h in hits)


def last_user_text(messages: list[dict]) -> str:
    """The content of the last user message: what retrieval searches for."""
    for message in reversed(messages):
        if message.get("role") == "user":
            return str(message.get("content", ""))
    raise UserError("a conversation to retrieve for needs a user message")


def retrieval_ranks(
    index: Index, questions: list[str], gold: list[tuple[str, set[str]]], depth: int
) -> tuple[list[int | None], list[list[Hit]]]:
    """For each question, the 1-based rank of its first hit whose `key` ("doc_id" or "passage_id") is
    one of the gold ids (None: not in the top `depth`), and its hits."""
    ranks, all_hits = [], []
    for question, (key, ids) in zip(questions, gold, strict=True):
        hits = index.search(question, depth)
        ranks.append(next((h.rank for h in hits if getattr(h, key) in ids), None))
        all_hits.append(hits)
    return ranks, all_hits


def retrieval_metrics(ranks: list[int | None], ks: tuple[int, ...]) -> dict[str, float]:
    """recall@k for each k and MRR from each question's 1-based rank of its first gold hit (None: not
    retrieved within the ranks searched)."""
    n = max(1, len(ranks))
    metrics = {f"recall@{k}": sum(r is not None and r <= k for r in ranks) / n for k in ks}
    metrics["mrr"] = sum(1 / r for r in ranks if r is not None) / n
    return metrics
