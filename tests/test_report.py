"""`llmkit report`: a Markdown report card with PNGs, from the manifests and metrics of a run folder."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
from conftest import assert_one_line_error, make_checkpoint, make_tokenizer, run_cli

from llmkit.artifacts import ArtifactWriter

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def stage(path, kind, stats):
    with ArtifactWriter(path, kind=kind, stage=path.name) as w:
        w.commit(stats=stats)


def test_report_card_of_a_run(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    stage(
        run / "text",
        "docs",
        {"funnel": [{"step": "extract", "in": 10, "out": 9, "removed": {"extract:empty": 1}}]},
    )
    stage(
        run / "kept",
        "docs",
        {
            "funnel": [
                {"step": "language", "in": 9, "out": 6, "removed": {"language:de": 2, "language:fr": 1}}
            ]
        },
    )
    tok = make_tokenizer(tmp_path / "tok")
    make_checkpoint(run / "base", tok)
    pq.write_table(
        pa.table({"step": [1, 2], "tokens": [64, 128], "loss": [5.0, 4.0], "val_loss": [None, 4.2]}),
        run / "base" / "metrics.parquet",
    )
    stage(run / "eval-base", "eval", {"metrics": {"mc": {"acc": 0.25, "examples": 4}}})
    stage(run / "eval-sft", "eval", {"metrics": {"mc": {"acc": 0.5, "examples": 4}}})
    r = run_cli("report", run)
    assert r.returncode == 0, r.stderr
    text = (run / "REPORT.md").read_text()
    assert "| extract | 10 | 9 | extract:empty 1 |" in text
    assert "| language | 9 | 6 | language:de 2, language:fr 1 |" in text
    assert "| mc | acc | 0.25 | 0.5 |" in text and text.index("eval-base") < text.index("eval-sft")
    assert "| base | " in text and "![training curves](report-curves.png)" in text
    for png in ("funnel.png", "report-curves.png"):
        data = (run / png).read_bytes()
        assert data[:8] == PNG_MAGIC and len(data) > 5_000


def test_report_errors(tmp_path):
    assert_one_line_error(run_cli("report", tmp_path / "missing"), "not a directory")
    (tmp_path / "empty").mkdir()
    assert_one_line_error(run_cli("report", tmp_path / "empty"), "holds no finished stage")
