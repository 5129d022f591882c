"""Retrieval benchmark: `llmkit index` build rate and peak memory, query latency, and agreement with
rank_bm25 (the pure-Python reference), on the same synthetic passages.

    .venv/bin/python benchmarks/retrieval.py            # 10k, 100k and 1M passages
    .venv/bin/python benchmarks/retrieval.py --quick    # 2k and 10k

Passages: 40-60 words drawn from a Zipf (s=1.1) distribution over 50,000 invented words, one
document per passage (so a passage is a document), written as a docs artifact in parts of 100,000
rows. Queries: 3 words picked from a random passage.

Per size, each side runs in a fresh process so its peak RSS (VmHWM) is its own:
  - llmkit: `run_index` (split in the executor with all cores, tokenize, bm25s build, save); then
    `Index.search(q, 10)` (retrieve from the memory-mapped matrix and read the hits' texts) per query.
  - rank_bm25: read the passages, the same word split (llmkit.retrieval.word_tokenizer), then
    `BM25Okapi(corpus)`; `get_scores` per query (it scans every passage, so at the largest size
    only a sample of the queries is run: --rank-bm25-queries).
Agreement: rank_bm25 scored with Lucene's idf, log(1 + (N - n + 0.5) / (n + 0.5)) (a subclass
overriding `_calc_idf`; its term-frequency part is Lucene's times the constant k1 + 1), must give
llmkit's top-10 (the same passages in the same order, or a different order only among equal
scores). Stock BM25Okapi uses idf log((N - n + 0.5) / (n + 0.5)), negative for words in more than
half of the passages (floored at 0.25 × the mean idf), so its top-10 differs where such a word is
in a query: its overlap with llmkit's top-10 is reported too.
Results: a table and benchmarks/results/retrieval.json.
"""

from __future__ import annotations

import argparse
import json
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "retrieval.json"
VOCAB, ZIPF_S, ROWS_PER_PART = 50_000, 1.1, 100_000
console = Console(width=150)


# --------------------------------------------------------------------------------------- data


def invented_words(n: int, rng: np.random.Generator) -> list[str]:
    syllables = [
        "ka",
        "lo",
        "mi",
        "ne",
        "ru",
        "ta",
        "vo",
        "shi",
        "pe",
        "gu",
        "da",
        "fi",
        "zo",
        "be",
        "yu",
        "qua",
    ]
    words, seen = [], set()
    while len(words) < n:
        w = "".join(syllables[i] for i in rng.integers(0, len(syllables), rng.integers(2, 5)))
        if w not in seen:
            seen.add(w)
            words.append(w)
    return words


def write_corpus(folder: Path, n: int, seed: int = 0) -> Path:
    """A docs artifact of `n` synthetic one-passage documents."""
    from llmkit.artifacts import ArtifactWriter
    from llmkit.parquet import ParquetPartWriter

    rng = np.random.default_rng(seed)
    words = np.array(invented_words(VOCAB, rng), dtype=object)
    p = 1.0 / np.arange(1, VOCAB + 1) ** ZIPF_S
    p /= p.sum()
    out = folder / f"docs-{n}"
    with ArtifactWriter(out, kind="docs", stage="benchmark") as w:
        for part, start in enumerate(range(0, n, ROWS_PER_PART)):
            size = min(ROWS_PER_PART, n - start)
            lengths = rng.integers(40, 61, size)
            ids = rng.choice(VOCAB, size=int(lengths.sum()), p=p)
            cuts = np.cumsum(lengths)[:-1]
            with ParquetPartWriter(w.part_path(part)) as writer:
                writer.write([
                    {"id": f"p{start + i}", "url": f"https://bench.example/{start + i}", "text": " ".join(words[chunk])}
                    for i, chunk in enumerate(np.split(ids, cuts))
                ])  # fmt: skip
        w.commit(counts={"rows": n})
    return out


def make_queries(docs: Path, n: int, seed: int = 1) -> list[str]:
    """`n` queries of 3 words, each from a random passage."""
    from llmkit.parquet import iter_rows, parquet_files

    texts = [r["text"] for r in iter_rows(parquet_files(docs), columns=["text"])]
    rng = np.random.default_rng(seed)
    return [" ".join(rng.choice(texts[i].split(), 3, replace=False)) for i in rng.integers(0, len(texts), n)]


# --------------------------------------------------------------------------------------- the two sides (subprocesses)


def peak_rss_mb() -> float:
    """This process's peak resident memory (VmHWM). Not ru_maxrss: Linux carries that over from the
    parent across fork and exec, so a side would report the corpus writer's peak."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024  # kB
    raise RuntimeError("no VmHWM in /proc/self/status")


def side_llmkit(docs: str, index: str, queries: list[str]) -> dict:
    from llmkit.data.index import run_index
    from llmkit.retrieval import open_index

    manifest = run_index([docs], index, show_progress=False)
    build_rss = peak_rss_mb()
    idx = open_index(index)
    idx.search(queries[0], 10)  # warm: first touch of the memory map
    latencies, top = [], []
    for q in queries:
        start = time.perf_counter()
        hits = idx.search(q, 10)
        latencies.append(time.perf_counter() - start)
        top.append([(h.passage_id, h.score) for h in hits])
    return {"build_s": manifest["stats"]["seconds"], "split_s": manifest["stats"]["split_seconds"],
            "index_s": manifest["stats"]["index_seconds"], "build_peak_rss_mb": build_rss,
            "vocabulary": manifest["counts"]["vocabulary"], "latencies": latencies, "top": top}  # fmt: skip


def side_rank_bm25(docs: str, queries: list[str]) -> dict:
    from rank_bm25 import BM25Okapi

    from llmkit.parquet import iter_rows, parquet_files
    from llmkit.retrieval import query_words, word_tokenizer

    class LuceneIdfBM25(BM25Okapi):
        """rank_bm25's Okapi BM25 with Lucene's idf (the stock Okapi idf kept as `okapi_idf`)."""

        def _calc_idf(self, nd):
            super()._calc_idf(nd)
            self.okapi_idf = self.idf
            self.idf = {w: math.log(1 + (self.corpus_size - n + 0.5) / (n + 0.5)) for w, n in nd.items()}

    ids, texts, corpus = [], [], []
    tokenizer = word_tokenizer()
    start = time.perf_counter()  # the build reads and splits the passages into words, as llmkit's does
    for row in iter_rows(parquet_files(Path(docs)), columns=["id", "text"]):
        ids.append(row["id"])
        texts.append(row["text"])
        if len(texts) == 8192:
            corpus += tokenizer.tokenize(texts, update_vocab=True, return_as="string", show_progress=False)
            texts = []
    corpus += tokenizer.tokenize(texts, update_vocab=True, return_as="string", show_progress=False)
    bm25 = LuceneIdfBM25(corpus)
    build_s = time.perf_counter() - start
    del corpus
    build_rss = peak_rss_mb()
    latencies, top_lucene, top_okapi = [], [], []
    for q in queries:
        words = query_words(q)
        start = time.perf_counter()
        scores = bm25.get_scores(words)
        latencies.append(time.perf_counter() - start)
        # a passage with none of the query's words scores 0: not a hit (llmkit leaves those out too)
        top = np.argsort(-scores, kind="stable")[:10]
        top_lucene.append([(f"{ids[i]}#0", float(scores[i])) for i in top if scores[i] > 0])
        bm25.idf, lucene = bm25.okapi_idf, bm25.idf
        okapi = bm25.get_scores(words)
        bm25.idf = lucene
        top_okapi.append([f"{ids[i]}#0" for i in np.argsort(-okapi, kind="stable")[:10] if okapi[i] != 0])
    return {"build_s": build_s, "build_peak_rss_mb": build_rss, "latencies": latencies,
            "top_lucene": top_lucene, "top_okapi": top_okapi}  # fmt: skip


def run_side(name: str, *args) -> dict:
    """One side in a fresh Python process (its own peak RSS); returns its JSON result."""
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
        json.dump(args, f)
    code = f"import json,sys; sys.path.insert(0, {str(REPO / 'benchmarks')!r}); import retrieval as b; " \
           f"print(json.dumps(b.side_{name}(*json.load(open({f.name!r})))))"  # fmt: skip
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    if proc.returncode != 0:
        raise RuntimeError(f"{name} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------------------------------- agreement


def same_top(ours: list, theirs: list, rel: float = 1e-4) -> bool:
    """The same top-10: the same scores rank by rank (rank_bm25's are Lucene's times k1 + 1 = 2.5) and
    the same passages, where passages of equal score may come in either order (and, in the run of
    equal scores that the 10th place cuts, may be different members of that run)."""
    if len(ours) != len(theirs):
        return False
    if not all(
        math.isclose(a[1], b[1] / 2.5, rel_tol=rel, abs_tol=1e-6) for a, b in zip(ours, theirs, strict=True)
    ):
        return False
    last = ours[-1][1]
    above_cut = lambda top, scale: {p for p, s in top if not math.isclose(s / scale, last, rel_tol=rel)}  # noqa: E731
    return above_cut(ours, 1) == above_cut(theirs, 2.5)


def percentile(values: list[float], q: float) -> float:
    return float(np.percentile(values, q)) * 1000  # ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--quick", action="store_true", help="2k and 10k passages")
    parser.add_argument("--queries", type=int, default=200)
    parser.add_argument(
        "--rank-bm25-queries", type=int, default=50, help="rank_bm25 queries per size (<= --queries)"
    )
    parser.add_argument("--rank-bm25-queries-large", type=int, default=20, help="... at 1M passages and more")
    parser.add_argument("--json", type=Path, default=RESULTS)
    args = parser.parse_args()
    sizes = [2_000, 10_000] if args.quick else args.sizes

    from llmkit.data.executor import default_workers
    from llmkit.device import cpu_model

    results = {"cpu": cpu_model(), "workers": default_workers(), "precision": "float32 scores (bm25s dtype)",
               "note": "timings taken while other jobs shared the machine", "sizes": []}  # fmt: skip
    table = Table(title="retrieval: llmkit index (bm25s) vs rank_bm25, same passages")
    for col in (
        "passages",
        "side",
        "build s",
        "passages/s",
        "peak RSS MB",
        "query p50 ms",
        "query p95 ms",
        "top-10",
    ):
        table.add_column(col, justify="right")
    for n in sizes:
        with tempfile.TemporaryDirectory() as tmp:
            console.print(f"[bold]{n:,} passages[/]: writing the corpus")
            docs = write_corpus(Path(tmp), n)
            queries = make_queries(docs, args.queries)
            n_ref = args.rank_bm25_queries_large if n >= 1_000_000 else args.rank_bm25_queries
            console.print("  llmkit index + search")
            ours = run_side("llmkit", str(docs), str(Path(tmp) / "index"), queries)
            console.print(f"  rank_bm25 ({n_ref} queries)")
            theirs = run_side("rank_bm25", str(docs), queries[:n_ref])
        identical = sum(same_top(a, b) for a, b in zip(ours["top"], theirs["top_lucene"], strict=False))
        okapi_overlap = [
            len({p for p, _ in a} & set(b)) / max(1, len(a))
            for a, b in zip(ours["top"], theirs["top_okapi"], strict=False)
        ]
        row = {
            "passages": n,
            "llmkit": {k: v for k, v in ours.items() if k not in ("latencies", "top")}
            | {"passages_per_s": n / ours["build_s"], "query_p50_ms": percentile(ours["latencies"], 50),
               "query_p95_ms": percentile(ours["latencies"], 95), "queries": len(queries)},
            "rank_bm25": {"build_s": theirs["build_s"], "passages_per_s": n / theirs["build_s"],
                          "build_peak_rss_mb": theirs["build_peak_rss_mb"], "queries": n_ref,
                          "query_p50_ms": percentile(theirs["latencies"], 50),
                          "query_p95_ms": percentile(theirs["latencies"], 95)},
            "identical_top10_lucene_idf": f"{identical}/{n_ref}",
            "okapi_idf_top10_overlap_mean": float(np.mean(okapi_overlap)),
        }  # fmt: skip
        row["query_speedup_p50"] = row["rank_bm25"]["query_p50_ms"] / row["llmkit"]["query_p50_ms"]
        results["sizes"].append(row)
        a, b = row["llmkit"], row["rank_bm25"]
        table.add_row(f"{n:,}", "llmkit", f"{a['build_s']:.1f}", f"{a['passages_per_s']:,.0f}",
                      f"{a['build_peak_rss_mb']:,.0f}", f"{a['query_p50_ms']:.2f}", f"{a['query_p95_ms']:.2f}",
                      f"{identical}/{n_ref} same")  # fmt: skip
        table.add_row("", "rank_bm25", f"{b['build_s']:.1f}", f"{b['passages_per_s']:,.0f}",
                      f"{b['build_peak_rss_mb']:,.0f}", f"{b['query_p50_ms']:.2f}", f"{b['query_p95_ms']:.2f}",
                      f"okapi overlap {row['okapi_idf_top10_overlap_mean']:.0%}")  # fmt: skip
        console.print(table)
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"CPU: {results['cpu']}, {results['workers']} workers; wrote {args.json}")


if __name__ == "__main__":
    main()
