"""Decontamination benchmark: llmkit's 13-gram check against the same check written naively.

    .venv/bin/python benchmarks/decontaminate.py            # 100k documents x 10k questions
    .venv/bin/python benchmarks/decontaminate.py --quick    # 10k x 1k, one repeat

Both sides run in this process, on one core, on the same documents and questions, with identical
settings: 13-word n-grams of texts normalised by `minhash.normalize_text` (as dedup normalises).

- llmkit: `build_index` (a sorted uint64 array of n-gram hashes, with each n-gram's task and byte span)
  and `contaminated` (the documents' n-grams hashed in bulk, one `searchsorted`, byte-checked hits),
  fed batches of 1,024 documents; and the whole `run_decontaminate` stage (Parquet in and out, one worker).
- naive: a Python `set` of word tuples built from the questions; each document's n-grams looked up
  one tuple at a time.

The two must flag exactly the same documents (checked). Speed: the median of `--repeats` timed runs
of each, in documents per second; the index build is timed apart. Memory per indexed n-gram: the
`tracemalloc` growth while each index is built (numpy reports its buffers to tracemalloc), over the
number of distinct n-grams. Synthetic text: words drawn from a Zipf vocabulary of 20,000 words;
questions 20-60 words, documents 50-550 words; 1% of the documents hold a 20-word span of a question.
Results: a rich table and benchmarks/results/decontaminate.json.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

from llmkit.artifacts import ArtifactWriter
from llmkit.data import minhash
from llmkit.data.decontaminate import NGRAM, build_index, contaminated, run_decontaminate
from llmkit.device import cpu_model
from llmkit.parquet import ParquetPartWriter

RESULTS = Path(__file__).resolve().parent / "results" / "decontaminate.json"
BATCH = 1024
console = Console()


def letters(i: int) -> str:
    """Word number i spelt in letters: normalisation turns every number into "0" ("w17" = "w42")."""
    word = ""
    while True:
        word = chr(97 + i % 26) + word
        i = i // 26 - 1
        if i < 0:
            return word


def make_corpus(n_docs: int, n_questions: int, seed: int) -> tuple[list[str], list[str]]:
    rng = np.random.default_rng(seed)
    vocab = np.array([letters(i) for i in range(20_000)])
    zipf = 1.0 / np.arange(1, len(vocab) + 1)
    zipf /= zipf.sum()

    q_lens, d_lens = rng.integers(20, 61, n_questions), rng.integers(50, 551, n_docs)
    words = vocab[rng.choice(len(vocab), size=int(q_lens.sum() + d_lens.sum()), p=zipf)].tolist()  # one draw
    cuts = np.cumsum(np.concatenate((q_lens, d_lens))).tolist()
    texts = [words[a:b] for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]
    questions = [" ".join(t) for t in texts[:n_questions]]
    docs = []
    for doc_words in texts[n_questions:]:
        if rng.random() < 0.01:
            q = questions[int(rng.integers(len(questions)))].split()
            at = int(rng.integers(0, len(doc_words)))
            doc_words[at:at] = q[:20]
        docs.append(" ".join(doc_words))
    return docs, questions


def naive_index(questions: list[str], n: int = NGRAM) -> set:
    grams = set()
    for q in questions:
        words = minhash.normalize_text(q).decode().split()
        grams.update(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    return grams


def naive_contaminated(grams: set, docs: list[str], n: int = NGRAM) -> list[bool]:
    out = []
    for d in docs:
        words = minhash.normalize_text(d).decode().split()
        out.append(any(tuple(words[i : i + n]) in grams for i in range(len(words) - n + 1)))
    return out


def llmkit_contaminated(index, docs: list[str]) -> list[bool]:
    out = []
    for i in range(0, len(docs), BATCH):
        out += [hit is not None for hit in contaminated(index, docs[i : i + BATCH])]
    return out


def traced(build):
    """(result, bytes allocated and still held after `build()`)."""
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    result = build()
    held = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    return result, held


def timed(fn, repeats: int) -> tuple[list[float], object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def write_docs(path: Path, docs: list[str]) -> Path:
    with ArtifactWriter(path, kind="docs", stage="benchmark") as w:
        with ParquetPartWriter(w.part_path(0)) as part:
            part.write([{"id": str(i), "url": "u", "text": t} for i, t in enumerate(docs)])
        w.commit(counts={"rows": len(docs)})
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--docs", type=int, default=100_000)
    parser.add_argument("--questions", type=int, default=10_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="10k documents x 1k questions, one repeat")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    if args.quick:
        args.docs, args.questions, args.repeats = 10_000, 1_000, 1

    with console.status(f"generating {args.docs:,} documents and {args.questions:,} questions"):
        docs, questions = make_corpus(args.docs, args.questions, args.seed)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        task = tmp / "questions.jsonl"
        task.write_text("".join(json.dumps({"prompt": q, "answer": ""}) + "\n" for q in questions))
        build_index(
            [task]
        )  # warm minhash's power tables, a process-wide cache sized by the longest text batch
        index, llmkit_bytes = traced(lambda: build_index([task]))
        grams, naive_bytes = traced(lambda: naive_index([q + " " for q in questions]))
        assert len(grams) == len(index.hashes), (len(grams), len(index.hashes))
        build_llmkit, _ = timed(lambda: build_index([task]), args.repeats)
        build_naive, _ = timed(lambda: naive_index([q + " " for q in questions]), args.repeats)
        with console.status("llmkit check"):
            t_llmkit, found = timed(lambda: llmkit_contaminated(index, docs), args.repeats)
        with console.status("naive check"):
            t_naive, expected = timed(lambda: naive_contaminated(grams, docs), args.repeats)
        assert found == expected, "the two checks disagree"
        src = write_docs(tmp / "docs", docs)
        with console.status("llmkit stage (Parquet in and out, one worker)"):
            t_stage = []
            for r in range(args.repeats):
                start = time.perf_counter()
                stats = run_decontaminate([src], tmp / f"out{r}", [task], workers=1)
                t_stage.append(time.perf_counter() - start)
            assert stats["docs_in"] - stats["docs_out"] == sum(found)

    n = len(index.hashes)
    results = {
        "cpu": cpu_model(),
        "threads": 1,
        "precision": "n/a (integer hashing; no floating point)",
        "load": "taken while other engineers' test suites ran on the same 2-core machine",
        "loadavg_1_5_15": os.getloadavg(),
        "docs": args.docs,
        "questions": args.questions,
        "ngram": NGRAM,
        "contaminated_docs": sum(found),
        "indexed_ngrams": n,
        "llmkit": {
            "docs_per_s": args.docs / statistics.median(t_llmkit),
            "seconds": t_llmkit,
            "index_build_s": statistics.median(build_llmkit),
            "index_bytes_per_ngram": llmkit_bytes / n,
            "index_array_bytes_per_ngram": index.nbytes / n,  # hashes, task ids, spans, normalised text
        },
        "llmkit_stage": {"docs_per_s": args.docs / statistics.median(t_stage), "seconds": t_stage},
        "naive_set_of_tuples": {
            "docs_per_s": args.docs / statistics.median(t_naive),
            "seconds": t_naive,
            "index_build_s": statistics.median(build_naive),
            "index_bytes_per_ngram": naive_bytes / n,
        },
    }
    results["speedup"] = results["llmkit"]["docs_per_s"] / results["naive_set_of_tuples"]["docs_per_s"]
    results["memory_ratio"] = naive_bytes / llmkit_bytes
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2) + "\n")

    table = Table(title=f"decontaminate: {args.docs:,} docs x {args.questions:,} questions, {NGRAM}-grams "
                  f"({n:,} indexed), one core, {cpu_model()}")  # fmt: skip
    for col in ("check", "docs/s (median)", "index build s", "bytes per indexed n-gram"):
        table.add_column(col, justify="left" if col == "check" else "right")
    for name, key in (("llmkit (in memory)", "llmkit"), ("llmkit stage (Parquet, 1 worker)", "llmkit_stage"),
                      ("naive set of tuples", "naive_set_of_tuples")):  # fmt: skip
        r = results[key]
        table.add_row(name, f"{r['docs_per_s']:,.0f}", f"{r.get('index_build_s', 0):.2f}" if "index_build_s" in r
                      else "", f"{r['index_bytes_per_ngram']:.1f}" if "index_bytes_per_ngram" in r else "")  # fmt: skip
    table.caption = (f"{results['speedup']:.1f}x the naive docs/s, {results['memory_ratio']:.1f}x less memory per "
                     f"n-gram; {sum(found):,} contaminated docs found by both")  # fmt: skip
    console.print(table)
    console.print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
