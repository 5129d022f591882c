"""Tokenizer benchmark: BPE training speed, compression, and encode throughput against tiktoken.

    .venv/bin/python benchmarks/tokenizer.py [--text FILE] [--vocab-size 4096] [--copies 4] [--repeats 3]

Trains llmkit's BPE on a text (default: tinyshakespeare), splits it into paragraph "documents",
and encodes them with: llmkit's `Tokenizer.encode_batch` (what `llmkit tokenize` uses), a reference
`tiktoken.Encoding` built here from the same tokenizer.json vocabulary (no download), and HF
`tokenizers` on the same tokenizer.json (single calls and `encode_batch`), at 1 and N threads. All
must give identical ids. Then the whole `tokenize` stage (Parquet in, Parquet out). Finally every
Unicode code point is encoded in several contexts by tiktoken and tokenizers and the ids compared (the
two libraries' regex engines must agree on every character class). Medians of `--repeats` runs;
results go to benchmarks/results/tokenizer.json.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import tiktoken
from rich.console import Console
from rich.table import Table

from llmkit.data.executor import default_workers
from llmkit.tokenizer import (
    CHAR_TO_BYTE,
    SPECIAL_TOKENS,
    SPLIT_PATTERN,
    load_tokenizer,
    tokenize_docs,
    train_tokenizer,
)

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_TEXT = ROOT.parent / "shared" / "data" / "tinyshakespeare.txt"


def reference_tiktoken(tokenizer_json: Path) -> tiktoken.Encoding:
    """A tiktoken Encoding from tokenizer.json's vocabulary: token bytes ranked by id (no download)."""
    vocab = json.loads(tokenizer_json.read_text(encoding="utf-8"))["model"]["vocab"]
    ranks = {bytes(CHAR_TO_BYTE[c] for c in tok): i for tok, i in vocab.items() if i >= len(SPECIAL_TOKENS)}
    specials = {t: i for i, t in enumerate(SPECIAL_TOKENS)}
    return tiktoken.Encoding(
        "reference", pat_str=SPLIT_PATTERN, mergeable_ranks=ranks, special_tokens=specials
    )


def unicode_check(tok) -> dict:
    """tiktoken vs tokenizers ids on every code point, after a letter, digit, space, apostrophe, newline."""
    points = [chr(c) for c in range(0x110000) if not 0xD800 <= c <= 0xDFFF]
    texts = [
        "".join(f"a{c}1{c} {c}'{c}\n{c}{c}" for c in points[i : i + 4096])
        for i in range(0, len(points), 4096)
    ]
    fast = tok.encode_batch(texts)
    slow = [e.ids for e in tok.hf.encode_batch(texts, add_special_tokens=False)]
    mismatched = [
        hex(ord(points[k * 4096])) for k, (a, b) in enumerate(zip(fast, slow, strict=True)) if a != b
    ]
    return {"code_points": len(points), "chars": sum(map(len, texts)), "mismatched_blocks": mismatched}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT, help="UTF-8 text to train and encode")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--copies", type=int, default=4, help="encode the text this many times over")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=default_workers())
    parser.add_argument("--skip-unicode-check", action="store_true")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "tokenizer.json")
    args = parser.parse_args()
    console = Console()
    if not args.text.is_file():
        sys.exit(f"{args.text} not found; pass --text FILE")
    text = args.text.read_text(encoding="utf-8")
    work = Path(tempfile.mkdtemp(prefix="bench-tokenizer-"))
    load_before = os.getloadavg()[0]  # other processes on a shared machine skew absolute MB/s
    n = args.threads

    # Training: seconds per MB at the requested size and at the default 32,768.
    training = {}
    for vocab_size in sorted({args.vocab_size, 32768}):
        stats = train_tokenizer(
            args.text, work / f"tok{vocab_size}", vocab_size=vocab_size, show_progress=False
        )
        training[vocab_size] = stats
    tok = load_tokenizer(work / f"tok{args.vocab_size}")
    ref = reference_tiktoken(tok.path)

    # Documents: paragraphs (blank-line separated), the text repeated `copies` times.
    docs = [p for p in text.split("\n\n") if p] * args.copies
    mb = sum(len(d.encode("utf-8")) for d in docs) / 1e6
    ours = tok.encode_batch(docs, threads=n)
    same = {
        "tiktoken reference": ref.encode_ordinary_batch(docs, num_threads=n) == ours,
        "tokenizers": [e.ids for e in tok.hf.encode_batch(docs, add_special_tokens=False)] == ours,
        "llmkit 1 thread": tok.encode_batch(docs, threads=1) == ours,
    }

    hf = tok.hf
    runs = {
        ("tokenizers encode (loop)", 1): lambda: [hf.encode(d, add_special_tokens=False) for d in docs],
        ("tokenizers encode_batch", n): lambda: hf.encode_batch(docs, add_special_tokens=False),
        ("tiktoken reference encode (loop)", 1): lambda: [ref.encode_ordinary(d) for d in docs],
        ("tiktoken reference encode_ordinary_batch", 1): lambda: ref.encode_ordinary_batch(
            docs, num_threads=1
        ),
        ("tiktoken reference encode_ordinary_batch", n): lambda: ref.encode_ordinary_batch(
            docs, num_threads=n
        ),
        ("llmkit encode_batch", 1): lambda: tok.encode_batch(docs, threads=1),
        ("llmkit encode_batch", n): lambda: tok.encode_batch(docs, threads=n),
    }
    # The whole stage: Parquet docs in, train/val token parts out.
    pq.write_table(pa.table({"id": [str(i) for i in range(len(docs))], "text": docs}), work / "docs.parquet")
    stage_runs = iter(range(10**6))
    runs[("llmkit tokenize stage (Parquet→Parquet)", n)] = lambda: tokenize_docs(
        work / "docs.parquet", tok.path, work / f"tokens{next(stage_runs)}", threads=n, show_progress=False
    )
    # Round-robin repeats, so load from other processes on a shared machine hits every encoder alike.
    times: dict = {key: [] for key in runs}
    for _ in range(args.repeats):
        for key, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    mbps = {key: mb / statistics.median(t) for key, t in times.items()}

    unicode = None if args.skip_unicode_check else unicode_check(tok)

    ref_n = mbps[("tiktoken reference encode_ordinary_batch", n)]
    table = Table(title=f"encode throughput: {mb:.1f} MB in {len(docs):,} docs, vocab {tok.vocab_size:,}")
    for col in ("encoder", "threads", "MB/s", "× tiktoken (N threads)"):
        table.add_column(col, justify="left" if col == "encoder" else "right")
    for (name, threads), value in mbps.items():
        table.add_row(name, str(threads), f"{value:.2f}", f"{value / ref_n:.2f}")
    console.print(table)
    train_table = Table(title=f"training on {args.text.name} ({len(text.encode('utf-8')) / 1e6:.2f} MB)")
    for col in ("requested vocab", "vocab", "train s", "s/MB", "held-out bytes/token"):
        train_table.add_column(col, justify="right")
    for vocab_size, s in training.items():
        train_table.add_row(
            f"{vocab_size:,}", f"{s['vocab_size']:,}", f"{s['training_s']:.2f}",
            f"{s['training_s_per_mb']:.2f}", f"{s['heldout_bytes_per_token']:.3f}",
        )  # fmt: skip
    console.print(train_table)
    console.print(
        "identical ids to llmkit: " + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in same.items())
    )
    if unicode:
        bad = unicode["mismatched_blocks"]
        console.print(
            f"all {unicode['code_points']:,} code points in 6 contexts ({unicode['chars'] / 1e6:.1f}M chars): "
            + (
                "tiktoken and tokenizers ids identical"
                if not bad
                else f"MISMATCH in blocks starting {bad[:5]}"
            )
        )

    result = {
        "text": str(args.text),
        "mb": round(mb, 3),
        "docs": len(docs),
        "threads": n,
        "repeats": args.repeats,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0], "cores": default_workers()},
        "vocab_size": tok.vocab_size,
        "encode_mb_per_s": {f"{name} @{threads}": round(v, 3) for (name, threads), v in mbps.items()},
        "llmkit_vs_tiktoken_n_threads": round(mbps[("llmkit encode_batch", n)] / ref_n, 3),
        "identical_ids": same,
        "unicode_check": unicode,
        "training": {
            str(v): {
                k: s[k] for k in ("vocab_size", "training_s", "training_s_per_mb", "heldout_bytes_per_token")
            }
            for v, s in training.items()
        },
    }
    shutil.rmtree(work)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    console.print(
        f"1-minute load average {load_before:.1f} → {os.getloadavg()[0]:.1f} on {default_workers()} cores"
    )
    console.print(f"wrote {args.out}")
    ok = all(same.values()) and not (unicode and unicode["mismatched_blocks"])
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
