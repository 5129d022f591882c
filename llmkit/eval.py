"""`llmkit eval`: score a checkpoint on tasks; write an eval artifact with metrics and per-example rows.

Each task's type (`lm`, `multiple_choice`, `exact_match`) is detected from its data (`detect_task`)
or named in a TOML suite file (`read_suite`); the type's scoring function is in `llmkit.eval_tasks`.

The artifact's main table holds one row per (task, metric); `examples/` holds one row per example
(prompt, response, target, score) so failures can be read.
"""

from __future__ import annotations

import tomllib
from pathlib import Path

from llmkit.artifacts import ArtifactWriter, open_artifact, read_manifest
from llmkit.errors import UserError
from llmkit.eval_suites import evaluate_imported, layout_task, not_a_layout_message, suite_summary
from llmkit.eval_tasks import (
    EVALUATORS,
    TASK_TYPES,
    EvalConfig,
    Task,
    compile_answer_regex,
    exact_match_rows,
    read_jsonl,
    reward_comparison,
)
from llmkit.parquet import ParquetPartWriter
from llmkit.task_layouts import detect_layout

# --------------------------------------------------------------------------------------- tasks


def detect_task(path: str | Path, name: str | None = None, task_type: str | None = None, **options) -> Task:
    """A Task for `path`, its type read from the data when not given."""
    p = Path(path)
    if not p.exists():
        raise UserError(f"task {p} does not exist")
    # a published layout (HellaSwag, ARC, ...): named, or told by the keys of a file llmkit's types can't read
    if task_type is None and ("layout" in options or p.suffix in (".parquet", ".json")):
        imported = layout_task(p, name, options)
        if imported is not None:
            return imported
    if task_type is None:
        if p.is_dir():
            kind = read_manifest(p)["kind"]
            task_type = {"tokens": "lm", "prompts": "exact_match"}.get(kind)
            if task_type is None:
                raise UserError(
                    f"{p} is a '{kind}' artifact; eval takes 'tokens' or 'prompts' artifacts, text or JSONL files"
                )
        elif p.suffix in (".txt", ".md"):
            task_type = "lm"
        else:
            row = next(iter(read_jsonl(p, limit=1)), None)
            if row is None:
                raise UserError(f"task file {p} has no rows")
            layout = detect_layout(row, p)
            # GSM8K's question/answer rows are llmkit's own exact-match type (with --num-fewshot: imported)
            if layout is not None and (layout.name != "gsm8k" or options.get("num_fewshot")):
                return layout_task(p, name, options)
            if {"context", "choices", "label"} <= set(row):
                task_type = "multiple_choice"
            elif "answer" in row and ("prompt" in row or "question" in row):
                task_type = "exact_match"
            elif ("question" in row or "query" in row) and ("doc_id" in row or "passage_id" in row):
                task_type = "retrieval"
            else:
                raise UserError(not_a_layout_message(p, row))
    if task_type not in TASK_TYPES:
        raise UserError(f"unknown task type {task_type!r} for {p} (types: {', '.join(TASK_TYPES)})")
    return Task(name or (p.stem if p.is_file() else p.name), p, task_type, options)


def read_suite(path: str | Path) -> list[Task]:
    """Tasks from a TOML suite: `[[tasks]]` tables with `path` and optional `name`, `type`, options."""
    p = Path(path)
    try:
        suite = tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise UserError(f"suite file {p} does not exist") from e
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"suite file {p} is not valid TOML: {e}") from e
    entries = suite.get("tasks")
    if not isinstance(entries, list) or not entries:
        raise UserError(f"suite file {p} has no [[tasks]] entries")
    tasks = []
    for entry in entries:
        if "path" not in entry:
            raise UserError(f"suite file {p}: every [[tasks]] entry needs a path")
        path_ = Path(entry["path"])
        path_ = path_ if path_.is_absolute() or path_.exists() else p.parent / path_
        opts = {k: v for k, v in entry.items() if k not in ("path", "name", "type")}
        if "fewshot" in opts:  # a few-shot split, relative to the suite file like `path`
            fewshot = Path(opts["fewshot"])
            fewshot = fewshot if fewshot.is_absolute() or fewshot.exists() else p.parent / fewshot
            opts["fewshot"] = str(fewshot)
        if "answer_regex" in opts:
            opts["answer_regex"] = compile_answer_regex(opts["answer_regex"], f"suite file {p}: answer_regex")
        tasks.append(detect_task(path_, entry.get("name"), entry.get("type"), **opts))
    return tasks


# --------------------------------------------------------------------------------------- the stage


def run_eval(
    checkpoint: str | Path,
    tasks: list[Task],
    out: str | Path,
    cfg: EvalConfig,
    config: dict | None = None,
    force: bool = False,
    suite_name: str = "centered",
) -> dict:
    """Evaluate `checkpoint` on `tasks`; write an eval artifact to `out`; returns its manifest.

    The manifest's `stats.metrics` is `{task name: {metric: value}}`; with tasks in a published layout,
    `stats.suite` is their centred scores and mean (`llmkit.eval_suites.suite_summary`), named `suite_name`.
    """
    from llmkit.checkpoint import load_model

    if not tasks:
        raise UserError("give at least one task (a tokens artifact, a text file, a JSONL task) or --suite")
    if (
        cfg.batch_size <= 0
        or cfg.max_new_tokens <= 0
        or (cfg.max_examples is not None and cfg.max_examples <= 0)
    ):
        raise UserError("--batch-size, --max-new-tokens and --max-examples must be greater than 0")
    names = [t.name for t in tasks]
    if len(set(names)) != len(names):
        raise UserError(f"task names must be unique (got {', '.join(names)}); name them in a --suite file")
    if cfg.index is None and any(t.type == "retrieval" for t in tasks):
        raise UserError("a retrieval task (questions with gold doc_id/passage_id) needs --retrieve INDEX")
    model, tokenizer, ckpt = load_model(checkpoint, device=cfg.device)
    if cfg.toolbox is not None:
        tokenizer.require_tools()
    rm = rm_tokenizer = baseline = None
    if cfg.baseline is not None and cfg.reward_model is None:
        raise UserError("--baseline needs --reward-model: the win rate compares reward-model scores")
    if cfg.reward_model is not None:
        from llmkit.checkpoint import load_reward_model

        rm, rm_tokenizer, _ = load_reward_model(cfg.reward_model, device=cfg.device)
        if not any(t.type == "exact_match" for t in tasks):
            raise UserError(
                "--reward-model scores answers to prompts: give a prompts task (prompt/answer JSONL or a prompts artifact)"
            )
    if cfg.baseline is not None:
        baseline, base_tokenizer, _ = load_model(cfg.baseline, device=cfg.device)
        if base_tokenizer.fingerprint != tokenizer.fingerprint:
            raise UserError(
                "the baseline and the checkpoint use different tokenizers (tokenizer.json differs)"
            )
    results: dict[str, dict] = {}
    inputs = [
        ckpt.path,
        *(t.path for t in tasks),
        *(p for p in (cfg.reward_model, cfg.baseline, cfg.retrieve) if p is not None),
    ]
    with ArtifactWriter(out, kind="eval", stage="eval", config=config or {}, inputs=inputs, force=force) as w:
        with ParquetPartWriter(w.part_path(0, "examples")) as ex_part:
            for task in tasks:
                evaluate = evaluate_imported if task.type == "imported" else EVALUATORS[task.type]
                metrics, examples = evaluate(model, tokenizer, task, cfg)
                results[task.name] = metrics
                ex_part.write([{"task": task.name, **e} for e in examples])
                if rm is not None and task.type == "exact_match":
                    rows = list(exact_match_rows(task, cfg.max_examples))
                    reward_metrics, reward_examples = reward_comparison(
                        rm, rm_tokenizer, tokenizer, baseline, rows, examples, cfg
                    )
                    results[task.name] |= reward_metrics
                    ex_part.write([{"task": f"{task.name}:win", **e} for e in reward_examples])
        rows = [
            {"task": name, "metric": k, "value": float(v)}
            for name, m in results.items()
            for k, v in m.items()
        ]
        with ParquetPartWriter(w.part_path(0)) as part:
            part.write(rows)
        suite = suite_summary(suite_name, results) if any("centered" in m for m in results.values()) else None
        return w.commit(
            counts={"tasks": len(tasks), "metrics": len(rows)},
            stats={"metrics": results, "checkpoint": str(ckpt.path)} | ({"suite": suite} if suite else {}),
        )


def read_eval_metrics(path: str | Path) -> dict[str, dict]:
    """`{task: {metric: value}}` of an eval artifact (a UserError if `path` is not one)."""
    return open_artifact(path, kinds=["eval"]).manifest["stats"]["metrics"]


def compare(current: dict, other: dict) -> list[dict]:
    """Rows {task, metric, value, other, delta} for the metrics present in both `{task: {metric: value}}`."""
    rows = []
    for task, metrics in current.items():
        for metric, value in metrics.items():
            if metric in other.get(task, {}) and metric not in ("examples", "tokens"):
                rows.append(
                    {
                        "task": task,
                        "metric": metric,
                        "value": value,
                        "other": other[task][metric],
                        "delta": value - other[task][metric],
                    }
                )
    return rows
