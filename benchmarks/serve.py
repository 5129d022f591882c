"""Serving benchmark: `llmkit serve` throughput, latency and time to first token with 1, 4 and 16
concurrent clients.

    .venv/bin/python benchmarks/serve.py [--preset small] [--requests 16] [--max-tokens 64] [--clients 1,4,16]

Starts the real server (`python -m llmkit serve CKPT --port 0`) on a randomly initialised checkpoint
of the preset (speed does not depend on the weights) with a 1,024 BPE trained on the sample
conversations, on a loopback port. For each client count it sends the same `--requests` chat
completions (one of the sample prompts each, temperature 0.8, each its own seed, `--max-tokens` new
tokens at most, streamed so the first token's arrival is seen) from that many client threads with the
`openai` client; each client sends its next request when its last one is answered. The reference,
measured in the same run on the same server, is 1 client: the same requests one at a time.

Throughput is completion tokens (the server's `usage`) over the wall time from the first request to the
last answer; latency is each request's time to its last chunk, TTFT its time to the first chunk with
text. The client threads share the machine's cores with the server, as real local clients would.
Results: benchmarks/results/serve.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI sets; before torch loads

import argparse
import json
import queue
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import openai
import torch
from rich.console import Console
from rich.table import Table

from llmkit.checkpoint_files import save_checkpoint
from llmkit.device import cpu_model
from llmkit.model import Transformer, model_config, num_params
from llmkit.tokenize import train_tokenizer
from llmkit.tokenizer import load_tokenizer

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
STARTUP = re.compile(r"^llmkit serve: (http://\S+/v1) \(model (.+)\)$")
console = Console(width=130)


def sample_prompts(work: Path) -> tuple[Path, list[str]]:
    """The sample conversations' user messages (the prompts), and all their text to train a tokenizer on."""
    lines, prompts = [], []
    for line in (SAMPLE / "chat.jsonl").read_text().splitlines():
        messages = json.loads(line)["messages"]
        lines += [m["content"] for m in messages]
        prompts += [m["content"] for m in messages if m["role"] == "user"]
    path = work / "chat.txt"
    path.write_text("\n".join(lines) * 4)
    return path, prompts


def start_server(
    checkpoint: Path, *options: str, startup_s: float = 180
) -> tuple[subprocess.Popen, str, str]:
    """`llmkit serve` on a free loopback port: (process, base URL, model name) once it prints its URL."""
    cmd = [sys.executable, "-m", "llmkit", "serve", str(checkpoint), "--port", "0", *options]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "NO_COLOR": "1"})  # fmt: skip
    lines: queue.Queue[str | None] = queue.Queue()
    log: list[str] = []

    def drain():  # read stderr to the end, so the server never blocks on a full pipe
        for line in proc.stderr:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + startup_s
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            line = None
        if line is None:
            stop_server(proc)
            raise SystemExit(f"llmkit serve did not start:\n{''.join(log)}")
        match = STARTUP.match(line.strip())
        if match:
            return proc, match.group(1), match.group(2)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def one_request(client: openai.OpenAI, model: str, prompt: str, seed: int, max_tokens: int) -> dict:
    """One streamed chat completion: seconds to the first text, to the end, and its completion tokens."""
    start = time.perf_counter()
    first = None
    tokens = 0
    stream = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], temperature=0.8, seed=seed,
        max_tokens=max_tokens, stream=True, stream_options={"include_usage": True},
    )  # fmt: skip
    for chunk in stream:
        if first is None and any(c.delta.content for c in chunk.choices):
            first = time.perf_counter() - start
        if chunk.usage is not None:
            tokens = chunk.usage.completion_tokens
    latency = time.perf_counter() - start
    return {
        "ttft_s": first if first is not None else latency,
        "latency_s": latency,
        "completion_tokens": tokens,
    }


def run_clients(url: str, model: str, requests: list[tuple[str, int]], clients: int, max_tokens: int) -> dict:
    """All `requests` from `clients` threads, each sending its next request when its last one is answered."""
    client = openai.OpenAI(base_url=url, api_key="unused", max_retries=0, timeout=300)
    start = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        futures = [
            pool.submit(one_request, client, model, prompt, seed, max_tokens) for prompt, seed in requests
        ]
        done = [f.result(timeout=600) for f in futures]
    wall = time.perf_counter() - start
    client.close()
    tokens = sum(d["completion_tokens"] for d in done)
    latencies = sorted(d["latency_s"] for d in done)
    ttfts = sorted(d["ttft_s"] for d in done)
    return {
        "clients": clients, "requests": len(done), "completion_tokens": tokens, "wall_s": wall,
        "tokens_per_s": tokens / wall, "requests_per_s": len(done) / wall,
        "latency_p50_s": statistics.median(latencies), "latency_p95_s": percentile(latencies, 0.95),
        "ttft_p50_s": statistics.median(ttfts), "ttft_p95_s": percentile(ttfts, 0.95),
    }  # fmt: skip


def percentile(sorted_values: list[float], q: float) -> float:
    """The nearest-rank percentile of already sorted values."""
    return sorted_values[min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="small")
    parser.add_argument("--requests", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--clients", default="1,4,16")
    parser.add_argument(
        "--threads", type=int, default=None, help="the server's CPU threads (default: its own)"
    )
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "serve.json")
    args = parser.parse_args()
    counts = [int(c) for c in args.clients.split(",")]
    if counts[0] != 1:
        counts.insert(0, 1)  # the reference: one request at a time

    work = Path(tempfile.mkdtemp(prefix="llmkit-bench-serve-"))
    text, prompts = sample_prompts(work)
    train_tokenizer(text, work / "tok", vocab_size=1024, show_progress=False)
    tok = load_tokenizer(work / "tok")
    cfg = model_config(args.preset, tok.vocab_size, seq_len=512)
    torch.manual_seed(0)
    checkpoint = work / f"{args.preset}-random"
    save_checkpoint(checkpoint, Transformer(cfg).weights(), cfg.to_dict(), tok.path, stage="bench")
    requests = [(prompts[i % len(prompts)], 1000 + i) for i in range(args.requests)]

    options = ["--max-batch", str(max(counts)), "--max-waiting", str(max(64, args.requests)),
               "--max-tokens", str(args.max_tokens), "--device", "cpu"]  # fmt: skip
    if args.threads:
        options += ["--threads", str(args.threads)]
    load_start = os.getloadavg()[0]
    threads = args.threads or os.cpu_count()
    console.print(
        f"[bold]serve benchmark[/]: {args.preset} ({num_params(cfg) / 1e6:.1f}M), {args.requests} chat requests "
        f"of ≤ {args.max_tokens} new tokens, fp32, {cpu_model()}, {os.cpu_count()} cores, server threads "
        f"{args.threads or 'default'}, load {load_start:.2f}"
    )
    proc, url, model = start_server(checkpoint, *options)
    rows = []
    try:
        run_clients(url, model, requests[:2], 2, 8)  # warm-up
        for clients in counts:
            row = run_clients(url, model, requests, clients, args.max_tokens)
            rows.append(row)
            console.print(
                f"  {clients} client(s): {row['completion_tokens']} tokens in {row['wall_s']:.1f} s, "
                f"{row['tokens_per_s']:.0f} tokens/s"
            )
    finally:
        stop_server(proc)
    load_end = os.getloadavg()[0]
    reference = rows[0]["tokens_per_s"]
    for row in rows:
        row["speedup"] = row["tokens_per_s"] / reference

    table = Table(title=f"llmkit serve: {args.preset}, {args.requests} requests × ≤ {args.max_tokens} tokens")
    for col in ("clients", "tokens", "tokens/s", "× one at a time", "latency p50", "p95", "TTFT p50", "p95"):
        table.add_column(col, justify="right")
    for r in rows:
        table.add_row(
            str(r["clients"]), str(r["completion_tokens"]), f"{r['tokens_per_s']:,.0f}", f"{r['speedup']:.1f}×",
            f"{r['latency_p50_s']:.2f} s", f"{r['latency_p95_s']:.2f} s",
            f"{r['ttft_p50_s']:.3f} s", f"{r['ttft_p95_s']:.3f} s",
        )  # fmt: skip
    table.caption = "goal: 16 concurrent clients ≥ 4× the one-at-a-time throughput"
    console.print(table)
    goal_rows = [r for r in rows if r["clients"] == 16]
    if goal_rows:
        met = goal_rows[0]["speedup"] >= 4
        console.print(f"goal: 16 concurrent clients ≥ 4× the one-at-a-time throughput: "
                      f"{goal_rows[0]['speedup']:.1f}× ({'met' if met else 'NOT met'})")  # fmt: skip
    result = {
        "preset": args.preset, "parameters": num_params(cfg), "requests": args.requests,
        "max_tokens": args.max_tokens, "temperature": 0.8, "precision": "fp32", "device": "cpu",
        "cpu_model": cpu_model(), "cores": os.cpu_count(), "server_threads": threads,
        "torch": torch.__version__, "load_average_1min_start": load_start, "load_average_1min_end": load_end,
        "rows": rows,
    }  # fmt: skip
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
