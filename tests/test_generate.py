"""`llmkit generate` and `llmkit chat` on a real (briefly trained) checkpoint, through the real CLI."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys

import pyarrow.parquet as pq
import pytest
import torch
from conftest import REPO, assert_one_line_error, run_cli
from test_pretrain import make_tokens

from llmkit.artifacts import read_manifest
from llmkit.engine import SamplingConfig
from llmkit.errors import UserError
from llmkit.generate import read_prompts, run_chat, run_generate
from llmkit.train.common import TrainConfig
from llmkit.train.pretrain import run_pretrain

GREEDY = SamplingConfig(max_new_tokens=12, temperature=0)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    folder = tmp_path_factory.mktemp("gen")
    tokens = make_tokens(folder / "data", sentences=60)
    threads = torch.get_num_threads()
    cfg = TrainConfig(
        max_steps=30, batch_size=8, lr=1e-2, warmup_steps=5, eval_every=0, threads=1, peak_flops=1e11
    )
    shape = dict(n_layers=2, d_model=64, ffn_hidden=256, seq_len=64)
    run_pretrain(tokens, folder / "base", "tiny", shape, cfg, eval_tokens=256, show_progress=False)
    torch.set_num_threads(threads)
    return folder / "base"


def run_with_stdin(*args, stdin: str):
    """Like conftest.run_cli, with text piped to the command's stdin."""
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    cmd = [sys.executable, "-m", "llmkit", *map(str, args)]
    return subprocess.run(cmd, capture_output=True, text=True, input=stdin, cwd=REPO, timeout=300, env=env)


def test_generate_streams_a_prompt_given_as_an_argument(checkpoint):
    r = run_cli("generate", checkpoint, "The king", "-n", "12", "--temperature", "0")
    assert r.returncode == 0, r.stderr
    expected = run_generate(checkpoint, ["The king"], GREEDY, device="cpu")["results"][0]
    assert r.stdout == f"The king{expected['completion']}\n"
    assert "12 in" in r.stderr or "stopped at an end token" in r.stderr  # the summary goes to stderr


def test_generate_from_a_file_writes_a_generations_artifact(checkpoint, tmp_path):
    prompts = tmp_path / "prompts.jsonl"
    chat = [{"role": "user", "content": "Who went to the sea?"}]
    prompts.write_text(json.dumps({"prompt": "The queen"}) + "\n\n" + json.dumps({"prompt": chat}) + "\n")
    out = tmp_path / "generations"
    r = run_cli("generate", checkpoint, "-f", prompts, "-o", out, "--num-samples", "2", "-n", "10", "--top-k", "20",
                "--top-p", "0.9", "--seed", "3")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "prompt 2, sample 2" in r.stdout
    rows = pq.read_table(out / "part-00000.parquet").to_pylist()
    assert [(row["prompt_index"], row["sample"]) for row in rows] == [(0, 0), (0, 1), (1, 0), (1, 1)]
    assert rows[0]["prompt"] == "The queen" and json.loads(rows[2]["prompt"]) == chat
    assert all(0 < row["completion_tokens"] <= 10 for row in rows)
    assert all(row["finish_reason"] in ("stop", "length") for row in rows)
    assert rows[0]["completion"] != rows[1]["completion"]  # two samples, one seed: different draws
    manifest = read_manifest(out)
    assert manifest["kind"] == "generations" and manifest["config"]["top_k"] == 20
    assert manifest["counts"]["rows"] == 4 and manifest["inputs"][0]["kind"] == "checkpoint"
    again = run_generate(checkpoint, ["The queen", chat], SamplingConfig(10, 0.8, 20, 0.9, 3), num_samples=2)
    assert [row["completion"] for row in again["results"]] == [row["completion"] for row in rows]


def test_prompts_from_stdin_and_files():
    assert read_prompts([], None, io.StringIO("one\n\ntwo\n")) == ["one", "two"]
    assert read_prompts(["arg"], None, io.StringIO("ignored\n")) == ["arg"]
    with pytest.raises(UserError, match="no prompt"):
        read_prompts([], None, None)
    with pytest.raises(UserError, match="not both"):
        read_prompts(["a"], "file.txt", None)


def test_bad_prompt_files(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"prompt": "ok"}\n{"prompt": 3}\n')
    with pytest.raises(UserError, match="bad.jsonl:2 needs a 'prompt'"):
        read_prompts([], bad, None)
    bad.write_text("{not json\n")
    with pytest.raises(UserError, match="bad.jsonl:1 is not valid JSON"):
        read_prompts([], bad, None)
    with pytest.raises(UserError, match="does not exist"):
        read_prompts([], tmp_path / "missing.txt", None)
    text = tmp_path / "prompts.txt"
    text.write_text("first\nsecond\n")
    assert read_prompts([], text, None) == ["first", "second"]


def test_chat_repl_streams_replies_and_resets(checkpoint):
    script = "Hello there\nHello there\n/reset\nHello there\n/exit\nnever read\n"
    r = run_with_stdin("chat", checkpoint, "-n", "8", "--temperature", "0", stdin=script)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    replies = [line for line in lines if line.startswith("assistant> ")]
    assert len(replies) == 3 and "(conversation reset)" in lines
    assert replies[2] == replies[0]  # after /reset the conversation starts from scratch
    # the same, in this process: the second turn sees the first in its context
    out = io.StringIO()
    assert run_chat(checkpoint, SamplingConfig(8, 0.0), stdin=io.StringIO(script), stdout=out) == {"turns": 3}
    assert out.getvalue().splitlines()[1:] == lines[1:]


def test_vocabulary_mismatch_and_long_prompt_end_with_one_clear_line(checkpoint, tmp_path):
    long_prompt = "the sea " * 200
    assert_one_line_error(run_cli("generate", checkpoint, long_prompt), "the model's context is 64 tokens")
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    other = make_tokens(tmp_path / "other", sentences=10, vocab_size=264)
    shutil.copyfile(other.parent / "tokenizer" / "tokenizer.json", broken / "tokenizer.json")
    assert_one_line_error(run_cli("generate", broken, "hi"), "vocabulary mismatch", "264", "300")
    with pytest.raises(UserError, match="expected 'checkpoint'"):
        run_generate(other, ["hi"], GREEDY)
    with pytest.raises(UserError, match="already exists"):
        run_generate(checkpoint, ["hi"], GREEDY, out_dir=checkpoint)
