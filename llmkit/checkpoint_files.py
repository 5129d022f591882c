"""Checkpoint files: write a checkpoint artifact and open one for reading, without building a model.

A checkpoint is a directory artifact of kind "checkpoint":
  model.safetensors        the weights (as trained: fp32 master weights)
  config.json              the model config (n_layers, d_model, ..., vocab_size)
  tokenizer.json           the tokenizer the model was trained with
  chat_format.json         only for a tokenizer that is not llmkit's (import-model): its special
                           tokens by role, which the chat template renders with
  trainer_state/state.pt   what resuming needs (optimizer, step, data position); read with
                           torch.load(weights_only=True), which refuses arbitrary pickled objects
  metrics.parquet          one row per logged step
  manifest.json
torch and safetensors are imported inside the functions, so reading manifests stays light.

Building a model from these files (LM or score head) and its tokenizer is `llmkit.checkpoint`'s
job, a layer above.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from llmkit.artifacts import ArtifactWriter, open_artifact, write_json_atomic
from llmkit.errors import UserError
from llmkit.parquet import open_parquet

CHECKPOINT_FILES = ("model.safetensors", "config.json", "tokenizer.json")


def write_checkpoint_files(
    folder: Path,
    weights: dict,
    model_config: dict,
    tokenizer_json: str | Path,
    trainer_state: dict | None = None,
    metrics: Sequence[dict] = (),
) -> None:
    """Write a checkpoint's files into `folder` (an ArtifactWriter's partial directory).

    `weights`: name → tensor (contiguous, no shared storage); `trainer_state`: a dict of tensors and
    plain Python values; `metrics`: one dict per logged step.
    """
    import torch
    from safetensors.torch import save_file

    folder = Path(folder)
    save_file({k: v.detach().contiguous().cpu() for k, v in weights.items()}, folder / "model.safetensors")
    write_json_atomic(folder / "config.json", model_config)
    shutil.copyfile(tokenizer_json, folder / "tokenizer.json")
    chat_format = Path(tokenizer_json).with_name("chat_format.json")  # an imported tokenizer's roles
    if chat_format.is_file():
        shutil.copyfile(chat_format, folder / "chat_format.json")
    if trainer_state is not None:
        (folder / "trainer_state").mkdir(exist_ok=True)
        torch.save(trainer_state, folder / "trainer_state" / "state.pt")
    if metrics:
        # every key of every row: evaluation rows carry keys (val_loss, val_accuracy, ...) that the
        # first row lacks, and from_pylist alone would take its columns from the first row only
        columns = list(dict.fromkeys(k for row in metrics for k in row))
        rows = [{k: row.get(k) for k in columns} for row in metrics]
        pq.write_table(pa.Table.from_pylist(rows), folder / "metrics.parquet", compression="zstd")


def save_checkpoint(
    out: str | Path,
    weights: dict,
    model_config: dict,
    tokenizer_json: str | Path,
    *,
    stage: str,
    config: dict | None = None,
    inputs: Sequence[str | Path | dict] = (),
    trainer_state: dict | None = None,
    metrics: Sequence[dict] = (),
    counts: dict | None = None,
    stats: dict | None = None,
    extra: dict | None = None,
    force: bool = False,
) -> dict:
    """Write a complete checkpoint artifact to `out` atomically; returns its manifest. `extra` adds
    (or overrides, e.g. `duration_s` with the training time) top-level manifest fields."""
    with ArtifactWriter(out, kind="checkpoint", stage=stage, config=config, inputs=inputs, force=force) as w:
        write_checkpoint_files(w.path, weights, model_config, tokenizer_json, trainer_state, metrics)
        return w.commit(counts=counts, stats=stats, extra=extra)


@dataclass
class Checkpoint:
    """A checkpoint artifact opened for reading (files checked, nothing large loaded yet)."""

    path: Path
    manifest: dict
    model_config: dict

    @property
    def tokenizer_path(self) -> Path:
        return self.path / "tokenizer.json"

    def weights(self, device: str = "cpu") -> dict:
        """name → tensor, from model.safetensors."""
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(self.path / "model.safetensors", device=device)
        except (SafetensorError, OSError) as e:
            raise UserError(f"{self.path / 'model.safetensors'} is not a valid safetensors file: {e}") from e

    def trainer_state(self) -> dict | None:
        """The saved training state, or None for a checkpoint without one."""
        import pickle

        import torch

        state = self.path / "trainer_state" / "state.pt"
        if not state.is_file():
            return None
        try:
            return torch.load(state, map_location="cpu", weights_only=True)
        except (pickle.UnpicklingError, RuntimeError, EOFError) as e:
            raise UserError(f"{state} cannot be loaded safely: {str(e).splitlines()[0]}") from e

    def metrics(self) -> list[dict]:
        """The logged metrics rows, oldest first ([] if none were logged)."""
        f = self.path / "metrics.parquet"
        return open_parquet(f).read().to_pylist() if f.is_file() else []


def open_checkpoint(path: str | Path) -> Checkpoint:
    """Open a checkpoint artifact; a wrong kind, a missing file or a corrupt config.json is a UserError."""
    art = open_artifact(path, kinds=["checkpoint"], allow_plain_parquet=False)
    for name in CHECKPOINT_FILES:
        if not (art.path / name).is_file():
            raise UserError(f"{art.path} is not a complete checkpoint: {name} is missing")
    try:
        model_config = json.loads((art.path / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{art.path / 'config.json'} is corrupt: {e}") from e
    if not isinstance(model_config, dict):
        raise UserError(f"{art.path / 'config.json'} is not a model config")
    return Checkpoint(art.path, art.manifest, model_config)
