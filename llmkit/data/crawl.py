"""`llmkit crawl`: WARC files, URLs or a Common Crawl crawl → a `pages` artifact of decoded HTML.

One shard task per WARC source (a local file or an http(s) URL, streamed with warcio: a multi-GB
WARC is never held in memory), writing a new pages part every `pages_per_part` pages so that the
later stages can spread one big WARC over several workers. Only `response` records whose payload is
HTML are kept; payloads are read up to `max_record_bytes` (larger ones are counted and skipped, so a
50 MB page or a decompression bomb cannot blow up a worker) and decoded with the declared charset,
then detection, then replacement characters. Removed responses go to `rejected/` with a reason; a
source that is truncated or not a WARC at all is counted, and the records read before the damage are
kept.

Where sources come from (paths, URLs, Common Crawl) is warc_sources.py; reading a record's payload,
telling HTML apart and decoding it, and noticing damage is warc.py. This module turns records into
pages rows and parts, one source per task, and runs the stage.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa

from llmkit.artifacts import ArtifactWriter
from llmkit.data.executor import merge_counts, run_shards
from llmkit.data.loud_funnel import DEFAULT_MAX_REJECT_FRACTION, check_fraction, lost_sources, report_lost
from llmkit.data.shards import funnel
from llmkit.data.warc import (
    SourceDamage,
    WarcioWarnings,
    archive_records,
    at_end,
    cut_off,
    declared_html,
    decode_html,
    http_status,
    read_payload,
    sniff_html,
    with_warc_headers,
)
from llmkit.data.warc_sources import DEFAULT_CC_BASE_URL, open_source, resolve_sources
from llmkit.errors import UserError
from llmkit.parquet import ParquetPartWriter

DEFAULT_MAX_RECORD_BYTES = 10 * 1024 * 1024
# Small enough that a single ~1,000-page WARC (a Common Crawl segment is ~30,000) already gives
# extract and filter several parts to share among workers; large enough that parts stay few.
DEFAULT_PAGES_PER_PART = 250

PAGES_SCHEMA = pa.schema(
    [
        ("id", pa.string()),
        ("url", pa.string()),
        ("html", pa.string()),
        ("warc_date", pa.string()),
        ("warc_record_id", pa.string()),
        ("content_type", pa.string()),
        ("charset", pa.string()),
        ("status", pa.int32()),
        ("source", pa.string()),
    ]
)
REJECTED_SCHEMA = PAGES_SCHEMA.append(pa.field("reason", pa.string()))


# --------------------------------------------------------------------------------------- pages


def page_id(record_id: str) -> str:
    """A short stable id for a page, derived from its WARC-Record-ID."""
    return hashlib.blake2b(record_id.encode(), digest_size=8).hexdigest()


class _PageParts:
    """The pages parts of one source, `<prefix>-00000.parquet`, `<prefix>-00001.parquet`, ...: a new
    part every `per_part` pages, so that the later stages get several shards out of one big WARC."""

    def __init__(self, prefix: str, per_part: int):
        self.prefix, self.per_part = prefix, per_part
        self.paths: list[str] = []
        self._part = self._next_part()

    def _next_part(self) -> ParquetPartWriter:
        self.paths.append(f"{self.prefix}-{len(self.paths):05d}.parquet")
        self._rows = 0
        # small row groups: a group of pages (at most 128, or 64 MB of text) is buffered before it is written
        return ParquetPartWriter(self.paths[-1], schema=PAGES_SCHEMA, rows_per_group=128)

    def write(self, row: dict) -> None:
        if self._rows == self.per_part:
            self._part.close()
            self._part = self._next_part()
        self._part.write([row])
        self._rows += 1

    def __enter__(self) -> _PageParts:
        return self

    def __exit__(self, *exc) -> None:
        self._part.__exit__(*exc)


# --------------------------------------------------------------------------------------- one source


@dataclass
class _SourceTally:
    """What crawling one source counted: records read per type, removed responses per reason, pages
    written, and damage per kind (at most 1 each: a count of damaged sources once merged), each
    kind with a detail line."""

    records: Counter = field(default_factory=Counter)
    removed: Counter = field(default_factory=Counter)
    errors: Counter = field(default_factory=Counter)
    details: list[str] = field(default_factory=list)
    pages: int = 0
    # bodies stored already decoded under their original Content-Encoding header (kept as they are)
    encoding_mismatches: int = 0
    warcio_warnings: WarcioWarnings = field(default_factory=WarcioWarnings)

    def damaged(self, kind: str, detail: str) -> None:
        self.errors[kind] = 1
        self.details.append(f"{kind}: {detail.strip()[:200]}")


def _decode_response(
    record, record_id: str, source: str, max_bytes: int, tally: _SourceTally
) -> tuple[dict, str | None]:
    """One response record as a pages row, and why it is rejected: None for an HTML page, whose
    `status`, `html` and `charset` are then filled in. The payload is not read when the headers
    already say that the response is no HTML page."""
    headers = record.rec_headers
    url = headers.get_header("WARC-Target-URI") or ""
    http_type = record.http_headers.get_header("Content-Type") if record.http_headers else None
    row = {
        "id": page_id(record_id),
        "url": url,
        "warc_date": headers.get_header("WARC-Date"),
        "warc_record_id": record_id,
        "content_type": http_type or headers.get_header("WARC-Identified-Payload-Type"),
        "charset": None,
        "status": None,
        "source": source,
    }
    if not url.startswith(("http://", "https://")):
        return row, "crawl:not_http"
    status = http_status(record)
    if status is None:
        head = record.http_headers
        first = f"{head.protocol} {head.statusline}".strip() if head else "none"
        return row, f"crawl:bad_http_headers {first[:60]!r}"
    row["status"] = status
    identified = headers.get_header("WARC-Identified-Payload-Type") or ""
    html_type = declared_html(http_type or "", identified)
    if html_type is False:  # decided from the headers: the payload is never read
        return row, f"crawl:not_html {(http_type or identified).split(';')[0].strip()}"
    try:
        payload, mismatch = read_payload(record, max_bytes)
        tally.encoding_mismatches += mismatch
    except EOFError:
        return row, "crawl:truncated_record 1"  # counted as a source error by _read_records
    except (OSError, zlib.error, ValueError) as e:
        return row, f"crawl:bad_payload {str(e)[:60] or type(e).__name__}"
    if payload is None:
        return row, f"crawl:too_large >{max_bytes}"
    if not payload.strip():
        return row, "crawl:empty 0"
    if b"\x00" in payload[:4096]:
        return row, "crawl:binary NUL"
    if html_type is None and not sniff_html(payload):
        return row, "crawl:not_html sniffed"
    row["html"], row["charset"] = decode_html(payload, http_type or "")
    return row, None


def _read_records(source: str, tally: _SourceTally, on_response) -> None:
    """Read every record of `source`, handing each response record to `on_response(record,
    record_id)`; counts the records per type and any damage in `tally`.

    Damage (a cut-off record of any type, a record warcio cannot parse, a file that is not a WARC)
    is counted once per kind; a parse failure ends the source, the records before it stay counted.
    """
    from warcio.exceptions import ArchiveLoadFailed

    records = tally.records
    stream = open_source(source)
    archive, warc_records = archive_records(stream)
    with WarcioWarnings() as warnings:
        is_arc = False
        try:
            for record in warc_records:
                # warcio reads ARC files too, but takes many a text line for an ARC record: an ARC
                # source is one that starts with ARC's file header (filedesc://)
                if record.format == "arc" and not records.total():
                    is_arc = record.rec_type == "arc_header"
                if record.format == "arc" and is_arc:
                    with_warc_headers(record, records.total())
                elif record.format != "warc":
                    raise SourceDamage(f"not a WARC record (looks like {record.format.upper()})")
                records[record.rec_type] += 1
                record_id = (
                    record.rec_headers.get_header("WARC-Record-ID") or f"{source}#{records['response']}"
                )
                if record.rec_type == "response":
                    on_response(record, record_id)
                # every record is read to its end here (warcio would do it anyway), so a cut-off
                # request or metadata record is noticed as surely as a cut-off response
                if problem := cut_off(record):
                    kind = "truncated" if at_end(archive, stream) else "bad_record"
                    tally.damaged(kind, f"{record.rec_type or 'untyped'} record {record_id} {problem}")
            if archive.cut and not tally.errors:  # not noticed in a record already
                tally.damaged("truncated", archive.cut)
        except SourceDamage as e:
            if not records.total() and (e.__cause__ is None or isinstance(e.__cause__, ArchiveLoadFailed)):
                tally.damaged("not_warc", str(e))
            else:
                kind = "truncated" if at_end(archive, stream) else "bad_record"
                cause = f"{type(e.__cause__).__name__}: " if e.__cause__ is not None else ""
                tally.damaged(kind, f"{cause}{e} (after {records.total()} records)")
        except (OSError, EOFError, zlib.error, http.client.HTTPException, ValueError) as e:
            # a cut-off download or a damaged gzip member while reading a record's payload
            tally.damaged("truncated", f"{type(e).__name__}: {e}")
        finally:
            stream.close()
    tally.warcio_warnings = warnings


def crawl_shard(task: dict) -> dict:
    """Read one WARC source; write its pages parts (`out`-NNNNN.parquet, `pages_per_part` pages each)
    and its rejected part. Returns counters for the stage and `parts`, the pages parts in order.

    Damage (a cut-off record of any type, a record warcio cannot parse, a file that is not a WARC)
    is counted once per kind in `source_errors`, with a detail line; the records read before it are
    kept, and a parse failure ends the source.
    """
    source, max_bytes = task["source"], task["max_record_bytes"]
    start = time.perf_counter()
    tally = _SourceTally()
    with (
        _PageParts(task["out"], task["pages_per_part"]) as pages,
        ParquetPartWriter(task["rejected"], schema=REJECTED_SCHEMA) as rejected,
    ):

        def write_response(record, record_id: str) -> None:
            row, reason = _decode_response(record, record_id, source, max_bytes, tally)
            if reason is None:
                pages.write(row)
                tally.pages += 1
            else:
                rejected.write([{**row, "html": None, "reason": reason}])
                tally.removed[reason.split(" ", 1)[0]] += 1

        _read_records(source, tally, write_response)
    if not tally.records.total() and not tally.errors:
        tally.errors["empty"] += 1
    return {
        "counts": {
            "records": dict(tally.records),
            "in": tally.records["response"],
            "out": tally.pages,
            "removed": dict(tally.removed),
            "source_errors": dict(tally.errors),
            "content_encoding_mismatch": tally.encoding_mismatches,
            "warcio_warnings": tally.warcio_warnings.counts.total(),
        },
        "warcio_warnings": tally.warcio_warnings.summary(),
        "source": source,
        "parts": pages.paths,
        "errors": sorted(tally.errors),
        "details": tally.details,
        "seconds": time.perf_counter() - start,
    }


# --------------------------------------------------------------------------------------- the stage


def run_crawl(
    inputs: list[str],
    out_dir: str | Path,
    config: dict | None = None,
    *,
    cc_crawl: str | None = None,
    cc_files: int = 1,
    cc_base_url: str = DEFAULT_CC_BASE_URL,
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES,
    pages_per_part: int = DEFAULT_PAGES_PER_PART,
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    force: bool = False,
    max_reject_fraction: float = DEFAULT_MAX_REJECT_FRACTION,
    allow_empty: bool = False,
) -> dict:
    """Crawl WARC (or ARC) sources into a `pages` artifact at `out_dir`; returns the manifest stats.

    `inputs`: local WARC/WARC.gz/ARC/ARC.gz paths, folders, globs and http(s) URLs. `max_record_bytes`
    caps the payload bytes read per record. A source's pages are split into parts of `pages_per_part`,
    so the later stages run one big WARC on several workers; parts are numbered in source order.
    Exits with a UserError when no source yielded any record. A source that gives no page, or loses
    more than `max_reject_fraction` of its responses, is warned about after the artifact is written,
    and ends in SourcesLost (exit 3) unless `allow_empty`.
    """
    check_fraction(max_reject_fraction)
    if max_record_bytes < 1:
        raise UserError(f"--max-record-bytes must be greater than 0 (got {max_record_bytes})")
    if pages_per_part < 1:
        raise UserError(f"--pages-per-part must be greater than 0 (got {pages_per_part})")
    sources = resolve_sources(inputs, cc_crawl, cc_files, cc_base_url)
    config = {
        **(config or {}),
        "sources": sources,
        "pages_per_part": pages_per_part,
        "max_reject_fraction": max_reject_fraction,
    }
    with ArtifactWriter(
        out_dir, kind="pages", stage="crawl", config=config, inputs=sources, force=force
    ) as w:
        tasks = [
            {
                "index": i,
                "source": src,
                "out": str(w.path / f"source-{i:05d}"),  # renamed to part-NNNNN.parquet below
                "rejected": str(w.part_path(i, "rejected")),
                "max_record_bytes": max_record_bytes,
                "pages_per_part": pages_per_part,
            }
            for i, src in enumerate(sources)
        ]
        start = time.perf_counter()
        results = run_shards(
            crawl_shard, tasks, workers=workers, executor=executor, ray_address=ray_address, desc="crawl"
        )
        seconds = time.perf_counter() - start
        # one numbering over all sources, in source order: the same whichever worker finished first
        parts = [part for r in results for part in r["parts"]]
        for n, part in enumerate(parts):
            os.replace(part, w.part_path(n))
        counts = merge_counts(results)
        if not sum(counts.get("records", {}).values()):
            bad = ", ".join(f"{r['source']} ({'/'.join(r['errors']) or 'empty'})" for r in results)
            raise UserError(f"no WARC records could be read from {bad}")
        removed = dict(sorted(counts.get("removed", {}).items(), key=lambda kv: (-kv[1], kv[0])))
        per_source = {  # a source without damage that gave nothing had no response records at all
            r["source"]: {**r["counts"], "errors": r["counts"]["source_errors"] or {"no_response_records": 1}}
            for r in results
        }
        lost = lost_sources(per_source, max_reject_fraction)
        stats = {
            "funnel": funnel(["crawl"], counts.get("in", 0), removed),
            "removed": removed,
            "records": counts.get("records", {}),
            "source_errors": counts.get("source_errors", {}),
            "sources_with_errors": {r["source"]: r["details"] or r["errors"] for r in results if r["errors"]},
            "pages": counts.get("out", 0),
            "content_encoding_mismatch": counts.get("content_encoding_mismatch", 0),
            # what warcio printed about each source, counted by message in one line
            "warcio_warnings": {r["source"]: r["warcio_warnings"] for r in results if r["warcio_warnings"]},
            "lost_sources": lost,
            "seconds": round(seconds, 3),
            "pages_per_s": round(counts.get("out", 0) / seconds, 1) if seconds > 0 else None,
        }
        w.commit(
            counts={
                "rows": counts.get("out", 0),
                "rejected": sum(removed.values()),
                "sources": len(sources),
                "parts": len(parts),
            },
            stats=stats,
        )
    report_lost(lost, "crawl", out_dir, "pages", allow_empty)
    return stats
