"""`llmkit crawl`: WARC parsing, HTML selection, decoding, bad input, loopback HTTP and Common Crawl."""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import shutil
import subprocess
import sys
import threading
import tracemalloc
import uuid
import zlib
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from conftest import REPO, assert_one_line_error, run_cli

from llmkit.data.crawl import crawl_shard, decode_html, run_crawl
from llmkit.errors import UserError

# ------------------------------------------------------------------ building WARCs byte by byte


def warc_record(
    url: str, block: bytes, rec_type: str = "response", extra_headers: str = "", compress: bool = True
) -> bytes:
    """One WARC record whose block is `block` (HTTP head + payload), as one gzip member by default."""
    record_id = uuid.uuid5(uuid.NAMESPACE_URL, url + rec_type)
    head = (
        f"WARC/1.0\r\nWARC-Type: {rec_type}\r\nWARC-Target-URI: {url}\r\n"
        f"WARC-Date: 2024-03-01T12:00:00Z\r\nWARC-Record-ID: <urn:uuid:{record_id}>\r\n{extra_headers}"
        f"Content-Type: application/http; msgtype={rec_type}\r\nContent-Length: {len(block)}\r\n\r\n"
    ).encode()
    record = head + block + b"\r\n\r\n"
    return gzip.compress(record, compresslevel=1) if compress else record


def http_response(
    payload: bytes, content_type: str | None = "text/html; charset=utf-8", extra: str = ""
) -> bytes:
    ctype = f"Content-Type: {content_type}\r\n" if content_type else ""
    return f"HTTP/1.1 200 OK\r\n{ctype}{extra}Content-Length: {len(payload)}\r\n\r\n".encode() + payload


PARAGRAPHS = [
    "The river runs through the old town, and the people who live there have always known its moods.",
    "In spring the water rises quickly, and the bridges that connect the two halves of the town are closed.",
    "Children learn early that the river is a friend to be respected and never a toy to be played with.",
    "The market on the eastern bank sells bread, fish and vegetables that come from the farms upstream.",
    "Visitors often ask why the houses are painted in such bright colours, and the answer is a long story.",
    "It begins with a flood that destroyed most of the town a century ago and left only the church standing.",
]


def english_html(title: str, n: int = 6) -> str:
    body = "".join(f"<p>{p} ({title} {i})</p>" for i, p in enumerate(PARAGRAPHS[:n]))
    return (
        f"<!DOCTYPE html><html><head><title>{title}</title></head><body>"
        f"<nav><a href='/'>Home</a> <a href='/a'>About</a></nav><article><h1>{title}</h1>{body}</article>"
        "<footer>Copyright 2024</footer></body></html>"
    )


def write_warc(path: Path, records: list[bytes]) -> Path:
    path.write_bytes(b"".join(records))
    return path


def good_records(prefix: str = "page", n: int = 3) -> list[bytes]:
    return [
        warc_record(f"http://example.com/{prefix}{i}", http_response(english_html(f"{prefix} {i}").encode()))
        for i in range(n)
    ]


def read_rows(path: Path) -> list[dict]:
    return pq.read_table(path).to_pylist()


# ------------------------------------------------------------------ records and decoding


def test_crawl_keeps_html_responses_and_explains_every_other_response(tmp_path):
    latin1 = "<html><head><meta charset='iso-8859-1'></head><body>Caf\xe9 cr\xe8me</body></html>".encode(
        "latin-1"
    )
    cp1252_undeclared = "<html><body>\u201cQuoted\u201d na\xefve text, caf\xe9, r\xe9sum\xe9 and more words here to detect</body></html>".encode(
        "cp1252"
    )
    broken_utf8 = b"<html><body>" + "caf\xe9 ".encode() * 100 + b"ok \xff\xfe bytes</body></html>"
    records = [
        warc_record("http://example.com/", b"software: test\r\n", rec_type="warcinfo"),
        warc_record(
            "http://example.com/req", b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", rec_type="request"
        ),
        *good_records(),
        warc_record("http://example.com/latin1", http_response(latin1, "text/html")),
        warc_record("http://example.com/cp1252", http_response(cp1252_undeclared, None)),
        warc_record("http://example.com/broken", http_response(broken_utf8, "text/html; charset=utf-8")),
        warc_record("http://example.com/x.png", http_response(b"\x89PNG\r\n\x1a\n\x00\x00", "image/png")),
        warc_record("http://example.com/bin", http_response(b"\x00\x01\x02<html>", "text/html")),
        warc_record("http://example.com/garbage", b"GARBAGE LINE\r\nno colon\r\n\r\n<html></html>"),
        warc_record("http://example.com/empty", http_response(b"", "text/html")),
        warc_record(
            "http://example.com/sniffed",
            http_response(b"  <!doctype html><html><body>sniffed</body></html>", "application/octet-stream"),
        ),
        warc_record(
            "http://example.com/typed",
            http_response(b"<html><body>by warc type</body></html>", None),
            extra_headers="WARC-Identified-Payload-Type: text/html\r\n",
        ),
        warc_record("http://example.com/plain", http_response(b"just some text", "text/plain")),
    ]
    stats = run_crawl([str(write_warc(tmp_path / "a.warc.gz", records))], tmp_path / "pages", workers=1)

    pages = {r["url"].rsplit("/", 1)[1]: r for r in read_rows(tmp_path / "pages/part-00000.parquet")}
    assert set(pages) == {"page0", "page1", "page2", "latin1", "cp1252", "broken", "sniffed", "typed"}
    assert "Café crème" in pages["latin1"]["html"] and pages["latin1"]["charset"] == "iso8859-1"
    assert "\u201cQuoted\u201d" in pages["cp1252"]["html"]  # detected, not declared
    assert "\ufffd" in pages["broken"]["html"] and pages["broken"]["charset"].endswith("+replace")
    page = pages["page0"]
    assert page["warc_date"] == "2024-03-01T12:00:00Z" and page["warc_record_id"].startswith("<urn:uuid:")
    assert page["status"] == 200 and page["content_type"].startswith("text/html") and len(page["id"]) == 16

    rejected = {
        r["url"].rsplit("/", 1)[1]: r["reason"]
        for r in read_rows(tmp_path / "pages/rejected/part-00000.parquet")
    }
    assert rejected == {
        "x.png": "crawl:not_html image/png",
        "bin": "crawl:binary NUL",
        "garbage": "crawl:bad_http_headers 'GARBAGE LINE'",
        "empty": "crawl:empty 0",
        "plain": "crawl:not_html sniffed",
    }
    assert stats["records"] == {"warcinfo": 1, "request": 1, "response": 13}
    assert stats["funnel"] == [
        {
            "step": "crawl",
            "in": 13,
            "out": 8,
            "removed": {
                "crawl:bad_http_headers": 1,
                "crawl:binary": 1,
                "crawl:empty": 1,
                "crawl:not_html": 2,
            },
        }
    ]


def test_decode_html_prefers_declared_charset_then_meta_then_detection():
    assert decode_html("é".encode("cp1252"), "text/html; charset=windows-1252") == ("é", "cp1252")
    assert decode_html("<meta charset=koi8-r>привет".encode("koi8-r"))[0].endswith("привет")
    assert decode_html("naïve".encode(), "text/html; charset=bogus-charset") == ("naïve", "utf-8")


def test_large_records_and_decompression_bombs_are_skipped_in_bounded_memory(tmp_path):
    big = b"<html><body>" + b"A" * (50 * 1024 * 1024) + b"</body></html>"  # a 50 MB page
    bomb = zlib.compress(b"<html>" + b"\x00" * (50 * 1024 * 1024), 9)  # ~50 KB that inflates to 50 MB
    gz_bomb = gzip.compress(zlib.decompress(bomb), compresslevel=9)
    records = [
        *good_records("before", 1),
        warc_record("http://example.com/big", http_response(big, "text/html")),
        warc_record(
            "http://example.com/bomb", http_response(gz_bomb, "text/html", "Content-Encoding: gzip\r\n")
        ),
        *good_records("after", 1),
    ]
    path = write_warc(tmp_path / "big.warc.gz", records)
    del big, bomb, gz_bomb, records
    task = {
        "index": 0,
        "source": str(path),
        "out": str(tmp_path / "p"),
        "rejected": str(tmp_path / "r.parquet"),
        "max_record_bytes": 10 * 1024 * 1024,
        "pages_per_part": 250,
    }
    tracemalloc.start()
    result = crawl_shard(task)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 25 * 1024 * 1024, f"peak {peak / 2**20:.1f} MB"  # the cap (10 MB) plus buffers
    assert result["counts"]["out"] == 2
    assert [r["reason"] for r in read_rows(tmp_path / "r.parquet")] == [
        "crawl:too_large >10485760",
        "crawl:too_large >10485760",
    ]


# ------------------------------------------------------------------ bad input


def test_truncated_not_warc_and_empty_sources_are_counted_and_good_records_kept(tmp_path):
    whole = b"".join(good_records("t", 3))
    truncated = write_warc(tmp_path / "truncated.warc.gz", [whole[: len(whole) - 200]])
    not_warc = tmp_path / "notes.warc"
    not_warc.write_text("this is not a WARC file\n")
    empty = tmp_path / "empty.warc.gz"
    empty.write_bytes(b"")
    sources = [str(truncated), str(not_warc), str(empty)]
    stats = run_crawl(sources, tmp_path / "pages", workers=1, allow_empty=True)
    assert stats["pages"] == 2  # the two records before the cut
    assert stats["source_errors"] == {"truncated": 1, "not_warc": 1, "empty": 1}
    assert set(stats["sources_with_errors"]) == {str(truncated), str(not_warc), str(empty)}
    # the loud funnel: the two sources that gave nothing are named (without --allow-empty: exit 3)
    assert [(s["source"], s["top_reason"]) for s in stats["lost_sources"]] == [
        (str(not_warc), "not_warc"),
        (str(empty), "empty"),
    ]


def crawl_source(tmp_path: Path, source: Path, name: str) -> tuple[dict, list[tuple[str, str]]]:
    """crawl_shard on one source: its result, and its pages as (record id, html)."""
    task = {
        "index": 0,
        "source": str(source),
        "out": str(tmp_path / name),
        "rejected": str(tmp_path / f"{name}-rejected.parquet"),
        "max_record_bytes": 10 * 1024 * 1024,
        "pages_per_part": 250,
    }
    result = crawl_shard(task)
    return result, [
        (r["warc_record_id"], r["html"]) for part in result["parts"] for r in read_rows(Path(part))
    ]


def assert_cuts_keep_a_prefix_and_are_reported(
    tmp_path: Path, data: bytes, cuts: list[int], whole_at: set[int]
):
    """Crawl `data` cut at each offset: no exception, the pages read are a prefix of the uncut crawl's,
    and the damage is reported, except at offsets in `whole_at` (a cut there leaves a valid WARC)."""
    (tmp_path / "whole.warc").write_bytes(data)
    _, whole = crawl_source(tmp_path, tmp_path / "whole.warc", "whole")
    unreported = []
    for cut in cuts:
        (tmp_path / "cut.warc").write_bytes(data[:cut])
        result, pages = crawl_source(tmp_path, tmp_path / "cut.warc", "cut")
        assert pages == whole[: len(pages)], cut
        if not result["errors"] and cut not in whole_at:
            unreported.append(cut)
        assert set(result["errors"]) <= {"truncated", "bad_record", "empty"}, (cut, result["details"])
    assert not unreported, f"cuts not reported: {unreported}"


def gzip_member_ends(data: bytes) -> set[int]:
    ends, pos = set(), 0
    while pos < len(data):
        inflater = zlib.decompressobj(31)
        inflater.decompress(data[pos:])
        pos = len(data) - len(inflater.unused_data)
        ends.add(pos)
    return ends


def request_response_metadata(compress: bool) -> tuple[bytes, set[int]]:
    """A WARC of 5 request/response/metadata triples, and the offsets where each record is whole (an
    uncompressed record is whole before its two trailing CRLFs: nothing is lost if only they are cut)."""
    data, whole_at = b"", set()
    for i in range(5):
        url = f"http://example.com/p{i}"
        for rec_type, block in (
            ("request", b"GET /p%d HTTP/1.1\r\nHost: example.com\r\n\r\n" % i),
            ("response", http_response(english_html(f"p{i}").encode())),
            ("metadata", b"fetchTimeMs: 12\r\n" * 20),
        ):
            data += warc_record(url, block, rec_type, compress=compress)
            whole_at |= {len(data)} if compress else set(range(len(data) - 4, len(data) + 1))
    return data, whole_at


@pytest.mark.parametrize("compress", [True, False], ids=["warc.gz", "warc"])
def test_a_warc_cut_anywhere_keeps_the_pages_before_the_cut_and_reports_the_cut(tmp_path, compress):
    data, whole_at = request_response_metadata(compress)
    step = 37 if compress else 97  # every few dozen bytes: inside every record type and header block
    assert_cuts_keep_a_prefix_and_are_reported(tmp_path, data, list(range(1, len(data), step)), whole_at)


def test_the_sample_warc_cut_at_40_offsets_never_crashes_and_reports_every_cut(tmp_path):
    data = sorted((REPO / "sample_data" / "crawl").glob("*.warc.gz"))[0].read_bytes()
    cuts = [1 + k * (len(data) - 2) // 39 for k in range(40)]
    assert_cuts_keep_a_prefix_and_are_reported(tmp_path, data, cuts, gzip_member_ends(data))


def test_a_cut_that_broke_warcio_is_a_counted_source_error_and_exit_0(tmp_path):
    """Cut inside a response record's WARC header block, before WARC-Target-URI: warcio raised an
    AttributeError from load_http_headers, which once ended `llmkit crawl` with a traceback."""
    data, _ = request_response_metadata(compress=True)
    response = warc_record("http://example.com/p1", http_response(english_html("p1").encode()))
    start = data.index(response)
    n = next(
        n
        for n in range(len(response))
        if b"WARC-Type: response" in zlib.decompressobj(31).decompress(response[:n])
    )
    assert b"WARC-Target-URI: http" not in zlib.decompressobj(31).decompress(response[:n])
    path = write_warc(tmp_path / "cut.warc.gz", [data[: start + n]])
    r = run_cli("crawl", path, "-o", tmp_path / "pages", "-w", "1")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    manifest = json.loads((tmp_path / "pages/manifest.json").read_text())
    assert manifest["stats"]["pages"] == 1  # p0, read before the damage
    assert manifest["stats"]["source_errors"] == {"truncated": 1}
    assert manifest["stats"]["sources_with_errors"][str(path)][0].startswith("truncated: AttributeError")


def test_nothing_readable_is_one_error_line_and_no_output(tmp_path):
    not_warc = tmp_path / "notes.txt"
    not_warc.write_text("hello\n")
    r = run_cli("crawl", not_warc, "-o", tmp_path / "pages")
    assert_one_line_error(r, "no WARC records could be read", "not_warc")
    assert not (tmp_path / "pages").exists() and not (tmp_path / "pages.partial").exists()


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["missing.warc.gz"], "missing.warc.gz does not exist"),
        (["nomatch-*.warc.gz"], "no file matches"),
        ([], "give WARC files, URLs or --cc-crawl"),
        (["--cc-crawl", "2024-10"], "--cc-crawl must look like CC-MAIN-2024-10"),
        (["x.warc", "--max-record-bytes", "0"], "--max-record-bytes must be greater than 0"),
        (["http://127.0.0.1:9/a.warc.gz"], "cannot reach http://127.0.0.1:9/a.warc.gz"),
    ],
)
def test_crawl_bad_arguments_end_with_one_line(tmp_path, args, fragment):
    r = run_cli("crawl", *args, "-o", tmp_path / "pages", cwd=tmp_path)
    assert_one_line_error(r, fragment)


# ------------------------------------------------------------------ loopback HTTP and Common Crawl


@pytest.fixture
def http_root(tmp_path):
    """A real loopback HTTP server serving tmp_path/www; yields (root folder, base URL)."""
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


def test_crawl_streams_warcs_from_a_loopback_server_including_a_truncated_one(tmp_path, http_root):
    root, base = http_root
    write_warc(root / "a.warc.gz", good_records("a", 3))
    whole = b"".join(good_records("t", 3))
    write_warc(root / "cut.warc.gz", [whole[:-100]])
    local = run_crawl([str(root / "a.warc.gz")], tmp_path / "local", workers=1)
    stats = run_crawl([f"{base}/a.warc.gz", f"{base}/cut.warc.gz"], tmp_path / "remote", workers=1)
    assert local["pages"] == 3 and stats["pages"] == 3 + 2
    assert stats["source_errors"] == {"truncated": 1}
    remote_rows = read_rows(tmp_path / "remote/part-00000.parquet")
    local_rows = read_rows(tmp_path / "local/part-00000.parquet")
    assert [r["html"] for r in remote_rows] == [r["html"] for r in local_rows]
    assert remote_rows[0]["source"] == f"{base}/a.warc.gz"

    r = run_cli("crawl", f"{base}/missing.warc.gz", "-o", tmp_path / "x")
    assert_one_line_error(r, "HTTP 404")


def test_crawl_common_crawl_listing_from_a_configurable_base_url(tmp_path, http_root):
    root, base = http_root
    crawl_dir = root / "crawl-data/CC-MAIN-2024-10"
    crawl_dir.mkdir(parents=True)
    segs = root / "crawl-data/CC-MAIN-2024-10/segments/1/warc"
    segs.mkdir(parents=True)
    names = [f"CC-MAIN-{i}.warc.gz" for i in range(3)]
    for i, name in enumerate(names):
        write_warc(segs / name, good_records(f"cc{i}-", 2))
    listing = "".join(f"crawl-data/CC-MAIN-2024-10/segments/1/warc/{n}\n" for n in names)
    (crawl_dir / "warc.paths.gz").write_bytes(gzip.compress(listing.encode()))

    r = run_cli("crawl", "--cc-crawl", "CC-MAIN-2024-10", "--cc-files", "2", "--cc-base-url", base,
                "-o", tmp_path / "pages", "-w", "2")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "4 response" in r.stdout
    rows = read_rows(tmp_path / "pages/part-00000.parquet") + read_rows(tmp_path / "pages/part-00001.parquet")
    assert sorted(row["url"].rsplit("/", 1)[1] for row in rows) == ["cc0-0", "cc0-1", "cc1-0", "cc1-1"]

    r = run_cli("crawl", "--cc-crawl", "CC-MAIN-1999-01", "--cc-base-url", base, "-o", tmp_path / "none")
    assert_one_line_error(r, "cannot fetch", "CC-MAIN-1999-01/warc.paths.gz", "HTTP 404")


def test_make_runs_the_crawl_stage_on_warc_urls_and_on_a_common_crawl_listing(tmp_path, http_root):
    """The demo's real-data knobs, `make WARC=URL...` and `make CC_CRAWL=... CC_BASE_URL=...`, against a
    loopback server holding sample_data's WARC files in Common Crawl's layout: both crawl the same pages
    as the local files do."""
    root, base = http_root
    local = sorted((REPO / "sample_data" / "crawl").glob("*.warc.gz"))
    warc_dir = root / "crawl-data/CC-MAIN-2024-10/segments/1/warc"
    warc_dir.mkdir(parents=True)
    for path in local:
        shutil.copyfile(path, warc_dir / path.name)
    listing = "".join(f"crawl-data/CC-MAIN-2024-10/segments/1/warc/{p.name}\n" for p in local)
    (root / "crawl-data/CC-MAIN-2024-10/warc.paths.gz").write_bytes(gzip.compress(listing.encode()))
    llmkit = f"{sys.executable} -m llmkit"
    urls = " ".join(f"{base}/crawl-data/CC-MAIN-2024-10/segments/1/warc/{p.name}" for p in local)
    runs = {
        "local": [],
        "urls": [f"WARC={urls}"],
        "cc": ["CC_CRAWL=CC-MAIN-2024-10", f"CC_FILES={len(local)}", f"CC_BASE_URL={base}"],
    }
    pages = {}
    for name, knobs in runs.items():
        run = tmp_path / name
        r = subprocess.run(["make", "-s", "-C", str(REPO), "-o", ".venv/.installed", f"LLMKIT={llmkit}",
                            f"RUN={run}", "WORKERS=1", *knobs, f"{run}/pages/manifest.json"],
                           capture_output=True, text=True)  # fmt: skip
        assert r.returncode == 0, r.stderr
        pages[name] = sorted(row["html"] for part in sorted((run / "pages").glob("part-*.parquet"))
                             for row in read_rows(part))  # fmt: skip
    assert len(pages["local"]) > 50
    assert pages["urls"] == pages["local"] and pages["cc"] == pages["local"]


def test_crawl_is_deterministic_across_workers_and_reruns(tmp_path):
    paths = [str(write_warc(tmp_path / f"{i}.warc.gz", good_records(f"d{i}-", 4))) for i in range(3)]
    run_crawl(paths, tmp_path / "one", workers=1)
    run_crawl(paths, tmp_path / "two", workers=2)
    for i in range(3):
        name = f"part-{i:05d}.parquet"
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes()


def test_pages_per_part_splits_one_source_into_ordered_parts_that_later_stages_shard(tmp_path):
    from llmkit.data.extract import run_extract

    paths = [
        str(write_warc(tmp_path / f"{i}.warc.gz", good_records(f"s{i}-", n))) for i, n in enumerate((5, 1, 4))
    ]
    run_crawl(paths, tmp_path / "whole", workers=1)
    run_crawl(paths, tmp_path / "one", workers=1, pages_per_part=2)
    run_crawl(paths, tmp_path / "two", workers=2, pages_per_part=2)
    parts = sorted((tmp_path / "one").glob("*.parquet"))
    assert [p.name for p in parts] == [f"part-{n:05d}.parquet" for n in range(6)]
    assert [len(read_rows(p)) for p in parts] == [2, 2, 1, 1, 2, 2]  # 5 pages | 1 | 4, in source order
    for part in parts:  # named by source and position, not by which worker finished first
        assert part.read_bytes() == (tmp_path / "two" / part.name).read_bytes()

    def urls(parts):
        return [row["url"] for part in parts for row in read_rows(part)]

    assert urls(parts) == urls(sorted((tmp_path / "whole").glob("*.parquet")))  # one part per source there
    manifest = json.loads((tmp_path / "one/manifest.json").read_text())
    assert manifest["config"]["pages_per_part"] == 2 and manifest["counts"]["parts"] == 6
    stats = run_extract([tmp_path / "one"], tmp_path / "text", workers=1)
    assert stats["docs_in"] == 10
    assert json.loads((tmp_path / "text/manifest.json").read_text())["counts"]["parts"] == 6
    with pytest.raises(UserError, match="--pages-per-part must be greater than 0"):
        run_crawl(paths, tmp_path / "bad", pages_per_part=0)


def test_crawl_refuses_existing_output_without_force(tmp_path):
    path = str(write_warc(tmp_path / "a.warc.gz", good_records()))
    run_crawl([path], tmp_path / "pages", workers=1)
    with pytest.raises(UserError, match="already exists"):
        run_crawl([path], tmp_path / "pages", workers=1)
    assert run_crawl([path], tmp_path / "pages", workers=1, force=True)["pages"] == 3
