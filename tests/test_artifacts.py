"""The artifact contract: atomic commit, manifests, Parquet parts, lineage, and its error paths."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pyarrow as pa
import pytest

from llmkit import __version__, artifacts, parquet
from llmkit.artifacts import ArtifactWriter, open_artifact
from llmkit.errors import UserError
from llmkit.parquet import ParquetPartWriter


def write_docs(out, rows, inputs=(), force=False, stats=None, rejected=None):
    with ArtifactWriter(
        out, kind="docs", stage="test", config={"threshold": 0.5, "path": out}, inputs=inputs, force=force
    ) as w:
        with ParquetPartWriter(w.part_path(0)) as part:
            part.write(rows)
        if rejected:
            with ParquetPartWriter(w.part_path(0, "rejected")) as part:
                part.write(rejected)
        return w.commit(counts={"rows": len(rows)}, stats=stats or {})


def test_commit_writes_manifest_and_parts(tmp_path):
    out = tmp_path / "docs"
    manifest = write_docs(out, [{"id": str(i), "text": f"doc {i}"} for i in range(3)])
    assert (out / "part-00000.parquet").is_file()
    assert not (tmp_path / "docs.partial").exists()
    on_disk = json.loads((out / "manifest.json").read_text())
    assert on_disk == manifest
    assert on_disk["kind"] == "docs" and on_disk["stage"] == "test"
    assert on_disk["llmkit_version"] == __version__
    assert on_disk["config"] == {"threshold": 0.5, "path": str(out)}  # Paths become strings
    assert on_disk["counts"] == {"rows": 3}
    assert on_disk["duration_s"] >= 0 and on_disk["created"].endswith("+00:00")
    art = open_artifact(out, kinds=["docs"])
    assert art.num_rows() == 3
    assert [r["id"] for b in art.iter_batches() for r in b.to_pylist()] == ["0", "1", "2"]


def test_manifest_round_trips_through_read_manifest(tmp_path):
    manifest = write_docs(
        tmp_path / "a",
        [{"id": "x"}],
        stats={"funnel": [{"step": "s", "in": 2, "out": 1, "removed": {"r": 1}}]},
    )
    assert artifacts.read_manifest(tmp_path / "a") == manifest


def test_existing_output_needs_force(tmp_path):
    out = tmp_path / "docs"
    write_docs(out, [{"id": "old"}])
    with pytest.raises(UserError, match="already exists; pass --force"):
        write_docs(out, [{"id": "new"}])
    assert open_artifact(out).num_rows() == 1  # untouched
    write_docs(out, [{"id": "new"}, {"id": "newer"}], force=True)
    assert [r["id"] for b in open_artifact(out).iter_batches() for r in b.to_pylist()] == ["new", "newer"]
    assert not (tmp_path / "docs.replaced").exists()


def test_exception_inside_stage_leaves_nothing(tmp_path):
    out = tmp_path / "docs"
    with pytest.raises(ZeroDivisionError):
        with ArtifactWriter(out, kind="docs", stage="test") as w:
            with ParquetPartWriter(w.part_path(0)) as part:
                part.write([{"id": "1"}])
            1 / 0  # noqa: B018
    assert not out.exists()
    assert not (tmp_path / "docs.partial").exists()


def test_forgetting_to_commit_is_a_bug_not_an_artifact(tmp_path):
    with pytest.raises(RuntimeError, match="without committing"):
        with ArtifactWriter(tmp_path / "x", kind="docs", stage="test"):
            pass
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.partial").exists()


KILLED_STAGE = textwrap.dedent(
    """
    import sys, time
    from llmkit.artifacts import ArtifactWriter
    from llmkit.parquet import ParquetPartWriter
    with ArtifactWriter(sys.argv[1], kind="docs", stage="slow") as w:
        with ParquetPartWriter(w.part_path(0)) as part:
            part.write([{"id": str(i)} for i in range(100)])
        print("part written", flush=True)
        time.sleep(60)
        w.commit()
    """
)


def test_stage_killed_mid_write_leaves_no_output_and_rerun_completes(tmp_path):
    out = tmp_path / "docs"
    proc = subprocess.Popen([sys.executable, "-c", KILLED_STAGE, str(out)], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "part written"
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert not out.exists()
    assert (tmp_path / "docs.partial" / "part-00000.parquet").exists()  # left by the killed run
    with pytest.raises(UserError, match="it did not finish"):
        open_artifact(out)
    write_docs(out, [{"id": "a"}])  # a re-run clears the leftover and commits
    assert not (tmp_path / "docs.partial").exists()
    assert open_artifact(out).num_rows() == 1


def test_parquet_part_writer_streams_row_groups_and_writes_empty_parts(tmp_path):
    path = tmp_path / "p.parquet"
    with ParquetPartWriter(path, rows_per_group=10) as part:
        for start in range(0, 35, 7):
            part.write([{"id": str(i), "n": i} for i in range(start, start + 7)])
    pf = parquet.open_parquet(path)
    assert pf.metadata.num_rows == 35
    assert pf.metadata.num_row_groups >= 3
    schema = pa.schema([("id", pa.string()), ("text", pa.string())])
    with ParquetPartWriter(tmp_path / "empty.parquet", schema=schema):
        pass
    empty = parquet.open_parquet(tmp_path / "empty.parquet")
    assert empty.metadata.num_rows == 0 and empty.schema_arrow.names == ["id", "text"]


def test_parquet_part_writer_bounds_a_row_group_by_bytes_too(tmp_path):
    # ten 300-character rows under a 1,000-byte budget: a row group every 4 rows, not one of 10
    with ParquetPartWriter(tmp_path / "big.parquet", rows_per_group=1024, bytes_per_group=1000) as part:
        for i in range(10):
            part.write([{"id": str(i), "text": "x" * 299}])
    pf = parquet.open_parquet(tmp_path / "big.parquet")
    groups = [pf.metadata.row_group(g).num_rows for g in range(pf.metadata.num_row_groups)]
    assert groups == [4, 4, 2]
    assert pf.read().column("id").to_pylist() == [str(i) for i in range(10)]


def test_wrong_kind_missing_and_non_artifact_inputs(tmp_path):
    write_docs(tmp_path / "docs", [{"id": "1"}])
    with pytest.raises(UserError, match="is a 'docs' artifact; expected 'tokens'"):
        open_artifact(tmp_path / "docs", kinds=["tokens"])
    with pytest.raises(UserError, match="does not exist"):
        open_artifact(tmp_path / "nope")
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "notes.txt").write_text("hi")
    with pytest.raises(UserError, match="not an llmkit artifact"):
        open_artifact(tmp_path / "plain")
    (tmp_path / "bad.parquet").write_bytes(b"this is not parquet")
    with pytest.raises(UserError, match="not a valid Parquet file"):
        open_artifact(tmp_path / "bad.parquet")


def test_corrupt_and_newer_manifests_are_refused(tmp_path):
    write_docs(tmp_path / "docs", [{"id": "1"}])
    mf = tmp_path / "docs" / "manifest.json"
    manifest = json.loads(mf.read_text())
    mf.write_text(json.dumps({**manifest, "format_version": 99, "llmkit_version": "9.0.0"}))
    with pytest.raises(UserError, match="written by llmkit 9.0.0.*upgrade llmkit"):
        open_artifact(tmp_path / "docs")
    mf.write_text('{"kind": "docs", ')
    with pytest.raises(UserError, match="manifest.json is corrupt"):
        open_artifact(tmp_path / "docs")


def test_inputs_are_fingerprinted_and_lineage_is_followed(tmp_path):
    raw = tmp_path / "raw.txt"
    raw.write_text("hello")
    write_docs(tmp_path / "a", [{"id": "1"}], inputs=[raw])
    write_docs(tmp_path / "b", [{"id": "1"}], inputs=[tmp_path / "a"])
    write_docs(tmp_path / "c", [{"id": "1"}], inputs=[tmp_path / "b", raw])
    m = artifacts.read_manifest(tmp_path / "c")
    assert m["inputs"][0]["kind"] == "docs"
    assert m["inputs"][0]["fingerprint"] == "sha256:" + artifacts._file_sha256(
        tmp_path / "b" / "manifest.json"
    )
    assert m["inputs"][1]["kind"] == "file"
    tree = artifacts.lineage(tmp_path / "c")
    assert tree["stage"] == "test"
    b = tree["inputs"][0]
    a = b["inputs"][0]
    assert b["path"].endswith("/b") and a["path"].endswith("/a")
    assert a["inputs"][0]["path"] == str(raw.resolve()) and a["inputs"][0]["missing"] is False
    before = artifacts.fingerprint(raw)
    raw.write_text("hello, changed")
    assert artifacts.fingerprint(raw) != before
    raw.unlink()
    assert artifacts.lineage(tmp_path / "c")["inputs"][1]["missing"] is True


def test_output_path_must_name_a_directory(tmp_path):
    with pytest.raises(UserError, match="must name a directory"):
        ArtifactWriter(tmp_path / "..", kind="docs", stage="test")
    (tmp_path / "file").write_text("x")
    with pytest.raises(UserError, match="not a directory"):
        ArtifactWriter(tmp_path / "file", kind="docs", stage="test", force=True)
