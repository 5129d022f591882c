"""`llmkit extract`: `pages` → `docs` with one of three main-text extractors.

- `trafilatura` (default): precision mode without comments, as FineWeb did
  (`Trafilatura(favour_precision=True)`).
- `trafilatura-fast`: the same without trafilatura's fallback extractors (its `fast=True`): fewer
  passes over each page, a little less text recovered on odd layouts.
- `resiliparse`: Resiliparse's `extract_plain_text(main_content=True)`, DCLM's extractor: C++, an
  order of magnitude faster per page; it keeps somewhat more boilerplate than trafilatura, which
  the quality filters then see. The manifest records which extractor made the text.

Each page gets a CPU-time limit enforced with a SIGPROF interval timer in the worker process: the
handler raises inside trafilatura's Python code, so a pathological page is abandoned and rejected
as `extract:timeout` instead of stalling its worker. (A single C-level lxml call cannot be
interrupted mid-call, but crawl's per-record byte cap bounds how long any one such call can take.)
"""

from __future__ import annotations

import signal
import threading
from contextlib import contextmanager
from pathlib import Path

import pyarrow as pa

from llmkit.data.shards import run_docs_stage, split_part
from llmkit.errors import UserError

# CPU seconds per page. datatrove's extractor allows 1 s of wall-clock time; CPU time does not grow
# when other processes share the machine, so the same pages time out on every run (re-runs stay
# identical), and 5 s leaves room for slower CPUs while still cutting off a pathological page.
DEFAULT_TIMEOUT_S = 5.0
EXTRACTORS = ("trafilatura", "trafilatura-fast", "resiliparse")


class ExtractionTimeout(BaseException):
    """Raised by the SIGPROF handler when one page uses more CPU time than the limit.

    A BaseException, as KeyboardInterrupt is: trafilatura catches `Exception` around some of its
    steps, which would swallow the timeout and let the page run on to the end."""


@contextmanager
def time_limit(seconds: float):
    """Raise ExtractionTimeout in this thread after `seconds` of CPU time (0 = no limit).

    Uses setitimer(ITIMER_PROF) (this process's user + system CPU time) and its SIGPROF, which a
    Python handler receives only in the main thread: that is where the local pool, `--workers 1`
    and Ray run tasks. Elsewhere the page runs without a limit.
    """
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_timer(signum, frame):
        raise ExtractionTimeout

    previous = signal.signal(signal.SIGPROF, on_timer)
    # then again every 50 ms, in case the first one lands where it cannot stop the page
    signal.setitimer(signal.ITIMER_PROF, seconds, 0.05)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _trafilatura(html: str, url: str | None, fast: bool) -> str | None:
    import trafilatura

    return trafilatura.extract(
        html,
        url=url,
        fast=fast,
        favor_precision=True,
        include_comments=False,
        # trafilatura's deduplicate=True (datatrove's default) drops text blocks seen in earlier
        # pages of the same process: output would depend on shard order, and a page repeating its
        # own paragraphs would be cleaned up instead of reaching the Gopher repetition filter.
        # Cross-page duplicates are `llmkit dedup`'s job.
        deduplicate=False,
    )


def _resiliparse(html: str) -> str:
    from resiliparse.extract.html2text import extract_plain_text

    # DCLM's settings: main content only, no alt texts or link targets in the text
    return extract_plain_text(html, main_content=True, alt_texts=False, links=False)


def extract_text(
    html: str,
    url: str | None = None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    extractor: str = "trafilatura",
) -> tuple[str | None, str | None]:
    """Main text of one HTML page: `(text, None)`, or `(None, reason)` when there is none.

    Reasons: `extract:empty 0` (nothing extracted), `extract:timeout <s>`, `extract:error <Type>`.
    """
    try:
        with time_limit(timeout_s):
            if extractor == "resiliparse":
                text = _resiliparse(html)
            else:
                text = _trafilatura(html, url, fast=extractor == "trafilatura-fast")
    except ExtractionTimeout:
        return None, f"extract:timeout {timeout_s:g}"
    except RecursionError:
        return None, "extract:error RecursionError"
    except (ValueError, TypeError, AttributeError, IndexError, KeyError, UnicodeError) as e:
        # trafilatura/lxml give up on some malformed markup with these; count them, keep going
        return None, f"extract:error {type(e).__name__}"
    text = (text or "").strip()
    if not text:
        return None, "extract:empty 0"
    return text, None


def extract_shard(task: dict) -> dict:
    """Extract one pages part into a docs part (and its rejected part)."""
    timeout_s = task["config"]["timeout"]
    extractor = task["config"].get("extractor", "trafilatura")

    def extract_row(row: dict) -> tuple[dict, str | None]:
        html = row.pop("html", None)
        if not html:
            row["text"] = None
            return row, "extract:empty 0"
        text, reason = extract_text(html, row.get("url"), timeout_s, extractor)
        row["text"] = text
        return row, reason

    # html is dropped (docs carry text); the other page columns are carried through as metadata
    # pages can be up to --max-record-bytes each: read them 64 at a time
    return split_part(task, extract_row, added_columns={"text": pa.string()}, drop=("html",), batch_size=64)


def run_extract(
    inputs: list[str | Path],
    out_dir: str | Path,
    config: dict | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT_S,
    extractor: str = "trafilatura",
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    force: bool = False,
    max_reject_fraction: float = 1.0,
    allow_empty: bool = False,
) -> dict:
    """Extract main text from `pages` artifacts into a `docs` artifact; returns the manifest stats.

    `timeout` is the per-page limit in seconds (0 disables it); `extractor` is one of EXTRACTORS.
    """
    if timeout < 0:
        raise UserError(f"--timeout must be 0 (no limit) or more (got {timeout})")
    if extractor not in EXTRACTORS:
        raise UserError(f"unknown --extractor {extractor!r}: choose one of {', '.join(EXTRACTORS)}")
    config = {**(config or {}), "timeout": timeout, "extractor": extractor}
    return run_docs_stage(
        inputs,
        out_dir,
        stage="extract",
        shard_fn=extract_shard,
        config=config,
        steps=["extract"],
        input_kinds=("pages",),
        required_columns=("id", "url", "html"),
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        force=force,
        max_reject_fraction=max_reject_fraction,
        allow_empty=allow_empty,
    )
