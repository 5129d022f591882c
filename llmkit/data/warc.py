"""Reading WARC records without trusting them, for `llmkit crawl`.

- Payloads: a response's HTTP payload is de-chunked and inflated (gzip, deflate, brotli) in bounded
  steps (`read_payload`), so neither a huge page nor a gzip bomb can take a worker's memory; a body
  stored already decoded under its original Content-Encoding header is kept as it is, and counted.
- HTML: whether a payload is HTML (its declared types, else a sniff of its first bytes), and its
  text decoded with the declared charset, then detection, then replacement characters.
- Damage: whatever warcio raises on a cut-off or corrupt source becomes one `SourceDamage`, and a
  record that ends early is told apart from a source that ends early.
"""

from __future__ import annotations

import codecs
import http.client
import importlib
import re
import sys
import zlib
from collections import Counter

HTML_TYPES = ("text/html", "application/xhtml+xml")
_META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([a-zA-Z0-9_:.\-]+)""", re.IGNORECASE)
_HTML_START = re.compile(
    rb"^\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)\b", re.IGNORECASE | re.DOTALL
)


# --------------------------------------------------------------------------------------- html


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


# --------------------------------------------------------------------------------------- records


class _Inflater:
    """Undoes an HTTP Content-Encoding (gzip, deflate, br) with a bound on each step's output.

    Archives often store a body that their crawler already decoded under the original
    `Content-Encoding: gzip` header. So, as warcio's own reader does, a body whose first bytes cannot
    be decoded (no gzip magic, or the decoder fails before producing anything) is kept as it is and
    the record is counted as a `content_encoding_mismatch`.
    """

    def __init__(self, encoding: str):
        self.encoding = encoding
        self.mismatch = False
        self.pending = False  # decoded output is held back: call `feed` again, even without input
        self._decoder = None  # made from the first bytes, when the body's real format is known
        self._started = False

    def _start(self, first: bytes):
        if self.encoding == "br":
            import brotli

            return brotli.Decompressor()
        if first.startswith(b"\x1f\x8b"):
            return zlib.decompressobj(31)
        if len(first) > 1 and first[0] & 0x0F == 8 and (first[0] << 8 | first[1]) % 31 == 0:
            return zlib.decompressobj(15)  # a zlib stream, what "deflate" means in RFC 9110
        if self.encoding == "deflate":
            return zlib.decompressobj(-15)  # the raw deflate some servers send instead
        return None  # "gzip" over bytes that are no gzip stream: already decoded

    def feed(self, data: bytes, room: int) -> tuple[bytes, bytes]:
        """(decoded output of at most about `room` bytes, input left over for the next call)."""
        if not self._started:
            self._started = True
            self._decoder = self._start(data)
            if self._decoder is None:
                self.mismatch = True
                return data, b""
            try:  # the first bytes decide: decoded, or never encoded
                return self._step(data, room)
            except Exception:  # zlib.error / brotli.error on the first bytes: never encoded
                if data.startswith(b"\x1f\x8b"):
                    raise  # a real gzip stream, damaged: a bad payload, not a mismatch
                self.mismatch, self._decoder = True, None
                return data, b""
        if self._decoder is None:
            return data, b""
        return self._step(data, room)

    def _step(self, data: bytes, room: int) -> tuple[bytes, bytes]:
        decoder = self._decoder
        limit = min(room + 1, 1 << 20)  # at most 1 MB of output a call: peak memory stays near `room`
        if isinstance(decoder, _ZLIB):
            if decoder.eof:
                return b"", b""  # bytes after the stream's end are ignored, as browsers do
            return decoder.decompress(data, limit), decoder.unconsumed_tail
        # brotli takes all the input, but holds back output past the limit (which one call may
        # overshoot) and takes no more input until empty calls have drained it
        if self.pending:
            out, left = decoder.process(b"", output_buffer_limit=limit), data
        else:
            out, left = decoder.process(data, output_buffer_limit=limit), b""
        self.pending = not decoder.can_accept_more_data()
        return out, left


_ZLIB = type(zlib.decompressobj())


def read_payload(record, limit: int) -> tuple[bytes | None, bool]:
    """The record's HTTP payload, de-chunked and decoded, or None if it exceeds `limit` bytes; and
    whether its Content-Encoding did not match its bytes (the body was kept as it is).

    Reads and inflates in 64 KB steps with a bounded output size, so neither a huge page nor a
    gzip bomb (a small body that inflates to gigabytes) ever occupies more than about `limit`.
    """
    from warcio.bufferedreaders import ChunkedDataReader

    headers = record.http_headers
    stream = record.raw_stream
    if (headers.get_header("Transfer-Encoding") or "").lower().strip() == "chunked":
        stream = ChunkedDataReader(stream)
    encoding = (headers.get_header("Content-Encoding") or "identity").lower().strip()
    if encoding in ("gzip", "x-gzip"):
        inflater = _Inflater("gzip")
    elif encoding in ("deflate", "br"):
        inflater = _Inflater(encoding)
    elif encoding in ("identity", "none", ""):
        inflater = None
    else:
        raise ValueError(f"content-encoding {encoding}")
    chunks, size = [], 0
    while True:
        data = stream.read(1 << 16)
        if not data:
            break
        while data or (inflater is not None and inflater.pending):
            if inflater is None:
                out, data = data, b""
            else:
                out, data = inflater.feed(data, limit - size)
            chunks.append(out)
            size += len(out)
            if size > limit:
                return None, False
    if getattr(record.raw_stream, "limit", 0) > 0:  # EOF before the record's Content-Length: cut off
        raise EOFError(f"truncated, {record.raw_stream.limit} bytes missing")
    return b"".join(chunks), bool(inflater and inflater.mismatch)


def http_status(record) -> int | None:
    """The HTTP status code, or None when the HTTP header block is not a valid response head."""
    headers = record.http_headers
    if headers is None or not (headers.protocol or "").upper().startswith("HTTP/"):
        return None
    code = (headers.get_statuscode() or "").strip()
    return int(code) if code.isdigit() and len(code) == 3 else None


class SourceDamage(Exception):
    """warcio failed while parsing the source: whatever it raised is the `__cause__`."""


def archive_records(stream):
    """warcio's records from `stream`, and the iterator (whose `cut` says, at the end, if the source
    ended inside a record that was never yielded).

    A damaged source makes warcio raise many kinds of exceptions (EOFError, ArchiveLoadFailed, and
    AttributeError or ValueError from a half-read header block); each becomes a SourceDamage.
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
                raise SourceDamage(str(e).strip() or type(e).__name__) from e
            yield record

    return archive, records()


def at_end(archive, stream) -> bool:
    """Whether nothing of the source is left unread: damage found there means the source is cut off."""
    try:
        return not (archive.reader and archive.reader.rem_length()) and not stream.read(1)
    except (OSError, ValueError, http.client.HTTPException):
        return True


def cut_off(record) -> str | None:
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


def with_warc_headers(record, n: int):
    """An ARC record (the format before WARC) given the WARC headers the crawl reads: its URL, its
    date in WARC's ISO form, and a stable record id (ARC has none) from its place in the file."""
    headers = record.rec_headers
    url, date = headers.get_header("uri") or "", headers.get_header("archive-date") or ""
    if len(date) >= 14 and date[:14].isdigit():
        date = f"{date[:4]}-{date[4:6]}-{date[6:8]}T{date[8:10]}:{date[10:12]}:{date[12:14]}Z"
    headers.add_header("WARC-Target-URI", url)
    headers.add_header("WARC-Date", date or None)
    headers.add_header("WARC-Record-ID", f"<urn:arc:{n}:{url}>")
    return record


class _Sys:
    """`sys` as warcio's modules see it while a source is read: stderr goes to a collector."""

    def __init__(self, stderr):
        self.stderr = stderr

    def __getattr__(self, name):
        return getattr(sys, name)


class WarcioWarnings:
    """What warcio writes on stderr (multi-line warnings about records not followed by blank lines,
    gzip members it cannot inflate), counted by message instead of leaking around llmkit's output.

        with WarcioWarnings() as warnings:
            ...read records...
        warnings.counts  # {"Record not followed by newline, perhaps Content-Length is invalid": 2}
    """

    _MODULES = ("warcio.archiveiterator", "warcio.bufferedreaders")  # the two that write to stderr

    def __init__(self):
        self.counts: Counter = Counter()

    def write(self, text: str) -> int:
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        if first:
            self.counts[re.sub(r"^(WARNING|ERROR):\s*", "", first)[:120]] += 1
        return len(text)

    def flush(self) -> None:
        pass

    def __enter__(self) -> WarcioWarnings:
        modules = [importlib.import_module(m) for m in self._MODULES]
        self._saved = [(m, m.sys) for m in modules]
        for m in modules:
            m.sys = _Sys(self)
        return self

    def __exit__(self, *exc) -> None:
        for module, saved in self._saved:
            module.sys = saved

    def summary(self) -> str | None:
        """'warcio: 3 warnings (Record not followed by newline... 3)' or None."""
        if not self.counts:
            return None
        listed = "; ".join(f"{message} ×{n}" for message, n in self.counts.most_common(3))
        return f"warcio: {self.counts.total()} warning{'s' if self.counts.total() > 1 else ''} ({listed})"
