"""Full fine-tuning vs LoRA r=8: the same base model, the same conversations, the same number of SFT
steps.

    .venv/bin/python benchmarks/lora.py            # 4 × 256 model, 40 steps per run (a few minutes)
    .venv/bin/python benchmarks/lora.py --quick    # 2 × 128 model, 8 steps per run: checks the script

One run, one machine: a byte-level BPE trained on sample_data/chat.jsonl; a base model (random init,
then full SFT on the first half of the conversations for `--base-steps` steps, so the runs compared
start from a model that has learnt the chat format, as an imported model would have); then `run_sft`
(the loop `llmkit sft` runs) on the second half, from that base, three times:

- full: every parameter trained (the reference), at the SFT default learning rate;
- lora r=8 at the same learning rate;
- lora r=8 at 4× that learning rate (LoRA's usual practice: its updates start at zero and are small).

LoRA targets q, k, v, o (the default). Each run is a fresh process, so its peak resident memory
(ru_maxrss) is its own. Reported: trainable parameters, peak RSS, the training state that scales
with trainable parameters (fp32 gradients + AdamW's two moments), median training tokens/s, and the
held-out masked loss (sft's val split of the second half: the same conversations for every run)
after the same steps. Writes benchmarks/results/lora.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as benchmarks/pretrain.py: no spinning threads

import argparse
import json
import resource
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from llmkit.device import cpu_model

ROOT = Path(__file__).resolve().parent.parent
CHATS = ROOT / "sample_data" / "chat.jsonl"
console = Console(width=120)

SHAPES = {
    "default": dict(n_layers=4, d_model=256, n_heads=4, n_kv_heads=2, ffn_hidden=688, seq_len=256),
    "quick": dict(n_layers=2, d_model=128, n_heads=4, n_kv_heads=2, ffn_hidden=344, seq_len=128),
}
LR = 3e-4  # llmkit's SFT default (llmkit.defaults)


def prepare(work: Path, shape: dict, vocab_size: int) -> tuple[Path, Path]:
    """The tokenizer, a random base checkpoint, and the two halves of the conversations."""
    from llmkit.checkpoint_files import save_checkpoint
    from llmkit.model import ModelConfig, Transformer
    from llmkit.tokenize import train_tokenizer
    from llmkit.tokenizer import load_tokenizer

    lines = CHATS.read_text(encoding="utf-8").splitlines(keepends=True)
    half = len(lines) // 2
    (work / "first.jsonl").write_text("".join(lines[:half]), encoding="utf-8")
    (work / "second.jsonl").write_text("".join(lines[half:]), encoding="utf-8")
    text = "\n".join(m["content"] for line in lines for m in json.loads(line)["messages"])
    (work / "text.txt").write_text(text, encoding="utf-8")
    train_tokenizer(work / "text.txt", work / "tokenizer", vocab_size=vocab_size, show_progress=False)
    tok = load_tokenizer(work / "tokenizer")
    torch.manual_seed(0)
    cfg = ModelConfig(vocab_size=tok.vocab_size, **shape).validate()
    model = Transformer(cfg)
    save_checkpoint(work / "random", model.weights(), cfg.to_dict(), tok.path, stage="benchmark")
    return work / "first.jsonl", work / "second.jsonl"


def sft_run(base: str, chats: str, out: str, steps: int, lr: float, lora_rank: int | None) -> dict:
    """One SFT run in this (fresh) process: its manifest's numbers and the process's peak RSS."""
    from llmkit.lora import LoraSettings
    from llmkit.train.common import TrainConfig
    from llmkit.train.sft import run_sft

    cfg = TrainConfig.for_stage(
        "sft", max_steps=steps, lr=lr, eval_every=0, log_every=max(1, steps // 8), seed=0
    )
    lora = LoraSettings(rank=lora_rank) if lora_rank else None
    start = time.perf_counter()
    manifest = run_sft(base, chats, out, cfg, val_fraction=0.1, lora=lora, show_progress=False, force=True)
    s = manifest["stats"]
    return {
        "wall_s": round(time.perf_counter() - start, 1), "train_s": s["train_s"], "steps": s["steps"],
        "tokens": s["tokens"], "tokens_per_s": s["tokens_per_s"], "precision": s["precision"],
        "val_loss": s["final_val_loss"], "final_train_loss": s["final_loss"],
        "val_conversations": s["val_conversations"],
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }  # fmt: skip


def in_fresh_process(fn, *args) -> dict:
    with ProcessPoolExecutor(1, mp_context=get_context("spawn")) as pool:
        return pool.submit(fn, *args).result()


def trainable(base: Path, lora_rank: int | None) -> tuple[int, int]:
    """(trainable parameters, all parameters) of the base model, full or with LoRA adapters."""
    from llmkit.checkpoint import load_model
    from llmkit.lora import LoraSettings, add_lora, trainable_parameters

    model, _, _ = load_model(base, device="cpu")
    add_lora(model, LoraSettings(rank=lora_rank) if lora_rank else None)
    return trainable_parameters(model), sum(p.numel() for p in model.parameters())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=40, help="SFT steps of each compared run")
    parser.add_argument("--base-steps", type=int, default=60, help="full SFT steps that make the base")
    parser.add_argument("--vocab-size", type=int, default=1024)
    parser.add_argument("--quick", action="store_true", help="a 2 × 128 model, 8 steps: checks the script")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "lora.json")
    args = parser.parse_args()
    shape = SHAPES["quick" if args.quick else "default"]
    steps, base_steps = (8, 8) if args.quick else (args.steps, args.base_steps)

    result: dict = {
        "cpu": cpu_model(), "threads": torch.get_num_threads(), "load_average_1min_at_start": os.getloadavg()[0],
        "model": shape, "steps": steps, "base_steps": base_steps, "lr_full": LR, "data": str(CHATS.relative_to(ROOT)),
    }  # fmt: skip
    console.print(
        f"[bold]LoRA benchmark[/] on {result['cpu']}, {result['threads']} threads, "
        f"load {result['load_average_1min_at_start']:.2f}"
    )
    runs = {"full": (None, LR), "lora r=8": (8, LR), "lora r=8, 4× lr": (8, 4 * LR)}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        first, second = prepare(work, shape, args.vocab_size)
        console.print(f"base: full SFT on {first.name} for {base_steps} steps")
        result["base"] = in_fresh_process(
            sft_run, str(work / "random"), str(first), str(work / "base"), base_steps, LR, None
        )
        for name, (rank, lr) in runs.items():
            console.print(f"{name}: {steps} steps at lr {lr:g}")
            run = in_fresh_process(
                sft_run, str(work / "base"), str(second), str(work / name.replace(" ", "_")), steps, lr, rank
            )
            run["trainable_parameters"], run["parameters"] = trainable(work / "base", rank)
            # fp32 gradient + AdamW's exp_avg and exp_avg_sq, per trainable parameter
            run["training_state_mib"] = run["trainable_parameters"] * 12 / 2**20
            run.update(lora_rank=rank, lr=lr)
            result[name] = run
    full = result["full"]
    for name in runs:
        r = result[name]
        r["tokens_per_s_over_full"] = r["tokens_per_s"] / full["tokens_per_s"]
        r["peak_rss_over_full"] = r["peak_rss_mib"] / full["peak_rss_mib"]
        r["val_loss_minus_full"] = r["val_loss"] - full["val_loss"]
    result["load_average_1min_at_end"] = os.getloadavg()[0]

    table = Table(
        title=f"SFT from the same base: {steps} steps each ({shape['n_layers']} × {shape['d_model']}, fp32)"
    )
    for col in ("run", "trainable", "training state", "peak RSS", "tokens/s", "held-out loss"):
        table.add_column(col, justify="left" if col == "run" else "right")
    for name in runs:
        r = result[name]
        table.add_row(
            name, f"{r['trainable_parameters']:,} ({r['trainable_parameters'] / r['parameters']:.1%})",
            f"{r['training_state_mib']:.1f} MiB", f"{r['peak_rss_mib']:,.0f} MiB",
            f"{r['tokens_per_s']:,.0f} (×{r['tokens_per_s_over_full']:.2f})",
            f"{r['val_loss']:.4f} ({r['val_loss_minus_full']:+.4f})",
        )  # fmt: skip
    table.caption = (
        f"base: held-out loss {result['base']['val_loss']:.4f} after {base_steps} full steps; "
        f"load average {result['load_average_1min_at_start']:.1f} → {result['load_average_1min_at_end']:.1f} "
        "(a shared machine: timings are indicative)"
    )
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
