"""`llmkit ppo`: RLHF with PPO, the InstructGPT recipe (Ouyang et al. 2022; Ziegler et al. 2019).

Four models: the policy (initialised from SFT, trained), the value model (initialised from the reward
model, trained), the reference (the SFT model, frozen) and the reward model (frozen). Each rollout
batch, the batch source (inside the shared training loop):

1. samples one answer per prompt from the current policy at `temperature`, and records the
   log-probabilities of exactly that sampling distribution (logits / temperature), the reference's
   log-probabilities and the value model's per-token values;
2. scores each answer with the reward model at its final token; an answer that never produced
   <|im_end|> gets `missing_eos_penalty` added to its score;
3. per-token reward r_t = −β · (log π − log π_ref)_t, with the score added at the final token;
4. GAE(γ, λ) advantages and returns; advantages whitened over the batch.

Then `ppo_epochs` passes over the batch in `minibatches` minibatches, one optimizer step each, with
PPO's clipped policy loss and a clipped value loss. β is fixed, or adapted toward `target_kl`.
The policy and value model train together as one module (`PolicyAndValue`); the checkpoint's weights
are the policy's, so `generate`, `eval` and `export` use a PPO checkpoint like any other, and the
value model rides in trainer_state/ for `--resume`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from llmkit.checkpoint import load_model, load_reward_model
from llmkit.data.importers import read_records
from llmkit.defaults import stage_default
from llmkit.device import autocast, resolve_device, resolve_precision
from llmkit.engine import (
    IGNORE,
    Completion,
    SamplingConfig,
    complete_chats,
    pad,
    reward_scores,
    token_logprobs,
)
from llmkit.errors import UserError
from llmkit.lora import adapters_off, add_lora
from llmkit.model import RewardModel
from llmkit.tools import load_toolbox
from llmkit.train.chat_data import lm_rows, split_by_id
from llmkit.train.common import TrainConfig, is_main_process
from llmkit.train.runner import Stage, run_stage


@dataclass
class PPOConfig:
    rollout_size: int = stage_default("ppo", "rollout_size")  # prompts (one answer each) per rollout batch
    minibatches: int = stage_default("ppo", "minibatches")  # optimizer steps per pass over a rollout batch
    ppo_epochs: int = stage_default("ppo", "ppo_epochs")  # passes over each rollout batch
    max_new_tokens: int = stage_default("ppo", "max_new_tokens")
    temperature: float = stage_default("ppo", "temperature")
    kl_coef: float = stage_default("ppo", "kl_coef")  # β, the starting value when target_kl is set
    # adaptive β (Ziegler et al.): steer the per-answer KL toward this; None = a fixed β
    target_kl: float | None = stage_default("ppo", "target_kl")
    clip: float = stage_default("ppo", "clip")  # ε of the policy ratio
    value_clip: float = stage_default("ppo", "value_clip")
    value_coef: float = stage_default("ppo", "value_coef")
    gamma: float = stage_default("ppo", "gamma")
    lam: float = stage_default("ppo", "lam")
    missing_eos_penalty: float = stage_default("ppo", "missing_eos_penalty")
    tools: str | None = None  # rollouts may call these (llmkit/tools.py); the reward model scores the final reply
    max_tool_calls: int = stage_default("tools", "max_tool_calls")

    def validate(self) -> PPOConfig:
        for name in ("rollout_size", "minibatches", "ppo_epochs", "max_new_tokens"):
            if getattr(self, name) <= 0:
                raise UserError(
                    f"--{name.replace('_', '-')} must be greater than 0 (got {getattr(self, name)})"
                )
        if self.rollout_size % self.minibatches:
            raise UserError(
                f"--rollout-size {self.rollout_size} must be a multiple of --minibatches {self.minibatches}"
            )
        if self.temperature <= 0 or self.clip <= 0 or self.kl_coef < 0 or self.value_coef < 0:
            raise UserError(
                "--temperature and --clip must be greater than 0; --kl-coef and --value-coef 0 or more"
            )
        if not (0 <= self.gamma <= 1 and 0 <= self.lam <= 1):
            raise UserError("--gamma and --lam must be in [0, 1]")
        if self.target_kl is not None and self.target_kl <= 0:
            raise UserError(f"--target-kl must be greater than 0 (got {self.target_kl})")
        return self


class PolicyAndValue(nn.Module):
    """The two trained models as one module for the training loop. `forward(ids)` → (logits, values)."""

    def __init__(self, policy, value: RewardModel):
        super().__init__()
        self.policy, self.value = policy, value
        self.config = policy.config  # the loop's seq_len, FLOPs and config.json are the policy's

    def forward(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.policy(ids), self.value.score(self.value.hidden_states(ids)).squeeze(-1).float()

    def weights(self) -> dict:
        return self.policy.weights()

    def load_weights(self, state: dict) -> None:
        self.policy.load_weights(state)

    def extra_state(self) -> dict:
        return {"value_model": self.value.weights()}

    def load_extra_state(self, extra: dict) -> None:
        self.value.load_weights(extra["value_model"])


def gae(
    rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor, gamma: float, lam: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """Generalised advantage estimation over answer tokens (mask 1), each row's answer ending at its
    last masked position (value 0 after it). Returns (advantages, returns), zero outside the mask."""
    advantages = torch.zeros_like(rewards)
    running = torch.zeros(rewards.size(0))
    next_value = torch.zeros(rewards.size(0))
    for t in range(rewards.size(1) - 1, -1, -1):
        m = mask[:, t]
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        running = torch.where(m > 0, delta + gamma * lam * running, running)
        advantages[:, t] = running * m
        next_value = torch.where(m > 0, values[:, t], next_value)
    return advantages, (advantages + values) * mask


def whiten(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """(x − mean) / std over the masked entries; zero outside the mask."""
    n = mask.sum().clamp(min=1)
    mean = (x * mask).sum() / n
    var = (((x - mean) * mask) ** 2).sum() / n
    return (x - mean) / (var.sqrt() + 1e-8) * mask


class PPORollouts:
    """The batch source: a rollout batch every `ppo_epochs × minibatches` steps, served as minibatches."""

    def __init__(
        self,
        model: PolicyAndValue,
        reference,
        rm,
        tokenizer,
        prompts,
        cfg: PPOConfig,
        precision: str,
        seed: int,
    ):
        self.model, self.reference, self.rm = model, reference, rm
        self.tokenizer, self.prompts, self.cfg, self.precision, self.seed = (
            tokenizer,
            prompts,
            cfg,
            precision,
            seed,
        )
        self.steps_per_rollout = cfg.ppo_epochs * cfg.minibatches
        self.kl_coef = cfg.kl_coef
        self.tool_options: dict = {}  # with --tools: {"tools": ToolBox, "max_tool_calls": n} for complete_chats
        self._rollout: tuple[int, list[torch.Tensor]] | None = None  # (cycle, tensors) in use
        self.recent: list[dict] = []  # rollout statistics, read and cleared by the evaluator
        self.update_stats: list[dict] = []  # per-minibatch statistics, filled by the loss function

    def micro_batch(self, step, micro, n_micro, rank, world_size):
        cycle, within = divmod(step, self.steps_per_rollout)
        if self._rollout is None or self._rollout[0] != cycle:
            self._rollout = (cycle, self._make_rollout(cycle, rank))
        epoch, minibatch = divmod(within, self.cfg.minibatches)
        order = np.random.default_rng([self.seed, cycle, epoch]).permutation(self.cfg.rollout_size)
        size = self.cfg.rollout_size // self.cfg.minibatches
        rows = torch.from_numpy(order[minibatch * size : (minibatch + 1) * size])
        return [t[rows] for t in self._rollout[1]]

    def epoch_steps(self, rows_per_step: int) -> int:
        return max(1, len(self.prompts) // self.cfg.rollout_size) * self.steps_per_rollout

    def state_dict(self) -> dict:
        """β (it adapts) and the rollout batch in use, so that --resume mid-batch continues exactly."""
        state = {"kl_coef": self.kl_coef}
        if self._rollout is not None:
            state["cycle"], state["rollout"] = self._rollout
        return state

    def load_state_dict(self, state: dict) -> None:
        self.kl_coef = state["kl_coef"]
        if "rollout" in state and is_main_process():  # rank 0 saved; other ranks sample theirs again
            self._rollout = (state["cycle"], list(state["rollout"]))

    @torch.no_grad()
    def _make_rollout(self, cycle: int, rank: int) -> list[torch.Tensor]:
        """Each rank samples its own prompts and answers; β adapts to the KL averaged over the ranks."""
        cfg, tok = self.cfg, self.tokenizer
        policy, device = self.model.policy, next(self.model.parameters()).device
        rng = np.random.default_rng([self.seed, cycle, rank])
        picked = [
            self.prompts[i]
            for i in rng.choice(
                len(self.prompts), cfg.rollout_size, replace=len(self.prompts) < cfg.rollout_size
            )
        ]
        was_training = self.model.training
        self.model.eval()
        sampling = SamplingConfig(
            max_new_tokens=cfg.max_new_tokens,
            temperature=cfg.temperature,
            seed=(self.seed * 7919 + cycle) * 1009 + rank,
        )
        with autocast(device, self.precision):
            answers = complete_chats(policy, tok, [p["prompt"] for p in picked], sampling, **self.tool_options)
        rows = [lm_rows(a.prompt_ids + a.ids, [0] * len(a.prompt_ids) + a.generated_mask) for a in answers]
        inputs, targets = pad([r[0] for r in rows], tok.pad_id), pad([r[1] for r in rows], IGNORE)
        mask = (targets != IGNORE).float()
        with autocast(device, self.precision):
            logits, values = self.model(inputs.to(device))
            old_logp = token_logprobs(logits, targets.to(device), cfg.temperature).cpu()
            ref_logp = token_logprobs(
                self.reference(inputs.to(device)), targets.to(device), cfg.temperature
            ).cpu()
        # the value of the state before predicting target t is the value read at input position t
        values = values.float().cpu() * mask
        scores = self._scores(picked, answers)
        ended = torch.tensor([a.stop_id == tok.im_end_id for a in answers])
        scores = scores + (~ended).float() * cfg.missing_eos_penalty
        kl = (old_logp - ref_logp) * mask
        rewards = -self.kl_coef * kl
        last = mask.cumsum(1).argmax(1)  # each row's final answer position
        rewards[torch.arange(len(answers)), last] += scores
        advantages, returns = gae(rewards, values, mask, cfg.gamma, cfg.lam)
        advantages = whiten(advantages, mask)
        kl_per_answer = kl.sum(1).mean()
        if dist.is_initialized():  # every rank must adapt β alike
            kl_per_answer = kl_per_answer.to(device)
            dist.all_reduce(kl_per_answer)
            kl_per_answer /= dist.get_world_size()
        kl_per_answer = kl_per_answer.item()
        self.recent.append({
            "reward": scores.mean().item(), "kl": kl_per_answer, "kl_coef": self.kl_coef,
            "response_length": mask.sum(1).mean().item(), "eos_rate": ended.float().mean().item(),
        })  # fmt: skip
        if cfg.target_kl is not None:  # adaptive β: proportional control toward the target KL
            error = float(np.clip(kl_per_answer / cfg.target_kl - 1, -0.2, 0.2))
            self.kl_coef *= 1 + 0.1 * error
        self.model.train(was_training)
        return [inputs, targets, old_logp, advantages, returns, values]

    def _scores(self, picked, answers: list[Completion]) -> torch.Tensor:
        """Reward-model scores of the answers to the picked prompts; 0 where one does not fit."""
        texts = [a.text for a in answers]
        scores = reward_scores(
            self.rm, self.tokenizer, [p["prompt"] for p in picked], texts, 16, self.precision
        )
        return torch.nan_to_num(scores, nan=0.0)


def ppo_loss(cfg: PPOConfig, stats: list[dict]):
    """Clipped policy loss + value_coef · clipped value loss, averaged over answer tokens; records the
    clip fraction, approximate KL (old ‖ new), entropy and value loss of each minibatch in `stats`."""

    def loss_fn(model, batch) -> torch.Tensor:
        inputs, targets, old_logp, advantages, returns, old_values = batch
        mask = (targets != IGNORE).float()
        n = mask.sum().clamp(min=1)
        logits, values = model(inputs)
        logp = token_logprobs(logits, targets, cfg.temperature)
        ratio = torch.exp(logp - old_logp)
        policy_loss = (
            -torch.minimum(ratio * advantages, ratio.clamp(1 - cfg.clip, 1 + cfg.clip) * advantages) * mask
        ).sum() / n
        clipped = old_values + (values - old_values).clamp(-cfg.value_clip, cfg.value_clip)
        value_loss = 0.5 * (torch.maximum((values - returns) ** 2, (clipped - returns) ** 2) * mask).sum() / n
        with torch.no_grad():
            probs = (logits.float() / cfg.temperature).softmax(-1)
            entropy = (-(probs * probs.clamp(min=1e-12).log()).sum(-1) * mask).sum() / n
            stats.append({
                "clip_fraction": (((ratio - 1).abs() > cfg.clip).float() * mask).sum().item() / n.item(),
                "approx_kl": (((ratio - 1) - (logp - old_logp)) * mask).sum().item() / n.item(),
                "entropy": entropy.item(), "value_loss": value_loss.item(),
            })  # fmt: skip
        return policy_loss + cfg.value_coef * value_loss

    return loss_fn


class PPOEvaluator:
    """Held-out prompts: the reward model's mean score of answers sampled at the rollout temperature
    (with a fixed seed, so evaluations compare); and the averages of the rollout and update
    statistics since the last evaluation."""

    def __init__(self, rollouts: PPORollouts, val_prompts: list[dict]):
        self.rollouts, self.val_prompts = rollouts, val_prompts

    @torch.no_grad()
    def val_reward(self, policy) -> tuple[float, str]:
        r = self.rollouts
        sampling = SamplingConfig(
            max_new_tokens=r.cfg.max_new_tokens, temperature=r.cfg.temperature, seed=1234
        )
        answers = complete_chats(
            policy, r.tokenizer, [p["prompt"] for p in self.val_prompts], sampling, **r.tool_options
        )
        scores = r._scores(self.val_prompts, answers)
        sample = f"{self.val_prompts[0]['prompt'][-1]['content']!r} → {answers[0].text!r}"
        return scores.mean().item(), sample

    def __call__(self, model, precision: str) -> dict:
        result: dict = {}
        model.eval()
        if self.val_prompts:
            result["val_reward"], result["sample"] = self.val_reward(model.policy)
        for source in (self.rollouts.recent, self.rollouts.update_stats):
            for key in source[0] if source else ():
                result[key] = sum(s[key] for s in source) / len(source)
            source.clear()
        model.train()
        return result


def run_ppo(
    sft: str | Path,
    reward_model: str | Path,
    prompts: str | Path,
    out_dir: str | Path,
    train_config: TrainConfig | None = None,
    ppo_config: PPOConfig | None = None,
    rollouts: int = stage_default("ppo", "rollouts"),
    val_fraction: float = stage_default("ppo", "val_fraction"),
    max_val: int = stage_default("ppo", "max_val"),
    data_format: str = "auto",
    **run_options,
) -> dict | None:
    """PPO-train the checkpoint `sft` against `reward_model` on prompts (a prompts artifact or JSONL).

    Runs `rollouts` rollout batches unless the train config sets a limit. Writes the policy checkpoint
    to `out_dir`; returns its manifest (None on ranks other than 0), whose stats hold the held-out
    reward before training (`initial_val_reward`) and the last logged statistics. With `nproc` > 1
    (or under torchrun) each process samples and trains on its own `rollout_size` prompts per batch.
    `run_options` (nproc, config, force, resume, show_progress) are `train.runner.run_stage`'s.
    """
    return run_stage(
        build_ppo, out_dir, train_config or TrainConfig.for_stage("ppo"),
        sft=sft, reward_model=reward_model, prompts=prompts, pcfg=ppo_config or PPOConfig(), rollouts=rollouts,
        val_fraction=val_fraction, max_val=max_val, data_format=data_format, **run_options,
    )  # fmt: skip


def build_ppo(cfg: TrainConfig, nproc: int, sft, reward_model, prompts, pcfg: PPOConfig, rollouts, val_fraction,
              max_val, data_format, lora=None) -> Stage:  # fmt: skip
    """PPO as the runner's Stage: policy + value model trained together on rollouts scored by the
    frozen reward model, with the SFT model as the KL reference."""
    pcfg.validate()
    if rollouts <= 0:
        raise UserError(f"--rollouts must be greater than 0 (got {rollouts})")
    toolbox = load_toolbox(pcfg.tools)
    policy, tokenizer, ckpt = load_model(sft, device="cpu")
    if toolbox is not None:
        tokenizer.require_tools()
    rm, rm_tokenizer, rm_ckpt = load_reward_model(reward_model, device="cpu")
    if rm_tokenizer.fingerprint != tokenizer.fingerprint:
        raise UserError(
            f"the policy ({ckpt.path}) and the reward model ({rm_ckpt.path}) use different tokenizers"
        )
    if pcfg.max_new_tokens >= policy.config.seq_len:
        raise UserError(
            f"--max-new-tokens {pcfg.max_new_tokens} leaves no room for a prompt in the context of {policy.config.seq_len}"
        )
    records, _ = read_records(prompts, "prompts", data_format)
    train_prompts, val_prompts = split_by_id(records, val_fraction)
    value, _, _ = load_reward_model(reward_model, device="cpu")  # the value model starts as the reward model
    if lora:  # adapters on policy and value model; the reference is the policy with them off
        reference = adapters_off(add_lora(policy, lora, cfg.seed))
        add_lora(value, lora, cfg.seed + 1)
    else:
        reference, _, _ = load_model(sft, device=cfg.device)
        reference.requires_grad_(False)
    rm.requires_grad_(False)
    device = resolve_device(cfg.device)
    rm.to(device)
    precision = resolve_precision(cfg.precision, device)
    model = PolicyAndValue(policy, value)
    cfg.batch_size = pcfg.rollout_size // pcfg.minibatches  # rows per optimizer step: one minibatch
    if cfg.max_steps is None and cfg.max_tokens is None and cfg.max_time is None:
        cfg.max_steps = rollouts * pcfg.ppo_epochs * pcfg.minibatches
    source = PPORollouts(model, reference, rm, tokenizer, train_prompts, pcfg, precision, cfg.seed)
    source.tool_options = {"tools": toolbox, "max_tool_calls": pcfg.max_tool_calls}
    evaluate = PPOEvaluator(source, val_prompts[:max_val])
    return Stage(
        "ppo",
        model,
        source,
        inputs=[ckpt.path, rm_ckpt.path, Path(prompts)],
        tokenizer_json=tokenizer.path,
        settings={**asdict(pcfg), "rollouts": rollouts, "val_fraction": val_fraction},
        loss_fn=ppo_loss(pcfg, source.update_stats),
        evaluate=evaluate,
        stats={
            "prompts": len(records),
            "train_prompts": len(train_prompts),
            "val_prompts": len(val_prompts[:max_val]),
            "steps_per_rollout": source.steps_per_rollout,
        },
        before_training=lambda: {
            "initial_val_reward": evaluate.val_reward(policy)[0] if val_prompts else None
        },
    )
