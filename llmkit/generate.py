"""`llmkit generate` and `llmkit chat`: text from a checkpoint, through the generation engine.

`generate` completes prompts (plain text continues after <|endoftext|>, where every pretraining
document starts; chat messages, or any prompt with --chat, go through the chat template), streams
them, and optionally writes a `generations` artifact. `chat` is an interactive conversation.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, replace
from pathlib import Path
from typing import TextIO

from llmkit.checkpoint import load_model
from llmkit.defaults import stage_default
from llmkit.engine import (
    Completion,
    SamplingConfig,
    TextStream,
    chat_stop_ids,
    completion,
    generate_stream,
    generate_with_tools,
)
from llmkit.errors import UserError
from llmkit.retrieval import DEFAULT_RETRIEVE_K, format_sources, ground, open_index, with_context
from llmkit.textfiles import read_text


def read_prompts(prompts: Sequence[str], prompts_file: str | Path | None, stdin: TextIO | None) -> list:
    """Prompts from arguments, else a file, else `stdin` (one prompt per line).

    A `.jsonl` file holds one object per line whose `prompt` is a string or a list of chat messages
    ({role, content}); any other file holds one plain-text prompt per non-empty line.
    """
    if prompts and prompts_file:
        raise UserError("give prompts as arguments or with --prompts-file, not both")
    if prompts:
        return list(prompts)
    if prompts_file is not None:
        path = Path(prompts_file)
        try:
            lines = read_text(path).splitlines()  # BOM dropped; compressed files decompressed
        except FileNotFoundError as e:
            raise UserError(f"--prompts-file {path} does not exist") from e
        except UnicodeDecodeError as e:
            raise UserError(f"--prompts-file {path} is not UTF-8 text") from e
        if ".jsonl" in path.suffixes:  # prompts.jsonl or prompts.jsonl.gz
            return [_jsonl_prompt(line, path, n) for n, line in enumerate(lines, 1) if line.strip()]
        return [line for line in lines if line.strip()]
    if stdin is None or stdin.isatty():
        raise UserError("no prompt: give one as an argument, use --prompts-file, or pipe prompts on stdin")
    return [line.rstrip("\n") for line in stdin if line.strip()]


def _jsonl_prompt(line: str, path: Path, n: int):
    try:
        record = json.loads(line)
    except json.JSONDecodeError as e:
        raise UserError(f"{path}:{n} is not valid JSON: {e.msg}") from e
    prompt = record.get("prompt") if isinstance(record, dict) else None
    if not isinstance(prompt, str | list):
        raise UserError(f"{path}:{n} needs a 'prompt': a string or a list of chat messages")
    return prompt


def encode_prompt(tokenizer, prompt, chat: bool, tools=None) -> list[int]:
    """Token ids for a prompt: chat messages (or, with `chat` or a tool box, a string as one user
    message) through the chat template with the assistant turn opened (and the tools' schemas in
    front); plain text after <|endoftext|>, where every pretraining document starts."""
    if isinstance(prompt, str) and (chat or tools is not None):
        prompt = [{"role": "user", "content": prompt}]
    if isinstance(prompt, list):
        schemas = tools.schemas if tools is not None else None
        return tokenizer.render_chat(prompt, add_generation_prompt=True, tools=schemas)[0]
    return [tokenizer.eot_id, *tokenizer.encode(prompt)]


def run_generate(
    checkpoint: str | Path,
    prompts: Sequence,
    sampling: SamplingConfig,
    out_dir: str | Path | None = None,
    num_samples: int = 1,
    batch_size: int = 8,
    chat: bool = False,
    use_kv_cache: bool = True,
    stream: TextIO | None = None,
    device: str = "auto",
    config: dict | None = None,
    force: bool = False,
    retrieve: str | Path | None = None,
    retrieve_k: int = DEFAULT_RETRIEVE_K,
    tools: str | None = None,
    max_tool_calls: int = stage_default("tools", "max_tool_calls"),
) -> dict:
    """Generate `num_samples` completions of each prompt (str, or a list of chat messages) with a
    checkpoint, `batch_size` rows at a time. Text goes to `stream` as it is generated (token by token
    when there is one row, else each batch's completions when it finishes). With `out_dir`, writes a
    `generations` artifact: prompt_index, sample, prompt, completion, completion_tokens, finish_reason.
    Returns stats: completions, generated tokens, tokens/s.

    With `retrieve` (an index artifact), each prompt becomes a chat whose context message holds its
    top `retrieve_k` passages (`llmkit.retrieval`); the sources are printed under each completion and
    written to the artifact's `sources` column (JSON).

    With `tools` (`--tools calculator,my_tools.toml`, llmkit/tools.py) every prompt is a chat whose
    answer may call them, up to `max_tool_calls` times; each call and its result is shown, and written
    to the artifact's `tool_calls` column (JSON: name, arguments, result).
    """
    from llmkit.artifacts import ArtifactWriter
    from llmkit.parquet import ParquetPartWriter

    sampling.validate()
    check_prompts(prompts, num_samples, batch_size)
    if out_dir is not None and Path(out_dir).exists() and not force:
        raise UserError(f"{out_dir} already exists; pass --force to overwrite it")
    toolbox = load_tools(tools)
    hits = None
    if retrieve is not None:
        prompts, hits = ground(open_index(retrieve), list(prompts), retrieve_k)
    model, tokenizer, ckpt = load_model(checkpoint, device)
    if toolbox is not None:
        tokenizer.require_tools()
    rows = [
        (i, s, encode_prompt(tokenizer, p, chat, toolbox)) for i, p in enumerate(prompts) for s in range(num_samples)
    ]
    for i, _, ids in rows:
        if len(ids) >= model.config.seq_len:
            raise UserError(
                f"prompt {i + 1} is {len(ids)} tokens; the model's context is {model.config.seq_len} tokens "
                "(shorten it to leave room for new tokens)"
            )
    printer = CompletionPrinter(stream, prompts, chat, num_samples, token_by_token=len(rows) == 1)
    results, generated, start = [], 0, time.perf_counter()
    for first in range(0, len(rows), batch_size):
        batch = rows[first : first + batch_size]
        batch_sampling = replace(sampling, seed=sampling.seed + first)
        for (index, sample, _), done in zip(batch, generate_batch(model, tokenizer, batch, batch_sampling,
                                                                 use_kv_cache, printer, toolbox, max_tool_calls),
                                            strict=True):  # fmt: skip
            generated += len(done.ids)
            prompt = prompts[index]
            results.append({
                "prompt_index": index,
                "sample": sample,
                "prompt": prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False),
                "completion": done.text,
                "completion_tokens": len(done.ids),
                "finish_reason": done.finish_reason,
            } | ({"sources": json.dumps([asdict(h) for h in hits[index]], ensure_ascii=False)} if hits else {})
              | ({"tool_calls": json.dumps(done.tool_calls, ensure_ascii=False)} if toolbox else {}))  # fmt: skip
            printer.completion(index, sample, done.text, format_sources(hits[index]) if hits else None)
            if toolbox is not None and stream is not None and not printer.token_by_token:
                stream.write("".join(format_tool_call(call, stream) for call in done.tool_calls))
    seconds = time.perf_counter() - start
    stats = {
        "prompts": len(prompts),
        "completions": len(results),
        "generated_tokens": generated,
        "seconds": round(seconds, 3),
        "tokens_per_s": generated / seconds if seconds else None,
        "stopped": sum(r["finish_reason"] == "stop" for r in results),
    }
    if out_dir is not None:
        run_config = {**asdict(sampling), "num_samples": num_samples, "chat": chat, "tools": tools,
                      "max_tool_calls": max_tool_calls, **(config or {})}  # fmt: skip
        with ArtifactWriter(out_dir, "generations", "generate", run_config, [ckpt.path], force=force) as w:
            with ParquetPartWriter(w.part_path(0)) as part:
                part.write(results)
            w.commit(counts={"rows": len(results), "generated_tokens": generated}, stats=stats)
    return {**stats, "results": results}


def check_prompts(prompts: Sequence, num_samples: int, batch_size: int) -> None:
    """The prompts and counts `run_generate` can work with; anything else is one UserError."""
    if num_samples < 1 or batch_size < 1:
        raise UserError(
            f"--num-samples and --batch-size must be at least 1 (got {num_samples}, {batch_size})"
        )
    if not prompts:
        raise UserError("no prompts to generate from")
    for i, prompt in enumerate(prompts):  # prompt files and stdin skip blank lines; arguments must too
        if isinstance(prompt, str) and not prompt.strip():
            raise UserError(f"prompt {i + 1} is empty: give some text for the model to continue")


def generate_batch(model, tokenizer, batch: list[tuple], sampling: SamplingConfig, use_kv_cache: bool,
                   printer: CompletionPrinter, toolbox=None, max_tool_calls: int = 0) -> list[Completion]:  # fmt: skip
    """The completions of one batch of (prompt index, sample, prompt ids) rows; a single row's text is
    printed token by token as it arrives (with its tool calls, when there are tools)."""
    stop_ids = chat_stop_ids(tokenizer)
    if toolbox is not None:
        shown = ToolCallPrinter(printer.stream, tokenizer) if printer.token_by_token else None
        return generate_with_tools(
            model, tokenizer, [ids for _, _, ids in batch], sampling, toolbox, max_tool_calls,
            on_token=shown.token if shown else None, on_tool_call=shown.tool_call if shown else None,
        )  # fmt: skip
    new_ids: list[list[int]] = [[] for _ in batch]
    for step in generate_stream(model, [ids for _, _, ids in batch], sampling, stop_ids, use_kv_cache):
        for row, token in enumerate(step):
            if token is not None:
                new_ids[row].append(token)
        if step[0] is not None:
            printer.token(tokenizer, stop_ids, step[0])
    return [
        completion(tokenizer, ids, new, stop_ids) for (_, _, ids), new in zip(batch, new_ids, strict=True)
    ]


def load_tools(spec: str | None):
    """The tool box `--tools` names (llmkit/tools.py), or None."""
    from llmkit.tools import load_toolbox

    return load_toolbox(spec)


def format_tool_call(call: dict, stream: TextIO) -> str:
    """One tool call and its result as a line, dim on a terminal: `  ⚙ calculator {...} → 447981`."""
    arguments = json.dumps(call["arguments"], ensure_ascii=False) if call["arguments"] is not None else call["text"]
    line = f"  ⚙ {call['name'] or '(malformed call)'} {arguments} → {call['result']}"
    return f"\x1b[2m{line}\x1b[0m\n" if stream.isatty() else line + "\n"


class ToolCallPrinter:
    """Shows one answer live while it may call tools: its text token by token, each call as a dim line
    with its result (the call's own tokens are not shown)."""

    def __init__(self, stream: TextIO, tokenizer):
        self.stream, self.tokenizer = stream, tokenizer
        self.text = TextStream(tokenizer, chat_stop_ids(tokenizer))
        self.in_call = False

    def token(self, row: int, token: int) -> None:
        self.in_call = self.in_call or token == self.tokenizer.tool_call_id
        if not self.in_call:
            self.stream.write(self.text.add(token))
            self.stream.flush()

    def tool_call(self, row: int, call: dict) -> None:
        if self.in_call:  # the first call of a turn: end the turn's text, start a new one for what follows
            self.stream.write(self.text.finish() + "\n")
            self.text, self.in_call = TextStream(self.tokenizer, chat_stop_ids(self.tokenizer)), False
        self.stream.write(format_tool_call(call, self.stream))
        self.stream.flush()

    def finish(self) -> str:
        return self.text.finish()


class CompletionPrinter:
    """What `generate` shows on `stream`: one completion token by token (after its prompt), or each
    completion with a header once its batch is done. Nothing without a stream."""

    def __init__(
        self, stream: TextIO | None, prompts: Sequence, chat: bool, num_samples: int, token_by_token: bool
    ):
        self.stream, self.prompts, self.chat, self.num_samples = stream, prompts, chat, num_samples
        self.live: TextStream | None = None
        self.token_by_token = stream is not None and token_by_token
        if self.token_by_token and isinstance(prompts[0], str):
            stream.write(prompts[0] + ("\n→ " if chat else ""))  # a reply goes on its own line

    def token(self, tokenizer, stop_ids, token: int) -> None:
        if self.token_by_token:
            self.live = self.live or TextStream(tokenizer, stop_ids)
            self.stream.write(self.live.add(token))
            self.stream.flush()

    def completion(self, index: int, sample: int, text: str, sources: str | None = None) -> None:
        if self.stream is None:
            return
        if self.token_by_token:
            self.stream.write((self.live.finish() if self.live else "") + "\n")
        else:
            prompt = self.prompts[index]
            header = f"── prompt {index + 1}" + (f", sample {sample + 1}" if self.num_samples > 1 else "")
            shown_prompt = prompt if isinstance(prompt, str) else prompt[-1]["content"]
            sep = "\n→ " if self.chat or not isinstance(prompt, str) else ""  # a reply, not a continuation
            self.stream.write(f"{header}\n{shown_prompt}{sep}{text}\n")
        if sources:
            self.stream.write(sources + "\n")
        self.stream.flush()


def run_chat(
    checkpoint: str | Path,
    sampling: SamplingConfig,
    system: str | None = None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    device: str = "auto",
    retrieve: str | Path | None = None,
    retrieve_k: int = DEFAULT_RETRIEVE_K,
    tools: str | None = None,
    max_tool_calls: int = stage_default("tools", "max_tool_calls"),
) -> dict:
    """An interactive chat with a checkpoint through the chat template, streaming each reply.

    Reads one user message per line from `stdin`; `/reset` forgets the conversation, `/exit` (or end
    of input) quits. When the conversation outgrows the context, the oldest turns are dropped.
    With `retrieve`, each message's top `retrieve_k` passages go in a context message for that turn
    only, and their sources are printed under the reply. With `tools` the model may call them (up to
    `max_tool_calls` per reply); each call and its result is shown dim. Returns {"turns": n}.
    """
    sampling.validate()
    toolbox = load_tools(tools)
    index = open_index(retrieve) if retrieve is not None else None
    model, tokenizer, ckpt = load_model(checkpoint, device)
    if toolbox is not None:
        tokenizer.require_tools()
    schemas = toolbox.schemas if toolbox is not None else None
    stop_ids = chat_stop_ids(tokenizer)
    start: list[dict] = [{"role": "system", "content": system}] if system else []
    history = list(start)
    turns = 0
    interactive = stdin.isatty()
    stdout.write(f"chatting with {ckpt.path} — /reset starts over, /exit or Ctrl-D quits\n")
    while True:
        if interactive:
            stdout.write("you> ")
            stdout.flush()
        line = stdin.readline()
        if not line or line.strip() in ("/exit", "/quit"):
            break
        message = line.strip()
        if not message:
            continue
        if message == "/reset":
            history = list(start)
            stdout.write("(conversation reset)\n")
            continue
        history.append({"role": "user", "content": message})
        hits = _chat_hits(index, message, retrieve_k, stdout)
        ids = tokenizer.render_chat(with_context(history, hits), add_generation_prompt=True, tools=schemas)[0]
        while len(ids) >= model.config.seq_len - 1 and len(history) > len(start) + 1:
            history.pop(len(start))  # forget the oldest turn
            ids = tokenizer.render_chat(with_context(history, hits), add_generation_prompt=True, tools=schemas)[0]
        if len(ids) >= model.config.seq_len - 1:
            history.pop()
            stdout.write(f"(message too long: {len(ids)} tokens; the context is {model.config.seq_len})\n")
            continue
        stdout.write("assistant> ")
        reply = TextStream(tokenizer, stop_ids)
        turn_sampling = replace(sampling, seed=sampling.seed + turns)
        if toolbox is not None:  # the reply and its tool calls, shown live; the turn's messages kept
            shown = ToolCallPrinter(stdout, tokenizer)
            done = generate_with_tools(model, tokenizer, [ids], turn_sampling, toolbox, max_tool_calls,
                                       on_token=shown.token, on_tool_call=shown.tool_call)[0]  # fmt: skip
            stdout.write(shown.finish() + "\n")
            if index is not None:
                stdout.write(format_sources(hits) + "\n")
            history += done.messages
            turns += 1
            continue
        for step in generate_stream(model, [ids], turn_sampling, stop_ids):
            if step[0] is not None:
                stdout.write(reply.add(step[0]))
                stdout.flush()
        stdout.write(reply.finish() + "\n")
        if index is not None:
            stdout.write(format_sources(hits) + "\n")
        stdout.flush()
        history.append({"role": "assistant", "content": reply.shown})
        turns += 1
    return {"turns": turns}


def _chat_hits(index, message: str, k: int, stdout: TextIO) -> list:
    """The passages for one chat message; a message with nothing to search for (only stop words)
    gets none, said once, instead of ending the conversation."""
    if index is None:
        return []
    try:
        return index.search(message, k)
    except UserError as e:
        stdout.write(f"({e})\n")
        return []
