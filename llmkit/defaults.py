"""Stage defaults: one table that both the library functions (`run_sft(...)`) and the CLI commands
(`llmkit sft`) read, so the two always agree and `--help` shows the value a run really uses.

Keys are option names with underscores (`batch_size` is `--batch-size`). The training keys fill a
`TrainConfig` (`TrainConfig.for_stage`); the others are the stage's own settings. Anything not listed
here takes `TrainConfig`'s own default, which is the same for every stage.
"""

from __future__ import annotations

STAGE_DEFAULTS: dict[str, dict] = {
    "pretrain": {
        "preset": "tiny", "lr": 1e-3, "batch_size": 16, "warmup_steps": 100, "eval_every": 100,
        "log_every": 10, "eval_tokens": 65536,
    },
    "sft": {
        "lr": 3e-4, "batch_size": 16, "warmup_steps": 10, "eval_every": 50,
        "epochs": 3.0, "val_fraction": 0.05, "long": "truncate",
    },
    "train-reward": {
        "lr": 1e-4, "batch_size": 8, "warmup_steps": 10, "eval_every": 50,
        "epochs": 2.0, "val_fraction": 0.1, "margin": 0.0, "center": 0.0,
    },
    "dpo": {
        "lr": 1e-5, "batch_size": 8, "warmup_steps": 10, "eval_every": 50,
        "epochs": 1.0, "val_fraction": 0.1, "beta": 0.1,
    },
    "grpo": {
        "lr": 1e-5, "batch_size": 8, "warmup_steps": 0, "eval_every": 20,
        "group_size": 8, "max_new_tokens": 16, "temperature": 1.0, "clip": 0.2, "kl_coef": 0.0,
        "updates_per_batch": 1, "val_fraction": 0.1, "max_val": 64,
    },
    # PPO's batch size is derived (rollout_size / minibatches); from rollout_size on: PPOConfig's fields
    "ppo": {
        "lr": 1e-5, "warmup_steps": 0, "eval_every": 8, "log_every": 8,
        "rollouts": 20, "val_fraction": 0.1, "max_val": 32,
        "rollout_size": 32, "minibatches": 4, "ppo_epochs": 2, "max_new_tokens": 32, "temperature": 1.0,
        "kl_coef": 0.05, "target_kl": None, "clip": 0.2, "value_clip": 0.2, "value_coef": 0.5, "gamma": 1.0,
        "lam": 0.95, "missing_eos_penalty": -1.0,
    },
    # distill trains as pretrain does (its training and size defaults are pretrain's); these are its own
    "distill": {"temperature": 1.0, "alpha": 0.5},
    # each run's steps follow from its budget, its warmup is 10% of them, one evaluation at the end
    "sweep": {
        "lr": 3e-3, "batch_size": 8, "seq_len": 128, "aspect": 64, "eval_tokens": 32768, "workers": 1,
    },
    # groups: GPT-4's split, digits in groups of up to 3; single: one digit per piece (llmkit/tokenizer.py)
    "train-tokenizer": {"digits": "groups"},
    "index": {"passage_words": 100, "overlap": 20},  # words per passage; overlap of a long line's windows
    # passages --retrieve (generate, chat, eval) puts in the context; hits `llmkit search` shows
    "retrieval": {"retrieve_k": 3, "k": 5},
    # tool calls one answer may make (--max-tool-calls of generate, chat, eval, grpo, ppo)
    "tools": {"max_tool_calls": 4},
    # LoRA on sft, train-reward, dpo, ppo, grpo (llmkit/lora.py): off unless --lora-rank is given
    "lora": {
        "lora_rank": None, "lora_alpha": 16.0, "lora_dropout": 0.0, "lora_targets": "q_proj,k_proj,v_proj,o_proj",
        "lora_save": "merged",
    },
    "export": {"gguf_type": "f16"},  # f16: what llama.cpp's converter writes by default
    "serve": {
        "host": "127.0.0.1", "port": 8000, "max_batch": 16, "max_waiting": 64, "max_tokens": 256,
        "timeout": 60.0, "max_body_bytes": 1_000_000, "grace": 5.0,
    },
}  # fmt: skip


def stage_default(stage: str, name: str):
    """The default of option `name` of `stage` (a KeyError names a missing entry: a bug, not user input)."""
    return STAGE_DEFAULTS[stage][name]
