"""`--executor ray`: every data stage on a local 2-CPU Ray instance writes the same artifact as the
local executor; joining a running cluster; errors. (Without Ray: see test_dedup.py.)"""

from __future__ import annotations

import json
import shutil

import pyarrow.parquet as pq
import pytest
from conftest import SAMPLE, assert_one_line_error, run_cli
from test_dedup import labelled_corpus, make_docs

from llmkit.artifacts import open_artifact
from llmkit.data.crawl import run_crawl
from llmkit.data.dedup import run_dedup
from llmkit.data.extract import run_extract
from llmkit.data.filters import run_filter
from llmkit.data.scrub import run_scrub
from llmkit.errors import UserError

ray = pytest.importorskip("ray", reason="the ray extra is not installed: pip install -e '.[dev,ray]'")

# Per-run timings differ between any two runs; everything else in the manifest must match.
TIMING_STATS = {"seconds", "step_seconds", "docs_per_s", "pages_per_s", "mb_per_s"}


def artifact_content(path) -> dict:
    """Everything an artifact says about its data: kept and rejected rows, counts and stats."""
    art = open_artifact(path)
    manifest = art.manifest
    return {
        "parts": [pq.read_table(p).to_pylist() for p in art.parts],
        "rejected": [pq.read_table(p).to_pylist() for p in art.rejected_parts()],
        "counts": manifest["counts"],
        "stats": {k: v for k, v in manifest["stats"].items() if k not in TIMING_STATS},
    }


@pytest.fixture(scope="module")
def local_ray():
    """One local 2-CPU Ray instance for the module (starting Ray costs seconds; stages reuse it)."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_sample_pipeline_on_ray_equals_the_local_executor(tmp_path, local_ray):
    warcs = [shutil.copy(p, tmp_path) for p in sorted((SAMPLE / "crawl").glob("*.warc.gz"))]  # one snapshot
    assert warcs, "sample_data/crawl/*.warc.gz is missing"
    planted = json.loads((SAMPLE / "planted.json").read_text())
    for executor in ("local", "ray"):
        run = dict(workers=2, executor=executor)
        root = tmp_path / executor
        run_crawl(warcs, root / "pages", **run)
        run_extract([root / "pages"], root / "text", timeout=0, **run)  # no wall-clock limit: deterministic
        run_filter([root / "text"], root / "kept", **run)
        run_dedup([root / "kept"], root / "unique", show_progress=False, **run)
        run_scrub([root / "unique"], root / "clean", **run)
    for stage in ("pages", "text", "kept", "unique", "clean"):
        local, on_ray = (
            artifact_content(tmp_path / "local" / stage),
            artifact_content(tmp_path / "ray" / stage),
        )
        assert local == on_ray, stage
        assert sum(map(len, local["parts"])) > 0, stage

    # Dedup removed exactly the planted duplicates, each as a duplicate of its planted original.
    unique = artifact_content(tmp_path / "ray" / "unique")
    url_of = {r["id"]: r["url"] for rows in unique["parts"] for r in rows}
    removed = {r["url"]: url_of[r["dup_of"]] for rows in unique["rejected"] for r in rows}
    assert removed == {p["url"]: p["dup_of"] for p in planted if p["expected"] == "dedup"}


def test_dedup_on_ray_equals_local_across_parts(tmp_path, local_ray):
    parts, expected = labelled_corpus()
    src = make_docs(tmp_path / "in", parts)
    run_dedup([src], tmp_path / "local", workers=1, show_progress=False)
    run_dedup([src], tmp_path / "ray", workers=2, executor="ray", show_progress=False)
    local, on_ray = artifact_content(tmp_path / "local"), artifact_content(tmp_path / "ray")
    assert local == on_ray
    assert {r["id"] for rows in on_ray["rejected"] for r in rows} == set(expected)


def test_cli_joins_an_existing_ray_cluster_with_ray_address(tmp_path, local_ray):
    parts, expected = labelled_corpus()
    src = make_docs(tmp_path / "in", parts)
    address = ray.get_runtime_context().gcs_address  # the module's Ray instance, as a "cluster"
    r = run_cli("dedup", src, "-o", tmp_path / "out", "--executor", "ray", "--ray-address", address)
    assert r.returncode == 0, r.stderr
    assert r.stderr.strip() == ""  # no Ray chatter on stderr
    run_dedup([src], tmp_path / "local", workers=1, show_progress=False)
    assert artifact_content(tmp_path / "out") == artifact_content(tmp_path / "local")


def test_unreachable_ray_address_is_one_line(tmp_path):
    parts, _ = labelled_corpus()
    src = make_docs(tmp_path / "in", parts)
    r = run_cli("dedup", src, "-o", tmp_path / "out", "--executor", "ray", "--ray-address", "127.0.0.1:9")
    assert_one_line_error(r, "cannot reach a Ray cluster at 127.0.0.1:9")
    assert not (tmp_path / "out").exists()


def test_a_user_error_inside_a_ray_task_is_one_line(tmp_path, local_ray):
    src = make_docs(tmp_path / "in", [[{"id": None, "url": "u", "text": "t"}]])
    with pytest.raises(UserError, match="documents with no id") as info:
        run_dedup([src], tmp_path / "out", workers=2, executor="ray", show_progress=False)
    assert "\n" not in str(info.value)  # not Ray's wrapped traceback
