"""Odd real-world inputs, written byte by byte here: every page and row is read or refused with the
reason expected, nothing is lost silently, and a source that loses everything ends the stage with
exit 3 (the loud funnel) unless --allow-empty.

The WARCs carry bodies stored already decoded under `Content-Encoding: gzip` (as ClueWeb-style
archives do), real gzip/deflate/brotli bodies, chunked bodies, revisit and resource records and a
record whose Content-Length is wrong (warcio's warning); the ARC files are the format before WARC;
the JSONL files have a BOM, CRLF line ends, gzip/zstd compression and rows of every kind of wrong.
"""

from __future__ import annotations

import bz2
import gzip
import json
import lzma
import re
import tracemalloc
import zlib
from pathlib import Path

import brotli
import pyarrow.parquet as pq
import pytest
import zstandard
from conftest import assert_one_line_error, run_cli
from test_crawl import english_html, http_response, warc_record, write_warc

from llmkit.data.crawl import run_crawl
from llmkit.data.importers import run_import
from llmkit.errors import SourcesLost, UserError
from llmkit.textfiles import read_text


def rows(folder: Path) -> list[dict]:
    return [r for part in sorted(folder.glob("part-*.parquet")) for r in pq.read_table(part).to_pylist()]


def chunked(body: bytes, size: int = 100) -> bytes:
    """HTTP/1.1 chunked transfer coding of `body`."""
    pieces = [body[i : i + size] for i in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(p), p) for p in pieces) + b"0\r\n\r\n"


def page(name: str) -> bytes:
    return english_html(name).encode()


# ------------------------------------------------------------------ WARC: encodings, chunks, record types


def odd_warc_records() -> list[bytes]:
    gz = "Content-Encoding: gzip\r\n"
    raw_deflate = zlib.compressobj(wbits=-15)
    deflated = raw_deflate.compress(page("deflate")) + raw_deflate.flush()
    return [
        # already decoded, header kept: the body is the page itself (counted as a mismatch)
        warc_record("http://example.com/stored-decoded", http_response(page("stored-decoded"), extra=gz)),
        warc_record("http://example.com/gzip", http_response(gzip.compress(page("gzip")), extra=gz)),
        warc_record("http://example.com/deflate", http_response(deflated, extra="Content-Encoding: deflate\r\n")),
        warc_record("http://example.com/brotli", http_response(brotli.compress(page("brotli")), extra="Content-Encoding: br\r\n")),
        warc_record("http://example.com/br-decoded", http_response(page("br-decoded"), extra="Content-Encoding: br\r\n")),
        warc_record("http://example.com/chunked", http_response(chunked(page("chunked")), extra="Transfer-Encoding: chunked\r\n")),
        warc_record("http://example.com/chunked-gzip", http_response(
            chunked(gzip.compress(page("chunked-gzip"))), extra="Transfer-Encoding: chunked\r\n" + gz)),
        # a gzip stream damaged after its header: a real bad payload, not a mismatch
        warc_record("http://example.com/damaged", http_response(gzip.compress(page("damaged"))[:40] + b"\xff" * 60, extra=gz)),
        warc_record("http://example.com/gzip", b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n", rec_type="revisit",
                    extra_headers="WARC-Profile: http://netpreserve.org/warc/1.0/revisit/identical-payload-digest\r\n"),
        warc_record("dns:example.com", b"20240301120000\nexample.com. 300 IN A 93.184.216.34\n", rec_type="resource",
                    extra_headers="Content-Type: text/dns\r\n"),
    ]  # fmt: skip


def test_a_warc_of_odd_records_keeps_every_page_and_counts_mismatches(tmp_path):
    source = write_warc(tmp_path / "odd.warc.gz", odd_warc_records())
    stats = run_crawl([str(source)], tmp_path / "pages", workers=1)
    pages = {r["url"].rsplit("/", 1)[1]: r for r in rows(tmp_path / "pages")}
    assert sorted(pages) == sorted(
        ["stored-decoded", "gzip", "deflate", "brotli", "br-decoded", "chunked", "chunked-gzip"]
    )
    for name, row in pages.items():
        assert f"<title>{name}</title>" in row["html"], name  # decoded to the page, not left compressed
    assert stats["content_encoding_mismatch"] == 2  # stored-decoded and br-decoded
    assert stats["records"] == {"response": 8, "revisit": 1, "resource": 1}
    rejected = rows(tmp_path / "pages/rejected")
    assert [(r["url"], r["reason"].split(" ")[0]) for r in rejected] == [
        ("http://example.com/damaged", "crawl:bad_payload")
    ]
    assert stats["lost_sources"] == [] and stats["warcio_warnings"] == {}


def test_the_cli_shows_the_mismatch_counter_and_inspect_shows_it_too(tmp_path):
    source = write_warc(tmp_path / "odd.warc.gz", odd_warc_records())
    r = run_cli("crawl", source, "-o", tmp_path / "pages", "-w", "1")
    assert r.returncode == 0, r.stderr
    assert "content_encoding_mismatch: 2" in r.stdout and r.stderr == ""
    r = run_cli("inspect", tmp_path / "pages")
    assert r.returncode == 0, r.stderr
    assert re.search(r"content_encoding_mismatch\s*│\s*2\s", r.stdout), r.stdout


def test_warcio_warnings_are_counted_per_source_in_one_line_not_leaked(tmp_path, capfd):
    block = http_response(page("short"))
    record = warc_record("http://example.com/short", block, compress=False)
    # 10 bytes short: the record's last bytes sit where its closing blank lines should be
    record = record.replace(
        f"Content-Length: {len(block)}\r\n".encode(), f"Content-Length: {len(block) - 10}\r\n".encode()
    )
    after = warc_record("http://example.com/after", http_response(page("after")), compress=False)
    source = write_warc(tmp_path / "short.warc", [record, after])
    stats = run_crawl([str(source)], tmp_path / "pages", workers=1)
    assert capfd.readouterr().err == ""  # warcio's multi-line warning did not reach stderr
    warning = "warcio: 1 warning (Record not followed by newline, perhaps Content-Length is invalid ×1)"
    assert stats["warcio_warnings"] == {str(source): warning}
    assert stats["pages"] == 2


# ------------------------------------------------------------------ ARC


def arc_record(url: str, body: bytes, ctype: str = "text/html", ip: str = "93.184.216.34") -> bytes:
    return f"{url} {ip} 20240301120000 {ctype} {len(body)}\n".encode() + body + b"\n"


def arc_file(compress: bool) -> bytes:
    """An ARC v1 file: its filedesc header, an HTML page and a PNG; each record its own gzip member
    when compressed (as the Internet Archive writes .arc.gz)."""
    header = b"1 0 llmkit-test\nURL IP-address Archive-date Content-type Archive-length\n"
    records = [
        arc_record("filedesc://test.arc", header, "text/plain", "0.0.0.0"),
        arc_record("http://example.com/arc-page", b"HTTP/1.0 200 OK\r\nContent-Type: text/html\r\n\r\n" + page("arc")),
        arc_record("http://example.com/logo.png", b"HTTP/1.0 200 OK\r\nContent-Type: image/png\r\n\r\n\x89PNG", "image/png"),
    ]  # fmt: skip
    return b"".join(gzip.compress(r) if compress else r for r in records)


@pytest.mark.parametrize("compress", [False, True], ids=["arc", "arc.gz"])
def test_arc_files_are_read_like_warc(tmp_path, compress):
    source = tmp_path / ("test.arc.gz" if compress else "test.arc")
    source.write_bytes(arc_file(compress))
    stats = run_crawl([str(tmp_path)], tmp_path / "pages", workers=1)  # a folder: .arc(.gz) is listed
    (kept,) = rows(tmp_path / "pages")
    assert kept["url"] == "http://example.com/arc-page" and "<title>arc</title>" in kept["html"]
    assert kept["warc_date"] == "2024-03-01T12:00:00Z" and kept["source"] == str(source)
    assert [r["reason"] for r in rows(tmp_path / "pages/rejected")] == ["crawl:not_html image/png"]
    assert stats["records"] == {"arc_header": 1, "response": 2} and stats["source_errors"] == {}
    again = run_crawl([str(source)], tmp_path / "again", workers=1)
    assert again["pages"] == 1 and rows(tmp_path / "again")[0]["id"] == kept["id"]  # stable page ids


# ------------------------------------------------------------------ the loud funnel, crawl


def test_a_source_that_gives_no_page_is_a_warning_and_exit_3_unless_allowed(tmp_path):
    good = write_warc(
        tmp_path / "good.warc.gz", [warc_record("http://example.com/ok", http_response(page("ok")))]
    )
    images = write_warc(tmp_path / "images.warc.gz", [
        warc_record(f"http://example.com/{i}.png", http_response(b"\x89PNG", "image/png")) for i in range(3)
    ])  # fmt: skip
    r = run_cli("crawl", good, images, "-o", tmp_path / "pages", "-w", "1")
    assert r.returncode == 3, r.stderr
    warning, error = [line for line in r.stderr.splitlines() if line.strip()]
    assert warning == f"warning: crawl: {images} lost all 3 pages (top reason: crawl:not_html 3)"
    assert error.startswith("error: crawl: 1 source lost all") and "--allow-empty" in error
    assert (tmp_path / "pages/manifest.json").exists()  # written, for inspection
    manifest = json.loads((tmp_path / "pages/manifest.json").read_text())
    assert manifest["stats"]["lost_sources"][0]["source"] == str(images)
    r = run_cli("crawl", good, images, "-o", tmp_path / "allowed", "-w", "1", "--allow-empty")
    assert r.returncode == 0 and r.stderr.startswith("warning: crawl:"), r.stderr
    with pytest.raises(SourcesLost):
        run_crawl([str(good), str(images)], tmp_path / "lib", workers=1)


def test_a_source_of_requests_only_is_named_with_no_response_records(tmp_path):
    source = write_warc(tmp_path / "requests.warc.gz", [
        warc_record("http://example.com/a", b"GET /a HTTP/1.1\r\nHost: example.com\r\n\r\n", rec_type="request")
    ])  # fmt: skip
    good = write_warc(
        tmp_path / "good.warc.gz", [warc_record("http://example.com/ok", http_response(page("ok")))]
    )
    stats = run_crawl([str(good), str(source)], tmp_path / "pages", workers=1, allow_empty=True)
    assert stats["lost_sources"] == [
        {"source": str(source), "in": 0, "out": 0, "top_reason": "no_response_records"}
    ]


def test_max_reject_fraction_makes_a_partly_lost_source_loud(tmp_path):
    records = [warc_record("http://example.com/ok", http_response(page("ok")))] + [
        warc_record(f"http://example.com/{i}.png", http_response(b"\x89PNG", "image/png")) for i in range(3)
    ]
    source = write_warc(tmp_path / "mostly-images.warc.gz", records)
    assert run_crawl([str(source)], tmp_path / "default", workers=1)["lost_sources"] == []  # 75% ≤ 100%
    with pytest.raises(SourcesLost):
        run_crawl([str(source)], tmp_path / "strict", workers=1, max_reject_fraction=0.5)
    stats = run_crawl(
        [str(source)], tmp_path / "allowed", workers=1, max_reject_fraction=0.5, allow_empty=True
    )
    assert stats["lost_sources"] == [
        {"source": str(source), "in": 4, "out": 1, "top_reason": "crawl:not_html 3"}
    ]


# ------------------------------------------------------------------ JSONL: BOM, CRLF, compression, mixed rows

CHAT_ROWS = [
    {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
    {"messages": [{"role": "user", "content": [{"type": "text", "text": "look"}, {"type": "text", "text": "here"}]},
                  {"role": "assistant", "content": [{"type": "text", "text": "seen"}]}]},
    {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x.png"}}]},
                  {"role": "assistant", "content": "a cat"}]},
    {"messages": [{"role": "user", "content": 42}, {"role": "assistant", "content": "x"}]},
    {"messages": [{"role": "user"}, {"role": "assistant", "content": "x"}]},
    {"messages": "hi"},
    {"conversation": []},
]  # fmt: skip
CHAT_REASONS = [
    (3, "messages:unsupported_content_part image_url"),
    (4, "messages:content_not_text number"),
    (5, "messages:no_content"),
    (6, "messages:not_a_list string"),
    (7, "messages:missing"),
    (8, "json:invalid"),
]


def chat_bytes() -> bytes:
    """The CHAT_ROWS and one broken line, with a BOM and CRLF line ends (as Windows tools write)."""
    lines = [json.dumps(r) for r in CHAT_ROWS] + ['{"messages": [']
    return "\ufeff".encode() + "\r\n".join(lines).encode() + b"\r\n"


COMPRESSORS = {
    "plain": lambda b: b,
    "gzip": gzip.compress,
    "bzip2": bz2.compress,
    "xz": lzma.compress,
    "zstd": lambda b: zstandard.ZstdCompressor().compress(b),
}


@pytest.mark.parametrize("compression", COMPRESSORS)
def test_bom_crlf_and_compressed_jsonl_import_the_same_rows_and_reasons(tmp_path, compression):
    # named .jsonl whatever it holds: compression is told by the first bytes, not the name
    path = tmp_path / "chat.jsonl"
    path.write_bytes(COMPRESSORS[compression](chat_bytes()))
    manifest = run_import(path, tmp_path / "chat", allow_empty=True)
    assert manifest["config"]["format"] == "openai"
    kept = rows(tmp_path / "chat")
    assert [[(m["role"], m["content"]) for m in r["messages"]] for r in kept] == [
        [("user", "hi"), ("assistant", "hello")],  # the BOM did not cost the first row
        [("user", "look\nhere"), ("assistant", "seen")],  # OpenAI text parts joined
    ]
    assert [(r["line"], r["reason"]) for r in rows(tmp_path / "chat/rejected")] == CHAT_REASONS
    assert "\r" not in "".join(r["raw"] for r in rows(tmp_path / "chat/rejected"))


def test_a_bom_json_array_and_a_compressed_text_file_read_as_text(tmp_path):
    path = tmp_path / "rows.json"
    path.write_bytes("\ufeff".encode() + json.dumps(CHAT_ROWS[:2]).encode())
    assert run_import(path, tmp_path / "out")["counts"] == {"rows": 2, "rejected": 0}
    (tmp_path / "book.txt.gz").write_bytes(gzip.compress("\ufeffOnce upon a time\r\nthe end\r\n".encode()))
    assert read_text(tmp_path / "book.txt.gz") == "Once upon a time\nthe end\n"


def test_a_cut_off_gzip_file_is_one_error_line(tmp_path):
    path = tmp_path / "chat.jsonl.gz"
    path.write_bytes(gzip.compress(chat_bytes() * 50)[:-200])
    r = run_cli("import", path, "-o", tmp_path / "out")
    assert_one_line_error(r, str(path), "damaged or cut-off gzip file")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()


def test_reasons_name_the_real_problem(tmp_path):
    cases = {
        "gsm8k": ([{"question": "1+1?", "answer": 2}, {"question": "2+2?"}], ["answer:not_text number", "answer:missing"]),
        "prompt-completion": ([{"completion": "x"}, {"prompt": {"text": "q"}, "completion": "x"}],
                              ["prompt:missing", "prompt:not_text_or_messages object"]),
        "prefs": ([{"prompt": "q", "chosen": "", "rejected": "b"}, {"prompt": "q", "chosen": "a", "rejected": " "},
                   {"prompt": "q", "chosen": 1, "rejected": "b"}],
                  ["chosen:empty_answer", "rejected:empty_answer", "chosen:not_text number"]),
        "hh-rlhf": ([{"chosen": "\n\nHuman: hi\n\nAssistant: ", "rejected": "\n\nHuman: hi\n\nAssistant: go away"}],
                    ["chosen:empty_answer"]),
    }  # fmt: skip
    good = {
        "gsm8k": {"question": "3+3?", "answer": "#### 6"},
        "prompt-completion": {"prompt": "q", "completion": "a"},
        "prefs": {"prompt": "q", "chosen": "a", "rejected": "b"},
        "hh-rlhf": {
            "chosen": "\n\nHuman: hi\n\nAssistant: hello",
            "rejected": "\n\nHuman: hi\n\nAssistant: no",
        },
    }
    for fmt, (bad_rows, reasons) in cases.items():
        path = tmp_path / f"{fmt}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in [good[fmt], *bad_rows]))
        run_import(path, tmp_path / fmt, fmt=fmt, allow_empty=True)
        assert [r["reason"] for r in rows(tmp_path / fmt / "rejected")] == reasons, fmt
    # --allow-empty-answers keeps the pairs whose answer is empty
    manifest = run_import(
        tmp_path / "prefs.jsonl", tmp_path / "prefs-allowed", fmt="prefs", allow_empty_answers=True
    )
    assert manifest["counts"] == {"rows": 3, "rejected": 1}


def test_format_detection_is_by_majority_and_names_the_counts_when_ambiguous(tmp_path):
    chat = {"messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]}
    path = tmp_path / "mostly-chat.jsonl"
    odd_first = {"instruction": "x", "output": "y"}  # one alpaca-looking first row no longer decides
    path.write_text("".join(json.dumps(r) + "\n" for r in [odd_first, chat, chat, chat]))
    manifest = run_import(path, tmp_path / "out", allow_empty=True)
    assert manifest["config"]["format"] == "openai"
    assert manifest["stats"]["format_votes"] == {"alpaca": 1, "openai": 3}
    assert [r["reason"] for r in rows(tmp_path / "out/rejected")] == ["messages:missing"]
    tie = tmp_path / "tie.jsonl"
    tie.write_text("".join(json.dumps(r) + "\n" for r in [odd_first, chat]))
    with pytest.raises(UserError, match=r"first 2 rows look like alpaca 1, openai 1; pass --format"):
        run_import(tie, tmp_path / "tie")
    assert not (tmp_path / "tie").exists()


def test_import_loud_funnel_exit_3_and_allow_empty(tmp_path):
    path = tmp_path / "chat.jsonl"
    path.write_bytes(chat_bytes())  # 2 of 8 rows good: 75% rejected
    assert run_import(path, tmp_path / "out")["stats"]["lost_sources"] == []  # the default: only a total loss
    with pytest.raises(UserError, match="--max-reject-fraction must be between 0 and 1"):
        run_import(path, tmp_path / "bad", max_reject_fraction=1.5)
    r = run_cli("import", path, "-o", tmp_path / "strict", "--max-reject-fraction", "0.5")
    assert r.returncode == 3, r.stderr
    warning, error = [line for line in r.stderr.splitlines() if line.strip()]
    assert warning == f"warning: import: {path} lost 6 of 8 rows (75%) (top reason: json:invalid 1)"
    assert error.startswith("error: import: 1 source lost") and "--allow-empty" in error
    r = run_cli("import", path, "-o", tmp_path / "allowed", "--max-reject-fraction", "0.5", "--allow-empty")
    assert r.returncode == 0 and r.stderr.startswith("warning: import:"), r.stderr


# ------------------------------------------------------------------ the other readers of user text


def test_tokenizer_training_tokenize_prompts_and_eval_tasks_read_compressed_bom_files(tmp_path):
    from llmkit.eval_tasks import read_jsonl
    from llmkit.generate import read_prompts
    from llmkit.tokenize import tokenize_docs, train_tokenizer

    text = "".join(
        f"The river {i} runs through the old town, and the bridges close in spring.\n" for i in range(200)
    )
    (tmp_path / "book.txt").write_text(text)
    (tmp_path / "book.txt.zst").write_bytes(zstandard.ZstdCompressor().compress(("\ufeff" + text).encode()))
    for name in ("book.txt", "book.txt.zst"):
        train_tokenizer(tmp_path / name, tmp_path / f"tok-{name}", vocab_size=300, show_progress=False)
        tokenize_docs(
            tmp_path / name, tmp_path / f"tok-{name}", tmp_path / f"ids-{name}", show_progress=False
        )
    tokenizer_json = [
        (tmp_path / f"tok-{n}" / "tokenizer.json").read_text() for n in ("book.txt", "book.txt.zst")
    ]
    assert tokenizer_json[0] == tokenizer_json[1]  # the same text, BOM dropped, gives the same tokenizer
    tokens = [rows(tmp_path / f"ids-{n}" / "train") for n in ("book.txt", "book.txt.zst")]
    assert [r["input_ids"] for r in tokens[0]] == [r["input_ids"] for r in tokens[1]]

    prompts = tmp_path / "prompts.jsonl.gz"
    prompts.write_bytes(
        gzip.compress(
            '\ufeff{"prompt": "hi"}\r\n{"prompt": [{"role": "user", "content": "yo"}]}\r\n'.encode()
        )
    )
    assert read_prompts([], prompts, None) == ["hi", [{"role": "user", "content": "yo"}]]
    task = tmp_path / "task.jsonl"  # a .jsonl name over xz bytes
    task.write_bytes(lzma.compress('\ufeff{"question": "q", "answer": "a"}\n'.encode()))
    assert list(read_jsonl(task)) == [{"question": "q", "answer": "a"}]


@pytest.mark.parametrize("encoding", ["br", "gzip-stored-decoded"])
def test_brotli_bombs_and_big_stored_decoded_bodies_stay_within_the_cap(tmp_path, encoding):
    """The payload reader holds about `max_record_bytes` (10 MB here) whatever a body inflates to."""
    from warcio.archiveiterator import ArchiveIterator

    from llmkit.data.warc import read_payload

    fifty_mb = b"<html>" + b"\x00" * (50 * 1024 * 1024)
    if encoding == "br":
        body, header = brotli.compress(fifty_mb, quality=1), "Content-Encoding: br\r\n"  # ~10 KB
    else:
        body, header = fifty_mb, "Content-Encoding: gzip\r\n"  # kept as it is: no gzip magic
    source = write_warc(
        tmp_path / "big.warc",
        [warc_record("http://example.com/big", http_response(body, extra=header), compress=False)],
    )
    del fifty_mb, body
    with open(source, "rb") as f:
        record = next(r for r in ArchiveIterator(f) if r.rec_type == "response")
        tracemalloc.start()
        payload, _ = read_payload(record, 10 * 1024 * 1024)
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert payload is None  # over the cap: skipped as too large
    assert peak < 13 * 1024 * 1024, f"peak {peak / 2**20:.1f} MB"  # the cap plus one 1-2 MB step


def test_a_docs_stage_names_the_crawl_source_that_lost_every_document(tmp_path):
    """extract, filter and scrub count per `source` column (the WARC a page came from)."""
    from llmkit.artifacts import ArtifactWriter
    from llmkit.data.scrub import run_scrub
    from llmkit.parquet import ParquetPartWriter

    docs = [
        {"id": "a", "url": "http://a.example/", "text": "nothing personal here", "source": "clean.warc.gz"},
        {"id": "b", "url": "http://b.example/", "text": "mail jane@example.com", "source": "leaky.warc.gz"},
        {"id": "c", "url": "http://c.example/", "text": "call +1 800 273 8255", "source": "leaky.warc.gz"},
    ]
    with ArtifactWriter(tmp_path / "docs", kind="docs", stage="extract") as w:
        with ParquetPartWriter(w.part_path(0)) as part:
            part.write(docs)
        w.commit(counts={"rows": len(docs)})
    with pytest.raises(SourcesLost, match="scrub: 1 source lost all"):
        run_scrub([tmp_path / "docs"], tmp_path / "clean", max_pii=0, workers=1)
    stats = run_scrub([tmp_path / "docs"], tmp_path / "allowed", max_pii=0, workers=1, allow_empty=True)
    assert stats["lost_sources"] == [
        {"source": "leaky.warc.gz", "in": 2, "out": 0, "top_reason": "pii:count 2"}
    ]
