"""Where `llmkit crawl` reads WARC files from: local paths, folders and globs, http(s) URLs, and the
WARC listing of a Common Crawl crawl. Only http:// and https:// are ever fetched (redirects
included), and a source that cannot be found or reached is a UserError before any work starts.
"""

from __future__ import annotations

import glob
import gzip
import http.client
import re
import urllib.error
import urllib.parse
import urllib.request
import zlib
from pathlib import Path

from llmkit.errors import UserError

DEFAULT_CC_BASE_URL = "https://data.commoncrawl.org"
ARCHIVE_SUFFIXES = (".warc", ".warc.gz", ".arc", ".arc.gz")  # what a folder given to crawl is read for
HTTP_TIMEOUT_S = 60
CC_CRAWL_ID = re.compile(r"^CC-MAIN-\d{4}-\d{2}$")
# scheme://... : an input that names a URL scheme; only http(s) is read (no file://, ftp://, data:...)
_URL_SCHEME = re.compile(r"^([a-zA-Z][a-zA-Z0-9+.\-]*)://")


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
            found = sorted(str(p) for p in Path(item).iterdir() if p.name.endswith(ARCHIVE_SUFFIXES))
            if not found:
                raise UserError(f"{item} contains no .warc, .warc.gz, .arc or .arc.gz files")
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


def open_source(source: str):
    """A WARC source opened for reading: a streaming HTTP response or a local file."""
    if source.startswith(("http://", "https://")):
        return open_url(source)
    try:
        return open(source, "rb")
    except OSError as e:
        raise UserError(f"cannot read {source}: {e.strerror or e}") from e
