"""Shared test helpers: run the real CLI in-process or as a subprocess, and build small artifacts."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
SAMPLE = REPO / "sample_data"
SHARED_DATA = REPO.parent / "shared" / "data"


@dataclass
class Result:
    returncode: int
    stdout: str
    stderr: str


def run_cli(
    *args: str | Path, cwd: Path | None = None, timeout: float = 600, env: dict | None = None
) -> Result:
    """Run `python -m llmkit ARGS` as a real subprocess (exit codes, stderr and all)."""
    proc = subprocess.run(
        [sys.executable, "-m", "llmkit", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env={**os.environ, "COLUMNS": "200", "NO_COLOR": "1", **(env or {})},
    )
    return Result(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(result: Result, *fragments: str, code: int = 2) -> None:
    """A user error: the given exit code, one line on stderr naming the problem, no traceback."""
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error:"), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0], (fragment, lines[0])


@pytest.fixture
def cli():
    return run_cli


# --------------------------------------------------------------------------------------- tiny models

TOKENIZER_TEXT = (
    "The river runs past the old mill, and the miller counts 1234 sacks of grain each autumn.\n"
    "Bread rises slowly in a warm kitchen; patience is the baker's main ingredient.\n"
    "Émilie visited Zürich in 2019 — 東京 too — and wrote 42 postcards. 🙂\n"
) * 40


def make_tokenizer(root: Path, vocab_size: int = 320, **train_options):
    """A real byte-level BPE trained on a few KB of text (fast), loaded; `train_options` go to
    `train_tokenizer` (e.g. digits="single")."""
    from llmkit.tokenize import train_tokenizer
    from llmkit.tokenizer import load_tokenizer

    root.mkdir(parents=True, exist_ok=True)
    (root / "text.txt").write_text(TOKENIZER_TEXT, encoding="utf-8")
    train_tokenizer(
        root / "text.txt", root / "tokenizer", vocab_size=vocab_size, show_progress=False, **train_options
    )
    return load_tokenizer(root / "tokenizer")


def make_checkpoint(path: Path, tokenizer, tie: bool = True, seed: int = 0, **overrides):
    """A small random-weight checkpoint written with the real checkpoint writer; returns the model."""
    import torch

    from llmkit.checkpoint_files import save_checkpoint
    from llmkit.model import Transformer, model_config

    torch.manual_seed(seed)
    shape = dict(n_layers=2, d_model=64, n_heads=4, n_kv_heads=2, ffn_hidden=96, seq_len=64) | overrides
    cfg = model_config("tiny", vocab_size=tokenizer.vocab_size, tie_embeddings=tie, **shape)
    model = Transformer(cfg)
    with torch.no_grad():  # non-trivial norm gains, so a mis-mapped norm would show
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.uniform_(0.5, 1.5)
    save_checkpoint(path, model.weights(), cfg.to_dict(), tokenizer.path, stage="test")
    return model.eval()


def add_one_prompts(n: int) -> list[dict]:
    """`n` rows of a prompts file: the chat question "What is i + 1?" with its answer."""
    return [
        {"prompt": [{"role": "user", "content": f"What is {i} + 1?"}], "answer": str(i + 1)} for i in range(n)
    ]


def write_jsonl(path: Path, rows) -> Path:
    """`rows` as a JSON Lines file at `path`, one per line (a str row is written as it is: a bad line)."""
    path.write_text(
        "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows), encoding="utf-8"
    )
    return path
