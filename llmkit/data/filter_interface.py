"""The one interface every filter of `llmkit filter` shares (`Filter`, its settings), and the format
of the measured values in removal reasons.

It sits below the filter modules (`filters.py`: the chain, URL and language; `quality.py`: the text
quality rules), so each imports it and `filters.py` can list them all without an import cycle.
"""

from __future__ import annotations

from dataclasses import Field, field, fields
from typing import ClassVar


class Filter:
    """What every filter is: a dataclass whose fields are its settings, plus `check`.

    - `name` names it in --filters, in reasons and in the manifest ("gopher_quality").
    - Each dataclass field is a setting declared with `setting(default, help)`. `llmkit filter`
      makes one option of each, so a threshold's default and help live only here, next to the rule
      that uses it, and a new filter is one class (listed in FILTERS) with no CLI change.
    - `columns` are the signal columns it writes to a document, as {name: Arrow type name}.
    - `check(doc)` returns None to keep the document, or why it is removed ("word_count 6").
    - `annotate(doc)` fills its columns for a document an earlier filter removed; by default they
      stay null.
    """

    name: ClassVar[str]
    columns: ClassVar[dict[str, str]] = {}

    def check(self, doc: dict) -> str | None:
        raise NotImplementedError

    def annotate(self, doc: dict) -> None:
        pass


def setting(default, help: str, *, flag: str | None = None, file: bool = False):
    """A filter setting: a dataclass field with its `default` and the `help` its CLI option shows.
    `flag` is the option's name where it differs from the field's; `file` marks a path to a file."""
    return field(default=default, metadata={"help": help, "flag": flag, "file": file})


def settings_of(cls: type[Filter]) -> tuple[Field, ...]:
    """A filter class's settings (its dataclass fields), in declaration order."""
    return fields(cls)


def _fmt(value: float, threshold: float | None = None) -> str:
    """A measured value for a reason string: 3 decimals, no trailing zeros, and as many more decimals
    as it takes to print on the same side of the `threshold` it failed as the value itself (0.6496
    against 0.65 prints as 0.6496: as 0.65 it would read as passing)."""
    if not isinstance(value, float):
        return str(value)
    for decimals in range(3, 10):
        text = f"{value:.{decimals}f}"
        if threshold is None or value == threshold or (float(text) - threshold) * (value - threshold) > 0:
            break
    return text.rstrip("0").rstrip(".")
