"""Sampling: temperature, top-k, top-p, and the batched generation loop with a KV cache.

`generate_stream` yields one new token per row per step, so callers can print as tokens arrive;
`generate` collects them. Batches of prompts of different lengths are left-padded: each row gets
its own RoPE positions (counting from its first real token) and an attention mask that hides the
padding, so a prompt generates the same tokens alone or in a batch.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TextIO

import torch

from llmkit.errors import UserError
from llmkit.model import KVCache, Transformer


def top_k_filter(logits: torch.Tensor, k: int) -> torch.Tensor:
    """Keep the k largest logits of each row (ties at the k-th value are cut to exactly k); -inf the rest."""
    if k <= 0 or k >= logits.size(-1):
        return logits
    keep = logits.topk(k, dim=-1).indices
    return torch.full_like(logits, float("-inf")).scatter(-1, keep, logits.gather(-1, keep))


def top_p_filter(logits: torch.Tensor, p: float) -> torch.Tensor:
    """Keep the smallest set of most likely tokens whose probabilities sum to at least p (nucleus
    sampling, Holtzman et al. 2019); -inf the rest. The most likely token always stays."""
    if p >= 1.0:
        return logits
    sorted_logits, order = logits.sort(dim=-1, descending=True)
    probs = sorted_logits.softmax(dim=-1)
    mass_before = probs.cumsum(dim=-1) - probs  # probability of the tokens ranked above each one
    drop_sorted = mass_before >= p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))


def sample_next(
    logits: torch.Tensor,
    temperature: float = 1.0,
    top_k: int = 0,
    top_p: float = 1.0,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Next token ids (B,) from last-position logits (B, vocab). temperature 0 is greedy (argmax)."""
    if temperature == 0:
        return logits.argmax(dim=-1)
    logits = top_p_filter(top_k_filter(logits.float() / temperature, top_k), top_p)
    return torch.multinomial(logits.softmax(dim=-1), 1, generator=generator).squeeze(-1)


@dataclass
class SamplingConfig:
    max_new_tokens: int = 128
    temperature: float = 0.8
    top_k: int = 0  # 0 = off
    top_p: float = 1.0  # 1 = off
    seed: int = 0

    def validate(self) -> SamplingConfig:
        if self.max_new_tokens <= 0:
            raise UserError(f"--max-new-tokens must be greater than 0 (got {self.max_new_tokens})")
        if self.temperature < 0:
            raise UserError(f"--temperature must be 0 (greedy) or more (got {self.temperature})")
        if self.top_k < 0:
            raise UserError(f"--top-k must be 0 (off) or more (got {self.top_k})")
        if not 0 < self.top_p <= 1:
            raise UserError(f"--top-p must be in (0, 1] (got {self.top_p})")
        return self


@torch.no_grad()
def generate_stream(
    model: Transformer,
    prompts: Sequence[Sequence[int]],
    sampling: SamplingConfig,
    stop_ids: Sequence[int] = (),
    use_kv_cache: bool = True,
) -> Iterator[list[int | None]]:
    """Generate continuations of token-id `prompts` as one left-padded batch.

    Yields, per step, a list with the new token id of each row, or None for rows that already
    stopped (at a token in `stop_ids`, which is yielded, or at the model's context length). Without
    the KV cache every step recomputes the whole sequence: the reference the cache is tested against.
    """
    cfg = model.config
    lengths = [len(p) for p in prompts]
    if not prompts or min(lengths) == 0:
        raise UserError("every prompt needs at least one token")
    if max(lengths) >= cfg.seq_len:
        raise UserError(
            f"prompt of {max(lengths)} tokens does not fit the model's context of {cfg.seq_len} tokens "
            "(leave room for at least one new token)"
        )
    device = next(model.parameters()).device
    B, width = len(prompts), max(lengths)
    steps = min(sampling.max_new_tokens, cfg.seq_len - width)
    pad = torch.tensor([width - n for n in lengths], device=device)
    tokens = torch.zeros(B, width + steps, dtype=torch.long, device=device)
    for i, p in enumerate(prompts):
        tokens[i, width - len(p) : width] = torch.tensor(p, dtype=torch.long)
    padded = min(lengths) != width
    if padded:  # key j is real for row b when j >= pad[b]; each query sees real keys up to itself
        total = width + steps
        real = torch.arange(total, device=device)[None, :] >= pad[:, None]  # (B, total)
        positions_all = (torch.arange(total, device=device)[None, :] - pad[:, None]).clamp(min=0)
        causal = torch.ones(total, total, dtype=torch.bool, device=device).tril()
        mask_all = (causal[None] & real[:, None, :])[:, None]  # (B, 1, total, total)
        # a padding query sees no key at all, which makes softmax NaN; let it see itself (output unused)
        mask_all |= torch.eye(total, dtype=torch.bool, device=device)[None, None]
    generator = torch.Generator(device=device).manual_seed(sampling.seed)
    stops = torch.tensor(list(stop_ids) or [-1], device=device)
    done = torch.zeros(B, dtype=torch.bool, device=device)
    cache = KVCache(cfg, B, width + steps, device=device) if use_kv_cache else None
    model.eval()
    start = 0  # the first position the next forward pass computes
    for step in range(steps):
        end = width + step
        if cache is None:
            start = 0
        # without padding the model's own causal attention is right (and faster than a mask)
        window = {}
        if padded:
            window = dict(positions=positions_all[:, start:end], attn_mask=mask_all[:, :, start:end, :end])
        logits = model(tokens[:, start:end], kv_cache=cache, **window)
        next_ids = sample_next(logits[:, -1], sampling.temperature, sampling.top_k, sampling.top_p, generator)
        tokens[:, end] = next_ids
        yield [None if d else int(t) for t, d in zip(next_ids.tolist(), done.tolist(), strict=True)]
        done |= torch.isin(next_ids, stops)
        if bool(done.all()):
            return
        start = end


def generate(
    model: Transformer,
    prompts: Sequence[Sequence[int]],
    sampling: SamplingConfig,
    stop_ids: Sequence[int] = (),
    use_kv_cache: bool = True,
) -> list[list[int]]:
    """The new token ids of each prompt (including the stop token where one was produced)."""
    outputs: list[list[int]] = [[] for _ in prompts]
    for step in generate_stream(model, prompts, sampling, stop_ids, use_kv_cache):
        for row, token in enumerate(step):
            if token is not None:
                outputs[row].append(token)
    return outputs


# --------------------------------------------------------------------------------------- the generate stage


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
            lines = path.read_text(encoding="utf-8").splitlines()
        except FileNotFoundError as e:
            raise UserError(f"--prompts-file {path} does not exist") from e
        except UnicodeDecodeError as e:
            raise UserError(f"--prompts-file {path} is not UTF-8 text") from e
        if path.suffix == ".jsonl":
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


def encode_prompt(tokenizer, prompt, chat: bool) -> list[int]:
    """Token ids for a prompt: chat messages (or, with `chat`, a string as one user message) through the
    chat template with the assistant turn opened; plain text after <|endoftext|>, where every
    pretraining document starts."""
    if isinstance(prompt, str) and chat:
        prompt = [{"role": "user", "content": prompt}]
    if isinstance(prompt, list):
        return tokenizer.render_chat(prompt, add_generation_prompt=True)[0]
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
) -> dict:
    """Generate `num_samples` completions of each prompt (str, or a list of chat messages) with a
    checkpoint, `batch_size` rows at a time. Text goes to `stream` as it is generated (token by token
    when there is one row, else each batch's completions when it finishes). With `out_dir`, writes a
    `generations` artifact: prompt_index, sample, prompt, completion, completion_tokens, finish_reason.
    Returns stats: completions, generated tokens, tokens/s.
    """
    from llmkit.artifacts import ArtifactWriter, ParquetPartWriter
    from llmkit.train.common import load_model

    sampling.validate()
    if num_samples < 1 or batch_size < 1:
        raise UserError(
            f"--num-samples and --batch-size must be at least 1 (got {num_samples}, {batch_size})"
        )
    if not prompts:
        raise UserError("no prompts to generate from")
    for i, prompt in enumerate(prompts):  # prompt files and stdin skip blank lines; arguments must too
        if isinstance(prompt, str) and not prompt.strip():
            raise UserError(f"prompt {i + 1} is empty: give some text for the model to continue")
    if out_dir is not None and Path(out_dir).exists() and not force:
        raise UserError(f"{out_dir} already exists; pass --force to overwrite it")
    model, tokenizer, ckpt = load_model(checkpoint, device)
    stop_ids = [tokenizer.eot_id, tokenizer.im_end_id]
    rows = [
        (i, s, encode_prompt(tokenizer, p, chat)) for i, p in enumerate(prompts) for s in range(num_samples)
    ]
    for i, _, ids in rows:
        if len(ids) >= model.config.seq_len:
            raise UserError(
                f"prompt {i + 1} is {len(ids)} tokens; the model's context is {model.config.seq_len} tokens "
                "(shorten it to leave room for new tokens)"
            )
    streaming = stream is not None and len(rows) == 1  # token by token
    if streaming and isinstance(prompts[0], str):
        stream.write(prompts[0] + ("\n→ " if chat else ""))  # a reply goes on its own line
    results, generated, start = [], 0, time.perf_counter()
    for first in range(0, len(rows), batch_size):
        batch = rows[first : first + batch_size]
        batch_sampling = replace(sampling, seed=sampling.seed + first)
        new_ids: list[list[int]] = [[] for _ in batch]
        shown = ""
        for step in generate_stream(
            model, [ids for _, _, ids in batch], batch_sampling, stop_ids, use_kv_cache
        ):
            for row, token in enumerate(step):
                if token is not None:
                    new_ids[row].append(token)
            if streaming:
                text = tokenizer.decode([t for t in new_ids[0] if t not in stop_ids])
                if not text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
                    stream.write(text[len(shown) :])
                    stream.flush()
                    shown = text
        for (index, sample, _), ids in zip(batch, new_ids, strict=True):
            stopped = bool(ids) and ids[-1] in stop_ids
            text = tokenizer.decode(ids[:-1] if stopped else ids)
            generated += len(ids)
            prompt = prompts[index]
            results.append({
                "prompt_index": index,
                "sample": sample,
                "prompt": prompt if isinstance(prompt, str) else json.dumps(prompt, ensure_ascii=False),
                "completion": text,
                "completion_tokens": len(ids),
                "finish_reason": "stop" if stopped else "length",
            })  # fmt: skip
            if streaming:
                stream.write(text[len(shown) :] + "\n")
            elif stream is not None:
                header = f"── prompt {index + 1}" + (f", sample {sample + 1}" if num_samples > 1 else "")
                shown_prompt = prompt if isinstance(prompt, str) else prompt[-1]["content"]
                sep = "\n→ " if chat or not isinstance(prompt, str) else ""  # a reply, not a continuation
                stream.write(f"{header}\n{shown_prompt}{sep}{text}\n")
            if stream is not None:
                stream.flush()
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
        run_config = {**asdict(sampling), "num_samples": num_samples, "chat": chat, **(config or {})}
        with ArtifactWriter(out_dir, "generations", "generate", run_config, [ckpt.path], force=force) as w:
            with ParquetPartWriter(w.part_path(0)) as part:
                part.write(results)
            w.commit(counts={"rows": len(results), "generated_tokens": generated}, stats=stats)
    return {**stats, "results": results}


def run_chat(
    checkpoint: str | Path,
    sampling: SamplingConfig,
    system: str | None = None,
    stdin: TextIO = sys.stdin,
    stdout: TextIO = sys.stdout,
    device: str = "auto",
) -> dict:
    """An interactive chat with a checkpoint through the chat template, streaming each reply.

    Reads one user message per line from `stdin`; `/reset` forgets the conversation, `/exit` (or end
    of input) quits. When the conversation outgrows the context, the oldest turns are dropped.
    Returns {"turns": n}.
    """
    from llmkit.train.common import load_model

    sampling.validate()
    model, tokenizer, ckpt = load_model(checkpoint, device)
    stop_ids = [tokenizer.im_end_id, tokenizer.eot_id]
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
        ids = tokenizer.render_chat(history, add_generation_prompt=True)[0]
        while len(ids) >= model.config.seq_len - 1 and len(history) > len(start) + 1:
            history.pop(len(start))  # forget the oldest turn
            ids = tokenizer.render_chat(history, add_generation_prompt=True)[0]
        if len(ids) >= model.config.seq_len - 1:
            history.pop()
            stdout.write(f"(message too long: {len(ids)} tokens; the context is {model.config.seq_len})\n")
            continue
        stdout.write("assistant> ")
        reply: list[int] = []
        shown = ""
        turn_sampling = replace(sampling, seed=sampling.seed + turns)
        for step in generate_stream(model, [ids], turn_sampling, stop_ids):
            if step[0] is not None and step[0] not in stop_ids:
                reply.append(step[0])
                text = tokenizer.decode(reply)
                if not text.endswith("\ufffd"):
                    stdout.write(text[len(shown) :])
                    stdout.flush()
                    shown = text
        text = tokenizer.decode(reply)
        stdout.write(text[len(shown) :] + "\n")
        stdout.flush()
        history.append({"role": "assistant", "content": text})
        turns += 1
    return {"turns": turns}
