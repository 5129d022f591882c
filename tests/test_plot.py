"""`llmkit plot`: a real PNG from metrics.parquet, several runs overlaid, and its bad inputs."""

from __future__ import annotations

import struct

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import assert_one_line_error, run_cli

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def make_run(path, losses, with_rl=False):
    path.mkdir(parents=True)
    n = len(losses)
    cols = {
        "step": list(range(1, n + 1)),
        "tokens": [1024 * i for i in range(1, n + 1)],
        "loss": losses,
        "val_loss": [None] * (n - 1) + [losses[-1] + 0.1],
        "lr": [1e-3] * n,
        "tokens_per_s": [5000.0] * n,
    }
    if with_rl:
        cols |= {"reward": [0.1 * i for i in range(n)], "kl": [0.01 * i for i in range(n)]}
    pq.write_table(pa.table(cols), path / "metrics.parquet")
    return path


def png_size(path):
    data = path.read_bytes()
    assert data[:8] == PNG_MAGIC
    width, height = struct.unpack(">II", data[16:24])  # the IHDR chunk
    return width, height, len(data)


def test_plot_writes_a_png_with_runs_overlaid(tmp_path):
    a = make_run(tmp_path / "base", [4.0, 3.2, 2.9, 2.7])
    b = make_run(tmp_path / "ppo", [2.7, 2.6, 2.5, 2.45], with_rl=True)
    out = tmp_path / "plots" / "curves.png"
    r = run_cli("plot", a, b, "-o", out, "--label", "base", "--label", "ppo")
    assert r.returncode == 0, r.stderr
    assert "loss, learning rate, tokens/s, reward, KL for 2 run(s)" in r.stdout
    width, height, size = png_size(out)
    assert width >= 600 and height >= 600 and size > 20_000  # five panels in a 2-column grid
    assert not list(out.parent.glob("*.partial*"))


def test_single_run_single_panel(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    pq.write_table(pa.table({"step": [1, 2], "loss": [1.0, 0.5]}), run / "metrics.parquet")
    r = run_cli("plot", run / "metrics.parquet", "-o", tmp_path / "c.png")
    assert r.returncode == 0, r.stderr
    assert "loss for 1 run(s)" in r.stdout
    assert png_size(tmp_path / "c.png")[2] > 5_000


def test_plot_bad_inputs(tmp_path):
    run = make_run(tmp_path / "run", [1.0, 0.9])
    assert_one_line_error(run_cli("plot", tmp_path / "missing", "-o", tmp_path / "c.png"), "does not exist")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("plot", tmp_path / "empty", "-o", tmp_path / "c.png"), "no metrics.parquet")
    assert_one_line_error(run_cli("plot", run, "-o", tmp_path / "c.svg"), "must be a .png")
    assert_one_line_error(
        run_cli("plot", run, "-o", tmp_path / "c.png", "--label", "a", "--label", "b"),
        "--label given 2 times for 1 runs",
    )
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "metrics.parquet").write_bytes(b"not parquet")
    assert_one_line_error(
        run_cli("plot", tmp_path / "bad", "-o", tmp_path / "c.png"), "not a valid Parquet file"
    )
    nothing = tmp_path / "nothing"
    nothing.mkdir()
    pq.write_table(pa.table({"step": [1], "something_else": [3]}), nothing / "metrics.parquet")
    assert_one_line_error(run_cli("plot", nothing, "-o", tmp_path / "c.png"), "no plottable metrics")
    assert not (tmp_path / "c.png").exists()
