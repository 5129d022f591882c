"""`llmkit crawl`: WARC files, URLs or a Common Crawl crawl → a `pages` artifact of decoded HTML.

One shard task per WARC source (a local file or an http(s) URL, streamed with warcio: a multi-GB
WARC is never held in memory), writing a new pages part every `pages_per_part` pages so that the
later stages can spread one big WARC over several workers. Only `response` records whose payload is HTML are kept; payloads are
read up to `max_record_bytes` (larger ones are counted and skipped, so a 50 MB page or a
decompression bomb cannot blow up a worker) and decoded with the declared charset, then detection,
then replacement characters. Removed responses go to `rejected/` with a reason; a source that is
truncated or not a WARC at all is counted, and the records read before the damage are kept.
"""

from __future__ import annotations

import codecs
import glob
import gzip
import hashlib
import http.client
import os
import re
import time
import urllib.error
import urllib.parse
import urllib.request
import zlib
from collections import Counter
from pathlib import Path

import pyarrow as pa

from llmkit.artifacts import ArtifactWriter, ParquetPartWriter
from llmkit.data.executor import merge_counts, run_shards
from llmkit.data.shards import funnel
from llmkit.errors import UserError

DEFAULT_CC_BASE_URL = "https://data.commoncrawl.org"
DEFAULT_MAX_RECORD_BYTES = 10 * 1024 * 1024
DEFAULT_PAGES_PER_PART = 2000
HTTP_TIMEOUT_S = 60
CC_CRAWL_ID = re.compile(r"^CC-MAIN-\d{4}-\d{2}$")
# scheme://... : an input that names a URL scheme; only http(s) is read (no file://, ftp://, data:...)
_URL_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*)://")

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

HTML_TYPES = ("text/html", "application/xhtml+xml")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", re.IGNORECASE)
_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL
)


# --------------------------------------------------------------------------------------- sources


def resolve_sources(
    inputs: list[str],
    cc_crawl: str | None = None,
    cc_files: int = 1,
    cc_base_url: str = DEFAULT_CC_BASE_URL,
) -> list[str]:
    """Local paths (files, folders of WARCs, globs) and URLs as a list of WARC sources, in order.

    `cc_crawl` adds the first `cc_files` WARC URLs listed in the crawl's `warc.paths.gz`.
    A path that does not exist, a glob matching nothing or an unreachable listing is a UserError.
    """
    sources: list[str] = []
    for item in inputs:
        item = str(item)
        if item.startswith(("http://", "https://")):
            sources.append(item)
        elif _URL_SCHEME.match(item):
            raise UserError(f"only http:// and https:// URLs can be read (got {item!r})")
        elif glob.has_magic(item):
            matches = sorted(glob.glob(item))
            if not matches:
                raise UserError(f"no file matches {item}")
            sources.extend(matches)
        elif Path(item).is_dir():
            found = sorted(str(p) for p in Path(item).iterdir() if p.name.endswith((".warc", ".warc.gz")))
            if not found:
                raise UserError(f"{item} contains no .warc or .warc.gz files")
            sources.extend(found)
        elif Path(item).exists():
            sources.append(item)
        else:
            raise UserError(f"{item} does not exist")
    if cc_crawl:
        sources.extend(common_crawl_urls(cc_crawl, cc_files, cc_base_url))
    if not sources:
        raise UserError("give WARC files, URLs or --cc-crawl")
    return sources


def common_crawl_urls(crawl: str, n_files: int, base_url: str = DEFAULT_CC_BASE_URL) -> list[str]:
    """The first `n_files` WARC URLs of a Common Crawl crawl, from its `warc.paths.gz` listing."""
    if not CC_CRAWL_ID.match(crawl):
        raise UserError(f"--cc-crawl must look like CC-MAIN-2024-10 (got {crawl!r})")
    if n_files < 1:
        raise UserError(f"--cc-files must be at least 1 (got {n_files})")
    base = base_url.rstrip("/")
    listing = f"{base}/crawl-data/{crawl}/warc.paths.gz"
    paths = []
    with open_url(listing) as resp:
        try:
            with gzip.open(resp, "rt", encoding="utf-8") as lines:
                for line in lines:
                    if line.strip():
                        paths.append(line.strip())
                    if len(paths) == n_files:
                        break
        except (OSError, EOFError, zlib.error, http.client.HTTPException) as e:
            raise UserError(f"{listing} is not a readable warc.paths.gz listing: {e}") from e
    if not paths:
        raise UserError(f"{listing} lists no WARC files")
    return [f"{base}/{p.lstrip('/')}" for p in paths]


class _HttpOnlyRedirects(urllib.request.HTTPRedirectHandler):
    """Follows redirects to http(s) URLs only (urllib's default also follows them to ftp://)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        if urllib.parse.urlsplit(newurl).scheme.lower() not in ("http", "https"):
            raise UserError(
                f"{req.full_url} redirects to {newurl!r}; only http:// and https:// URLs are read"
            )
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_opener = urllib.request.build_opener(_HttpOnlyRedirects)


def open_url(url: str):
    """A streaming HTTP response; an unreachable URL or an HTTP error status is a UserError.

    Only http:// and https:// are read, redirects included: never file://, ftp:// or data: URLs.
    """
    if urllib.parse.urlsplit(url).scheme.lower() not in ("http", "https"):
        raise UserError(f"only http:// and https:// URLs can be read (got {url!r})")
    try:
        return _opener.open(url, timeout=HTTP_TIMEOUT_S)
    except urllib.error.HTTPError as e:
        raise UserError(f"cannot fetch {url}: HTTP {e.code} {e.reason}") from e
    except (urllib.error.URLError, OSError, ValueError) as e:
        reason = getattr(e, "reason", e)
        raise UserError(f"cannot reach {url}: {reason}") from e


def _open_source(source: str):
    if source.startswith(("http://", "https://")):
        return open_url(source)
    try:
        return open(source, "rb")
    except OSError as e:
        raise UserError(f"cannot read {source}: {e.strerror or e}") from e


# --------------------------------------------------------------------------------------- records


def page_id(record_id: str) -> str:
    """A short stable id for a page, derived from its WARC-Record-ID."""
    return hashlib.blake2b(record_id.encode(), digest_size=8).hexdigest()


def declared_html(http_content_type: str, identified_type: str) -> bool | None:
    """True/False when the HTTP Content-Type (or else WARC-Identified-Payload-Type) settles whether the
    payload is HTML; None when neither says anything definite (missing, octet-stream, text/plain)."""
    for declared in (http_content_type, identified_type):
        mime = declared.split(";", 1)[0].strip().lower()
        if mime in HTML_TYPES:
            return True
        if mime and mime not in ("application/octet-stream", "text/plain", "unknown", "binary/octet-stream"):
            return False  # a definite non-HTML type: image/png, application/pdf, ...
    return None


def sniff_html(payload: bytes) -> bool:
    """Whether the payload starts like an HTML document (doctype, <html>, <head> or <body>)."""
    return bool(_HTML_START.match(payload[:2048].lstrip(b"\xef\xbb\xbf")))


def charset_of(content_type: str) -> str | None:
    """The `charset=` parameter of a Content-Type header, if it names a codec Python knows."""
    m = re.search(r"charset\s*=\s*[\"']?([\w:.\-]+)", content_type or "", re.IGNORECASE)
    return _known_codec(m.group(1)) if m else None


def _known_codec(name: str | bytes) -> str | None:
    if isinstance(name, bytes):
        name = name.decode("ascii", "ignore")
    try:
        return codecs.lookup(name.strip()).name
    except LookupError:
        return None


def decode_html(payload: bytes, content_type: str = "") -> tuple[str, str]:
    """Decode an HTML payload: declared charset (HTTP, then <meta>), then detection, then replacement.

    A declared charset that fails on a few stray bytes (at most 1% of the text) still wins, with
    those bytes replaced by U+FFFD. Returns `(text, how)`: the codec used, suffixed with `+replace`
    when undecodable bytes were replaced.
    """
    m = _META_CHARSET.search(payload[:4096])
    declared = [c for c in (charset_of(content_type), _known_codec(m.group(1)) if m else None) if c]
    for codec in [*declared, "utf-8"]:
        try:
            return payload.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    for codec in declared:
        text = payload.decode(codec, errors="replace")
        if text.count("\ufffd") <= len(text) // 100:
            return text, codec + "+replace"
    from charset_normalizer import from_bytes

    best = from_bytes(payload[:65536]).best()
    codec = _known_codec(best.encoding) if best is not None and best.encoding else None
    if codec:
        text = payload.decode(codec, errors="replace")
        return text, codec if "\ufffd" not in text else codec + "+replace"
    return payload.decode("utf-8", errors="replace"), "utf-8+replace"


def read_payload(record, limit: int) -> bytes | None:
    """The record's HTTP payload, de-chunked and decompressed, or None if it exceeds `limit` bytes.

    Reads and inflates in 64 KB steps with a bounded output size, so neither a huge page nor a
    gzip bomb (a small body that inflates to gigabytes) ever occupies more than about `limit`.
    """
    from warcio.bufferedreaders import ChunkedDataReader

    headers = record.http_headers
    stream = record.raw_stream
    if (headers.get_header("Transfer-Encoding") or "").lower().strip() == "chunked":
        stream = ChunkedDataReader(stream)
    encoding = (headers.get_header("Content-Encoding") or "identity").lower().strip()
    if encoding in ("gzip", "x-gzip", "deflate"):
        inflater = zlib.decompressobj(47)  # 32 + 15: accepts gzip and zlib headers
    elif encoding in ("identity", "none", ""):
        inflater = None
    else:
        raise ValueError(f"content-encoding {encoding}")
    chunks, size = [], 0
    while True:
        data = stream.read(1 << 16)
        if not data:
            break
        while data:
            if inflater is None:
                out, data = data, b""
            else:
                out = inflater.decompress(data, limit + 1 - size)
                data = inflater.unconsumed_tail
            chunks.append(out)
            size += len(out)
            if size > limit:
                return None
            if inflater is not None and inflater.eof:
                data = b""
    if getattr(record.raw_stream, "limit", 0) > 0:  # EOF before the record's Content-Length: cut off
        raise EOFError(f"truncated, {record.raw_stream.limit} bytes missing")
    return b"".join(chunks)


def _http_status(record) -> int | None:
    """The HTTP status code, or None when the HTTP header block is not a valid response head."""
    headers = record.http_headers
    if headers is None or not (headers.protocol or "").upper().startswith("HTTP/"):
        return None
    code = (headers.get_statuscode() or "").strip()
    return int(code) if code.isdigit() and len(code) == 3 else None


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


class _SourceDamage(Exception):
    """warcio failed while parsing the source: whatever it raised is the `__cause__`."""


def _archive_records(stream):
    """warcio's records from `stream`, and the iterator (whose `cut` says, at the end, if the source
    ended inside a record that was never yielded).

    A damaged source makes warcio raise many kinds of exceptions (EOFError, ArchiveLoadFailed, and
    AttributeError or ValueError from a half-read header block); each becomes a _SourceDamage.
    """
    from warcio.archiveiterator import ArchiveIterator

    class Records(ArchiveIterator):
        cut: str | None = None  # set when the source ends inside a record warcio did not yield

        def _next_record(self, next_line):
            try:
                return super()._next_record(next_line)
            except EOFError:
                # warcio takes this for the end of the file; after a record's first line it means
                # that record's header block was cut off
                if next_line:
                    self.cut = "a record's header block is cut off"
                raise

        def close(self):
            # a gzip member that never reached its end: the source was cut inside its last record
            # (its trailing blank lines or gzip trailer included, which no record stream sees)
            reader = self.reader
            decompressor = reader.decompressor if reader else None
            if decompressor and not decompressor.eof and reader.num_read:
                self.cut = self.cut or "the last gzip member is cut off"
            super().close()

    archive = Records(stream)

    def records():
        it = iter(archive)
        while True:
            try:
                record = next(it)
            except StopIteration:
                return
            except Exception as e:  # whatever warcio raises on damaged input: counted by the caller
                raise _SourceDamage(str(e).strip() or type(e).__name__) from e
            yield record

    return archive, records()


def _at_end(archive, stream) -> bool:
    """Whether nothing of the source is left unread: damage found there means the source is cut off."""
    try:
        return not (archive.reader and archive.reader.rem_length()) and not stream.read(1)
    except (OSError, ValueError, http.client.HTTPException):
        return True


def _cut_off(record) -> str | None:
    """Read what is left of a record; what is wrong with its length, or None if it is whole."""
    stream = record.raw_stream
    try:
        while stream.read(1 << 16):
            pass
    except (OSError, EOFError, zlib.error, ValueError, http.client.HTTPException) as e:
        return f"is cut off ({type(e).__name__})"
    if record.length is None:  # a header block cut before its Content-Length (which WARC requires)
        return "has no Content-Length"
    if getattr(stream, "limit", 0) > 0:
        return f"is cut off, {stream.limit} bytes missing"
    return None


def crawl_shard(task: dict) -> dict:
    """Read one WARC source; write its pages parts (`out`-NNNNN.parquet, `pages_per_part` pages each)
    and its rejected part. Returns counters for the stage and `parts`, the pages parts in order.

    Damage (a cut-off record of any type, a record warcio cannot parse, a file that is not a WARC)
    is counted once per kind in `source_errors`, with a detail line; the records read before it are
    kept, and a parse failure ends the source.
    """
    from warcio.exceptions import ArchiveLoadFailed

    source, max_bytes = task["source"], task["max_record_bytes"]
    start = time.perf_counter()
    records: Counter = Counter()
    removed: Counter = Counter()
    errors: Counter = Counter()  # at most 1 per kind: a count of damaged sources once merged
    details: list[str] = []
    n_pages = 0

    def damaged(kind: str, detail: str) -> None:
        errors[kind] = 1
        details.append(f"{kind}: {detail.strip()[:200]}")

    with (
        _PageParts(task["out"], task["pages_per_part"]) as pages,
        ParquetPartWriter(task["rejected"], schema=REJECTED_SCHEMA) as rejected,
    ):

        def reject(row: dict, reason: str) -> None:
            rejected.write([{**row, "html": None, "reason": reason}])
            removed[reason.split(" ", 1)[0]] += 1

        def crawl_response(record, record_id: str) -> None:
            nonlocal n_pages
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
                return reject(row, "crawl:not_http")
            status = _http_status(record)
            if status is None:
                head = record.http_headers
                first = f"{head.protocol} {head.statusline}".strip() if head else "none"
                return reject(row, f"crawl:bad_http_headers {first[:60]!r}")
            row["status"] = status
            identified = headers.get_header("WARC-Identified-Payload-Type") or ""
            html_type = declared_html(http_type or "", identified)
            if html_type is False:  # decided from the headers: the payload is never read
                return reject(row, f"crawl:not_html {(http_type or identified).split(';')[0].strip()}")
            try:
                payload = read_payload(record, max_bytes)
            except EOFError:
                return reject(row, "crawl:truncated_record 1")  # counted as a source error by the caller
            except (OSError, zlib.error, ValueError) as e:
                return reject(row, f"crawl:bad_payload {str(e)[:60] or type(e).__name__}")
            if payload is None:
                return reject(row, f"crawl:too_large >{max_bytes}")
            if not payload.strip():
                return reject(row, "crawl:empty 0")
            if b"\x00" in payload[:4096]:
                return reject(row, "crawl:binary NUL")
            if html_type is None and not sniff_html(payload):
                return reject(row, "crawl:not_html sniffed")
            row["html"], row["charset"] = decode_html(payload, http_type or "")
            pages.write(row)
            n_pages += 1

        stream = _open_source(source)
        archive, archive_records = _archive_records(stream)
        try:
            for record in archive_records:
                if record.format != "warc":  # warcio also reads ARC, which takes many a text line
                    raise _SourceDamage(f"not a WARC record (looks like {record.format.upper()})")
                records[record.rec_type] += 1
                record_id = (
                    record.rec_headers.get_header("WARC-Record-ID") or f"{source}#{records['response']}"
                )
                if record.rec_type == "response":
                    crawl_response(record, record_id)
                # every record is read to its end here (warcio would do it anyway), so a cut-off
                # request or metadata record is noticed as surely as a cut-off response
                if problem := _cut_off(record):
                    kind = "truncated" if _at_end(archive, stream) else "bad_record"
                    damaged(kind, f"{record.rec_type or 'untyped'} record {record_id} {problem}")
            if archive.cut and not errors:  # not noticed in a record already
                damaged("truncated", archive.cut)
        except _SourceDamage as e:
            if not records.total() and (e.__cause__ is None or isinstance(e.__cause__, ArchiveLoadFailed)):
                damaged("not_warc", str(e))
            else:
                kind = "truncated" if _at_end(archive, stream) else "bad_record"
                cause = f"{type(e.__cause__).__name__}: " if e.__cause__ is not None else ""
                damaged(kind, f"{cause}{e} (after {records.total()} records)")
        except (OSError, EOFError, zlib.error, http.client.HTTPException, ValueError) as e:
            # a cut-off download or a damaged gzip member while reading a record's payload
            damaged("truncated", f"{type(e).__name__}: {e}")
        finally:
            stream.close()
    if not records.total() and not errors:
        errors["empty"] += 1
    return {
        "counts": {
            "records": dict(records),
            "in": records["response"],
            "out": n_pages,
            "removed": dict(removed),
            "source_errors": dict(errors),
        },
        "source": source,
        "parts": pages.paths,
        "errors": sorted(errors),
        "details": details,
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
) -> dict:
    """Crawl WARC sources into a `pages` artifact at `out_dir`; returns the manifest stats.

    `inputs`: local WARC/WARC.gz paths, folders, globs and http(s) URLs. `max_record_bytes` caps the
    payload bytes read per record. A source's pages are split into parts of `pages_per_part`, so
    the later stages run one big WARC on several workers; parts are numbered in source order.
    Exits with a UserError when no source yielded any record.
    """
    if max_record_bytes < 1:
        raise UserError(f"--max-record-bytes must be greater than 0 (got {max_record_bytes})")
    if pages_per_part < 1:
        raise UserError(f"--pages-per-part must be greater than 0 (got {pages_per_part})")
    sources = resolve_sources(inputs, cc_crawl, cc_files, cc_base_url)
    config = {**(config or {}), "sources": sources, "pages_per_part": pages_per_part}
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
        stats = {
            "funnel": funnel(["crawl"], counts.get("in", 0), removed),
            "removed": removed,
            "records": counts.get("records", {}),
            "source_errors": counts.get("source_errors", {}),
            "sources_with_errors": {r["source"]: r["details"] or r["errors"] for r in results if r["errors"]},
            "pages": counts.get("out", 0),
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
    return stats
