"""Faults: a full disk mid-stage ends with one clear line and leaves no artifact, partial or whole."""

from __future__ import annotations

import errno
import sys

import pyarrow.parquet as pq
import pytest
from conftest import SAMPLE

from llmkit import cli
from llmkit.artifacts import ArtifactWriter
from llmkit.parquet import ParquetPartWriter


def run_main(monkeypatch, capsys, *args) -> tuple[int, str]:
    """The real `llmkit` entry point, in this process (so a fault can be injected into it)."""
    monkeypatch.setattr(sys, "argv", ["llmkit", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    return exit_info.value.code, capsys.readouterr().err


def disk_full(self, *args, **kwargs):
    raise OSError(errno.ENOSPC, "No space left on device", "part-00000.parquet")


@pytest.fixture
def docs(tmp_path):
    with ArtifactWriter(tmp_path / "docs", kind="docs", stage="test") as w:
        with ParquetPartWriter(w.part_path(0)) as part:
            part.write(
                [
                    {
                        "id": str(i),
                        "url": f"https://a.example/{i}",
                        "text": f"Mail me at x{i}@mail.example today.",
                    }
                    for i in range(20)
                ]
            )
        w.commit()
    return tmp_path / "docs"


@pytest.mark.parametrize(
    "stage,extra",
    [("scrub", ()), ("dedup", ()), ("import", ())],
)
def test_a_full_disk_is_one_line_and_leaves_nothing(stage, extra, docs, tmp_path, monkeypatch, capsys):
    out = tmp_path / "out"
    source = SAMPLE / "chat.jsonl" if stage == "import" else docs
    monkeypatch.setattr(pq.ParquetWriter, "write_table", disk_full)
    args = [stage, source, "-o", out, *extra] + (["--workers", "1"] if stage != "import" else [])
    code, err = run_main(monkeypatch, capsys, *args)
    assert code == 1
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: No space left on device"), err
    assert "Traceback" not in err
    assert not out.exists() and not (tmp_path / "out.partial").exists()
    monkeypatch.undo()  # the disk has room again: the same command now succeeds
    code, err = run_main(monkeypatch, capsys, *args)
    assert code in (0, None) and (out / "manifest.json").is_file(), err
