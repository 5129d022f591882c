"""The generation engine: everything that turns a model and token ids into new tokens or their
log-probabilities. Every caller that generates — `generate`, `chat`, eval's exact match, the samples
shown during training, PPO's and GRPO's rollouts — goes through here.

- Sampling: temperature, top-k, top-p (`sample_next`, `SamplingConfig`).
- Batched generation with a KV cache (`generate_stream`, `generate`): prompts of different lengths
  are left-padded; each row gets its own RoPE positions (counting from its first real token) and an
  attention mask that hides the padding, so a prompt generates the same tokens alone or in a batch.
  With `samples_per_prompt` > 1 each prompt is prefilled once and its KV cache is shared by its
  samples (GRPO's groups).
- Chat completion (`complete_chats`): render conversations through the chat template, keep the last
  tokens that leave room for the answer, generate until <|im_end|> or <|endoftext|>, decode.
- Tool calls (`generate_with_tools`): when an assistant turn ends in `<|tool_call|>{json}` calls,
  run them through a tool box (llmkit/tools.py), append the results as forced tokens (the chat
  template's tool messages and a new assistant turn) and continue, up to `max_tool_calls` per answer.
- Log-probabilities of target tokens (`token_logprobs`, `sequence_logprobs`).
- Streaming text (`TextStream`): new tokens to printable text, never half a character.

The engine knows no files and no screen.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import torch

from llmkit.defaults import stage_default
from llmkit.device import autocast
from llmkit.errors import UserError
from llmkit.model import KVCache, Transformer, decoding, weight_bytes

IGNORE = -100  # the target of a position without a loss (F.cross_entropy's ignore_index)


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


# --------------------------------------------------------------------------------------- batched generation


# inference mode, not just no_grad: no tensor made here outlives the generation, and skipping autograd's
# bookkeeping (version counters, view tracking) on each of a decode step's ~200 small kernels is measured
# 10-25% more tokens/s for the small preset at batch 1 on the 2-core Xeon
@torch.inference_mode()
def generate_stream(
    model: Transformer,
    prompts: Sequence[Sequence[int]],
    sampling: SamplingConfig,
    stop_ids: Sequence[int] = (),
    use_kv_cache: bool = True,
    samples_per_prompt: int = 1,
) -> Iterator[list[int | None]]:
    """Generate continuations of token-id `prompts` as one left-padded batch.

    Rows are the prompts, each repeated `samples_per_prompt` times in a row (prompt i's samples are
    rows i·n … i·n + n − 1). With the KV cache each prompt is prefilled once and its cache copied to
    its samples, which then decode as separate rows; the tokens are the same as for a batch of
    repeated prompts. Yields, per step, a list with the new token id of each row, or None for rows
    that already stopped (at a token in `stop_ids`, which is yielded, or at the model's context
    length). Without the KV cache every step recomputes the whole sequence: the reference the cache
    is tested against.
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
    if samples_per_prompt < 1:
        raise UserError(f"samples per prompt must be at least 1 (got {samples_per_prompt})")
    shared = samples_per_prompt if use_kv_cache else 1  # rows that share one prefill
    if not use_kv_cache:
        prompts = [p for p in prompts for _ in range(samples_per_prompt)]
        lengths = [len(p) for p in prompts]
    device = next(model.parameters()).device
    B, width = len(prompts), max(lengths)
    steps = min(sampling.max_new_tokens, cfg.seq_len - width)
    total = width + steps
    tokens = torch.zeros(B, total, dtype=torch.long, device=device)
    for i, p in enumerate(prompts):
        tokens[i, width - len(p) : width] = torch.tensor(p, dtype=torch.long)
    padded = min(lengths) != width
    positions_all = mask_all = None
    if padded:  # key j is real for row b when j >= pad[b]; each query sees real keys up to itself
        pad = torch.tensor([width - n for n in lengths], device=device)
        real = torch.arange(total, device=device)[None, :] >= pad[:, None]  # (B, total)
        positions_all = (torch.arange(total, device=device)[None, :] - pad[:, None]).clamp(min=0)
        causal = torch.ones(total, total, dtype=torch.bool, device=device).tril()
        mask_all = (causal[None] & real[:, None, :])[:, None]  # (B, 1, total, total)
        # a padding query sees no key at all, which makes softmax NaN; let it see itself (output unused)
        mask_all |= torch.eye(total, dtype=torch.bool, device=device)[None, None]
    generator = torch.Generator(device=device).manual_seed(sampling.seed)
    stops = set(stop_ids)
    done = [False] * (B * shared)  # checked on the host: the ids are read there anyway, for the yield
    cache = KVCache(cfg, B, total, device=device) if use_kv_cache else None
    model.eval()
    with decoding(model, B * shared, steps), torch_threads(decode_threads(model, B * shared)):
        start = 0  # the first position the next forward pass computes
        for step in range(steps):
            end = width + step
            if cache is None:
                start = 0
            # without padding the model's own causal attention is right (and faster than a mask)
            window = {}
            if padded:
                window = dict(
                    positions=positions_all[:, start:end], attn_mask=mask_all[:, :, start:end, :end]
                )
            logits = model(tokens[:, start:end], kv_cache=cache, **window)[:, -1]
            if step == 0 and shared > 1:  # the prompts are prefilled: now each sample gets its own row
                logits, tokens = logits.repeat_interleave(shared, 0), tokens.repeat_interleave(shared, 0)
                cache.repeat_interleave(shared)
                if padded:
                    positions_all = positions_all.repeat_interleave(shared, 0)
                    mask_all = mask_all.repeat_interleave(shared, 0)
            next_ids = sample_next(logits, sampling.temperature, sampling.top_k, sampling.top_p, generator)
            tokens[:, end] = next_ids
            new = next_ids.tolist()
            yield [None if d else t for t, d in zip(new, done, strict=True)]
            done = [d or t in stops for t, d in zip(new, done, strict=True)]
            if all(done):
                return
            start = end


# On the CPU, where idle OpenMP threads sleep, a decode step of a small model runs on one intra-op
# thread. Each of its ~25 matmuls is an OpenMP parallel region, and with OMP_WAIT_POLICY=PASSIVE (what
# the CLI sets, llmkit/cli.py) every region pays for waking the sleeping threads; while the weights
# fit in the cache a second thread adds no memory bandwidth to pay that back. Measured on the 2-core
# Intel Xeon @ 2.80GHz (48 MB L3, fp32, PASSIVE), greedy, two threads over one: tiny (0.9M parameters)
# 0.43-0.55× at batch 1-32; small (10.8M, 43 MB) 0.73× at batch 1 and 0.86× at 8 but 1.07× at 32
# (692 MFLOP a step); base (85M, 341 MB, past the cache) 1.16× already at batch 1. Spinning threads
# (ACTIVE, or libgomp's default of a short spin) wake at once, so then all threads decode. Same tokens
# either way; only the speed differs.
SINGLE_THREAD_DECODE_FLOPS = 400e6  # matmul FLOPs of one step, all rows
SINGLE_THREAD_DECODE_WEIGHT_BYTES = 64 * 2**20


def decode_threads(model: Transformer, rows: int) -> int:
    """The intra-op threads a decode step of `rows` rows uses: one on the CPU for a small model and
    step when idle threads sleep (see SINGLE_THREAD_DECODE_FLOPS), otherwise all of torch's."""
    threads = torch.get_num_threads()
    on_cpu = next(model.parameters()).device.type == "cpu"
    if not on_cpu or os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        return threads
    matmul_flops = 2 * sum(p.numel() for p in model.parameters()) * rows
    if matmul_flops < SINGLE_THREAD_DECODE_FLOPS and weight_bytes(model) < SINGLE_THREAD_DECODE_WEIGHT_BYTES:
        return 1
    return threads


@contextmanager
def torch_threads(n: int):
    """torch's intra-op thread count is `n` within the block, and what it was again after."""
    before = torch.get_num_threads()
    if n == before:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def generate(
    model: Transformer,
    prompts: Sequence[Sequence[int]],
    sampling: SamplingConfig,
    stop_ids: Sequence[int] = (),
    use_kv_cache: bool = True,
    samples_per_prompt: int = 1,
) -> list[list[int]]:
    """The new token ids of each row (prompt × sample), including the stop token where one was produced."""
    outputs: list[list[int]] = [[] for _ in range(len(prompts) * samples_per_prompt)]
    for step in generate_stream(model, prompts, sampling, stop_ids, use_kv_cache, samples_per_prompt):
        for row, token in enumerate(step):
            if token is not None:
                outputs[row].append(token)
    return outputs


# --------------------------------------------------------------------------------------- chat completion


def chat_stop_ids(tokenizer) -> list[int]:
    """The tokens that end an answer: <|im_end|> closes the assistant's turn, <|endoftext|> the document."""
    return [tokenizer.im_end_id, tokenizer.eot_id]


def answer_sequences(
    tokenizer, messages: list[dict], answers: Sequence[str], max_len: int
) -> tuple[list[list[int]], int] | None:
    """The conversation with each answer as the assistant's reply (ending in <|im_end|>), all with the
    same prompt, cut from the left so the longest fits `max_len`: (sequences, prompt length), or None
    when the answers alone leave less than 2 tokens of prompt."""
    prompt, _ = tokenizer.render_chat(messages, add_generation_prompt=True)
    encoded = [[*tokenizer.encode(a), tokenizer.im_end_id] for a in answers]
    room = max_len - max(len(a) for a in encoded)
    if room < 2:
        return None
    prompt = prompt[-room:]
    return [prompt + a for a in encoded], len(prompt)


def chat_prompt_ids(tokenizer, messages: list[dict], room: int, tools: Sequence[dict] | None = None) -> list[int]:
    """The conversation through the chat template with the assistant turn opened, cut from the left to
    its last `room` tokens (the start of a long conversation goes, the question stays)."""
    return tokenizer.render_chat(messages, add_generation_prompt=True, tools=tools)[0][-room:]


@dataclass
class Completion:
    """One generated answer: its prompt's ids, the new ids (stop token included), the text without it.

    With tools, `ids` also hold the forced tool results (`generated` is 0 on them: they are context,
    never trained on), `text` is the final reply after the last tool result, `tool_calls` lists
    {name, arguments, result} and `messages` the turn in OpenAI's shape (assistant tool_calls, tool
    messages, final assistant message).
    """

    prompt_ids: list[int]
    ids: list[int]
    text: str
    stop_id: int | None  # the token that ended it, or None when it ran out of room or max_new_tokens
    generated: list[int] | None = None  # 1 = the model's token, 0 = a forced tool result; None = all 1
    tool_calls: list[dict] = field(default_factory=list)
    messages: list[dict] | None = None
    ended_on_call: bool = False  # it ended with a call that --max-tool-calls did not allow to run

    @property
    def finish_reason(self) -> str:
        if self.ended_on_call:
            return "tool_calls"
        return "length" if self.stop_id is None else "stop"

    @property
    def generated_mask(self) -> list[int]:
        return self.generated if self.generated is not None else [1] * len(self.ids)


def complete_chats(
    model: Transformer,
    tokenizer,
    conversations: Sequence[list[dict]],
    sampling: SamplingConfig,
    samples_per_prompt: int = 1,
    tools=None,
    max_tool_calls: int = stage_default("tools", "max_tool_calls"),
) -> list[Completion]:
    """Answers to chat `conversations` (lists of {role, content}), `samples_per_prompt` each (in a row
    per conversation), generated as one batch until <|im_end|> or <|endoftext|>. With a tool box
    (llmkit/tools.py) its schemas go in the prompt and the answers may call its tools."""
    # the prompt keeps its last tokens that leave room for max_new_tokens; when max_new_tokens fills the
    # whole context (a small model's evaluation), as many as leave room for one
    room = model.config.seq_len - sampling.max_new_tokens
    if room <= 0:
        room = model.config.seq_len - 1
    stops = chat_stop_ids(tokenizer)
    schemas = tools.schemas if tools is not None else None
    prompts = [chat_prompt_ids(tokenizer, messages, room, schemas) for messages in conversations]
    if tools is not None:
        return generate_with_tools(model, tokenizer, prompts, sampling, tools, max_tool_calls, samples_per_prompt)
    outputs = generate(model, prompts, sampling, stops, samples_per_prompt=samples_per_prompt)
    return [
        completion(tokenizer, prompts[row // samples_per_prompt], ids, stops)
        for row, ids in enumerate(outputs)
    ]


def completion(tokenizer, prompt_ids: list[int], ids: list[int], stop_ids: Sequence[int]) -> Completion:
    """A Completion from generated `ids`: generation ends at the first stop token, so only the last can be one."""
    stop = ids[-1] if ids and ids[-1] in stop_ids else None
    return Completion(prompt_ids, ids, tokenizer.decode(ids if stop is None else ids[:-1]), stop)


# --------------------------------------------------------------------------------------- tool calls


def split_tool_calls(tokenizer, segment: list[int]) -> tuple[list[int], list[str]]:
    """One assistant turn's ids (stop token excluded) split at <|tool_call|>: (content ids, call texts)."""
    marker = tokenizer.tool_call_id
    if marker is None or marker not in segment:
        return segment, []
    first = segment.index(marker)
    calls, current = [], []
    for token in segment[first + 1 :]:
        if token == marker:
            calls.append(tokenizer.decode(current))
            current = []
        else:
            current.append(token)
    calls.append(tokenizer.decode(current))
    return segment[:first], calls


def parse_tool_call(text: str) -> tuple[str | None, dict | None, str | None]:
    """`{"name": ..., "arguments": {...}}` → (name, arguments, None), or (name?, None, error text)."""
    try:
        call = json.loads(text)
    except json.JSONDecodeError as e:
        return None, None, f"error: malformed tool call (not JSON: {e.msg})"
    if not isinstance(call, dict) or not isinstance(call.get("name"), str):
        return None, None, 'error: malformed tool call (expected {"name": ..., "arguments": {...}})'
    arguments = call.get("arguments", {})
    if isinstance(arguments, str):  # OpenAI sends arguments as a JSON string
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            pass
    if not isinstance(arguments, dict):
        return call["name"], None, f"error: the arguments of {call['name']} must be a JSON object"
    return call["name"], arguments, None


@dataclass
class _ToolAnswer:
    """The growing answer of one row while `generate_with_tools` runs."""

    prompt_ids: list[int]
    ids: list[int] = field(default_factory=list)
    generated: list[int] = field(default_factory=list)
    segments: list[list[int]] = field(default_factory=list)  # the model's turns, stop token included
    tool_calls: list[dict] = field(default_factory=list)
    messages: list[dict] = field(default_factory=list)
    ended_on_call: bool = False

    def add(self, ids: list[int], generated: bool) -> None:
        self.ids += ids
        self.generated += [int(generated)] * len(ids)


def generate_with_tools(
    model: Transformer,
    tokenizer,
    prompts: Sequence[Sequence[int]],
    sampling: SamplingConfig,
    tools,
    max_tool_calls: int,
    samples_per_prompt: int = 1,
    on_token: Callable[[int, int], None] | None = None,
    on_tool_call: Callable[[int, dict], None] | None = None,
) -> list[Completion]:
    """Chat answers that may call tools: generate (one batch) until each row stops; a row whose turn
    ends in tool calls gets each call run by `tools.call(name, arguments)` (a malformed call gets an
    `error: …` result instead), the results appended as forced tokens — the template's tool messages
    then a new assistant turn — and generates again, with the rows still going, until no row calls a
    tool, a row has made `max_tool_calls` calls, or it runs out of room. `max_new_tokens` bounds the
    model's own tokens per answer. `on_token(row, id)` sees each generated token, `on_tool_call(row,
    {name, arguments, result})` each call: for showing them live."""
    tokenizer.require_tools()
    stops = chat_stop_ids(tokenizer)
    seq_len = model.config.seq_len
    answers = [_ToolAnswer(list(prompts[r // samples_per_prompt])) for r in range(len(prompts) * samples_per_prompt)]
    active, batch, per_prompt = list(range(len(answers))), [list(p) for p in prompts], samples_per_prompt
    for round_ in range(max_tool_calls + 1):
        left = {r: sampling.max_new_tokens - sum(answers[r].generated) for r in active}
        round_sampling = replace(sampling, max_new_tokens=max(left.values()), seed=sampling.seed + 7919 * round_)
        new: list[list[int]] = [[] for _ in active]
        for step in generate_stream(model, batch, round_sampling, stops, samples_per_prompt=per_prompt):
            for j, token in enumerate(step):
                if token is not None and len(new[j]) < left[active[j]]:
                    new[j].append(token)
                    if on_token is not None:
                        on_token(active[j], token)
        still_going = []
        for j, r in enumerate(active):
            answer, segment = answers[r], new[j]
            answer.add(segment, generated=True)
            answer.segments.append(segment)
            stopped = bool(segment) and segment[-1] == tokenizer.im_end_id
            content, calls = split_tool_calls(tokenizer, segment[:-1] if stopped else segment)
            if not calls or not stopped:
                continue  # a final reply, or cut short: the answer is done
            if len(answer.tool_calls) + len(calls) > max_tool_calls:
                answer.ended_on_call = True
                continue
            results = _run_calls(tokenizer, tools, answer, content, calls)
            if on_tool_call is not None:
                for record in answer.tool_calls[-len(calls) :]:
                    on_tool_call(r, record)
            forced = tokenizer.render_chat(
                [{"role": "tool", "content": result} for result in results], add_generation_prompt=True
            )[0]
            if len(answer.prompt_ids) + len(answer.ids) + len(forced) >= seq_len - 1 or sum(answer.generated) >= sampling.max_new_tokens:
                continue  # no room to read the result and answer: done, as if cut at the length limit
            answer.add(forced, generated=False)
            still_going.append(r)
        if not still_going:
            break
        active, per_prompt = still_going, 1
        batch = [answers[r].prompt_ids + answers[r].ids for r in active]
    return [_tool_completion(tokenizer, answer, stops) for answer in answers]


def _run_calls(tokenizer, tools, answer: _ToolAnswer, content: list[int], calls: list[str]) -> list[str]:
    """Run one turn's calls; record them (and the turn, in OpenAI's shape) on `answer`; their results."""
    results, message_calls = [], []
    for text in calls:
        name, arguments, error = parse_tool_call(text)
        result = error if error is not None else tools.call(name, arguments)
        call_id = f"call_{len(answer.tool_calls) + 1}"
        answer.tool_calls.append({"id": call_id, "name": name, "arguments": arguments, "text": text, "result": result})
        # a malformed call is kept as its raw text, so the conversation can be rendered again
        function = {"name": name or "invalid_call", "arguments": arguments if arguments is not None else {"text": text}}
        message_calls.append({"id": call_id, "type": "function", "function": function})
        results.append(result)
    answer.messages.append(
        {"role": "assistant", "content": tokenizer.decode(content) or None, "tool_calls": message_calls}
    )
    answer.messages += [
        {"role": "tool", "tool_call_id": c["id"], "content": result}
        for c, result in zip(message_calls, results, strict=True)
    ]
    return results


def _tool_completion(tokenizer, answer: _ToolAnswer, stops: Sequence[int]) -> Completion:
    last = answer.segments[-1]
    stop = last[-1] if last and last[-1] in stops else None
    content, _ = split_tool_calls(tokenizer, last[:-1] if stop is not None else last)
    text = tokenizer.decode(content)
    messages = answer.messages
    if not answer.ended_on_call:
        messages = [*messages, {"role": "assistant", "content": text}]
    return Completion(
        answer.prompt_ids, answer.ids, text, stop, answer.generated, answer.tool_calls, messages, answer.ended_on_call
    )


class TextStream:
    """New token ids in, printable text out: holds back the bytes of a character not yet complete
    (a byte-level BPE token can end mid-character) and never shows the stop tokens."""

    def __init__(self, tokenizer, stop_ids: Sequence[int] = ()):
        self.tokenizer, self.stop_ids = tokenizer, set(stop_ids)
        self.ids: list[int] = []
        self.shown = ""

    def add(self, token: int) -> str:
        """The text to print now that `token` was generated ('' while a character is incomplete)."""
        if token in self.stop_ids:
            return ""
        self.ids.append(token)
        text = self.tokenizer.decode(self.ids)
        if text.endswith("\ufffd"):  # wait for the rest of a multi-byte character
            return ""
        delta, self.shown = text[len(self.shown) :], text
        return delta

    def finish(self) -> str:
        """Whatever is still held back (a character the model never completed)."""
        text = self.tokenizer.decode(self.ids)
        delta, self.shown = text[len(self.shown) :], text
        return delta


# --------------------------------------------------------------------------------------- scoring


def pad(rows: list[list[int]], value: int) -> torch.Tensor:
    """Right-pad int rows to the longest: (len(rows), longest) int64."""
    width = max(len(r) for r in rows)
    out = torch.full((len(rows), width), value, dtype=torch.long)
    for i, r in enumerate(rows):
        out[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    return out


@torch.no_grad()
def reward_scores(rm, tokenizer, prompts: list[list[dict]], answers: list[str], batch_size: int = 16,
                  precision: str = "fp32") -> torch.Tensor:  # fmt: skip
    """A reward model's score of each answer to its prompt (messages), read at the answer's
    <|im_end|>: (n,) float. A prompt too long is cut from the left; an answer that cannot fit the
    reward model's context at all gets NaN, for the caller to skip or count."""
    device = next(rm.parameters()).device
    seqs = []
    for prompt, answer in zip(prompts, answers, strict=True):
        encoded = answer_sequences(tokenizer, prompt, [answer], rm.config.seq_len)
        seqs.append(encoded[0][0] if encoded else None)
    scores = torch.full((len(seqs),), float("nan"))
    fits = [i for i, seq in enumerate(seqs) if seq is not None]
    for start in range(0, len(fits), batch_size):
        idx = fits[start : start + batch_size]
        rows = [seqs[i] for i in idx]
        last = torch.tensor([len(r) - 1 for r in rows], device=device)
        with autocast(device, precision):
            scores[idx] = rm(pad(rows, tokenizer.pad_id).to(device), last).float().cpu()
    return scores


# --------------------------------------------------------------------------------------- log-probabilities


def token_logprobs(logits: torch.Tensor, targets: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """log p(target) at every position (B, T), float32, under softmax(logits / temperature).
    Positions whose target is IGNORE hold junk (the log-prob of token 0): mask them."""
    logits = logits.float()
    if temperature != 1.0:
        logits = logits / temperature
    return logits.log_softmax(-1).gather(-1, targets.clamp(min=0)[..., None]).squeeze(-1)


def sequence_logprobs(model, inputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Sum over each row of log p(target token) where targets are not IGNORE: (rows,) float32."""
    logp = token_logprobs(model(inputs), targets)
    return (logp * (targets != IGNORE)).sum(-1)
