"""Post-training throughput: SFT tokens/s, reward-model pairs/s, PPO seconds per rollout batch, GRPO samples/s,
and GRPO's rollout generation with the shared prefill against repeated prompts.

    .venv/bin/python benchmarks/posttrain.py [--presets tiny,small] [--steps 12]

Each stage runs through its real `run_*` function (what the CLI runs) on the sample data, from a
randomly initialised checkpoint of each preset (speed does not depend on the weights) with a 1,024
BPE trained on the sample conversations. The reference, measured in the same run on the same model,
is the shared training loop on full windows of pretraining text (`run_pretrain`): SFT's ratio to it is
the cost of padding and short sequences. Times are each run's training seconds (model loading and
evaluation excluded, as the loop reports them). Results: benchmarks/results/posttrain.json.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # as the CLI sets; before torch loads

import argparse
import json
import sys
import tempfile
from pathlib import Path

import torch
from rich.console import Console
from rich.table import Table

from llmkit.checkpoint_files import save_checkpoint
from llmkit.model import Transformer, model_config, num_params
from llmkit.tokenize import tokenize_docs, train_tokenizer
from llmkit.tokenizer import load_tokenizer
from llmkit.train.common import TrainConfig
from llmkit.train.grpo import run_grpo
from llmkit.train.ppo import PPOConfig, run_ppo
from llmkit.train.pretrain import run_pretrain
from llmkit.train.reward import run_train_reward
from llmkit.train.sft import run_sft

ROOT = Path(__file__).resolve().parent.parent
SAMPLE = ROOT / "sample_data"
console = Console(width=130)


def quick(steps: int, batch: int) -> TrainConfig:
    return TrainConfig(
        lr=1e-4, warmup_steps=0, max_steps=steps, batch_size=batch, eval_every=0, log_every=steps
    )


def chat_text(work: Path) -> Path:
    """The sample conversations as plain text, to train the benchmark's tokenizer on."""
    lines = []
    for line in (SAMPLE / "chat.jsonl").read_text().splitlines():
        lines += [m["content"] for m in json.loads(line)["messages"]]
    path = work / "chat.txt"
    path.write_text("\n".join(lines) * 4)
    return path


def rollout_samples_per_s(
    sft: Path, system_words: int = 0, group_size: int = 8, prompts: int = 4, repeats: int = 5
) -> dict:
    """GRPO's rollout generation alone, as the engine does it (each prompt prefilled once, its KV cache
    shared by the group's samples) and as it was done before (the prompt repeated in the batch, each
    copy prefilled): samples/s, the median of `repeats`, on the same model and prompts. `system_words`
    puts a system message of that many words before each question (a long shared prompt, as few-shot
    examples or retrieved passages make it)."""
    import statistics
    import time

    from llmkit.checkpoint import load_model
    from llmkit.engine import SamplingConfig, chat_prompt_ids, chat_stop_ids, generate

    model, tok, _ = load_model(sft, device="cpu")
    rows = [json.loads(line) for line in (SAMPLE / "prompts.jsonl").read_text().splitlines()[:prompts]]
    sampling = SamplingConfig(max_new_tokens=16, temperature=1.0)
    system = [{"role": "system", "content": " ".join(["Answer with one number."] * (system_words // 4))}]
    ids = [chat_prompt_ids(tok, (system if system_words else []) + r["prompt"], 256 - 16) for r in rows]
    ways = {
        "shared_prefill": lambda: generate(model, ids, sampling, chat_stop_ids(tok), samples_per_prompt=group_size),
        "repeated_prompts": lambda: generate(model, [p for p in ids for _ in range(group_size)], sampling,
                                             chat_stop_ids(tok)),
    }  # fmt: skip
    result = {}
    for name, run in ways.items():
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        result[name] = prompts * group_size / statistics.median(times)
    result["prompt_tokens"] = sum(map(len, ids)) / len(ids)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--presets", default="tiny,small")
    parser.add_argument("--steps", type=int, default=12)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "posttrain.json")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="llmkit-bench-posttrain-"))
    text = chat_text(work)
    train_tokenizer(text, work / "tok", vocab_size=1024, show_progress=False)
    tok = load_tokenizer(work / "tok")
    tokenize_docs(text, work / "tok", work / "tokens", show_progress=False)
    results = {
        "load_avg_start": os.getloadavg()[0],
        "steps": args.steps,
        "torch": torch.__version__,
        "presets": {},
    }
    for preset in args.presets.split(","):
        cfg = model_config(preset, tok.vocab_size, seq_len=256)
        torch.manual_seed(0)
        base = work / f"{preset}-base"
        save_checkpoint(base, Transformer(cfg).weights(), cfg.to_dict(), tok.path, stage="bench")
        n = args.steps
        r: dict = {"parameters": num_params(cfg)}
        pre = run_pretrain(
            work / "tokens",
            work / f"{preset}-pre",
            preset,
            {"seq_len": 256},
            quick(n, 8),
            eval_tokens=0,
            show_progress=False,
        )
        r["pretrain_tokens_per_s"] = pre["stats"]["tokens_per_s"]
        sft = run_sft(base, SAMPLE / "chat.jsonl", work / f"{preset}-sft", quick(n, 16), show_progress=False)
        r["sft_tokens_per_s"] = sft["stats"]["tokens_per_s"]
        rm = run_train_reward(
            base, SAMPLE / "prefs.jsonl", work / f"{preset}-rm", quick(n, 8), show_progress=False
        )
        r["rm_pairs_per_s"] = n * 8 / rm["stats"]["train_s"]
        rollouts = max(2, n // 4)
        ppo_cfg = PPOConfig(rollout_size=16, minibatches=2, ppo_epochs=2, max_new_tokens=32)
        ppo = run_ppo(work / f"{preset}-sft", work / f"{preset}-rm", SAMPLE / "prompts.jsonl", work / f"{preset}-ppo",
                      TrainConfig(lr=1e-5, warmup_steps=0, eval_every=0, log_every=4), ppo_cfg, rollouts=rollouts, show_progress=False)  # fmt: skip
        r["ppo_s_per_rollout_batch"] = ppo["stats"]["train_s"] / rollouts
        grpo_steps = max(2, n // 2)
        grpo = run_grpo(work / f"{preset}-sft", SAMPLE / "prompts.jsonl", work / f"{preset}-grpo", quick(grpo_steps, 4), group_size=8,
                        max_new_tokens=16, show_progress=False)  # fmt: skip
        r["grpo_samples_per_s"] = grpo_steps * 4 * 8 / grpo["stats"]["train_s"]
        for label, words in (("", 0), ("_long_prompt", 160)):  # the sample's short questions; ~200 tokens
            rollout = rollout_samples_per_s(work / f"{preset}-sft", system_words=words)
            r[f"rollout{label}_shared_prefill_per_s"] = rollout["shared_prefill"]
            r[f"rollout{label}_repeated_prompts_per_s"] = rollout["repeated_prompts"]
            r[f"rollout{label}_prompt_tokens"] = rollout["prompt_tokens"]
        r["sft_vs_pretrain"] = r["sft_tokens_per_s"] / r["pretrain_tokens_per_s"]
        results["presets"][preset] = r
        console.print(f"{preset}: {r}")
    results["load_avg_end"] = os.getloadavg()[0]
    table = Table(
        title=f"post-training throughput ({args.steps} steps, load {results['load_avg_start']:.1f} → {results['load_avg_end']:.1f})"
    )
    for col in (
        "preset",
        "params",
        "pretrain tok/s (ref)",
        "SFT tok/s",
        "SFT ÷ ref",
        "RM pairs/s",
        "PPO s/rollout (16×32 tok)",
        "GRPO samples/s",
        "rollout samples/s: shared prefill",
        "repeated prompts (ref)",
        "~200-token prompts: shared",
        "repeated (ref)",
    ):
        table.add_column(col, justify="right")
    for preset, r in results["presets"].items():
        table.add_row(
            preset, f"{r['parameters'] / 1e6:.1f}M", f"{r['pretrain_tokens_per_s']:,.0f}", f"{r['sft_tokens_per_s']:,.0f}",
            f"{r['sft_vs_pretrain']:.2f}", f"{r['rm_pairs_per_s']:.1f}", f"{r['ppo_s_per_rollout_batch']:.2f}", f"{r['grpo_samples_per_s']:.1f}",
            f"{r['rollout_shared_prefill_per_s']:.1f}", f"{r['rollout_repeated_prompts_per_s']:.1f}",
            f"{r['rollout_long_prompt_shared_prefill_per_s']:.1f}", f"{r['rollout_long_prompt_repeated_prompts_per_s']:.1f}",
        )  # fmt: skip
    console.print(table)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2))
    console.print(f"wrote {args.out}")


if __name__ == "__main__":
    sys.exit(main())
