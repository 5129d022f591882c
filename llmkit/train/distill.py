"""`llmkit distill`: a teacher checkpoint + a tokens artifact → a student checkpoint (soft-label
knowledge distillation, Hinton et al. 2015), and the same loss for `llmkit sft --teacher`.

The student is a fresh model of a pretraining preset, trained on the tokens' windows exactly as
`llmkit pretrain` trains (same batches, schedule, evaluation, resume, --nproc), with the loss

    α · T² · KL(teacher_T ‖ student_T) + (1 − α) · cross-entropy(student, data)

per predicted token, where `_T` is the softmax of logits / T. The T² keeps the soft term's gradient
on the same scale as the hard one's as T changes (the paper's section 2). The teacher runs in the
same process, in inference mode (no gradients, no dropout), on the same micro-batch as the student.
Both must share one tokenizer, or the two distributions are over different vocabularies.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import torch
import torch.nn.functional as F

from llmkit.checkpoint import SCORE_WEIGHT, load_model
from llmkit.checkpoint_files import open_checkpoint
from llmkit.defaults import stage_default
from llmkit.device import resolve_device, resolve_precision
from llmkit.errors import UserError
from llmkit.model import Transformer, flops_per_token, num_params
from llmkit.tokenizer import Tokenizer
from llmkit.train.common import TrainConfig
from llmkit.train.runner import Stage, run_stage


def check_distillation_settings(temperature: float, alpha: float) -> None:
    if not temperature > 0:
        raise UserError(f"--temperature must be greater than 0 (got {temperature})")
    if not 0 <= alpha <= 1:
        raise UserError(f"--alpha must be in [0, 1] (got {alpha})")


def load_teacher(
    path: str | Path, student_tokenizer: Tokenizer, student_name: str
) -> tuple[Transformer, Path]:
    """The teacher language model (on the CPU, in inference mode, frozen) and its checkpoint's path.

    A reward model (it has a score head, not a next-token distribution) or a teacher whose
    tokenizer.json differs from the student's is a UserError naming both.
    """
    ckpt = open_checkpoint(path)
    if ckpt.manifest.get("stage") == "train-reward" or SCORE_WEIGHT in ckpt.weights():
        raise UserError(
            f"the teacher {ckpt.path} is a reward model (a score head, no next-token distribution); "
            "distill from a language-model checkpoint"
        )
    teacher, tokenizer, ckpt = load_model(ckpt.path, device="cpu")
    if tokenizer.fingerprint != student_tokenizer.fingerprint:
        raise UserError(
            f"the teacher's tokenizer ({tokenizer.path}, {tokenizer.vocab_size:,} tokens) differs from the "
            f"student's ({student_name}: {student_tokenizer.path}, {student_tokenizer.vocab_size:,} tokens); "
            "distillation needs one tokenizer"
        )
    teacher.requires_grad_(False)
    return teacher.eval(), ckpt.path


def distillation_loss(
    student_logits: torch.Tensor,
    teacher_logits: torch.Tensor,
    targets: torch.Tensor,
    temperature: float,
    alpha: float,
) -> torch.Tensor:
    """α · T² · KL(teacher_T ‖ student_T) + (1 − α) · CE, each the mean over the positions whose target
    is not -100 (padding, or SFT's non-assistant tokens). Logits (B, S, V), targets (B, S)."""
    keep = targets != -100
    student, teacher = student_logits[keep].float(), teacher_logits[keep].float()
    hard = F.cross_entropy(student, targets[keep])
    soft = F.kl_div(
        F.log_softmax(student / temperature, dim=-1),
        F.log_softmax(teacher / temperature, dim=-1),
        log_target=True,
        reduction="batchmean",  # summed over the vocabulary, averaged over positions
    )
    return alpha * temperature**2 * soft + (1 - alpha) * hard


class DistillationLoss:
    """The loop's loss_fn for a (inputs, targets) batch: the teacher's logits on the same inputs, then
    `distillation_loss`. The teacher follows the batch to its device the first time it is called."""

    def __init__(self, teacher: Transformer, temperature: float, alpha: float):
        self.teacher, self.temperature, self.alpha = teacher, temperature, alpha

    def __call__(self, model: torch.nn.Module, batch: tuple) -> torch.Tensor:
        inputs, targets = batch[0], batch[1]
        if self.teacher.lm_head.weight.device != inputs.device:
            self.teacher.to(inputs.device)
        with torch.no_grad():
            teacher_logits = self.teacher(inputs)
        return distillation_loss(model(inputs), teacher_logits, targets, self.temperature, self.alpha)


def teacher_flops_per_token(teacher: Transformer, seq_len: int) -> int:
    """The teacher's forward FLOPs per trained token: a third of flops_per_token's forward + backward."""
    return flops_per_token(teacher.config, seq_len) // 3


def with_teacher(
    stage: Stage, teacher_path, temperature: float, alpha: float, student_tokenizer, student_name
) -> Stage:
    """`stage` (pretraining's or SFT's) trained against the teacher at `teacher_path`: the distillation
    loss, the teacher's forward FLOPs counted in MFU, the teacher recorded as an input and in settings."""
    check_distillation_settings(temperature, alpha)
    teacher, path = load_teacher(teacher_path, student_tokenizer, student_name)
    seq_len = stage.model.config.seq_len
    if teacher.config.seq_len < seq_len:
        raise UserError(
            f"the teacher {path} has a context of {teacher.config.seq_len} tokens, shorter than the "
            f"student's {seq_len}; pass --seq-len {teacher.config.seq_len} or less"
        )
    teacher_flops = teacher_flops_per_token(teacher, seq_len)
    return replace(
        stage,
        loss_fn=DistillationLoss(teacher, temperature, alpha),
        inputs=[*stage.inputs, path],
        settings={**stage.settings, "teacher": str(path), "temperature": temperature, "alpha": alpha},
        stats={
            **stage.stats,
            "teacher_parameters": num_params(teacher.config),
            "teacher_flops_per_token": teacher_flops,
        },
        extra_flops_per_token=teacher_flops,
    )


def run_distill(
    teacher: str | Path,
    tokens_dir: str | Path,
    out_dir: str | Path,
    preset: str = stage_default("pretrain", "preset"),
    overrides: dict | None = None,
    train_config: TrainConfig | None = None,
    eval_tokens: int = stage_default("pretrain", "eval_tokens"),
    temperature: float = stage_default("distill", "temperature"),
    alpha: float = stage_default("distill", "alpha"),
    **run_options,
) -> dict | None:
    """Distil the checkpoint `teacher` into a fresh `preset` student (with per-field `overrides`) on a
    tokens artifact; everything else is `run_pretrain`'s (the same training defaults, too).

    Writes a checkpoint artifact to `out_dir` whose stats also hold the teacher's own validation loss
    (`teacher_val_loss`, `teacher_val_nats_per_char`) on the same tokens; returns its manifest (None
    on ranks other than 0). `run_options` (nproc, config, force, resume, show_progress) are
    `train.runner.run_stage`'s.
    """
    check_distillation_settings(temperature, alpha)  # before anything is loaded
    return run_stage(
        build_distill, out_dir, train_config or TrainConfig.for_stage("pretrain"),
        teacher=teacher, tokens_dir=tokens_dir, preset=preset, overrides=overrides, eval_tokens=eval_tokens,
        temperature=temperature, alpha=alpha, **run_options,
    )  # fmt: skip


def build_distill(
    cfg: TrainConfig, nproc: int, teacher, tokens_dir, preset, overrides, eval_tokens, temperature, alpha
) -> Stage:
    """Distillation as the runner's Stage: pretraining's stage with the teacher's loss, and the teacher's
    own validation loss measured before the first step."""
    from llmkit.tokenizer import load_tokenizer
    from llmkit.train.pretrain import build_pretrain

    pretraining = build_pretrain(cfg, nproc, tokens_dir, preset, overrides, eval_tokens)
    tokenizer = load_tokenizer(pretraining.tokenizer_json)
    stage = with_teacher(pretraining, teacher, temperature, alpha, tokenizer, str(tokens_dir))
    evaluate, teacher_model = stage.evaluate, stage.loss_fn.teacher

    def teacher_scores() -> dict:
        """The teacher's loss on the same validation tokens: the bar the student is measured against."""
        if evaluate is None:
            return {}
        device = resolve_device(cfg.device)
        result = evaluate(teacher_model.to(device), resolve_precision(cfg.precision, device))
        teacher_model.eval()  # the evaluator leaves a model in training mode
        return {f"teacher_{k}": v for k, v in result.items() if k.startswith("val_")}

    return replace(stage, name="distill", before_training=teacher_scores)
