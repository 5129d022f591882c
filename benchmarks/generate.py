"""Generation benchmark: greedy tokens/s of llmkit, Hugging Face transformers and llama.cpp on one model.

    .venv/bin/python benchmarks/generate.py [--preset small] [--new-tokens 256] [--batches 1,8]
    python benchmarks/generate.py --device cuda        # on a GPU (benchmarks/gpu.sh runs it)

Builds a randomly initialised model of the preset (speed does not depend on the weights) with a
tokenizer trained on README.md, saves it as a checkpoint artifact and exports it with llmkit's own
exporters, so all engines run the same fp32 weights on the CPU, given the same number of threads:

- llmkit: `llmkit.engine.generate` (what `llmkit generate` runs) with the KV cache, and, as the
  reference the cache is checked against, without it (every step recomputes the whole sequence);
- transformers: the `export --format hf` folder loaded with `AutoModelForCausalLM.from_pretrained`
  (fp32), `model.generate` greedy, at the same batch sizes, as it runs (all threads) and pinned to
  one thread: llmkit's engine decodes a small model on one (`engine.decode_threads`), which is most
  of its lead over stock transformers under PASSIVE, so the one-thread figure is the like-for-like one;
- llama.cpp: the `export --format gguf` f32 file in `llama_cpp.Llama` (llama-cpp-python) with an
  f32 KV cache, batch 1 only (the binding decodes one sequence).

Every engine decodes greedily from the same `--prompt-tokens` random prompt ids (all rows the same
length, so no padding) with no stop token, so every row produces exactly `--new-tokens` tokens, and
the new ids are checked equal to llmkit's. tokens/s counts new tokens over all rows, prompt
processing included. The engines run interleaved — one untimed run each, then `--repeats` rounds
of one run of every engine in turn — so a neighbour's load on a shared machine falls on all of them
alike; timings are the median of the rounds, and each ratio also comes with its range over the
rounds (a round's other engine over its llmkit). Recomputation is timed once (it is slow: about 1.5
of the run's 4.5 minutes on 2 cores, without llama.cpp). An engine whose package is not installed
(transformers: the dev extra; llama-cpp-python: the bench extra) is skipped with a note. Results:
benchmarks/results/generate.json.

With `--device cuda` llmkit and transformers run the same fp32 weights on the GPU (TF32 off, torch's
default), and llama.cpp, the one-thread figure and the GGUF export are left out (they are CPU
measures).

OMP_WAIT_POLICY is PASSIVE unless set, as the llmkit CLI runs; torch and llama.cpp (built with
OpenMP) both follow it. Sleeping threads wake slowly, which costs a small model at batch 1 about
half its speed on a quiet machine: `OMP_WAIT_POLICY=ACTIVE` measures the spinning alternative.
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep rather than spin (as the llmkit CLI sets): spinning threads starve each
# other on a busy CPU. Must be set before torch loads.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import argparse
import importlib.metadata
import json
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from llmkit.checkpoint_files import save_checkpoint
from llmkit.device import cpu_model, device_name, resolve_device
from llmkit.engine import SamplingConfig, generate, torch_threads
from llmkit.errors import UserError
from llmkit.export import export_hf
from llmkit.gguf_export import export_gguf
from llmkit.model import Transformer, model_config, num_params
from llmkit.tokenize import train_tokenizer
from llmkit.tokenizer import load_tokenizer

ROOT = Path(__file__).resolve().parent.parent
console = Console(width=140)


def version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def interleaved_times(runs: dict[str, Callable[[], list[list[int]]]], repeats: int) -> dict[str, dict]:
    """Wall seconds of each engine's `run()`, interleaved: one untimed call of each, then `repeats`
    rounds of one call of each in turn. Per engine: every round's seconds, their median, and the ids
    the first timed call returned."""
    for run in runs.values():
        run()
    out = {name: {"seconds": [], "ids": None} for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            start = time.perf_counter()
            ids = run()
            out[name]["seconds"].append(time.perf_counter() - start)
            out[name]["ids"] = ids if out[name]["ids"] is None else out[name]["ids"]
    for result in out.values():
        result["median"] = statistics.median(result["seconds"])
    return out


def ratio_range(theirs: list[float], ours: list[float]) -> list[float]:
    """The lowest and highest of the rounds' ratios (their seconds over llmkit's in the same round)."""
    ratios = [t / o for t, o in zip(theirs, ours, strict=True)]
    return [min(ratios), max(ratios)]


def write_exports(model: Transformer, vocab_size: int, work: Path, gguf: bool) -> tuple[Path, Path | None]:
    """The model as a checkpoint artifact with a BPE trained on README.md, exported for the other
    engines: (Hugging Face folder, f32 GGUF file or None when not `gguf`)."""
    text = work / "readme.txt"
    text.write_text((ROOT / "README.md").read_text(encoding="utf-8"), encoding="utf-8")
    train_tokenizer(text, work / "tokenizer", vocab_size=vocab_size, show_progress=False)
    tokenizer = load_tokenizer(work / "tokenizer")
    if tokenizer.vocab_size != model.config.vocab_size:
        raise SystemExit(
            f"the tokenizer trained on README.md has {tokenizer.vocab_size} ids, the model "
            f"{model.config.vocab_size}: pass a smaller --vocab-size"
        )
    save_checkpoint(
        work / "checkpoint", model.weights(), model.config.to_dict(), tokenizer.path, stage="bench"
    )
    export_hf(work / "checkpoint", work / "hf")
    if not gguf:
        return work / "hf", None
    export_gguf(work / "checkpoint", work / "model.gguf", "f32")
    return work / "hf", work / "model.gguf"


def load_transformers(hf_dir: Path, device: torch.device):
    """The exported folder as a transformers model (fp32, on `device`, eval), or None when transformers
    is not installed. Its generation config's stop tokens are removed: llmkit runs with none here."""
    try:
        import transformers
    except ImportError:
        console.print("  [yellow]transformers is not installed (dev extra): skipping it[/]")
        return None
    transformers.utils.logging.disable_progress_bar()  # its weight-loading bar
    hf = transformers.AutoModelForCausalLM.from_pretrained(hf_dir, dtype=torch.float32).to(device).eval()
    hf.generation_config.eos_token_id = None
    return hf


def transformers_generate(hf, prompts: list[list[int]], new_tokens: int) -> list[list[int]]:
    """Greedy new ids per row; min = max new tokens, so every row produces exactly `new_tokens`."""
    ids = torch.tensor(prompts, device=hf.device)
    out = hf.generate(
        input_ids=ids, attention_mask=torch.ones_like(ids), do_sample=False,
        max_new_tokens=new_tokens, min_new_tokens=new_tokens,
    )  # fmt: skip
    return out[:, ids.shape[1] :].tolist()


def load_llama_cpp(gguf_path: Path, n_ctx: int, threads: int):
    """The GGUF file in llama.cpp with an f32 KV cache (its default is f16) and `threads` threads for
    both prompt and decode, or None when llama-cpp-python is not installed."""
    try:
        import llama_cpp
    except ImportError:
        console.print("  [yellow]llama-cpp-python is not installed (bench extra): skipping llama.cpp[/]")
        return None
    f32 = llama_cpp.GGML_TYPE_F32
    return llama_cpp.Llama(
        model_path=str(gguf_path), n_ctx=n_ctx, n_threads=threads, n_threads_batch=threads,
        logits_all=False, type_k=f32, type_v=f32, verbose=False,
    )  # fmt: skip


def llama_cpp_generate(llm, prompt: list[int], new_tokens: int) -> list[list[int]]:
    """Greedy new ids of one prompt (top-1, no repetition penalty); no stop token is checked, so it
    produces exactly `new_tokens`. reset() first: `generate` would otherwise reuse the cached prompt."""
    llm.reset()
    new = []
    for token in llm.generate(prompt, temp=0.0, top_k=1, repeat_penalty=1.0, reset=True):
        new.append(token)
        if len(new) == new_tokens:
            break
    return [new]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--vocab-size", type=int, default=512)
    parser.add_argument("--new-tokens", type=int, default=256)
    parser.add_argument("--prompt-tokens", type=int, default=16)
    parser.add_argument("--batches", default="1,8")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "generate.json")
    args = parser.parse_args()

    seq_len = args.prompt_tokens + args.new_tokens
    cfg = model_config(args.preset, args.vocab_size, seq_len=seq_len)
    try:
        device = resolve_device(args.device)
    except UserError as e:  # one line, not a traceback
        raise SystemExit(str(e)) from None
    on_cpu = device.type == "cpu"
    torch.manual_seed(0)
    model = Transformer(cfg).eval()
    greedy = SamplingConfig(max_new_tokens=args.new_tokens, temperature=0.0)
    threads = torch.get_num_threads()
    load = os.getloadavg()[0]
    machine = {
        "cpu": cpu_model(), "device": device_name(device), "threads": threads,
        "omp_wait_policy": os.environ["OMP_WAIT_POLICY"], "precision": "fp32", "load_average_1min": load,
        "versions": {p: version(p) for p in ("torch", "transformers", "llama_cpp_python")},
    }  # fmt: skip
    console.print(
        f"[bold]generate benchmark[/]: {args.preset} ({num_params(cfg) / 1e6:.1f}M), {args.prompt_tokens}-token "
        f"prompts + {args.new_tokens} new tokens, greedy, fp32, {machine['device']}, {threads} threads, "
        f"OMP_WAIT_POLICY={machine['omp_wait_policy']}, load {load:.2f}"
    )
    work = tempfile.TemporaryDirectory(prefix="llmkit-bench-generate-")
    hf_dir, gguf_path = write_exports(model, args.vocab_size, Path(work.name), gguf=on_cpu)
    model.to(device)
    hf = load_transformers(hf_dir, device)
    llm = load_llama_cpp(gguf_path, seq_len, threads) if on_cpu else None

    rows = []
    for batch in (int(b) for b in args.batches.split(",")):
        prompts = torch.randint(5, args.vocab_size, (batch, args.prompt_tokens)).tolist()
        new_tokens = batch * args.new_tokens
        runs = {"llmkit": lambda p=prompts: generate(model, p, greedy)}
        if hf is not None:
            runs["transformers"] = lambda p=prompts: transformers_generate(hf, p, args.new_tokens)

            def transformers_one_thread(p=prompts):
                # transformers pinned to one thread too: llmkit's engine may decode a small model on
                # one (engine.decode_threads), so this is the like-for-like figure beside the stock one
                with torch_threads(1):
                    return transformers_generate(hf, p, args.new_tokens)

            if on_cpu:
                runs["transformers_1_thread"] = transformers_one_thread
        if llm is not None and batch == 1:
            runs["llama_cpp"] = lambda p=prompts[0]: llama_cpp_generate(llm, p, args.new_tokens)
        timed = interleaved_times(runs, args.repeats)
        ours, cached_s = timed["llmkit"]["ids"], timed["llmkit"]["median"]
        start = time.perf_counter()
        recomputed = generate(model, prompts, greedy, use_kv_cache=False)
        recompute_s = time.perf_counter() - start
        row = {
            "batch": batch, "kv_cache_s": cached_s, "kv_cache_s_rounds": timed["llmkit"]["seconds"],
            "recompute_s": recompute_s, "kv_cache_tokens_per_s": new_tokens / cached_s,
            "recompute_tokens_per_s": new_tokens / recompute_s, "speedup": recompute_s / cached_s,
            "identical_tokens": recomputed == ours,
        }  # fmt: skip
        for key in ("transformers", "transformers_1_thread", "llama_cpp"):
            if key not in timed:
                continue
            theirs = timed[key]
            over = "llmkit_over_" + key
            row |= {
                f"{key}_s": theirs["median"], f"{key}_s_rounds": theirs["seconds"],
                f"{key}_tokens_per_s": new_tokens / theirs["median"], over: theirs["median"] / cached_s,
                over + "_range": ratio_range(theirs["seconds"], timed["llmkit"]["seconds"]),
                f"{key}_identical_ids": theirs["ids"] == ours,
            }  # fmt: skip
        rows.append(row)
        console.print(
            f"  batch {batch}: llmkit {cached_s:.2f} s, recompute {recompute_s:.2f} s"
            + (f", transformers {row['transformers_s']:.2f} s" if "transformers_s" in row else "")
            + (f" (1 thread {row['transformers_1_thread_s']:.2f} s)" if "transformers_1_thread_s" in row else "")
            + (f", llama.cpp {row['llama_cpp_s']:.2f} s" if "llama_cpp_s" in row else "")
        )
    work.cleanup()
    machine["load_average_1min_at_end"] = os.getloadavg()[0]

    def cell(row, key, fmt):
        return format(row[key], fmt) if key in row else "–"

    def ratio(row, key):  # the median ratio and, in brackets, its range over the rounds
        if key not in row:
            return "–"
        low, high = row[key + "_range"]
        return f"{row[key]:.2f} ({low:.2f}–{high:.2f})"

    def same(row, key):
        return ("yes" if row[key] else "NO") if key in row else "–"

    table = Table(title=f"greedy generation: {args.preset}, {args.new_tokens} new tokens, tokens/s")
    # short headers, so the ratio ranges fit: HF = transformers, HF 1t = transformers on one thread
    for col in ("batch", "llmkit", "recompute", "HF", "HF 1t", "llama.cpp", "÷ HF", "÷ HF 1t", "÷ llama.cpp",
                "same ids"):  # fmt: skip
        table.add_column(col, justify="right", no_wrap=True)
    for r in rows:
        table.add_row(
            str(r["batch"]), f"{r['kv_cache_tokens_per_s']:,.0f}", f"{r['recompute_tokens_per_s']:,.0f}",
            cell(r, "transformers_tokens_per_s", ",.0f"), cell(r, "transformers_1_thread_tokens_per_s", ",.0f"),
            cell(r, "llama_cpp_tokens_per_s", ",.0f"), ratio(r, "llmkit_over_transformers"),
            ratio(r, "llmkit_over_transformers_1_thread"), ratio(r, "llmkit_over_llama_cpp"),
            "/".join(same(r, k) for k in ("identical_tokens", "transformers_identical_ids",
                                            "transformers_1_thread_identical_ids", "llama_cpp_identical_ids")),
        )  # fmt: skip
    table.caption = (
        f"{machine['device']}, {threads} threads, {machine['omp_wait_policy']}, fp32, load {load:.2f} → {machine['load_average_1min_at_end']:.2f}; "
        "HF = transformers, HF 1t = transformers on one thread; ÷ = llmkit's speed over theirs, median (range over the rounds); "
        "same ids: recompute/HF/HF 1t/llama.cpp equal llmkit's; goals: llmkit ≥ 2× transformers at "
        "batch 1 and 8 with identical ids, llama.cpp's ids identical"
    )
    console.print(table)
    result = {
        "preset": args.preset, "parameters": num_params(cfg), "new_tokens": args.new_tokens,
        "prompt_tokens": args.prompt_tokens, "decoding": "greedy", **machine, "rows": rows,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
