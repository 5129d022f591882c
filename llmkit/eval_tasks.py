"""The task types `llmkit eval` scores, each one function `(model, tokenizer, task, cfg) -> (metrics,
examples)` in `EVALUATORS`; the stage that picks the tasks and writes the artifact is `llmkit.eval`.

- `lm`: loss, perplexity and bits per byte on a tokens artifact (its val split, which must not be
  empty) or a raw text file (also nats per character, which compares across tokenizers).
- `multiple_choice`: JSONL rows `{"context", "choices", "label"}`; `acc` picks the choice with the
  highest log-likelihood given the context, `acc_norm` divides it by the choice's length in
  characters. Choices are encoded as lm-evaluation-harness encodes them (`choice_logprobs`), so a
  choice carries its own leading space (`" Celsius."`).
- `exact_match`: JSONL rows `{"prompt", "answer"}` (prompt as text or chat messages; gsm8k's
  `question` works too) or a prompts artifact; greedy generation in the chat template, then answer
  extraction (`#### N`, else the last number, or `--answer-regex`) compared with the reference (a
  gsm8k-style reference, `reasoning ... #### 42`, is reduced to what follows `#### `). With
  `--reward-model`, also the mean reward of the answers and, with `--baseline CKPT`, the baseline's
  mean reward and the win rate.
- `retrieval`: JSONL rows `{"question", "doc_id"}` (or `passage_id`; one id or a list) searched in
  the `--retrieve` index: recall@1/5/10/k and MRR. With `--retrieve`, `exact_match` tasks run twice,
  with the passages in the context and without, and report both.

Each example row is `{prompt, response, target, score}`, so failures can be read.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import torch

from llmkit.answers import exact_match, reference_answer
from llmkit.artifacts import open_artifact
from llmkit.defaults import stage_default
from llmkit.engine import reward_scores, token_logprobs
from llmkit.errors import UserError
from llmkit.parquet import iter_rows, parquet_files
from llmkit.retrieval import DEFAULT_RETRIEVE_K, Index, ground, open_index, retrieval_metrics, retrieval_ranks
from llmkit.textfiles import open_text, read_text
from llmkit.tools import ToolBox, load_toolbox

TASK_TYPES = ("lm", "multiple_choice", "exact_match", "retrieval")


@dataclass
class Task:
    name: str
    path: Path
    type: str
    options: dict = field(default_factory=dict)


@dataclass
class EvalConfig:
    max_examples: int | None = None  # per task; None: all
    max_new_tokens: int = 32
    batch_size: int = 8
    answer_regex: str | re.Pattern | None = None  # compiled here, so a bad one fails before any model loads
    device: str = "auto"
    reward_model: str | Path | None = None  # with it, prompt tasks also report mean reward and win rate
    baseline: str | Path | None = None  # the checkpoint whose answers the win rate compares against
    num_fewshot: int = 0  # tasks in a published layout (llmkit.eval_suites) that set no count of their own
    fewshot_seed: int = 1234  # lm-evaluation-harness's few-shot sampler seed
    retrieve: str | Path | None = None  # an index: exact match runs with and without it; retrieval tasks search it
    retrieve_k: int = DEFAULT_RETRIEVE_K
    tools: str | None = None  # --tools: exact-match answers may call them (llmkit/tools.py)
    max_tool_calls: int = stage_default("tools", "max_tool_calls")
    index: Index | None = field(default=None, init=False, repr=False)
    toolbox: ToolBox | None = field(default=None, init=False, repr=False)

    def __post_init__(self):
        self.answer_regex = compile_answer_regex(self.answer_regex, "--answer-regex")
        self.toolbox = load_toolbox(self.tools)  # a bad --tools fails before any model loads
        if self.retrieve is not None:  # opened here, so a missing or corrupt index fails before any model loads
            if self.retrieve_k < 1:
                raise UserError(f"--retrieve-k must be at least 1 (got {self.retrieve_k})")
            self.index = open_index(self.retrieve)


def compile_answer_regex(pattern: str | re.Pattern | None, where: str) -> re.Pattern | None:
    """`pattern` compiled; an invalid one is a UserError naming `where` it came from."""
    if pattern is None or isinstance(pattern, re.Pattern):
        return pattern
    if not isinstance(pattern, str):
        raise UserError(f"{where} must be a string regex (got {pattern!r})")
    try:
        return re.compile(pattern)
    except re.error as e:
        raise UserError(f"{where} {pattern!r} is not a valid regex: {e}") from e


# --------------------------------------------------------------------------------------- task data


def read_jsonl(path: Path, limit: int | None = None):
    """Rows of a JSONL file; a malformed line is a UserError naming the line."""
    n = 0
    with open_text(path, errors="replace") as f:  # BOM dropped; compressed files read as a stream
        for i, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(f"{path}:{i} is not valid JSON: {e.msg}") from e
            if not isinstance(row, dict):
                raise UserError(f"{path}:{i} is not a JSON object")
            yield row
            n += 1
            if limit is not None and n >= limit:
                return


# --------------------------------------------------------------------------------------- scoring


@torch.no_grad()
def sequence_logprobs(model, sequences: list[list[int]], starts: list[int]) -> list[float]:
    """Sum of log p(token_i | tokens_<i) over positions i >= start, for each sequence (batched, padded)."""
    width = max(len(s) for s in sequences)
    device = next(model.parameters()).device
    ids = torch.zeros(len(sequences), width, dtype=torch.long, device=device)
    for row, seq in enumerate(sequences):
        ids[row, : len(seq)] = torch.tensor(seq, device=device)
    # the last token is only ever a target; right padding is never seen by causal attention
    logprobs = token_logprobs(model(ids[:, :-1]), ids[:, 1:])
    return [logprobs[row, start - 1 : len(seq) - 1].sum().item()
            for row, (seq, start) in enumerate(zip(sequences, starts, strict=True))]  # fmt: skip


def eval_lm(model, tokenizer, task: Task, cfg: EvalConfig):
    """Loss, perplexity, bits per byte (and nats per char for text) over non-overlapping windows."""
    seq_len = model.config.seq_len
    if task.path.is_dir():
        art = open_artifact(task.path, kinds=["tokens"])
        # Held-out loss only: training documents would flatter the model, so no falling back to train/.
        docs = [r["input_ids"] for r in iter_rows(parquet_files(art.path / "val"), columns=["input_ids"])]
        if not any(docs):
            raise UserError(
                f"task {task.name}: {task.path} has no validation tokens (its val/ split is empty); re-run "
                "tokenize with --val-fraction (or, for a text file, --val-tail-fraction) above 0"
            )
        if cfg.max_examples:
            docs = docs[: cfg.max_examples]
        stream = [t for d in docs for t in d]
        n_bytes = sum(len(tokenizer.decode([t for t in d if t != tokenizer.eot_id]).encode()) for d in docs)
        n_chars = None
    else:
        text = read_text(task.path, errors="replace")
        stream = tokenizer.encode(text)
        n_bytes, n_chars = len(text.encode()), len(text)
    if len(stream) < 2:
        raise UserError(f"task {task.name}: {task.path} has fewer than 2 tokens to evaluate")
    if tokenizer.vocab_size != model.config.vocab_size or max(stream) >= model.config.vocab_size:
        raise UserError(
            f"task {task.name}: token ids do not fit the model's vocabulary of {model.config.vocab_size:,}"
        )
    windows = [stream[i : i + seq_len + 1] for i in range(0, len(stream) - 1, seq_len)]
    windows = [w for w in windows if len(w) > 1]
    total_nats, total_tokens = 0.0, 0
    for i in range(0, len(windows), cfg.batch_size):
        batch = windows[i : i + cfg.batch_size]
        total_nats -= sum(sequence_logprobs(model, batch, [1] * len(batch)))
        total_tokens += sum(len(w) - 1 for w in batch)
    loss = total_nats / total_tokens
    metrics = {
        "loss": loss,
        "perplexity": math.exp(min(loss, 50)),
        "bits_per_byte": total_nats / math.log(2) / n_bytes,
        "tokens": total_tokens,
    }
    if n_chars:
        metrics["nats_per_char"] = total_nats / n_chars
    return metrics, []


def encode_pair(tokenizer, context: str, continuation: str) -> tuple[list[int], list[int]]:
    """Context and continuation ids as lm-evaluation-harness encodes them (`_encode_pair`).

    Trailing whitespace of the context moves to the continuation; context + continuation is encoded
    as one string and split after the context's own token count, so the continuation's tokens are
    the ones the model would read in running text. An empty context becomes `<|endoftext|>`, so the
    first continuation token is scored too.
    """
    if not context:
        return [tokenizer.eot_id], tokenizer.encode(continuation)
    n_spaces = len(context) - len(context.rstrip())
    if n_spaces:
        context, continuation = context[:-n_spaces], context[-n_spaces:] + continuation
    whole = tokenizer.encode(context + continuation)
    n_context = len(tokenizer.encode(context))
    return whole[:n_context], whole[n_context:]


def choice_logprobs(model, tokenizer, context: str, choices: list[str]) -> list[float]:
    """Log-likelihood (nats) of each choice as the continuation of `context` (`encode_pair`); when
    the whole does not fit the model's context, the start of the context is cut off."""
    seq_len = model.config.seq_len
    sequences, starts = [], []
    for choice in choices:
        ctx, cont = encode_pair(tokenizer, context, choice)
        seq = (ctx + cont)[-(seq_len + 1) :]  # keep the end: the continuation and as much context as fits
        sequences.append(seq)
        starts.append(max(1, len(seq) - len(cont)))
    return sequence_logprobs(model, sequences, starts)


def eval_multiple_choice(model, tokenizer, task: Task, cfg: EvalConfig):
    correct = correct_norm = 0
    examples = []
    for i, row in enumerate(read_jsonl(task.path, limit=cfg.max_examples)):
        context, choices, label = row.get("context"), row.get("choices"), row.get("label")
        if (
            not isinstance(context, str)
            or not isinstance(choices, list)
            or not choices
            or not all(isinstance(c, str) and c for c in choices)
            or isinstance(label, bool)  # a bool is an int in Python; `true` is not an index
            or not isinstance(label, int)
            or not 0 <= label < len(choices)
        ):
            raise UserError(
                f"{task.path}: row {i + 1} needs a string context, a list of non-empty string choices "
                "and an integer label indexing it"
            )
        lls = choice_logprobs(model, tokenizer, context, choices)
        pick = max(range(len(choices)), key=lambda c: lls[c])
        pick_norm = max(range(len(choices)), key=lambda c: lls[c] / max(1, len(choices[c])))
        correct += pick == label
        correct_norm += pick_norm == label
        examples.append(
            {
                "prompt": context,
                "response": choices[pick],
                "target": choices[label],
                "score": float(pick == label),
            }
        )
    if not examples:
        raise UserError(f"task file {task.path} has no rows")
    n = len(examples)
    return {"acc": correct / n, "acc_norm": correct_norm / n, "examples": n}, examples


def exact_match_rows(task: Task, limit: int | None):
    if task.path.is_dir():
        rows = iter_rows(open_artifact(task.path, kinds=["prompts"]).parts)
    else:
        rows = read_jsonl(task.path)
    for i, row in enumerate(rows):
        if limit is not None and i >= limit:
            return
        prompt = row.get("prompt", row.get("question"))
        messages = [{"role": "user", "content": prompt}] if isinstance(prompt, str) else prompt
        if not messages or row.get("answer") is None:
            raise UserError(f"{task.path}: row {i + 1} needs a prompt and an answer")
        yield messages, reference_answer(str(row["answer"]))


def eval_exact_match(model, tokenizer, task: Task, cfg: EvalConfig):
    rows = list(exact_match_rows(task, cfg.max_examples))
    if not rows:
        raise UserError(f"task {task.path} has no rows")
    regex = task.options.get("answer_regex", cfg.answer_regex)
    tools = dict(tools=cfg.toolbox, max_tool_calls=cfg.max_tool_calls)
    accuracy, examples = exact_match(model, tokenizer, rows, cfg.max_new_tokens, cfg.batch_size, regex, **tools)
    if cfg.index is None:
        return {"exact_match": accuracy, "examples": len(examples)}, examples
    # The same questions again with their passages in the context: both scores in one artifact.
    grounded, _ = ground(cfg.index, [messages for messages, _ in rows], cfg.retrieve_k)
    grounded_rows = [(messages, target) for messages, (_, target) in zip(grounded, rows, strict=True)]
    with_retrieval, grounded_examples = exact_match(
        model, tokenizer, grounded_rows, cfg.max_new_tokens, cfg.batch_size, regex, **tools
    )
    metrics = {"exact_match": with_retrieval, "exact_match_without_retrieval": accuracy, "examples": len(rows)}
    closed_book = [{**e, "task": f"{task.name}:without-retrieval"} for e in examples]
    return metrics, grounded_examples + closed_book


def eval_retrieval(model, tokenizer, task: Task, cfg: EvalConfig):
    """recall@k and MRR of the --retrieve index on JSONL rows {question (or query), doc_id or passage_id}
    (a gold id or a list of them); a question's first gold passage is looked for in the top 10 hits (or
    the top --retrieve-k if larger)."""
    questions, gold = [], []
    for i, row in enumerate(read_jsonl(task.path, limit=cfg.max_examples)):
        query, key = row.get("question", row.get("query")), "doc_id" if "doc_id" in row else "passage_id"
        ids = row.get(key)
        ids = [ids] if isinstance(ids, str) else ids
        if not isinstance(query, str) or not isinstance(ids, list) or not ids:
            raise UserError(f"{task.path}: row {i + 1} needs a question and a gold doc_id or passage_id")
        questions.append(query)
        gold.append((key, {str(x) for x in ids}))
    if not questions:
        raise UserError(f"task file {task.path} has no rows")
    ks = tuple(sorted({1, 5, 10, cfg.retrieve_k}))
    ranks, hits = retrieval_ranks(cfg.index, questions, gold, depth=max(ks))
    examples = [
        {"prompt": q, "response": " ".join(getattr(h, key) for h in found[: cfg.retrieve_k]),
         "target": " ".join(sorted(ids)), "score": float(r is not None and r <= cfg.retrieve_k)}
        for q, (key, ids), found, r in zip(questions, gold, hits, ranks, strict=True)
    ]  # fmt: skip
    return {**retrieval_metrics(ranks, ks), "examples": len(examples)}, examples


def reward_comparison(rm, rm_tokenizer, tokenizer, baseline, rows, examples: list[dict], cfg: EvalConfig):
    """Mean reward of the checkpoint's answers and, with a baseline, its answers' mean reward and the win
    rate (ties count half): (metrics, per-example rows). Answers too long for the reward model's
    context are left out and counted (`reward_skipped`)."""
    if rm_tokenizer.fingerprint != tokenizer.fingerprint:
        raise UserError(
            "the reward model and the checkpoint use different tokenizers (tokenizer.json differs)"
        )
    if baseline is not None:
        _, base_examples = exact_match(
            baseline, tokenizer, rows, cfg.max_new_tokens, cfg.batch_size, cfg.answer_regex
        )
    else:
        base_examples = examples
    prompts = [messages for messages, _ in rows]
    ours = reward_scores(rm, tokenizer, prompts, [e["response"] for e in examples], cfg.batch_size)
    theirs = reward_scores(rm, tokenizer, prompts, [b["response"] for b in base_examples], cfg.batch_size)
    kept = [i for i in range(len(rows)) if not (torch.isnan(ours[i]) or torch.isnan(theirs[i]))]
    if not kept:
        raise UserError(f"no prompt and answers fit the reward model's context of {rm.config.seq_len} tokens")
    ours, theirs = ours[kept], theirs[kept]
    metrics = {"reward": ours.mean().item(), "reward_skipped": len(rows) - len(kept)}
    out = []
    if baseline is not None:
        wins = (ours > theirs).float() + 0.5 * (ours == theirs).float()
        metrics |= {"baseline_reward": theirs.mean().item(), "win_rate": wins.mean().item()}
        for i, w in zip(kept, wins.tolist(), strict=True):
            out.append(
                {
                    "prompt": prompts[i][-1]["content"],
                    "response": examples[i]["response"],
                    "target": base_examples[i]["response"],
                    "score": w,
                }
            )
    return metrics, out


EVALUATORS = {"lm": eval_lm, "multiple_choice": eval_multiple_choice, "exact_match": eval_exact_match,
              "retrieval": eval_retrieval}  # fmt: skip
