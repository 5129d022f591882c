"""Published evaluation sets under `llmkit eval`: few-shot prompts, the reference scorings, CORE.

A task file in a published layout (`llmkit.task_layouts`: HellaSwag, ARC, PIQA, ...) becomes an
`imported` Task. `evaluate_imported` scores it:

- choice items: `acc` (highest log-likelihood), `acc_norm` (divided by the choice's length in
  characters, lm-evaluation-harness), `acc_norm_bytes` (in UTF-8 bytes), `acc_mean_loss` (lowest mean
  per-token loss: the choice CORE makes, DCLM / nanochat);
- schema items (Winogrande): `acc`, the continuation's log-likelihood after each option;
- continuation items (LAMBADA): `acc` (every continuation token is the greedy one) and `perplexity`;
- exact-match items (GSM8K): `exact_match`, greedy generation as `llmkit eval` does for prompt tasks.

Every task also reports `baseline` (the accuracy of guessing) and `centered`, (score − baseline) /
(1 − baseline) of its suite metric, so 0 is chance and 1 is perfect; a suite's score is their mean
(`--suite core`: DCLM's CORE tasks and shot counts; `--suite chatcore`: nanochat's ChatCORE tasks
that exist as published files here).

Few-shot: k examples drawn with `random.Random(seed)` from the task's few-shot split (or, with none,
from the task file itself, never the item being scored), rendered as lm-evaluation-harness does:
`description + (context + delimiter + answer + "\\n\\n") * k + context`.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass
from pathlib import Path

import torch

from llmkit.answers import exact_match, reference_answer
from llmkit.engine import token_logprobs
from llmkit.errors import UserError
from llmkit.eval_tasks import EvalConfig, Task, encode_pair
from llmkit.task_layouts import KNOWN, detect_layout, get_layout, import_rows, read_rows

FEWSHOT_DELIMITER = "\n\n"
CHOICE_METRICS = ("acc", "acc_norm", "acc_norm_bytes", "acc_mean_loss")
TABLE_SUFFIXES = (".jsonl", ".json", ".parquet")


@dataclass(frozen=True)
class SuiteTask:
    name: str
    file: str  # the file stem looked up in --data-dir
    num_fewshot: int
    metric: str  # the metric the suite centres


# DCLM's CORE tasks that have a published layout here, with CORE's shot counts; CORE scores a choice
# by its mean per-token loss.
CORE = [
    SuiteTask("hellaswag_zeroshot", "hellaswag", 0, "acc_mean_loss"),
    SuiteTask("hellaswag", "hellaswag", 10, "acc_mean_loss"),
    SuiteTask("arc_easy", "arc_easy", 10, "acc_mean_loss"),
    SuiteTask("arc_challenge", "arc_challenge", 10, "acc_mean_loss"),
    SuiteTask("piqa", "piqa", 10, "acc_mean_loss"),
    SuiteTask("winogrande", "winogrande", 0, "acc"),
    SuiteTask("boolq", "boolq", 10, "acc_mean_loss"),
    SuiteTask("copa", "copa", 0, "acc_mean_loss"),
    SuiteTask("openbookqa", "openbookqa", 0, "acc_mean_loss"),
    SuiteTask("lambada", "lambada", 0, "acc"),
]
# nanochat's ChatCORE tasks that have a published layout here (its HumanEval and SpellingBee do not).
CHATCORE = [
    SuiteTask("arc_easy", "arc_easy", 0, "acc"),
    SuiteTask("arc_challenge", "arc_challenge", 0, "acc"),
    SuiteTask("mmlu", "mmlu", 0, "acc"),
    SuiteTask("gsm8k", "gsm8k", 0, "exact_match"),
]
SUITES = {"core": CORE, "chatcore": CHATCORE}


# --------------------------------------------------------------------------------------- tasks


def layout_task(path: Path, name: str | None, options: dict) -> Task | None:
    """An `imported` Task when `path` is in a published layout (named by `options["layout"]` or told by
    its first row's keys); None when it is not, so the caller can try llmkit's own task types."""
    layout = get_layout(options["layout"]) if "layout" in options else None
    if layout is None:
        if path.is_dir():  # a tokens or prompts artifact: llmkit's own types
            return None
        first = read_rows(path, limit=1)
        if not first:
            raise UserError(f"task file {path} has no rows")
        layout = detect_layout(first[0], path)
        if layout is None:
            return None
    task = Task(name or path.stem, path, "imported", {**options, "layout": layout.name})
    load_items(task, EvalConfig())  # every row and the few-shot count checked before a model loads
    return task


def not_a_layout_message(path: Path, keys) -> str:
    return (
        f"cannot tell the task type of {path} from its keys {sorted(keys)}: expected context/choices/label "
        f"(multiple choice), prompt/answer (exact match), or a published layout ({KNOWN})"
    )


def suite_tasks(suite: str, data_dir: Path) -> list[Task]:
    """The Tasks of a built-in suite whose files are in `data_dir` (`<file>.jsonl|json|parquet`, and
    `<file>.fewshot.*` for a separate few-shot split); the missing ones are left out, none is an error."""
    tasks = []
    for st in SUITES[suite]:
        found = _find(data_dir, st.file)
        if found is None:
            continue
        options = {"num_fewshot": st.num_fewshot, "metric": st.metric}
        fewshot = _find(data_dir, st.file + ".fewshot")
        if fewshot is not None:
            options["fewshot"] = str(fewshot)
        task = layout_task(found, st.name, options)
        if task is None:
            raise UserError(f"{found} is not in a published layout ({KNOWN})")
        tasks.append(task)
    if not tasks:
        names = ", ".join(f"{st.file}.jsonl" for st in SUITES[suite])
        raise UserError(f"--suite {suite}: {data_dir} holds none of its task files ({names}, or .parquet)")
    return tasks


def _find(folder: Path, stem: str) -> Path | None:
    return next((folder / (stem + s) for s in TABLE_SUFFIXES if (folder / (stem + s)).exists()), None)


def load_items(task: Task, cfg: EvalConfig) -> tuple[list[dict], list[dict], float]:
    """(items to score, few-shot items, baseline) of an imported task; the few-shot items are the task's
    own when it names no few-shot split. A shot count above the split's size is a UserError."""
    layout = get_layout(task.options["layout"])
    items = import_rows(layout, read_rows(task.path), task.path)
    shots = task.options.get("num_fewshot", cfg.num_fewshot)
    if not isinstance(shots, int) or shots < 0:
        raise UserError(f"task {task.name}: num_fewshot must be 0 or more (got {shots!r})")
    fewshot = items
    if task.options.get("fewshot"):
        fewshot_path = Path(task.options["fewshot"])
        fewshot = import_rows(layout, read_rows(fewshot_path), fewshot_path)
    available = len(fewshot) - (fewshot is items)  # from the task itself, never the item being scored
    if shots > available:
        where = task.options.get("fewshot") or f"{task.path} (the task's own rows, less the one scored)"
        raise UserError(
            f"task {task.name}: --num-fewshot {shots} but the few-shot split {where} has {available} rows"
        )
    if cfg.max_examples:
        items = items[: cfg.max_examples]
    return items, fewshot, layout.baseline


# --------------------------------------------------------------------------------------- prompts


def _example_text(item: dict, delimiter: str) -> str:
    """A few-shot example: the item with its right answer."""
    kind = item["kind"]
    if kind == "choice":
        return item["context"] + delimiter + item["choices"][item["label"]]
    if kind == "schema":
        return item["contexts"][item["label"]] + " " + item["continuation"]
    if kind == "continuation":
        return item["context"] + " " + item["continuation"]
    return f"Question: {item['prompt']}\nAnswer: {item['answer']}"


def with_fewshot(
    items: list[dict], fewshot: list[dict], k: int, seed: int, delimiter: str = " "
) -> list[dict]:
    """Each item with `prefix`: its description and k examples drawn (seeded) from `fewshot`. When the
    item is itself in `fewshot`, k + 1 are drawn and it is dropped (as lm-evaluation-harness does)."""
    rng = random.Random(seed)
    position = {id(ex): i for i, ex in enumerate(fewshot)}
    out = []
    for item in items:
        prefix = item.get("description", "")
        if k:
            own = position.get(id(item))
            drawn = rng.sample(range(len(fewshot)), min(len(fewshot), k + (own is not None)))
            shots = [fewshot[i] for i in drawn if i != own][:k]
            prefix += "".join(_example_text(ex, delimiter) + FEWSHOT_DELIMITER for ex in shots)
        out.append({**item, "prefix": prefix})
    return out


# --------------------------------------------------------------------------------------- scoring


@torch.no_grad()
def continuation_scores(model, requests: list[tuple[list[int], list[int]]], batch_size: int):
    """For each (context ids, continuation ids): (sum of the continuation's log-probs in nats, its token
    count, whether every continuation token is the greedy one). The start of a context that does not
    fit the model's window is cut off."""
    seq_len = model.config.seq_len
    device = next(model.parameters()).device
    out = []
    for i in range(0, len(requests), batch_size):
        batch = [((ctx + cont)[-(seq_len + 1) :], len(cont)) for ctx, cont in requests[i : i + batch_size]]
        width = max(len(seq) for seq, _ in batch)
        ids = torch.zeros(len(batch), width, dtype=torch.long, device=device)
        for row, (seq, _) in enumerate(batch):
            ids[row, : len(seq)] = torch.tensor(seq, device=device)
        logits = model(ids[:, :-1])
        logprobs, greedy = token_logprobs(logits, ids[:, 1:]), logits.argmax(-1) == ids[:, 1:]
        for row, (seq, n) in enumerate(batch):
            span = slice(len(seq) - 1 - n, len(seq) - 1)  # the positions that predict the continuation
            out.append((logprobs[row, span].sum().item(), n, bool(greedy[row, span].all())))
    return out


def _argmax(values: list[float]) -> int:
    return max(range(len(values)), key=values.__getitem__)  # the first of equal values, as numpy's


def score_choices(model, tokenizer, items: list[dict], delimiter: str, batch_size: int):
    """Per item: the picks of each choice metric, and the example row."""
    requests, spans = [], []
    for item in items:
        start = len(requests)
        if item["kind"] == "schema":
            for context in item["contexts"]:
                requests.append(encode_pair(tokenizer, item["prefix"] + context, " " + item["continuation"]))
        else:
            for choice in item["choices"]:
                requests.append(encode_pair(tokenizer, item["prefix"] + item["context"], delimiter + choice))
        spans.append((start, len(requests)))
    scores = continuation_scores(model, requests, batch_size)
    picks = []
    for item, (start, stop) in zip(items, spans, strict=True):
        lls = [s[0] for s in scores[start:stop]]
        if item["kind"] == "schema":
            picks.append({"acc": _argmax(lls)})
            continue
        chars = [max(1, len(c)) for c in item["choices"]]
        nbytes = [max(1, len(c.encode())) for c in item["choices"]]
        picks.append(
            {
                "acc": _argmax(lls),
                "acc_norm": _argmax([ll / n for ll, n in zip(lls, chars, strict=True)]),
                "acc_norm_bytes": _argmax([ll / n for ll, n in zip(lls, nbytes, strict=True)]),
                "acc_mean_loss": _argmax([s[0] / max(1, s[1]) for s in scores[start:stop]]),
            }
        )
    return picks


def evaluate_imported(model, tokenizer, task: Task, cfg: EvalConfig):
    """Score an imported task: (metrics, example rows); see the module docstring for the metrics."""
    items, fewshot, baseline = load_items(task, cfg)
    layout = get_layout(task.options["layout"])
    shots = task.options.get("num_fewshot", cfg.num_fewshot)
    items = with_fewshot(items, fewshot, shots, cfg.fewshot_seed, layout.target_delimiter)
    kind = items[0]["kind"]
    examples = []
    if kind in ("choice", "schema"):
        picks = score_choices(model, tokenizer, items, layout.target_delimiter, cfg.batch_size)
        metrics = {m: sum(p[m] == it["label"] for p, it in zip(picks, items, strict=True)) / len(items)
                   for m in (CHOICE_METRICS if kind == "choice" else ("acc",))}  # fmt: skip
        for item, pick in zip(items, picks, strict=True):
            options = item["choices"] if kind == "choice" else item["contexts"]
            examples.append(
                {
                    "prompt": item["prefix"] + item.get("context", item.get("continuation", "")),
                    "response": options[pick["acc"]],
                    "target": options[item["label"]],
                    "score": float(pick["acc"] == item["label"]),
                }
            )
    elif kind == "continuation":
        requests = [
            encode_pair(tokenizer, it["prefix"] + it["context"], " " + it["continuation"]) for it in items
        ]
        scores = continuation_scores(model, requests, cfg.batch_size)
        nats, tokens = -sum(s[0] for s in scores), sum(s[1] for s in scores)
        metrics = {
            "acc": sum(s[2] for s in scores) / len(items),
            "perplexity": math.exp(min(nats / tokens, 50)),
        }
        examples = [{"prompt": it["context"], "response": "", "target": it["continuation"], "score": float(s[2])}
                    for it, s in zip(items, scores, strict=True)]  # fmt: skip
    else:
        rows = [([{"role": "user", "content": it["prefix"] + str(it["prompt"])}], reference_answer(str(it["answer"])))
                for it in items]  # fmt: skip
        accuracy, examples = exact_match(
            model, tokenizer, rows, cfg.max_new_tokens, cfg.batch_size, cfg.answer_regex
        )
        metrics = {"exact_match": accuracy}
    metric = task.options.get("metric") or next(iter(metrics))
    if metric not in metrics:
        raise UserError(f"task {task.name}: metric {metric!r} is not one of {', '.join(metrics)}")
    metrics |= {"baseline": baseline, "centered": centered(metrics[metric], baseline), "examples": len(items)}
    return metrics, examples


def centered(score: float, baseline: float) -> float:
    """(score − baseline) / (1 − baseline): 0 at chance, 1 at perfect (DCLM's CORE centring)."""
    return (score - baseline) / (1.0 - baseline)


def suite_summary(name: str, metrics: dict[str, dict]) -> dict:
    """{name, centered: {task: value}, mean}: the suite's centred score over its imported tasks."""
    scores = {task: m["centered"] for task, m in metrics.items() if "centered" in m}
    return {"name": name, "centered": scores, "mean": sum(scores.values()) / len(scores) if scores else None}
