"""The loud funnel: a source that loses all (or too many) of its records is said out loud.

A data stage that quietly turns a whole WARC file, input file or crawl source into rejected rows
looks like a success in a script or a Makefile. So every data stage counts its records per source
(a WARC file, an input file, or a document's `source` column), and a source that keeps nothing, or
loses more than `max_reject_fraction` of what it read, gets one warning line on stderr naming it and
its top reason. The stage still writes its output (rejected/ says why each record went) and then
ends with `SourcesLost`, exit status 3, unless the user passed `--allow-empty`.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.markup import escape

from llmkit.errors import SourcesLost, UserError

DEFAULT_MAX_REJECT_FRACTION = 1.0  # only a source that keeps nothing is loud, unless the user says less


def check_fraction(value: float) -> None:
    if not 0 <= value <= 1:
        raise UserError(f"--max-reject-fraction must be between 0 and 1 (got {value})")


def lost_sources(per_source: Mapping[str, Mapping], max_reject_fraction: float) -> list[dict]:
    """The sources that kept nothing, or lost more than `max_reject_fraction` of their records.

    `per_source` maps a source to `{"in": n, "out": n, "removed": {reason: n}}` and, where a source
    can fail as a whole (a file that is not a WARC), `"errors": {kind: 1}`. Each lost source comes
    back as `{"source", "in", "out", "top_reason"}`, in the order given.
    """
    lost = []
    for source, c in per_source.items():
        n_in, n_out = c.get("in", 0), c.get("out", 0)
        too_many = n_in > 0 and (n_in - n_out) / n_in > max_reject_fraction
        if n_out and not too_many:
            continue
        removed = sorted(c.get("removed", {}).items(), key=lambda kv: (-kv[1], kv[0]))
        if removed:
            top = f"{removed[0][0]} {removed[0][1]:,}"
        elif c.get("errors"):
            top = "/".join(sorted(c["errors"]))
        else:
            top = "no records"
        lost.append({"source": source, "in": n_in, "out": n_out, "top_reason": top})
    return lost


def warning_line(stage: str, loss: dict, unit: str) -> str:
    """'crawl: a.warc.gz lost all 12 records (top reason: crawl:bad_payload 12)'."""
    n_in, n_out = loss["in"], loss["out"]
    if n_out == 0:
        what = f"lost all {n_in:,} {unit}" if n_in else f"gave no {unit}"
    else:
        what = f"lost {n_in - n_out:,} of {n_in:,} {unit} ({(n_in - n_out) / n_in:.0%})"
    return f"{stage}: {loss['source']} {what} (top reason: {loss['top_reason']})"


def report_lost(lost: list[dict], stage: str, out_dir, unit: str, allow_empty: bool) -> None:
    """Print one warning line per lost source on stderr; raise SourcesLost (exit 3) unless
    `allow_empty`. Called after the stage committed its output, which stays for inspection."""
    if not lost:
        return
    console = Console(stderr=True, soft_wrap=True)
    for loss in lost:
        console.print(f"[bold yellow]warning:[/] {escape(warning_line(stage, loss, unit))}", highlight=False)
    if not allow_empty:
        raise SourcesLost(
            f"{stage}: {len(lost)} source{'s' if len(lost) > 1 else ''} lost all or too many {unit} "
            f"(warnings above); {out_dir} is written for inspection (see its rejected/); "
            "pass --allow-empty to accept this"
        )
