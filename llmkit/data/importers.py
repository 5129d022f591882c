"""`llmkit import`: common chat, preference and prompt datasets (JSONL/JSON) into artifacts.

Each format is one small function `row -> record` that raises `BadRow(reason)` for a row it cannot
use; `run_import` applies it to every row, writes the good ones, and sends the bad ones to
`rejected/` (with the raw line, its line number and the reason) — a bad row never stops an import.
Files may be compressed (gzip, bzip2, xz, zstd: told by their first bytes) and start with a BOM
(llmkit/textfiles.py); `--format auto` votes over the first DETECT_ROWS rows. Reasons name the key
and what is wrong with it (`answer:missing` vs `answer:not_text number`).

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

import functools
import hashlib
import itertools
import json
import re
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa

from llmkit.artifacts import ArtifactWriter
from llmkit.data.loud_funnel import DEFAULT_MAX_REJECT_FRACTION, check_fraction, lost_sources, report_lost
from llmkit.errors import UserError
from llmkit.parquet import ParquetPartWriter
from llmkit.textfiles import BOM, open_binary, open_text

ROLES = ("system", "user", "assistant", "tool")
MESSAGES = pa.list_(pa.struct([("role", pa.string()), ("content", pa.string())]))
# chat messages may also carry OpenAI tool calls (arguments as JSON text) and a tool message's call id;
# a chat row's `tools` are the tool schemas as JSON text (null where a row has none)
TOOL_CALLS = pa.list_(
    pa.struct([("id", pa.string()), ("type", pa.string()),
               ("function", pa.struct([("name", pa.string()), ("arguments", pa.string())]))])
)  # fmt: skip
CHAT_MESSAGES = pa.list_(
    pa.struct([("role", pa.string()), ("content", pa.string()), ("tool_calls", TOOL_CALLS),
               ("tool_call_id", pa.string())])
)  # fmt: skip
SCHEMAS = {
    "chat": pa.schema([("id", pa.string()), ("messages", CHAT_MESSAGES), ("tools", pa.string())]),
    "prefs": pa.schema(
        [("id", pa.string()), ("prompt", MESSAGES), ("chosen", pa.string()), ("rejected", pa.string())]
    ),
    "prompts": pa.schema([("id", pa.string()), ("prompt", MESSAGES), ("answer", pa.string())]),
}
REJECTED_SCHEMA = pa.schema([("line", pa.int64()), ("raw", pa.string()), ("reason", pa.string())])


class BadRow(ValueError):
    """A row that cannot be imported; the message is the `reason` written to rejected/."""


# --------------------------------------------------------------------------------------- formats


def type_name(value) -> str:
    """A JSON value's type as JSON calls it, for reasons: 'number', 'object', 'array', 'null'..."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    names = {int: "number", float: "number", str: "string", dict: "object", list: "array"}
    return names.get(type(value), "?")


def content_text(content, where: str) -> str:
    """A message's content: a string, or OpenAI content parts of which only text parts are supported
    (`[{"type": "text", "text": ...}]`, joined by newlines as vLLM joins them)."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and content:
        texts = []
        for part in content:
            kind = part.get("type") if isinstance(part, dict) else None
            if kind != "text" or not isinstance(part.get("text"), str):
                shown = kind if isinstance(kind, str) else type_name(part)
                raise BadRow(f"{where}:unsupported_content_part {str(shown)[:30]}")
            texts.append(part["text"])
        return "\n".join(texts)
    if content is None:
        raise BadRow(f"{where}:no_content")
    raise BadRow(f"{where}:content_not_text {type_name(content)}")


def check_messages(messages, need_assistant: bool = True, key: str = "messages") -> list[dict]:
    """Validate a list of {role, content} messages (`key` names the field in reasons); returns them
    with only those two keys, content parts joined into text."""
    if messages is None:
        raise BadRow(f"{key}:missing")
    if not isinstance(messages, list):
        raise BadRow(f"{key}:not_a_list {type_name(messages)}")
    if not messages:
        raise BadRow(f"{key}:empty")
    out = []
    for i, m in enumerate(messages, 1):
        if not isinstance(m, dict):
            raise BadRow(f"{key}:message_not_an_object {type_name(m)} (message {i})")
        if m.get("role") not in ROLES:
            raise BadRow(f"{key}:bad_role {str(m.get('role'))[:20]} (message {i})")
        if m.get("tool_calls") or m["role"] == "tool":
            out.append(tool_message(m, i, key))
            continue
        out.append({"role": m["role"], "content": content_text(m.get("content"), key)})
    if need_assistant and not any(m["role"] == "assistant" and m["content"].strip() for m in out):
        raise BadRow(f"{key}:no_assistant_turn")
    return out


def tool_message(m: dict, i: int, key: str) -> dict:
    """An assistant message with OpenAI `tool_calls` (content may be null) or a `tool` message, checked
    by the chat template's own rules; arguments are kept as compact JSON text, as the template writes them."""
    from llmkit.tokenizer import check_message

    content = m.get("content")
    if content is not None or m["role"] == "tool":
        content = content_text(content, key)
    try:
        check_message({**m, "content": content}, i)
    except UserError as e:
        raise BadRow(f"{key}:bad_tool_message {str(e).split(': ', 1)[-1][:80]} (message {i})") from e
    if m["role"] == "tool":
        call_id = m.get("tool_call_id")
        return {"role": "tool", "content": content, "tool_call_id": call_id if isinstance(call_id, str) else None}
    calls = []
    for n, call in enumerate(m["tool_calls"], 1):
        function = call["function"]
        arguments = function.get("arguments", {})
        arguments = json.loads(arguments) if isinstance(arguments, str) else arguments
        calls.append({
            "id": str(call.get("id") or f"call_{n}"),
            "type": "function",
            "function": {"name": function["name"], "arguments": json.dumps(arguments, ensure_ascii=False)},
        })  # fmt: skip
    return {"role": "assistant", "content": content or "", "tool_calls": calls}


def chat_record(record: dict) -> dict:
    """A chat record as the chat template takes it: no null tool fields, `tools` as a list."""
    messages = [{k: v for k, v in m.items() if v is not None} for m in record["messages"]]
    tools = record.get("tools")
    return {**record, "messages": messages, "tools": json.loads(tools) if isinstance(tools, str) else tools}


def text_field(row: dict, key: str, allow_empty: bool = False) -> str:
    """`row[key]` as text: missing, another type (`answer:not_text number`) and blank are told apart."""
    if key not in row or row[key] is None:
        raise BadRow(f"{key}:missing")
    value = row[key]
    if not isinstance(value, str):
        raise BadRow(f"{key}:not_text {type_name(value)}")
    if not allow_empty and not value.strip():
        raise BadRow(f"{key}:empty")
    return value


def prompt_messages(value) -> list[dict]:
    """A prompt given as text (one user turn) or as messages (no assistant turn needed)."""
    if isinstance(value, str):
        if not value.strip():
            raise BadRow("prompt:empty")
        return [{"role": "user", "content": value}]
    if value is not None and not isinstance(value, list):
        raise BadRow(f"prompt:not_text_or_messages {type_name(value)}")
    return check_messages(value, need_assistant=False, key="prompt")


def from_openai(row: dict) -> dict:
    record = {"messages": check_messages(row.get("messages"))}
    if row.get("tools"):  # tool schemas, OpenAI shape
        from llmkit.tokenizer import check_tools

        try:
            record["tools"] = json.dumps(check_tools(row["tools"]), ensure_ascii=False)
        except UserError as e:
            raise BadRow(f"tools:bad_schema {str(e)[:80]}") from e
    return record


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


def check_answers(chosen: str, rejected: str, allow_empty_answers: bool) -> None:
    """An empty chosen or rejected answer teaches a reward model or DPO nothing useful (or the wrong
    thing), so it is its own reason unless `allow_empty_answers`; identical answers never count."""
    if not allow_empty_answers:
        for key, answer in (("chosen", chosen), ("rejected", rejected)):
            if not answer.strip():
                raise BadRow(f"{key}:empty_answer")
    if chosen == rejected:
        raise BadRow("prefs:chosen_equals_rejected")


def from_prefs(row: dict, allow_empty_answers: bool = False) -> dict:
    chosen = text_field(row, "chosen", allow_empty=True)
    rejected = text_field(row, "rejected", allow_empty=True)
    check_answers(chosen, rejected, allow_empty_answers)
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


def from_hh_rlhf(row: dict, allow_empty_answers: bool = False) -> dict:
    """Split two transcripts into their shared prompt and the differing final assistant responses."""
    chosen = parse_hh_transcript(text_field(row, "chosen"))
    rejected = parse_hh_transcript(text_field(row, "rejected"))
    if chosen[-1]["role"] != "assistant" or rejected[-1]["role"] != "assistant":
        raise BadRow("hh:last_turn_not_assistant")
    if chosen[:-1] != rejected[:-1]:
        raise BadRow("hh:prompts_differ")
    check_answers(chosen[-1]["content"], rejected[-1]["content"], allow_empty_answers)
    return {"prompt": chosen[:-1], "chosen": chosen[-1]["content"], "rejected": rejected[-1]["content"]}


def from_prompts(row: dict) -> dict:
    answer = row.get("answer")
    if answer is not None and (isinstance(answer, bool) or not isinstance(answer, str | int | float)):
        raise BadRow(f"answer:not_text_or_number {type_name(answer)}")
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


def row_format(row: dict) -> str | None:
    """The format one row's keys point to, or None when they fit no format."""
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
    return None


DETECT_ROWS = 100  # `--format auto` votes over this many JSON-object rows from the top of the file


def detect_format(path: Path, rows: list[dict]) -> tuple[str, dict[str, int]]:
    """The format most of `rows` (the file's first JSON-object rows) point to, and the votes.

    One odd first row no longer decides a file; a tie, or a winner without a strict majority, is a
    UserError that names the counts, so the user picks `--format` knowingly.
    """
    votes = Counter(row_format(row) or "unknown" for row in rows)
    ranked = [(f, n) for f, n in votes.most_common() if f != "unknown"]
    counts = ", ".join(f"{f} {n}" for f, n in votes.most_common())
    if not ranked:
        raise UserError(
            f"cannot tell the format of {path} from the keys {sorted(rows[0])}; "
            f"pass --format ({', '.join(FORMATS)})"
        )
    fmt, n = ranked[0]
    if n * 2 <= len(rows) or (len(ranked) > 1 and ranked[1][1] == n):
        raise UserError(
            f"cannot tell the format of {path}: its first {len(rows)} rows look like {counts}; pass --format"
        )
    return fmt, dict(votes)


# --------------------------------------------------------------------------------------- the stage


def record_id(record: dict) -> str:
    """A stable id: the first 16 hex digits of the sha256 of the record's content."""
    return hashlib.sha256(json.dumps(record, sort_keys=True, ensure_ascii=False).encode()).hexdigest()[:16]


def read_rows(path: Path) -> Iterator[tuple[int, str, dict | None, str | None]]:
    """(line number, raw text, parsed row or None, error) for each row of a JSONL file or a JSON list.

    Compressed files (gzip, bzip2, xz, zstd, told by their magic bytes) are read as a stream, and a
    UTF-8 byte-order mark is dropped (textfiles.py).
    """
    try:
        with open_binary(path) as f:
            head = f.read(1 << 16).removeprefix(BOM).lstrip()
    except OSError as e:
        raise UserError(f"cannot read {path}: {e.strerror}") from e
    if head.startswith(b"["):  # a JSON array of rows (small files; JSONL is the streaming format)
        try:
            with open_text(path) as f:
                rows = json.load(f)
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
    with open_binary(path) as f:
        for i, raw in enumerate(f, 1):
            if i == 1:
                raw = raw.removeprefix(BOM)
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError:  # not silently turned into U+FFFD: the row is rejected, visibly
                yield i, raw.decode("utf-8", "replace").rstrip("\n"), None, "encoding:not_utf8"
                continue
            line = line.rstrip("\r\n")  # a CRLF file's \r is not part of the row
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                yield i, line, None, "json:invalid"
                continue
            yield (
                i,
                line,
                row if isinstance(row, dict) else None,
                None if isinstance(row, dict) else "json:not_an_object",
            )


def _reasons_note(rows: list[tuple[int, str, dict | None, str | None]]) -> str:
    """' (2 rejected: encoding:not_utf8 2)': why no row of a file could be read, for the error line."""
    reasons = Counter(error for *_, error in rows if error)
    listed = ", ".join(f"{reason} {n:,}" for reason, n in reasons.most_common())
    return f" ({sum(reasons.values()):,} rejected: {listed})" if reasons else ""


def rows_and_format(path: Path, fmt: str) -> tuple[Iterator, str, dict[str, int] | None]:
    """The file's rows (a stream), its format, and with `--format auto` the detection votes.

    Auto-detection reads ahead only until it has DETECT_ROWS JSON-object rows, then streams on.
    """
    if fmt != "auto" and fmt not in FORMATS:
        raise UserError(f"--format must be auto or one of {', '.join(FORMATS)} (got {fmt!r})")
    rows = read_rows(path)
    if fmt != "auto":
        return rows, fmt, None
    head = []
    for entry in rows:
        head.append(entry)
        if sum(row is not None for _, _, row, _ in head) == DETECT_ROWS:
            break
    objects = [row for _, _, row, _ in head if row is not None]
    if not objects:
        raise UserError(f"{path} has no JSON object rows{_reasons_note(head)}")
    fmt, votes = detect_format(path, objects)
    return itertools.chain(head, rows), fmt, votes


def converter(fmt: str, allow_empty_answers: bool = False) -> tuple[str, Callable[[dict], dict]]:
    """(artifact kind, row -> record) for a format; preference formats take `allow_empty_answers`."""
    kind, convert = FORMATS[fmt]
    if kind == "prefs":
        return kind, functools.partial(convert, allow_empty_answers=allow_empty_answers)
    return kind, convert


def run_import(
    path: str | Path,
    out_dir: str | Path,
    fmt: str = "auto",
    force: bool = False,
    config: dict | None = None,
    *,
    allow_empty_answers: bool = False,
    max_reject_fraction: float = DEFAULT_MAX_REJECT_FRACTION,
    allow_empty: bool = False,
) -> dict:
    """Import one JSONL/JSON file (plain or compressed) into a chat, prefs or prompts artifact;
    returns the manifest.

    Row ids are the sha256 of the record's content (first 16 hex digits), so re-importing the
    same data gives the same ids. Bad rows go to rejected/ with a reason; a file with no good row
    is an error (and writes nothing). A file that loses more than `max_reject_fraction` of its rows
    is written and then ends in SourcesLost (exit 3) unless `allow_empty`. Preference pairs with an
    empty chosen or rejected answer are rejected unless `allow_empty_answers`.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path} does not exist" if not path.exists() else f"{path} is not a file")
    check_fraction(max_reject_fraction)
    rows, fmt, votes = rows_and_format(path, fmt)
    kind, convert = converter(fmt, allow_empty_answers)
    reasons: Counter = Counter()
    config = {
        **(config or {}),
        "format": fmt,
        "allow_empty_answers": allow_empty_answers,
        "max_reject_fraction": max_reject_fraction,
    }
    with ArtifactWriter(out_dir, kind=kind, stage="import", config=config, inputs=[path], force=force) as w:
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
                record["id"] = record_id(record)
                good.write([record])
        if good.rows == 0:
            detail = ", ".join(f"{r} {n}" for r, n in reasons.most_common(3))
            raise UserError(f"{path}: no valid {fmt} rows ({bad.rows} rejected: {detail or 'empty file'})")
        n_in = good.rows + bad.rows
        funnel = [{"step": f"import:{fmt}", "in": n_in, "out": good.rows, "removed": dict(reasons)}]
        lost = lost_sources({str(path): funnel[0]}, max_reject_fraction)
        stats = {"format": fmt, "format_votes": votes, "funnel": funnel, "lost_sources": lost}
        manifest = w.commit(counts={"rows": good.rows, "rejected": bad.rows}, stats=stats)
    report_lost(lost, "import", out_dir, "rows", allow_empty)
    return manifest


def read_records(path: str | Path, kind: str, fmt: str = "auto") -> tuple[list[dict], int]:
    """The records of a `kind` artifact, or of a JSONL/JSON file converted on the fly (any format of that
    kind); returns (records, number of rows rejected). Training stages use this, so they accept either.
    """
    from llmkit.artifacts import open_artifact
    from llmkit.parquet import iter_rows

    path = Path(path)
    if path.is_dir():
        art = open_artifact(path, kinds=[kind])
        records = list(iter_rows(art.parts))
        return ([chat_record(r) for r in records] if kind == "chat" else records), 0
    if not path.is_file():
        raise UserError(f"{path} does not exist")
    rows, fmt, _ = rows_and_format(path, fmt)
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
        records.append(chat_record(record) if kind == "chat" else record)
    if not records:
        raise UserError(f"{path}: no valid {fmt} rows ({rejected} rejected)")
    return records, rejected
