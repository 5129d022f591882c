"""The layers point one way (DESIGN.md): a module never imports a layer above it, and the CLI and the
library functions read one table of stage defaults."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
import typer

import llmkit
from llmkit.defaults import STAGE_DEFAULTS

PACKAGE = Path(llmkit.__file__).parent

# module (or package prefix) → llmkit modules it must never import, at top level or inside a function
FORBIDDEN = {
    "llmkit.model": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate",
                     "llmkit.engine", "llmkit.checkpoint", "llmkit.data", "llmkit.answers"),
    "llmkit.engine": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate",
                      "llmkit.checkpoint", "llmkit.data", "llmkit.answers", "llmkit.artifacts",
                      "llmkit.parquet", "llmkit.checkpoint_files", "llmkit.batcher", "llmkit.serve"),
    "llmkit.checkpoint": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks",
                          "llmkit.generate", "llmkit.engine", "llmkit.answers"),
    "llmkit.device": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate",
                      "llmkit.engine", "llmkit.checkpoint", "llmkit.model", "llmkit.data"),
    "llmkit.artifacts": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks",
                         "llmkit.generate", "llmkit.engine", "llmkit.checkpoint", "llmkit.model",
                         "llmkit.data", "llmkit.tokenizer", "llmkit.checkpoint_files"),
    # Parquet parts sit below the artifact contract; checkpoint files sit on it, below the checkpoint loader
    "llmkit.parquet": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate",
                       "llmkit.engine", "llmkit.checkpoint", "llmkit.model", "llmkit.data",
                       "llmkit.tokenizer", "llmkit.artifacts", "llmkit.checkpoint_files"),
    # opening users' text files (compression, BOM) sits at the bottom, beside Parquet parts
    "llmkit.textfiles": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate",
                         "llmkit.engine", "llmkit.checkpoint", "llmkit.model", "llmkit.data",
                         "llmkit.tokenizer", "llmkit.artifacts", "llmkit.parquet", "llmkit.tokenize"),
    "llmkit.checkpoint_files": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks",
                                "llmkit.generate", "llmkit.engine", "llmkit.checkpoint", "llmkit.model",
                                "llmkit.data", "llmkit.tokenizer"),
    "llmkit.tokenizer": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks",
                         "llmkit.generate", "llmkit.data", "llmkit.engine", "llmkit.checkpoint",
                         "llmkit.tokenize"),
    "llmkit.defaults": ("llmkit.",),  # a table: imported by everyone, imports nothing of ours
    "llmkit.answers": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate"),
    "llmkit.train": ("llmkit.cli", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate"),
    "llmkit.data": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate",
                    "llmkit.engine", "llmkit.checkpoint", "llmkit.model", "llmkit.device"),
    # the task runners sit below the eval stage
    "llmkit.eval_tasks": ("llmkit.cli", "llmkit.train", "llmkit.generate", "llmkit.eval"),
    # published task layouts: plain rows, read by eval and by data/decontaminate alike
    "llmkit.task_layouts": ("llmkit.cli", "llmkit.train", "llmkit.generate", "llmkit.eval", "llmkit.eval_tasks",
                            "llmkit.eval_suites", "llmkit.engine", "llmkit.checkpoint", "llmkit.model",
                            "llmkit.data", "torch"),
    "llmkit.eval_suites": ("llmkit.cli", "llmkit.train", "llmkit.generate", "llmkit.eval"),
    "llmkit.eval": ("llmkit.cli", "llmkit.train", "llmkit.generate"),
    "llmkit.generate": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.serve"),
    # continuous batching sits beside the engine; the server and its API shapes above it
    "llmkit.batcher": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate",
                       "llmkit.checkpoint", "llmkit.data", "llmkit.serve", "llmkit.openai_api"),
    "llmkit.openai_api": ("llmkit.",),  # request and response shapes only
    # tools are plain functions the engine is handed: they know no model, tokenizer or stage
    "llmkit.tools": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate",
                     "llmkit.engine", "llmkit.checkpoint", "llmkit.data", "llmkit.model", "llmkit.tokenizer"),
    "llmkit.serve": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks"),
    # LoRA adapts a model: it knows no files and no stages (checkpoint.py and the training stages use it)
    "llmkit.lora": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate",
                    "llmkit.engine", "llmkit.checkpoint", "llmkit.data", "llmkit.artifacts", "llmkit.tokenizer"),
    # import-model is a stage: it writes a checkpoint artifact, and trains nothing
    "llmkit.import_model": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate",
                            "llmkit.engine", "llmkit.data", "llmkit.serve"),
    # retrieval sits beside the engine: stages (generate, eval, the index build) use it, never the reverse
    "llmkit.retrieval": ("llmkit.cli", "llmkit.train", "llmkit.eval", "llmkit.eval_tasks", "llmkit.generate",
                         "llmkit.engine", "llmkit.checkpoint", "llmkit.model", "llmkit.data", "llmkit.serve"),
}  # fmt: skip


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Every module an `import` or `from ... import` in the file names (functions' bodies included)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names |= {f"{node.module}.{alias.name}" for alias in node.names}  # `from llmkit import cli`
    return names


def upward_imports() -> list[str]:
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        name = module_name(path)
        rules = [
            banned for owner, banned in FORBIDDEN.items() if name == owner or name.startswith(owner + ".")
        ]
        for imported in imported_modules(path):
            for banned in (b for rule in rules for b in rule):
                if imported == banned.rstrip(".") or imported.startswith(banned.rstrip(".") + "."):
                    found.append(f"{name} imports {imported}")
    return found


def test_no_module_imports_a_layer_above_it():
    assert upward_imports() == []


def test_the_import_check_sees_a_violation(tmp_path, monkeypatch):
    """The scan itself works: an upward import written into a copy of the package is reported."""
    import shutil

    copy = tmp_path / "llmkit"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    engine = copy / "engine.py"
    engine.write_text(
        engine.read_text() + "\n\ndef _late():\n    from llmkit.train.common import TrainConfig\n"
    )
    monkeypatch.setattr(__import__(__name__), "PACKAGE", copy)
    assert sorted(upward_imports()) == [
        "llmkit.engine imports llmkit.train.common",
        "llmkit.engine imports llmkit.train.common.TrainConfig",
    ]


def cli_defaults(command: str) -> dict:
    from llmkit.cli import app

    click_command = typer.main.get_command(app).commands[command]
    return {p.name: p.default for p in click_command.params}


@pytest.mark.parametrize("stage", sorted(set(STAGE_DEFAULTS) - {"serve", "export", "index", "retrieval", "tools", "lora", "train-tokenizer"}))  # index, retrieval: test_retrieval.py; tools: test_tools.py; train-tokenizer: test_tokenizer.py
def test_cli_and_library_read_the_same_stage_defaults(stage):
    """`llmkit X --help` shows, and `run_X()` uses, the one table's values."""
    from llmkit.train import distill, dpo, grpo, ppo, pretrain, reward, sft, sweep
    from llmkit.train.common import TrainConfig

    run = {"pretrain": pretrain.run_pretrain, "sft": sft.run_sft, "train-reward": reward.run_train_reward,
           "dpo": dpo.run_dpo, "grpo": grpo.run_grpo, "ppo": ppo.run_ppo, "distill": distill.run_distill,
           "sweep": sweep.run_sweep}[stage]  # fmt: skip
    library = {n: p.default for n, p in inspect.signature(run).parameters.items()}
    library |= vars(ppo.PPOConfig()) if stage == "ppo" else {}
    train_config = vars(TrainConfig.for_stage(stage))
    cli = cli_defaults(stage)
    for name, value in STAGE_DEFAULTS[stage].items():
        if name != "log_every":  # not a post-training option: derived from --max-steps and --eval-every
            assert cli[name] == value, (stage, name, "cli")
        assert (library[name] if name in library else train_config[name]) == value, (stage, name, "library")


@pytest.mark.parametrize("stage", ["sft", "train-reward", "dpo", "grpo", "ppo"])
def test_lora_options_read_the_same_defaults(stage):
    """Every post-training command's --lora-* options and LoraSettings show the one table's values."""
    from dataclasses import fields

    from llmkit.lora import LoraSettings

    library = {f"lora_{f.name}": f.default for f in fields(LoraSettings)}
    cli = cli_defaults(stage)
    for name, value in STAGE_DEFAULTS["lora"].items():
        assert cli[name] == value, (stage, name)
        assert name == "lora_rank" or library[name] == value, name


def test_serve_cli_and_library_read_the_same_defaults():
    from dataclasses import fields

    from llmkit.serve import ServeConfig

    library = {f.name: f.default for f in fields(ServeConfig)}
    cli = cli_defaults("serve")
    for name, value in STAGE_DEFAULTS["serve"].items():
        assert cli[name] == library[name] == value, name


def test_export_cli_and_library_read_the_same_defaults():
    from llmkit.gguf_export import export_gguf

    library = {n: p.default for n, p in inspect.signature(export_gguf).parameters.items()}
    cli = cli_defaults("export")
    for name, value in STAGE_DEFAULTS["export"].items():
        assert cli[name] == library[name] == value, name
