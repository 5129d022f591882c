"""Generation benchmark: tokens/s at batch 1 and 8, with the KV cache and with full recomputation.

    .venv/bin/python benchmarks/generate.py [--preset small] [--new-tokens 256] [--batches 1,8]

Runs `llmkit.engine.generate` (what `llmkit generate` runs) on a randomly initialised model of the
preset (speed does not depend on the weights), with no stop tokens so every row produces exactly
`--new-tokens` tokens after a `--prompt-tokens` prompt. The reference, measured in the same run, is
the same generation without the cache (every step recomputes the whole sequence); both produce the
same tokens (checked). tokens/s counts new tokens over all rows; KV-cache timings are the median of
`--repeats` runs, recomputation is timed once (it is slow). Results: benchmarks/results/generate.json.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep rather than spin (as the llmkit CLI sets): spinning threads starve each
# other on a busy CPU. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from llmkit.engine import SamplingConfig, generate
from llmkit.model import Transformer, model_config, num_params

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=120)


def timed(model, prompts, sampling, use_kv_cache: bool) -> tuple[float, list[list[int]]]:
    start = time.perf_counter()
    out = generate(model, prompts, sampling, stop_ids=(), use_kv_cache=use_kv_cache)
    return time.perf_counter() - start, out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "generate.json")
    args = parser.parse_args()

    seq_len = args.prompt_tokens + args.new_tokens
    cfg = model_config(args.preset, args.vocab_size, seq_len=seq_len)
    torch.manual_seed(0)
    model = Transformer(cfg).eval()
    sampling = SamplingConfig(max_new_tokens=args.new_tokens, temperature=1.0, top_k=50, seed=0)
    load = os.getloadavg()[0]
    console.print(
        f"[bold]generate benchmark[/]: {args.preset} ({num_params(cfg) / 1e6:.1f}M), {args.prompt_tokens}-token "
        f"prompts + {args.new_tokens} new tokens, fp32, {torch.get_num_threads()} threads, load {load:.2f}"
    )
    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        prompts = torch.randint(5, args.vocab_size, (batch, args.prompt_tokens)).tolist()
        timed(model, prompts, SamplingConfig(max_new_tokens=8), True)  # warm-up
        cached = [timed(model, prompts, sampling, True) for _ in range(args.repeats)]
        cached_s = statistics.median(t for t, _ in cached)
        recompute_s, recomputed = timed(model, prompts, sampling, False)
        same = recomputed == cached[0][1]
        new_tokens = batch * args.new_tokens
        rows.append({
            "batch": batch, "kv_cache_s": cached_s, "recompute_s": recompute_s,
            "kv_cache_tokens_per_s": new_tokens / cached_s, "recompute_tokens_per_s": new_tokens / recompute_s,
            "speedup": recompute_s / cached_s, "identical_tokens": same,
        })  # fmt: skip
        console.print(
            f"  batch {batch}: cache {cached_s:.2f} s, recompute {recompute_s:.2f} s, same tokens: {same}"
        )

    table = Table(title=f"generation: {args.preset}, {args.new_tokens} new tokens")
    for col in ("batch", "KV cache tokens/s", "recompute tokens/s", "speed-up", "same tokens"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["batch"]), f"{r['kv_cache_tokens_per_s']:,.0f}", f"{r['recompute_tokens_per_s']:,.0f}",
            f"{r['speedup']:.1f}×", "yes" if r["identical_tokens"] else "NO",
        )  # fmt: skip
    table.caption = "goal: KV cache ≥ 5× faster than recomputation at 256 new tokens"
    console.print(table)
    result = {
        "preset": args.preset, "parameters": num_params(cfg), "new_tokens": args.new_tokens,
        "prompt_tokens": args.prompt_tokens, "threads": torch.get_num_threads(), "load_average_1min": load,
        "rows": rows,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
