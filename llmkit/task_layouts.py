"""Published evaluation sets, read from local files in the layout their public releases ship.

Each layout turns one row of the public release (JSONL, JSON or Parquet, as on the Hugging Face Hub)
into one llmkit item, with the prompt format lm-evaluation-harness uses for that task, so a score
here compares with its numbers:

- multiple choice: `{"kind": "choice", "context", "choices", "label"}`. A choice is scored as the
  continuation `target_delimiter + choice` of the context (`" "` unless the layout says otherwise);
  acc_norm divides by the length of the choice alone, as lm-evaluation-harness does.
- schema (Winogrande's partial evaluation): `{"kind": "schema", "contexts", "continuation", "label"}`:
  one context per option, the same continuation scored after each.
- LM continuation (LAMBADA): `{"kind": "continuation", "context", "continuation"}`: right when the
  greedy tokens are the continuation's tokens.
- exact match (GSM8K): `{"kind": "exact_match", "prompt", "answer"}`, generated and compared.

`baseline` is the accuracy of guessing: the centre of the CORE score (DCLM's table: 0.62 for BoolQ,
its majority class). No model, no torch here: the decontamination stage reads the same items.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from llmkit.errors import UserError
from llmkit.textfiles import read_text

ItemFn = Callable[[dict], dict]


@dataclass(frozen=True)
class Layout:
    name: str
    keys: frozenset[str]  # a row with all of these keys is in this layout
    to_item: ItemFn
    baseline: float
    target_delimiter: str = " "
    description: Callable[[dict], str] | None = (
        None  # text before the few-shot examples (MMLU's subject line)
    )
    # told by the file's name too: LAMBADA's lone `text` key is every plain-text JSONL's
    named_file: bool = False


def _label_index(labels: list[str], key) -> int:
    key = str(key).strip()
    if not labels:
        return -1  # no choices at all: import_rows says so
    if key not in labels:
        raise ValueError(f"answer key {key!r} is not one of the choice labels {labels}")
    return labels.index(key)


def _hellaswag_text(text: str) -> str:
    # lm-evaluation-harness's hellaswag `preprocess`: WikiHow's "[title]" markers, brackets, double spaces
    text = text.strip().replace(" [title]", ". ")
    return re.sub(r"\[.*?\]", "", text).replace("  ", " ")


def hellaswag(row: dict) -> dict:
    ctx = row["ctx_a"] + " " + row["ctx_b"].capitalize()
    return {
        "context": _hellaswag_text(row["activity_label"] + ": " + ctx),
        "choices": [_hellaswag_text(e) for e in row["endings"]],
        "label": int(row["label"]),
    }


def arc(row: dict) -> dict:  # allenai/ai2_arc (ARC-Easy and ARC-Challenge)
    choices = row["choices"]
    return {
        "context": f"Question: {row['question']}\nAnswer:",
        "choices": list(choices["text"]),
        "label": _label_index(list(choices["label"]), row["answerKey"]),
    }


def openbookqa(row: dict) -> dict:  # allenai/openbookqa "main"
    choices = row["choices"]
    return {
        "context": row["question_stem"],
        "choices": list(choices["text"]),
        "label": _label_index(list(choices["label"]), row["answerKey"]),
    }


def piqa(row: dict) -> dict:  # ybisk/piqa
    return {
        "context": f"Question: {row['goal']}\nAnswer:",
        "choices": [row["sol1"], row["sol2"]],
        "label": int(row["label"]),
    }


def copa(row: dict) -> dict:  # super_glue "copa"
    connector = {"cause": "because", "effect": "therefore"}[row["question"]]
    lower = [c[0].lower() + c[1:] for c in (row["choice1"], row["choice2"])]
    return {
        "context": row["premise"].strip()[:-1] + f" {connector}",
        "choices": lower,
        "label": int(row["label"]),
    }


def boolq(row: dict) -> dict:  # google/boolq (`answer`: bool) or super_glue "boolq" (`label`: 0/1)
    label = row["label"] if "label" in row else row["answer"]
    if not isinstance(label, bool | int):
        raise ValueError(f"label {label!r} is not true/false or 0/1")
    return {
        "context": f"{row['passage']}\nQuestion: {row['question']}?\nAnswer:",
        "choices": ["no", "yes"],
        "label": int(label),
    }


def mmlu(row: dict) -> dict:  # cais/mmlu
    letters = "ABCD"[: len(row["choices"])]
    options = "".join(f"\n{letter}. {c}" for letter, c in zip(letters, row["choices"], strict=True))
    return {
        "context": f"{row['question'].strip()}{options}\nAnswer:",
        "choices": list(letters),
        "label": int(row["answer"]),
    }


def winogrande(row: dict) -> dict:  # allenai/winogrande: the blank `_` takes each option
    sentence = row["sentence"]
    blank = sentence.index("_")
    return {
        "kind": "schema",
        "contexts": [sentence[:blank] + row["option1"], sentence[:blank] + row["option2"]],
        "continuation": sentence[blank + 1 :].strip(),
        "label": int(row["answer"]) - 1,
    }


def lambada(row: dict) -> dict:  # EleutherAI/lambada_openai: predict the passage's last word
    context, last_word = row["text"].rsplit(" ", 1)
    return {"kind": "continuation", "context": context, "continuation": last_word}


def gsm8k(row: dict) -> dict:  # openai/gsm8k: the reference ends "#### 42"
    return {"kind": "exact_match", "prompt": row["question"], "answer": row["answer"]}


def _mmlu_description(row: dict) -> str:
    subject = str(row.get("subject", "")).replace("_", " ").strip()
    return (
        f"The following are multiple choice questions (with answers) about {subject}.\n\n" if subject else ""
    )


# Detection tries these in order; more specific key sets come first (BoolQ's `answer` vs GSM8K's).
LAYOUTS: dict[str, Layout] = {
    layout.name: layout
    for layout in (
        Layout(
            "hellaswag", frozenset({"activity_label", "ctx_a", "ctx_b", "endings", "label"}), hellaswag, 0.25
        ),
        Layout("openbookqa", frozenset({"question_stem", "choices", "answerKey"}), openbookqa, 0.25),
        Layout("arc", frozenset({"question", "choices", "answerKey"}), arc, 0.25),
        Layout("piqa", frozenset({"goal", "sol1", "sol2", "label"}), piqa, 0.5),
        Layout("winogrande", frozenset({"sentence", "option1", "option2", "answer"}), winogrande, 0.5),
        Layout("copa", frozenset({"premise", "choice1", "choice2", "question", "label"}), copa, 0.5),
        Layout("boolq", frozenset({"passage", "question"}), boolq, 0.62),
        Layout(
            "mmlu", frozenset({"question", "choices", "answer"}), mmlu, 0.25, description=_mmlu_description
        ),
        Layout("gsm8k", frozenset({"question", "answer"}), gsm8k, 0.0),
        Layout("lambada", frozenset({"text"}), lambada, 0.0, named_file=True),
    )
}
KNOWN = ", ".join(sorted(LAYOUTS))


def read_rows(path: str | Path, limit: int | None = None) -> list[dict]:
    """The rows of a task file: JSONL, a JSON array, or Parquet (a file or a folder of parts)."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"task file {p} does not exist")
    if p.is_dir() or p.suffix == ".parquet":
        import pyarrow.parquet as pq

        try:
            rows = pq.read_table(p).to_pylist()
        except Exception as e:  # pyarrow raises several types for a file that is not Parquet
            raise UserError(f"{p} is not a readable Parquet file or folder: {e}") from e
        return rows[:limit]
    text = read_text(p, errors="replace")  # BOM dropped; .gz/.zst/.bz2/.xz decompressed (textfiles.py)
    if text.lstrip().startswith("["):
        try:
            rows = json.loads(text)
        except json.JSONDecodeError as e:
            raise UserError(f"{p} is not a valid JSON array: {e.msg}") from e
    else:
        rows = []
        for i, line in enumerate(text.splitlines(), 1):
            if limit is not None and len(rows) >= limit:
                break
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as e:
                    raise UserError(f"{p}:{i} is not valid JSON: {e.msg}") from e
    if not all(isinstance(r, dict) for r in rows):
        raise UserError(f"{p}: every row must be a JSON object")
    return rows[:limit]


def detect_layout(row: dict, path: str | Path = "") -> Layout | None:
    """The published layout whose keys `row` (of file `path`) has, or None."""
    for layout in LAYOUTS.values():
        if layout.keys <= set(row) and (not layout.named_file or layout.name in Path(path).name.lower()):
            return layout
    return None


def get_layout(name: str) -> Layout:
    if name not in LAYOUTS:
        raise UserError(f"unknown task layout {name!r} (known layouts: {KNOWN})")
    return LAYOUTS[name]


def import_rows(layout: Layout, rows: list[dict], path: str | Path) -> list[dict]:
    """`rows` of `path` as llmkit items (each with `kind`; see the module docstring).

    A row that does not fit the layout, or a choice task with no choices, is a UserError naming the row.
    """
    items = []
    for i, row in enumerate(rows, 1):
        missing = sorted(layout.keys - set(row))
        if missing:
            raise UserError(
                f"{path}: row {i} is not in the {layout.name} layout (missing {', '.join(missing)})"
            )
        try:
            item = {"kind": "choice", **layout.to_item(row)}
        except (KeyError, ValueError, TypeError, AttributeError, IndexError) as e:
            raise UserError(f"{path}: row {i} does not fit the {layout.name} layout: {e}") from e
        n_options = len(item.get("choices", item.get("contexts", [None])))
        if item["kind"] in ("choice", "schema"):
            if n_options == 0:
                raise UserError(f"{path}: row {i} has no choices to score")
            if not 0 <= item["label"] < n_options:
                raise UserError(
                    f"{path}: row {i}'s label {item['label']} is not one of its {n_options} choices"
                )
        if layout.description:
            item["description"] = layout.description(row)
        items.append(item)
    if not items:
        raise UserError(f"task file {path} has no rows")
    return items


def item_texts(item: dict) -> list[str]:
    """The texts of an item a training document must not contain: the question with its answer."""
    kind = item["kind"]
    if kind == "choice":
        return [item["context"] + " " + item["choices"][item["label"]]]
    if kind == "schema":
        return [item["contexts"][item["label"]] + " " + item["continuation"]]
    if kind == "continuation":
        return [item["context"] + " " + item["continuation"]]
    return [str(item["prompt"]) + " " + str(item["answer"])]
