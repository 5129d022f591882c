"""`llmkit scrub`: replace personal data in `docs` with stable placeholders.

Replaced, in this order (so a card number is never half-read as a phone number): e-mail addresses
→ `<EMAIL>`, card-like numbers that pass a Luhn check → `<CARD>`, public IPv4 and IPv6 addresses
→ `<IP>` (private, loopback, link-local and documentation ranges are left alone, as FineWeb did),
and phone numbers → `<PHONE>`. Placeholders are fixed strings, so the same input always gives the
same output and a tokenizer sees one token pattern per type. `max_pii` drops documents with more
hits than that to `rejected/` (`pii:count 14`).
"""

from __future__ import annotations

import ipaddress
import re
from collections import Counter
from pathlib import Path

import pyarrow as pa

from llmkit.data.shards import run_docs_stage, split_part
from llmkit.errors import UserError

PLACEHOLDERS = {"email": "<EMAIL>", "card": "<CARD>", "ip": "<IP>", "phone": "<PHONE>"}

EMAIL = re.compile(r"\b[A-Za-z0-9._%+\-]+@(?:[A-Za-z0-9\-]+\.)+[A-Za-z]{2,}\b")
# 13-19 digits, optionally grouped by single spaces or dashes (4-4-4-4, 4-6-5, ...); never after a
# `+`, which starts an international phone number
CARD = re.compile(r"(?<![\d\-+])\d(?:[ \-]?\d){12,18}(?![\d\-])")
# not inside a longer dotted number (1.2.3.4.5 is a version), but a sentence's full stop may follow
IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?!\.?\d)")
DOTTED_QUAD = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
IPV6 = re.compile(r"(?<![0-9A-Fa-f:])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
# A whole number-like token: an optional +, digit groups joined by one space, dot or dash, and
# parenthesised groups such as (555) or the (0) trunk of "+44 (0)20 ...". It never starts inside a
# word, number, price or code (ORD-2024-..., v1.2.3, $1 299) and never stops short of a longer
# token, so a phone number is replaced whole (trunk and country code included) or not at all, and
# `_is_phone` decides on the whole token.
PHONE = re.compile(
    r"(?<![\w.\-/#$€£+,:])(?<!\d )"
    r"(?:\+ ?)?(?:\(\d{1,4}\) ?)?\d+(?:(?:[ .\-]| ?\(\d{1,4}\) ?)\d+)*"
    r"(?![\w\-/:]|[ .,\-]\d| ?[€$£%])"
)
_DATE = re.compile(r"\d{4}[.\-]\d{1,2}[.\-]\d{1,2}|\d{1,2}[.\-]\d{1,2}[.\-]\d{4}")


def luhn_ok(digits: str) -> bool:
    """The Luhn checksum every payment card number satisfies."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2 == 1:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def _public_ip(candidate: str) -> bool:
    try:
        return ipaddress.ip_address(candidate).is_global
    except ValueError:
        return False


def _public_ipv6(candidate: str) -> bool:
    # at least 3 hex groups: "a::b" or "dead::beef" in code and prose are valid IPv6 but rarely addresses
    return sum(1 for g in candidate.split(":") if g) >= 3 and _public_ip(candidate)


def _is_card(candidate: str) -> bool:
    digits = re.sub(r"\D", "", candidate)
    return 13 <= len(digits) <= 19 and luhn_ok(digits) and len(set(digits)) > 1


def _is_phone(candidate: str) -> bool:
    """Whether a whole number-like token (see PHONE) is a phone number.

    - International (`+49 30 755318`, `+33 1 42 68 53 00`): 8-15 digits (ITU E.164).
    - With a parenthesised area code or trunk (`(555) 123-4567`, `(0)20 7946 0958`): 7-15 digits in
      3+ groups.
    - National (`1-800-273-8255`, `020 7946 0958`, `01 42 68 53 00`, `07700 900 123`): 9-15 digits
      in 3+ groups of 2-4 digits, one kind of separator throughout; the first group may be a 1-digit
      trunk or, after a 0 trunk, 5 digits; the last has 3+ digits unless all groups have 2.

    Left alone: dates, versions, ISBNs (a 1-digit or 5+-digit group in the middle), prices and
    counts with thousands separators (every group after the first has 3 digits, and the first does
    not start with a 0 trunk), runs of 4-digit numbers (years, rows, order numbers) and dotted quads
    (IPv4 addresses; a private one is left alone)."""
    if DOTTED_QUAD.fullmatch(candidate) or _DATE.search(candidate):
        return False
    groups = re.findall(r"\d+", candidate)
    digits = sum(map(len, groups))
    if candidate.startswith("+"):
        return 8 <= digits <= 15
    if "(" in candidate:
        return 7 <= digits <= 15 and len(groups) >= 3
    separators = set(re.findall(r"[ .\-]", candidate))
    first, rest = groups[0], groups[1:]
    return (
        9 <= digits <= 15
        and len(groups) >= 3
        and len(separators) == 1
        and all(2 <= len(g) <= 4 for g in rest)
        and (len(first) <= 4 or (first.startswith("0") and len(first) == 5))
        and (len(rest[-1]) >= 3 or all(len(g) == 2 for g in groups))
        and not (all(len(g) == 3 for g in rest) and not first.startswith("0"))  # 1 299 999 999
        and not all(len(g) == 4 for g in groups)  # 2019 2020 2021, order numbers in 4-digit blocks
    )


def scrub_text(text: str) -> tuple[str, Counter]:
    """Replace PII in `text` with placeholders; returns the new text and the hits per type."""
    hits: Counter = Counter()

    def replace(pattern: re.Pattern, kind: str, accept, text: str) -> str:
        def sub(m: re.Match) -> str:
            if accept(m.group(0)):
                hits[kind] += 1
                return PLACEHOLDERS[kind]
            return m.group(0)

        return pattern.sub(sub, text)

    text = replace(EMAIL, "email", lambda s: True, text)
    text = replace(CARD, "card", _is_card, text)
    text = replace(IPV4, "ip", _public_ip, text)
    if ":" in text:
        text = replace(IPV6, "ip", _public_ipv6, text)
    text = replace(PHONE, "phone", _is_phone, text)
    return text, hits


def scrub_shard(task: dict) -> dict:
    """Scrub one docs part; documents over `max_pii` hits go to rejected/."""
    max_pii = task["config"]["max_pii"]
    hits_by_type: Counter = Counter()

    def scrub_row(row: dict) -> tuple[dict, str | None]:
        row["text"], hits = scrub_text(row.get("text") or "")
        row["pii_count"] = n = sum(hits.values())
        hits_by_type.update(hits)
        if max_pii is not None and n > max_pii:
            return row, f"pii:count {n}"
        return row, None

    result = split_part(task, scrub_row, added_columns={"pii_count": pa.int64()})
    result["counts"]["pii"] = dict(hits_by_type)
    return result


def run_scrub(
    inputs: list[str | Path],
    out_dir: str | Path,
    config: dict | None = None,
    *,
    max_pii: int | None = None,
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    force: bool = False,
    max_reject_fraction: float = 1.0,
    allow_empty: bool = False,
) -> dict:
    """Replace PII in `docs` artifacts, writing a `docs` artifact; returns the manifest stats.

    Stats add `pii`: replacements per type (email, card, ip, phone). `max_pii` (None: no limit)
    moves documents with more replacements than that to rejected/.
    """
    if max_pii is not None and max_pii < 0:
        raise UserError(f"--max-pii must be 0 or more (got {max_pii})")
    config = {**(config or {}), "max_pii": max_pii}
    return run_docs_stage(
        inputs,
        out_dir,
        stage="scrub",
        shard_fn=scrub_shard,
        config=config,
        steps=["pii"],
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        force=force,
        max_reject_fraction=max_reject_fraction,
        allow_empty=allow_empty,
        extra_stats=lambda results: {"pii": _merged(r["counts"].get("pii", {}) for r in results)},
    )


def _merged(counters) -> dict:
    total: Counter = Counter()
    for c in counters:
        total.update(c)
    return {k: total.get(k, 0) for k in PLACEHOLDERS}
