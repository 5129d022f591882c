"""Tokenizer benchmark: BPE training speed, compression, and encode throughput against tiktoken.

    .venv/bin/python benchmarks/tokenizer.py [--text FILE] [--vocab-size 4096] [--copies 4] [--repeats 3]

Trains llmkit's BPE on a text (default: tinyshakespeare) and cuts the text into two sets of
"documents": paragraphs (about 150 bytes: many small calls) and pages (paragraphs joined up to
`--page-bytes`, the size of a web page's text). Each set is encoded with llmkit's
`Tokenizer.encode_batch` (what `llmkit tokenize` uses), a reference `tiktoken.Encoding` built here from
the same tokenizer.json vocabulary (no download; single calls in a loop, and `encode_ordinary_batch` at
1 and N threads), and HF `tokenizers` on the same tokenizer.json (single calls and `encode_batch`).
All must give identical ids. Then the whole `tokenize` stage (Parquet in, Parquet out). Finally every
Unicode code point is encoded in several contexts by tiktoken and tokenizers and the ids compared (the
two libraries' regex engines must agree on every character class). Medians of `--repeats` runs;
results go to benchmarks/results/tokenizer.json.

Read the ratios knowing that llmkit encodes *with* tiktoken's Rust BPE (an Encoding built from our
merges, checked identical to `tokenizers`). What llmkit adds is the threading: a slice of documents per
thread instead of tiktoken's one pool task per document. So the table gives llmkit against tiktoken's
batch call at N threads (the issue's goal) and against the best tiktoken figure of any call and thread
count.
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
from llmkit.tokenize import tokenize_docs, train_tokenizer
from llmkit.tokenizer import CHAR_TO_BYTE, SPECIAL_TOKENS, SPLIT_PATTERN, load_tokenizer

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


def join_pages(paragraphs: list[str], page_bytes: int) -> list[str]:
    """Paragraphs joined (with a blank line) into documents of at least `page_bytes` UTF-8 bytes."""
    pages, page, size = [], [], 0
    for p in paragraphs:
        page.append(p)
        size += len(p.encode("utf-8")) + 2
        if size >= page_bytes:
            pages.append("\n\n".join(page))
            page, size = [], 0
    if page:
        pages.append("\n\n".join(page))
    return pages


def encode_throughput(tok, ref: tiktoken.Encoding, docs: list[str], n: int, repeats: int, work: Path) -> dict:
    """MB/s of every encoder on `docs` (medians of `repeats` round-robin runs), and whether ids agree."""
    work.mkdir(parents=True)
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
        ("tiktoken encode_ordinary (loop)", 1): lambda: [ref.encode_ordinary(d) for d in docs],
        ("tiktoken encode_ordinary_batch", 1): lambda: ref.encode_ordinary_batch(docs, num_threads=1),
        ("tiktoken encode_ordinary_batch", n): lambda: ref.encode_ordinary_batch(docs, num_threads=n),
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
    for _ in range(repeats):
        for key, fn in runs.items():
            start = time.perf_counter()
            fn()
            times[key].append(time.perf_counter() - start)
    mbps = {key: mb / statistics.median(t) for key, t in times.items()}
    ours_n = mbps[("llmkit encode_batch", n)]
    tiktoken_best = max(v for (name, _), v in mbps.items() if name.startswith("tiktoken"))
    return {
        "docs": len(docs),
        "mb": round(mb, 3),
        "mb_per_s": {f"{name} @{threads}": round(v, 3) for (name, threads), v in mbps.items()},
        "llmkit_vs_tiktoken_batch_n_threads": round(ours_n / mbps[("tiktoken encode_ordinary_batch", n)], 3),
        "llmkit_vs_best_tiktoken": round(ours_n / tiktoken_best, 3),
        "identical_ids": same,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--text", type=Path, default=DEFAULT_TEXT, help="UTF-8 text to train and encode")
    parser.add_argument("--vocab-size", type=int, default=4096)
    parser.add_argument("--copies", type=int, default=4, help="encode the text this many times over")
    parser.add_argument("--page-bytes", type=int, default=4096, help="size of the page-sized documents")
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

    # Documents: paragraphs (blank-line separated), the text repeated `copies` times; and pages.
    paragraphs = [p for p in text.split("\n\n") if p] * args.copies
    doc_sets = {"paragraphs": paragraphs, "pages": join_pages(paragraphs, args.page_bytes)}
    encode = {
        name: encode_throughput(tok, ref, docs, n, args.repeats, work / name)
        for name, docs in doc_sets.items()
    }
    unicode = None if args.skip_unicode_check else unicode_check(tok)

    for name, r in encode.items():
        table = Table(
            title=f"encode throughput, {name}: {r['mb']:.1f} MB in {r['docs']:,} docs, vocab {tok.vocab_size:,}"
        )
        for col in ("encoder", "MB/s", f"× tiktoken batch @{n}"):
            table.add_column(col, justify="left" if col == "encoder" else "right")
        ref_n = r["mb_per_s"][f"tiktoken encode_ordinary_batch @{n}"]
        for encoder, value in r["mb_per_s"].items():
            table.add_row(encoder, f"{value:.2f}", f"{value / ref_n:.2f}")
        console.print(table)
        console.print(
            f"llmkit @{n}: {r['llmkit_vs_tiktoken_batch_n_threads']:.2f}× tiktoken's batch call @{n}, "
            f"{r['llmkit_vs_best_tiktoken']:.2f}× the best tiktoken figure; identical ids: "
            + ", ".join(f"{k}: {'yes' if v else 'NO'}" for k, v in r["identical_ids"].items())
        )
    train_table = Table(title=f"training on {args.text.name} ({len(text.encode('utf-8')) / 1e6:.2f} MB)")
    for col in ("requested vocab", "vocab", "train s", "s/MB", "held-out bytes/token"):
        train_table.add_column(col, justify="right")
    for vocab_size, s in training.items():
        train_table.add_row(
            f"{vocab_size:,}", f"{s['vocab_size']:,}", f"{s['training_s']:.2f}",
            f"{s['training_s_per_mb']:.2f}", f"{s['heldout_bytes_per_token']:.3f}",
        )  # fmt: skip
    console.print(train_table)
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
        "threads": n,
        "repeats": args.repeats,
        "load_average_1min": {"before": load_before, "after": os.getloadavg()[0], "cores": default_workers()},
        "vocab_size": tok.vocab_size,
        "encode": encode,
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
    ok = all(all(r["identical_ids"].values()) for r in encode.values())
    sys.exit(0 if ok and not (unicode and unicode["mismatched_blocks"]) else 1)


if __name__ == "__main__":
    main()
