"""`llmkit grpo`: reinforcement learning on verifiable rewards (GRPO, Shao et al. 2024).

Many attempts per problem, reinforce the correct ones: for each prompt the current policy samples
G answers; a checker scores each (numeric exact match with the reference answer by default, or any
Python function `--reward module:function`); each answer's advantage is its reward normalised
within its group, (r − mean) / (std + ε), so only answers better than their siblings are pushed up.
The loss is PPO's clipped objective on the answer tokens, averaged per answer, optionally plus
β · KL(policy ‖ reference) with the k3 estimator and the SFT model as the frozen reference.

The rollouts are made by the batch source inside the shared training loop: every
`updates_per_batch` optimizer steps it samples a fresh batch of groups from the current policy and
records their log-probabilities (the "old" policy of the ratio); the steps in between reuse them.
The rollouts in use are saved with each checkpoint, so a resumed run continues exactly.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

import torch

from llmkit.answers import answers_match, exact_match, extract_answer
from llmkit.checkpoint import load_model
from llmkit.data.importers import read_records
from llmkit.defaults import stage_default
from llmkit.device import autocast, resolve_device, resolve_precision
from llmkit.engine import IGNORE, SamplingConfig, complete_chats, pad, token_logprobs
from llmkit.errors import UserError
from llmkit.lora import adapters_off, add_lora
from llmkit.tools import load_toolbox
from llmkit.train.chat_data import ExampleOrder, lm_rows, split_by_id
from llmkit.train.common import TrainConfig, is_main_process
from llmkit.train.runner import Stage, run_stage

RewardFn = Callable[[str, str, str | None], float]


def exact_match_reward(prompt: str, response: str, answer: str | None) -> float:
    """1.0 when the number in the response (after '####', else the last one) equals the answer, else 0.0."""
    return float(answer is not None and answers_match(extract_answer(response), answer))


def load_reward_fn(spec: str | None) -> RewardFn:
    """`module:function` → that function (called as f(prompt, response, answer) -> float); None → exact match."""
    if not spec:
        return exact_match_reward
    module_name, _, name = spec.partition(":")
    if not module_name or not name:
        raise UserError(f"--reward must look like module:function (got {spec!r})")
    try:
        fn = getattr(importlib.import_module(module_name), name)
    except (ImportError, AttributeError) as e:
        raise UserError(f"--reward {spec}: cannot import it ({e})") from e
    if not callable(fn):
        raise UserError(f"--reward {spec} is not a function")
    return fn


class GroupRollouts:
    """The batch source: groups of sampled answers with rewards, advantages and old/reference log-probs."""

    def __init__(
        self,
        policy,
        reference,
        tokenizer,
        prompts,
        batch_size,
        group_size,
        sampling,
        reward_fn,
        updates_per_batch,
        precision,
        seed,
        tools=None,
        max_tool_calls: int = 0,
    ):
        self.policy, self.reference, self.tokenizer = policy, reference, tokenizer
        self.tools, self.max_tool_calls = tools, max_tool_calls  # rollouts may call them (llmkit/tools.py)
        self.prompts, self.batch_size, self.group_size = prompts, batch_size, group_size
        self.sampling, self.reward_fn, self.updates, self.precision = (
            sampling,
            reward_fn,
            updates_per_batch,
            precision,
        )
        self.order = ExampleOrder(len(prompts), seed)
        self.seed = seed
        self._cache: dict = {}
        self.recent: list[dict] = []  # per rollout batch: mean reward, solved fraction, answer length

    @torch.no_grad()
    def micro_batch(self, step, micro, n_micro, rank, world_size):
        cycle = step // self.updates
        key = (cycle, micro, rank)
        if key not in self._cache:
            self._cache = {k: v for k, v in self._cache.items() if k[0] == cycle}
            self._cache[key] = self._rollout(cycle, micro, n_micro, rank, world_size)
        return self._cache[key]

    def _rollout(self, cycle, micro, n_micro, rank, world_size):
        tok, device = self.tokenizer, next(self.policy.parameters()).device
        picked = [
            self.prompts[i]
            for i in self.order.samples(cycle, micro, n_micro, rank, world_size, self.batch_size)
        ]
        seed = (self.seed * 1_000_003 + cycle) * 1009 + micro * 31 + rank
        sampling = SamplingConfig(**{**asdict(self.sampling), "seed": seed})
        was_training = self.policy.training
        self.policy.eval()
        with autocast(device, self.precision):  # each prompt is prefilled once for its whole group
            answers = complete_chats(
                self.policy, tok, [p["prompt"] for p in picked], sampling, self.group_size,
                tools=self.tools, max_tool_calls=self.max_tool_calls,
            )  # fmt: skip
        rewards = []
        for i, answer in enumerate(answers):
            p = picked[i // self.group_size]
            rewards.append(float(self.reward_fn(p["prompt"][-1]["content"], answer.text, p.get("answer"))))
        rewards = torch.tensor(rewards)
        groups = rewards.view(-1, self.group_size)
        advantages = (
            (groups - groups.mean(1, keepdim=True)) / (groups.std(1, keepdim=True, unbiased=False) + 1e-4)
        ).view(-1)
        # the loss is on the policy's own tokens: never on the prompt or on forced tool results
        rows = [lm_rows(a.prompt_ids + a.ids, [0] * len(a.prompt_ids) + a.generated_mask) for a in answers]
        inputs, targets = pad([r[0] for r in rows], tok.pad_id), pad([r[1] for r in rows], IGNORE)
        with autocast(device, self.precision):
            old = token_logprobs(self.policy(inputs.to(device)), targets.to(device)).cpu()
            ref = (
                token_logprobs(self.reference(inputs.to(device)), targets.to(device)).cpu()
                if self.reference is not None
                else torch.zeros_like(old)
            )
        self.policy.train(was_training)
        self.recent.append(
            {
                "reward": rewards.mean().item(),
                "solved": (groups.max(1).values > 0).float().mean().item(),
                "answer_tokens": sum(len(a.ids) for a in answers) / len(answers),
            }
        )
        return inputs, targets, advantages, old, ref

    def epoch_steps(self, rows_per_step: int) -> int:
        return self.order.epoch_steps(rows_per_step) * self.updates

    def state_dict(self) -> dict:
        """The rollouts in use (with --updates-per-batch > 1 they serve several steps), for an exact --resume."""
        keys = list(self._cache)
        return {"keys": [list(k) for k in keys], "batches": [list(self._cache[k]) for k in keys]}

    def load_state_dict(self, state: dict) -> None:
        if is_main_process():  # rank 0 saved its rollouts; other ranks sample theirs again
            saved = zip(state["keys"], state["batches"], strict=True)
            self._cache = {tuple(k): tuple(b) for k, b in saved}


def grpo_loss(clip: float, kl_coef: float):
    """Clipped policy-gradient loss per answer token, averaged per answer then over answers, + β · KL (k3)."""

    def loss_fn(model, batch) -> torch.Tensor:
        inputs, targets, advantages, old, ref = batch
        mask = (targets != IGNORE).float()
        logp = token_logprobs(model(inputs), targets)
        ratio = torch.exp(logp - old)
        adv = advantages[:, None]
        loss = -torch.minimum(ratio * adv, ratio.clamp(1 - clip, 1 + clip) * adv)
        if kl_coef:
            log_ratio_ref = ref - logp
            loss = loss + kl_coef * (torch.exp(log_ratio_ref) - log_ratio_ref - 1)
        return ((loss * mask).sum(1) / mask.sum(1).clamp(min=1)).mean()

    return loss_fn


class GRPOEvaluator:
    """Greedy exact-match accuracy on held-out prompts, and the rollouts' mean reward since the last call."""

    def __init__(self, rollouts: GroupRollouts, val_rows, max_new_tokens: int, batch_size: int):
        self.rollouts, self.val_rows, self.max_new_tokens, self.batch_size = (
            rollouts,
            val_rows,
            max_new_tokens,
            batch_size,
        )

    def __call__(self, model, precision: str) -> dict:
        model.eval()
        result = {}
        if self.val_rows:
            result["val_accuracy"], examples = exact_match(
                model, self.rollouts.tokenizer, self.val_rows, self.max_new_tokens, self.batch_size,
                tools=self.rollouts.tools, max_tool_calls=self.rollouts.max_tool_calls,
            )  # fmt: skip
            result["sample"] = (
                f"{examples[0]['prompt']!r} → {examples[0]['response']!r} (answer {examples[0]['target']})"
            )
        recent, self.rollouts.recent = self.rollouts.recent, []
        for key in ("reward", "solved", "answer_tokens"):
            if recent:
                result[key] = sum(r[key] for r in recent) / len(recent)
        model.train()
        return result


def run_grpo(
    sft: str | Path,
    prompts: str | Path,
    out_dir: str | Path,
    train_config: TrainConfig | None = None,
    group_size: int = stage_default("grpo", "group_size"),
    max_new_tokens: int = stage_default("grpo", "max_new_tokens"),
    temperature: float = stage_default("grpo", "temperature"),
    clip: float = stage_default("grpo", "clip"),
    kl_coef: float = stage_default("grpo", "kl_coef"),
    updates_per_batch: int = stage_default("grpo", "updates_per_batch"),
    reward: str | None = None,
    val_fraction: float = stage_default("grpo", "val_fraction"),
    max_val: int = stage_default("grpo", "max_val"),
    data_format: str = "auto",
    tools: str | None = None,
    max_tool_calls: int = stage_default("tools", "max_tool_calls"),
    **run_options,
) -> dict | None:
    """GRPO-train the checkpoint `sft` on prompts with answers (a prompts artifact or JSONL) → a policy checkpoint.

    Each optimizer step uses `batch_size` prompts × `group_size` sampled answers per process (`nproc`
    processes, or torchrun's, each sample their own prompts). Returns the manifest (None on ranks
    other than 0); the held-out exact-match accuracy of the SFT policy itself is `initial_val_accuracy`.
    With `tools` (`calculator,my_tools.toml`) rollouts and the held-out answers may call them; the
    reward judges the final reply. `run_options` (nproc, config, force, resume, show_progress) are `train.runner.run_stage`'s.
    """
    return run_stage(
        build_grpo, out_dir, train_config or TrainConfig.for_stage("grpo"),
        sft=sft, prompts=prompts, group_size=group_size, max_new_tokens=max_new_tokens, temperature=temperature,
        clip=clip, kl_coef=kl_coef, updates_per_batch=updates_per_batch, reward=reward,
        val_fraction=val_fraction, max_val=max_val, data_format=data_format, tools=tools,
        max_tool_calls=max_tool_calls, **run_options,
    )  # fmt: skip


def build_grpo(cfg: TrainConfig, nproc: int, sft, prompts, group_size, max_new_tokens, temperature, clip, kl_coef,
               updates_per_batch, reward, val_fraction, max_val, data_format, tools, max_tool_calls, lora=None) -> Stage:  # fmt: skip
    """GRPO as the runner's Stage: the SFT policy, group rollouts as batches, the clipped group loss."""
    for name, value in (
        ("group-size", group_size),
        ("max-new-tokens", max_new_tokens),
        ("updates-per-batch", updates_per_batch),
    ):
        if value <= 0:
            raise UserError(f"--{name} must be greater than 0 (got {value})")
    if group_size < 2:
        raise UserError("--group-size must be at least 2: advantages compare answers within a group")
    if max_val < 0:
        raise UserError(f"--max-val must be 0 or more (got {max_val})")
    if temperature <= 0 or clip <= 0 or kl_coef < 0:
        raise UserError("--temperature and --clip must be greater than 0, --kl-coef 0 or more")
    reward_fn = load_reward_fn(reward)
    toolbox = load_toolbox(tools)
    policy, tokenizer, ckpt = load_model(sft, device="cpu")
    if toolbox is not None:
        tokenizer.require_tools()
    if max_new_tokens >= policy.config.seq_len:
        raise UserError(
            f"--max-new-tokens {max_new_tokens} leaves no room for a prompt in the context of {policy.config.seq_len}"
        )
    records, _ = read_records(prompts, "prompts", data_format)
    if not records:
        raise UserError(f"{prompts} holds no prompts")
    train_records, val_records = split_by_id(records, val_fraction)
    if reward is None and not any(r.get("answer") for r in train_records):
        raise UserError(f"{prompts} has no reference answers; give --reward module:function to score answers")
    val_rows = [(r["prompt"], r["answer"]) for r in val_records[:max_val] if r.get("answer") is not None]
    add_lora(policy, lora, cfg.seed)
    reference = None
    if kl_coef and lora:  # the policy with its adapters off: no second copy of the weights
        reference = adapters_off(policy)
    elif kl_coef:
        reference, _, _ = load_model(sft, device=cfg.device)
        reference.requires_grad_(False)
    precision = resolve_precision(cfg.precision, resolve_device(cfg.device))
    sampling = SamplingConfig(max_new_tokens=max_new_tokens, temperature=temperature)
    rollouts = GroupRollouts(policy, reference, tokenizer, train_records, cfg.batch_size, group_size, sampling,
                             reward_fn, updates_per_batch, precision, cfg.seed, toolbox, max_tool_calls)  # fmt: skip
    evaluate = GRPOEvaluator(rollouts, val_rows, max_new_tokens, 32)
    return Stage(
        "grpo",
        policy,
        rollouts,
        inputs=[ckpt.path, Path(prompts)],
        tokenizer_json=tokenizer.path,
        settings={
            "group_size": group_size,
            "max_new_tokens": max_new_tokens,
            "temperature": temperature,
            "clip": clip,
            "kl_coef": kl_coef,
            "updates_per_batch": updates_per_batch,
            "reward": reward or "exact_match",
            "tools": tools,
            "max_tool_calls": max_tool_calls,
        },  # fmt: skip
        loss_fn=grpo_loss(clip, kl_coef),
        evaluate=evaluate,
        stats={"prompts": len(records), "train_prompts": len(train_records), "val_prompts": len(val_rows)},
        before_training=lambda: {"initial_val_accuracy": evaluate(policy, precision).get("val_accuracy")},
    )
