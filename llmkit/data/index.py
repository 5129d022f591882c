"""`llmkit index`: split documents into passages and build a BM25 index over them (an `index` artifact).

Two steps, in the order they run:

1. **Split** (scale-out): one shard task per input part (a docs artifact's Parquet part, a Parquet
   file, or a JSONL file of {id, url, text}), run by the data stages' executor (`--workers`,
   `--executor ray`). Each task streams its part and writes `passages/part-NNNNN.parquet` (named by
   the shard index, so the order is the same whatever finishes first). A passage is whole paragraphs
   (lines) packed up to `passage_words` words; a paragraph longer than that is cut into windows of
   `passage_words` words that overlap by `overlap` words, so no sentence is lost at a cut.
2. **Index**: the passages are read back in order, a batch at a time, and turned into word ids
   (`llmkit.retrieval.word_tokenizer`); bm25s builds its sparse score matrix from those ids. Only
   the ids are held, never the texts, so memory is bounded by the index, not the corpus.

Why bm25s: it precomputes every (word, passage) BM25 score into a sparse matrix at build time, so a
query is a sum of a few sparse rows (milliseconds at a million passages), and it saves to plain .npy
and .json files any machine can memory-map. rank_bm25, the usual pure-Python choice, rescans every
passage's word counts on every query (benchmarks/retrieval.py measures both); Pyserini/Lucene would
pull in a JVM.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pyarrow as pa
import pyarrow.json as pa_json

from llmkit.artifacts import ArtifactWriter, open_artifact
from llmkit.data.executor import merge_counts, run_shards
from llmkit.defaults import stage_default
from llmkit.errors import UserError
from llmkit.parquet import ParquetPartWriter, iter_batches, parquet_files
from llmkit.retrieval import BM25_DIR, PASSAGES_DIR, STOPWORDS, word_tokenizer

PASSAGE_SCHEMA = pa.schema(
    [("passage_id", pa.string()), ("doc_id", pa.string()), ("url", pa.string()), ("text", pa.string())]
)
TOKENIZE_BATCH = 8192  # passages turned into word ids at a time


def split_passages(text: str, passage_words: int, overlap: int) -> list[str]:
    """`text` as passages of at most `passage_words` words: whole lines packed together; a line longer
    than the limit is cut into windows that overlap by `overlap` words. Lines stay lines."""
    passages: list[str] = []
    lines: list[str] = []  # the passage being packed
    n_words = 0
    for line in text.splitlines():
        words = line.split()
        if not words:
            continue
        if lines and n_words + len(words) > passage_words:
            passages.append("\n".join(lines))
            lines, n_words = [], 0
        while len(words) > passage_words:
            passages.append(" ".join(words[:passage_words]))
            words = words[passage_words - overlap :]
        lines.append(" ".join(words))
        n_words += len(words)
    if lines:
        passages.append("\n".join(lines))
    return passages


def _doc_rows(path: Path) -> Iterator[dict]:
    """Rows {id, url, text} of one input part: Parquet, or JSONL read in blocks by pyarrow."""
    if path.suffix != ".jsonl":
        for batch in iter_batches([path], columns=["id", "url", "text"]):
            yield from batch.to_pylist()
        return
    try:
        for batch in pa_json.open_json(path):
            if "id" not in batch.schema.names or "text" not in batch.schema.names:
                raise UserError(f"{path} needs an 'id' and a 'text' on every line (and optionally a 'url')")
            for row in batch.to_pylist():
                yield {"id": str(row["id"]), "url": str(row.get("url") or ""), "text": str(row["text"] or "")}
    except pa.ArrowInvalid as e:
        raise UserError(f"{path} is not JSONL documents with id, url, text: {e}") from e


def split_shard(task: dict) -> dict:
    """Shard task: one input part's documents → its passages part. Returns counts."""
    words, overlap = task["passage_words"], task["overlap"]
    docs = passages = 0
    with ParquetPartWriter(task["out"], schema=PASSAGE_SCHEMA) as part:
        for doc in _doc_rows(Path(task["input"])):
            docs += 1
            rows = [
                {"passage_id": f"{doc['id']}#{i}", "doc_id": doc["id"], "url": doc["url"] or "", "text": text}
                for i, text in enumerate(split_passages(doc["text"] or "", words, overlap))
            ]
            passages += len(rows)
            part.write(rows)
    return {"counts": {"documents": docs, "passages": passages}}


def input_files(inputs: Sequence[str | Path]) -> list[Path]:
    """The files to split: each docs artifact's (or Parquet folder's) parts, or a JSONL file itself."""
    if not inputs:
        raise UserError("give at least one docs artifact (or Parquet / JSONL file) to index")
    files: list[Path] = []
    for path in inputs:
        p = Path(path)
        if p.suffix == ".jsonl":
            if not p.is_file():
                raise UserError(f"{p} does not exist")
            files.append(p)
            continue
        art = open_artifact(p, kinds=["docs"])
        names = art.schema().names if art.parts else []
        missing = [c for c in ("id", "url", "text") if c not in names]
        if missing:
            raise UserError(
                f"{p} has no column {', '.join(missing)}; index takes documents with id, url, text"
            )
        files.extend(art.parts)
    return files


def run_index(
    inputs: Sequence[str | Path],
    out: str | Path,
    config: dict | None = None,
    passage_words: int = stage_default("index", "passage_words"),
    overlap: int = stage_default("index", "overlap"),
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    force: bool = False,
    show_progress: bool = True,
) -> dict:
    """Split `inputs` into passages and write a BM25 `index` artifact to `out`; returns its manifest.

    Counts: documents, passages, vocabulary (distinct words). Stats: split and index seconds,
    passages per second. An empty corpus (no passage with a word to index) is a UserError and
    writes nothing.
    """
    import bm25s

    if passage_words < 1:
        raise UserError(f"--passage-words must be at least 1 (got {passage_words})")
    if not 0 <= overlap < passage_words:
        raise UserError(f"--overlap must be from 0 to --passage-words - 1 (got {overlap})")
    files = input_files(inputs)
    config = {**(config or {}), "passage_words": passage_words, "overlap": overlap,
              "bm25": {"method": "lucene", "k1": 1.5, "b": 0.75}, "stopwords": STOPWORDS}  # fmt: skip
    start = time.perf_counter()
    with ArtifactWriter(out, kind="index", stage="index", config=config, inputs=inputs, force=force) as w:
        tasks = [
            {
                "input": str(f),
                "out": str(w.part_path(i, PASSAGES_DIR)),
                "passage_words": passage_words,
                "overlap": overlap,
            }  # fmt: skip
            for i, f in enumerate(files)
        ]
        results = run_shards(split_shard, tasks, workers, executor, ray_address, "split", show_progress)
        counts = merge_counts(results)
        split_seconds = time.perf_counter() - start
        if counts.get("passages", 0) == 0:
            raise UserError(
                f"the corpus has no text to index ({counts.get('documents', 0):,} documents); nothing written"
            )

        # Word ids of every passage, in passage order: the index's own size, the texts are not kept.
        tokenizer = word_tokenizer()
        ids: list[list[int]] = []
        for batch in iter_batches(
            parquet_files(w.path / PASSAGES_DIR), columns=["text"], batch_size=TOKENIZE_BATCH
        ):
            texts = batch.column("text").to_pylist()
            ids += tokenizer.tokenize(texts, update_vocab=True, return_as="ids", show_progress=False)
        vocab = tokenizer.get_vocab_dict()
        if len(vocab) <= 1:  # only bm25s's empty token: every passage was stop words or punctuation
            raise UserError(
                "the corpus has no word to index (only stop words or punctuation); nothing written"
            )
        retriever = bm25s.BM25(method="lucene", k1=1.5, b=0.75)
        retriever.index((ids, vocab), show_progress=False)
        del ids
        retriever.save(str(w.path / BM25_DIR), show_progress=False)
        seconds = time.perf_counter() - start
        n = counts["passages"]
        stats = {
            "split_seconds": round(split_seconds, 3),
            "index_seconds": round(seconds - split_seconds, 3),
            "seconds": round(seconds, 3),
            "passages_per_s": round(n / seconds, 1) if seconds > 0 else None,
        }
        return w.commit(
            counts={"documents": counts["documents"], "passages": n, "vocabulary": len(vocab) - 1,
                    "parts": len(files)},
            stats=stats,
        )  # fmt: skip
