"""`llmkit import`: common chat, preference and prompt datasets (JSONL/JSON) into artifacts.

Each format is one small function `row -> record` that raises `BadRow(reason)` for a row it cannot
use; `run_import` applies it to every row, writes the good ones, and sends the bad ones to
`rejected/` (with the raw line, its line number and the reason) — a bad row never stops an import.

| format              | row                                                | artifact |
|---------------------|----------------------------------------------------|----------|
| `openai`            | `{"messages": [{"role", "content"}, ...]}`         | chat     |
| `sharegpt`          | `{"conversations": [{"from", "value"}, ...]}`      | chat     |
| `alpaca`            | `{"instruction", "input"?, "output"}`              | chat     |
| `prompt-completion` | `{"prompt", "completion"}`                         | chat     |
| `prefs`             | `{"prompt": messages or text, "chosen", "rejected"}` | prefs  |
| `hh-rlhf`           | `{"chosen", "rejected"}` transcripts with `\\n\\nHuman:` / `\\n\\nAssistant:` turns | prefs |
| `prompts`           | `{"prompt": messages or text, "answer"?}`          | prompts  |
| `gsm8k`             | `{"question", "answer": "... #### 42"}`            | prompts  |
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa

from llmkit.artifacts import ArtifactWriter
from llmkit.errors import UserError
from llmkit.parquet import ParquetPartWriter

ROLES = ("system", "user", "assistant")
MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
SCHEMAS = {
    "chat": pa.schema([("id", pa.string()), ("messages", MESSAGES)]),
    "prefs": pa.schema(
        [("id", pa.string()), ("prompt", MESSAGES), ("chosen", pa.string()), ("rejected", pa.string())]
    ),
    "prompts": pa.schema([("id", pa.string()), ("prompt", MESSAGES), ("answer", pa.string())]),
}
REJECTED_SCHEMA = pa.schema([("line", pa.int64()), ("raw", pa.string()), ("reason", pa.string())])


class BadRow(ValueError):
    """A row that cannot be imported; the message is the `reason` written to rejected/."""


# --------------------------------------------------------------------------------------- formats


def check_messages(messages, need_assistant: bool = True) -> list[dict]:
    """Validate a list of {role, content} messages; returns them with only those two keys."""
    if not isinstance(messages, list) or not messages:
        raise BadRow("messages:not_a_non_empty_list")
    out = []
    for m in messages:
        if not isinstance(m, dict) or not isinstance(m.get("content"), str):
            raise BadRow("messages:bad_message")
        if m.get("role") not in ROLES:
            raise BadRow(f"messages:bad_role {str(m.get('role'))[:20]}")
        out.append({"role": m["role"], "content": m["content"]})
    if need_assistant and not any(m["role"] == "assistant" and m["content"].strip() for m in out):
        raise BadRow("messages:no_assistant_turn")
    return out


def text_field(row: dict, key: str, allow_empty: bool = False) -> str:
    value = row.get(key)
    if not isinstance(value, str):
        raise BadRow(f"{key}:missing")
    if not allow_empty and not value.strip():
        raise BadRow(f"{key}:empty")
    return value


def prompt_messages(value) -> list[dict]:
    """A prompt given as text (one user turn) or as messages (no assistant turn needed)."""
    if isinstance(value, str):
        if not value.strip():
            raise BadRow("prompt:empty")
        return [{"role": "user", "content": value}]
    return check_messages(value, need_assistant=False)


def from_openai(row: dict) -> dict:
    return {"messages": check_messages(row.get("messages"))}


SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "system": "system",
}


def from_sharegpt(row: dict) -> dict:
    turns = row.get("conversations")
    if not isinstance(turns, list):
        raise BadRow("conversations:missing")
    messages = []
    for t in turns:
        if (
            not isinstance(t, dict)
            or t.get("from") not in SHAREGPT_ROLES
            or not isinstance(t.get("value"), str)
        ):
            raise BadRow("conversations:bad_turn")
        messages.append({"role": SHAREGPT_ROLES[t["from"]], "content": t["value"]})
    return {"messages": check_messages(messages)}


def from_alpaca(row: dict) -> dict:
    instruction = text_field(row, "instruction")
    extra = row.get("input") or ""
    if not isinstance(extra, str):
        raise BadRow("input:not_text")
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return {
        "messages": [
            {"role": "user", "content": user},
            {"role": "assistant", "content": text_field(row, "output")},
        ]
    }


def from_prompt_completion(row: dict) -> dict:
    return {
        "messages": prompt_messages(row.get("prompt"))
        + [{"role": "assistant", "content": text_field(row, "completion")}]
    }


def from_prefs(row: dict) -> dict:
    chosen, rejected = text_field(row, "chosen"), text_field(row, "rejected")
    if chosen == rejected:
        raise BadRow("prefs:chosen_equals_rejected")
    return {"prompt": prompt_messages(row.get("prompt")), "chosen": chosen, "rejected": rejected}


HH_TURN = re.compile(r"\n\n(Human|Assistant): ")


def parse_hh_transcript(text: str) -> list[dict]:
    """'\\n\\nHuman: hi\\n\\nAssistant: hello' -> [{user: hi}, {assistant: hello}]."""
    parts = HH_TURN.split(text)
    if len(parts) < 3 or parts[0].strip():
        raise BadRow("hh:not_a_transcript")
    roles = {"Human": "user", "Assistant": "assistant"}
    return [
        {"role": roles[who], "content": said.strip()}
        for who, said in zip(parts[1::2], parts[2::2], strict=True)
    ]


def from_hh_rlhf(row: dict) -> dict:
    """Split two transcripts into their shared prompt and the differing final assistant responses."""
    chosen = parse_hh_transcript(text_field(row, "chosen"))
    rejected = parse_hh_transcript(text_field(row, "rejected"))
    if chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
        raise BadRow("hh:last_turn_not_assistant")
    if chosen[:-1] != rejected[:-1]:
        raise BadRow("hh:prompts_differ")
    if chosen[-1]["content"] == rejected[-1]["content"]:
        raise BadRow("prefs:chosen_equals_rejected")
    return {"prompt": chosen[:-1], "chosen": chosen[-1]["content"], "rejected": rejected[-1]["content"]}


def from_prompts(row: dict) -> dict:
    answer = row.get("answer")
    if answer is not None and not isinstance(answer, str | int | float):
        raise BadRow("answer:not_text")
    return {
        "prompt": prompt_messages(row.get("prompt")),
        "answer": None if answer is None else str(answer).strip(),
    }


GSM8K_ANSWER = re.compile(r"####\s*(-?[\d,]*\.?\d+)\s*$")


def from_gsm8k(row: dict) -> dict:
    match = GSM8K_ANSWER.search(text_field(row, "answer"))
    if not match:
        raise BadRow("gsm8k:no_final_answer")
    return {
        "prompt": [{"role": "user", "content": text_field(row, "question")}],
        "answer": match.group(1).replace(",", ""),
    }


FORMATS: dict[str, tuple[str, Callable[[dict], dict]]] = {
    "openai": ("chat", from_openai),
    "sharegpt": ("chat", from_sharegpt),
    "alpaca": ("chat", from_alpaca),
    "prompt-completion": ("chat", from_prompt_completion),
    "prefs": ("prefs", from_prefs),
    "hh-rlhf": ("prefs", from_hh_rlhf),
    "prompts": ("prompts", from_prompts),
    "gsm8k": ("prompts", from_gsm8k),
}


def detect_format(row: dict) -> str:
    """Guess a format from one row's keys (used by `--format auto`)."""
    keys = set(row)
    if "messages" in keys:
        return "openai"
    if "conversations" in keys:
        return "sharegpt"
    if {"instruction", "output"} <= keys:
        return "alpaca"
    if {"chosen", "rejected"} <= keys:
        return "prefs" if "prompt" in keys else "hh-rlhf"
    if {"question", "answer"} <= keys:
        return "gsm8k"
    if {"prompt", "completion"} <= keys:
        return "prompt-completion"
    if "prompt" in keys:
        return "prompts"
    raise UserError(
        f"cannot tell the format from the keys {sorted(keys)}; pass --format ({', '.join(FORMATS)})"
    )


# --------------------------------------------------------------------------------------- the stage


def record_id(record: dict) -> str:
    """A stable id: the first 16 hex digits of the sha256 of the record's content."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def read_rows(path: Path) -> Iterator[tuple[int, str, dict | None, str | None]]:
    """(line number, raw text, parsed row or None, error) for each row of a JSONL file or a JSON list."""
    try:
        with open(path, "rb") as f:
            head = f.read(1 << 16).lstrip()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from e
    if head.startswith(b"["):  # a JSON array of rows (small files; JSONL is the streaming format)
        try:
            rows = json.loads(path.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise UserError(f"{path} is not valid JSON: {e}") from e
        for i, row in enumerate(rows, 1):
            yield (
                i,
                json.dumps(row, ensure_ascii=False),
                row if isinstance(row, dict) else None,
                None if isinstance(row, dict) else "json:not_an_object",
            )
        return
    with open(path, "rb") as f:
        for i, raw in enumerate(f, 1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:  # not silently turned into U+FFFD: the row is rejected, visibly
                yield i, raw.decode("utf-8", "replace").rstrip("\n"), None, "encoding:not_utf8"
                continue
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                yield i, line.rstrip("\n"), None, "json:invalid"
                continue
            yield (
                i,
                line.rstrip("\n"),
                row if isinstance(row, dict) else None,
                None if isinstance(row, dict) else "json:not_an_object",
            )


def _reasons_note(rows: list[tuple[int, str, dict | None, str | None]]) -> str:
    """' (2 rejected: encoding:not_utf8 2)': why no row of a file could be read, for the error line."""
    reasons = Counter(error for *_, error in rows if error)
    listed = ", ".join(f"{reason} {n:,}" for reason, n in reasons.most_common())
    return f" ({sum(reasons.values()):,} rejected: {listed})" if reasons else ""


def run_import(
    path: str | Path, out_dir: str | Path, fmt: str = "auto", force: bool = False, config: dict | None = None
) -> dict:
    """Import one JSONL/JSON file into a chat, prefs or prompts artifact; returns the manifest.

    Row ids are the sha256 of the record's content (first 16 hex digits), so re-importing the
    same data gives the same ids. Bad rows go to rejected/ with a reason; a file with no good row
    is an error (and writes nothing).
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    if fmt != "auto" and fmt not in FORMATS:
        raise UserError(f"--format must be auto or one of {', '.join(FORMATS)} (got {fmt!r})")
    rows = read_rows(path)
    if fmt == "auto":
        rows = list(rows)  # detection needs the first good row; auto is for files that fit in memory
        first = next((r for _, _, r, _ in rows if r is not None), None)
        if first is None:
            raise UserError(f"{path} has no JSON object rows{_reasons_note(rows)}")
        fmt = detect_format(first)
    kind, convert = FORMATS[fmt]
    reasons: Counter = Counter()
    with ArtifactWriter(
        out_dir,
        kind=kind,
        stage="import",
        config={**(config or {}), "format": fmt},
        inputs=[path],
        force=force,
    ) as w:
        with (
            ParquetPartWriter(w.part_path(0), schema=SCHEMAS[kind]) as good,
            ParquetPartWriter(w.part_path(0, "rejected"), schema=REJECTED_SCHEMA) as bad,
        ):
            for line_no, raw, row, error in rows:
                record = None
                if error is None:
                    try:
                        record = convert(row)
                    except BadRow as e:
                        error = str(e)
                if record is None:
                    reasons[error.split(" ")[0]] += 1
                    bad.write([{"line": line_no, "raw": raw, "reason": error}])
                    continue
                record["id"] = hashlib.sha256(
                    json.dumps(record, sort_keys=True, ensure_ascii=False).encode()
                ).hexdigest()[:16]
                good.write([record])
        if good.rows == 0:
            detail = ", ".join(f"{r} {n}" for r, n in reasons.most_common(3))
            raise UserError(f"{path}: no valid {fmt} rows ({bad.rows} rejected: {detail or 'empty file'})")
        funnel = [
            {"step": f"import:{fmt}", "in": good.rows + bad.rows, "out": good.rows, "removed": dict(reasons)}
        ]
        return w.commit(
            counts={"rows": good.rows, "rejected": bad.rows}, stats={"format": fmt, "funnel": funnel}
        )


def read_records(path: str | Path, kind: str, fmt: str = "auto") -> tuple[list[dict], int]:
    """The records of a `kind` artifact, or of a JSONL/JSON file converted on the fly (any format of that
    kind); returns (records, number of rows rejected). Training stages use this, so they accept either.
    """
    from llmkit.artifacts import open_artifact
    from llmkit.parquet import iter_rows

    path = Path(path)
    if path.is_dir():
        art = open_artifact(path, kinds=[kind])
        return list(iter_rows(art.parts)), 0
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    rows = list(read_rows(path))
    if fmt == "auto":
        first = next((r for _, _, r, _ in rows if r is not None), None)
        if first is None:
            raise UserError(f"{path} has no JSON object rows{_reasons_note(rows)}")
        fmt = detect_format(first)
    if fmt not in FORMATS:
        raise UserError(f"--format must be auto or one of {', '.join(FORMATS)} (got {fmt!r})")
    got, convert = FORMATS[fmt]
    if got != kind:
        raise UserError(f"{path} holds {got} data ({fmt} format); this stage needs {kind}")
    records, rejected = [], 0
    for _, _, row, error in rows:
        try:
            if error is not None:
                raise BadRow(error)
            record = convert(row)
        except BadRow:
            rejected += 1
            continue
        record["id"] = record_id(record)
        records.append(record)
    if not records:
        raise UserError(f"{path}: no valid {fmt} rows ({rejected} rejected)")
    return records, rejected
