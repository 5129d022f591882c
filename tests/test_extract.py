"""`llmkit extract`: main text with each extractor, empty pages, the per-page time limit, determinism."""

from __future__ import annotations

import json
import signal
import time

import pyarrow.parquet as pq
import pytest
from conftest import assert_one_line_error, run_cli
from test_crawl import english_html, good_records, http_response, warc_record, write_warc
from test_filters import make_docs, read_parts

from llmkit.data.crawl import run_crawl
from llmkit.data.extract import ExtractionTimeout, extract_text, run_extract, time_limit
from llmkit.errors import UserError


def crawl_pages(tmp_path, records, name="pages"):
    warc = write_warc(tmp_path / f"{name}.warc.gz", records)
    run_crawl([str(warc)], tmp_path / name, workers=1)
    return tmp_path / name


def test_extract_keeps_main_text_and_rejects_empty_pages(tmp_path):
    script_only = b"<html><head><title>x</title></head><body><script>var x = 1;</script></body></html>"
    pages = crawl_pages(
        tmp_path,
        [*good_records("p", 2), warc_record("http://example.com/script", http_response(script_only))],
    )
    stats = run_extract([pages], tmp_path / "text", workers=1)
    docs = read_parts(tmp_path / "text")
    assert [d["url"] for d in docs] == ["http://example.com/p0", "http://example.com/p1"]
    text = docs[0]["text"]
    assert "The river runs through the old town" in text and "(p 0 5)" in text
    assert "Home" not in text and "Copyright" not in text  # navigation and footer are not main text
    assert "html" not in docs[0] and docs[0]["warc_date"] == "2024-03-01T12:00:00Z"
    rejected = read_parts(tmp_path / "text/rejected")
    assert [(r["url"], r["reason"]) for r in rejected] == [("http://example.com/script", "extract:empty 0")]
    assert stats["funnel"] == [{"step": "extract", "in": 3, "out": 2, "removed": {"extract:empty": 1}}]


@pytest.mark.parametrize("extractor", ["trafilatura-fast", "resiliparse"])
def test_each_extractor_keeps_main_text_drops_navigation_and_is_recorded(tmp_path, extractor):
    script_only = b"<html><head><title>x</title></head><body><script>var x = 1;</script></body></html>"
    pages = crawl_pages(
        tmp_path,
        [*good_records("p", 2), warc_record("http://example.com/script", http_response(script_only))],
    )
    r = run_cli("extract", pages, "-o", tmp_path / "text", "-w", "1", "--extractor", extractor)
    assert r.returncode == 0, r.stderr
    docs = read_parts(tmp_path / "text")
    assert [d["url"] for d in docs] == ["http://example.com/p0", "http://example.com/p1"]
    assert "The river runs through the old town" in docs[0]["text"]
    assert "Copyright" not in docs[0]["text"] and "var x" not in docs[0]["text"]
    rejected = read_parts(tmp_path / "text/rejected")
    assert [(x["url"], x["reason"]) for x in rejected] == [("http://example.com/script", "extract:empty 0")]
    manifest = json.loads((tmp_path / "text/manifest.json").read_text())
    assert manifest["config"]["extractor"] == extractor


def test_an_unknown_extractor_is_one_line_and_nothing_is_written(tmp_path):
    pages = crawl_pages(tmp_path, good_records("p", 1))
    r = run_cli("extract", pages, "-o", tmp_path / "text", "--extractor", "readability")
    assert_one_line_error(r, "unknown --extractor 'readability': choose one of trafilatura, trafilatura-fast, resiliparse")
    assert not (tmp_path / "text").exists() and not (tmp_path / "text.partial").exists()


def test_time_limit_interrupts_python_work_and_restores_the_previous_handler():
    previous = signal.getsignal(signal.SIGPROF)
    start = time.perf_counter()
    with pytest.raises(ExtractionTimeout):
        with time_limit(0.2):
            while True:
                pass
    assert 0.15 < time.perf_counter() - start < 10.0  # 0.2 s of CPU; more wall time on a busy machine
    assert signal.getsignal(signal.SIGPROF) == previous
    assert signal.getitimer(signal.ITIMER_PROF) == (0.0, 0.0)


def test_a_pathological_page_times_out_and_the_next_page_is_extracted():
    # ~40,000 paragraphs: trafilatura needs well over a second for this page
    huge = "<html><body>" + "".join(
        f"<div><p>Paragraph {i} of a very long page.</p></div>" for i in range(40_000)
    )
    start = time.perf_counter()
    text, reason = extract_text(huge + "</body></html>", timeout_s=0.3)
    assert (text, reason) == (None, "extract:timeout 0.3")
    assert time.perf_counter() - start < 10.0
    text, reason = extract_text(english_html("after"), timeout_s=5)
    assert reason is None and "The river runs" in text


def test_extract_timeout_goes_to_rejected_with_its_reason(tmp_path):
    huge = "<html><body>" + "".join(
        f"<div><p>Paragraph {i} of a very long page.</p></div>" for i in range(40_000)
    )
    pages = crawl_pages(
        tmp_path,
        [warc_record("http://example.com/huge", http_response(huge.encode())), *good_records("ok", 1)],
    )
    r = run_cli("extract", pages, "-o", tmp_path / "text", "--timeout", "0.3", "-w", "1")
    assert r.returncode == 0, r.stderr
    assert "extract:timeout" in r.stdout
    rejected = pq.read_table(tmp_path / "text/rejected/part-00000.parquet").to_pylist()
    assert [x["reason"] for x in rejected] == ["extract:timeout 0.3"]
    assert [d["url"] for d in read_parts(tmp_path / "text")] == ["http://example.com/ok0"]


def test_extract_output_is_identical_with_one_or_two_workers(tmp_path):
    warcs = [str(write_warc(tmp_path / f"{i}.warc.gz", good_records(f"w{i}-", 3))) for i in range(2)]
    run_crawl(warcs, tmp_path / "pages", workers=1)
    run_extract([tmp_path / "pages"], tmp_path / "one", workers=1)
    run_extract([tmp_path / "pages"], tmp_path / "two", workers=2)
    for name in ("part-00000.parquet", "part-00001.parquet"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_extract_bad_inputs(tmp_path):
    docs = make_docs(tmp_path, [{"id": "a", "url": "u", "text": "t"}])
    with pytest.raises(UserError, match="is a 'docs' artifact; expected 'pages'"):
        run_extract([docs], tmp_path / "text")
    r = run_cli("extract", tmp_path / "missing", "-o", tmp_path / "text")
    assert_one_line_error(r, "missing does not exist")
    r = run_cli("extract", docs, "-o", tmp_path / "text", "--timeout", "-1")
    assert_one_line_error(r, "--timeout must be 0")


def test_a_killed_run_leaves_no_output_and_a_rerun_writes_the_same_artifact(tmp_path):
    import os
    import subprocess
    import sys

    warcs = [str(write_warc(tmp_path / f"{i}.warc.gz", good_records(f"k{i}-", 40))) for i in range(4)]
    run_crawl(warcs, tmp_path / "pages", workers=1)
    run_extract([tmp_path / "pages"], tmp_path / "reference", workers=1)
    cmd = [
        sys.executable,
        "-m",
        "llmkit",
        "extract",
        str(tmp_path / "pages"),
        "-o",
        str(tmp_path / "text"),
        "-w",
        "1",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    partial = tmp_path / "text.partial"
    deadline = time.time() + 60
    while not (partial / "part-00000.parquet").exists() and proc.poll() is None and time.time() < deadline:
        time.sleep(0.02)
    os.killpg(proc.pid, signal.SIGKILL)  # mid-run: some parts written, others not
    assert proc.wait() == -signal.SIGKILL  # it was killed, not finished
    assert not (tmp_path / "text").exists() and partial.exists()
    r = run_cli("extract", tmp_path / "pages", "-o", tmp_path / "text", "-w", "2")
    assert r.returncode == 0, r.stderr
    assert not partial.exists()
    for i in range(4):
        name = f"part-{i:05d}.parquet"
        assert (tmp_path / "text" / name).read_bytes() == (tmp_path / "reference" / name).read_bytes()
        assert (tmp_path / "text/rejected" / name).read_bytes() == (
            tmp_path / "reference/rejected" / name
        ).read_bytes()
