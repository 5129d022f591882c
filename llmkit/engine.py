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
- Log-probabilities of target tokens (`token_logprobs`, `sequence_logprobs`).
- Streaming text (`TextStream`): new tokens to printable text, never half a character.

The engine knows no files and no screen.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch

from llmkit.device import autocast
from llmkit.errors import UserError
from llmkit.model import KVCache, Transformer

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


@torch.no_grad()
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
    stops = torch.tensor(list(stop_ids) or [-1], device=device)
    done = torch.zeros(B * shared, dtype=torch.bool, device=device)
    cache = KVCache(cfg, B, total, device=device) if use_kv_cache else None
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
        logits = model(tokens[:, start:end], kv_cache=cache, **window)[:, -1]
        if step == 0 and shared > 1:  # the prompts are prefilled: now each sample gets its own row
            logits, tokens = logits.repeat_interleave(shared, 0), tokens.repeat_interleave(shared, 0)
            cache.repeat_interleave(shared)
            if padded:
                positions_all = positions_all.repeat_interleave(shared, 0)
                mask_all = mask_all.repeat_interleave(shared, 0)
        next_ids = sample_next(logits, sampling.temperature, sampling.top_k, sampling.top_p, generator)
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


def chat_prompt_ids(tokenizer, messages: list[dict], room: int) -> list[int]:
    """The conversation through the chat template with the assistant turn opened, cut from the left to
    its last `room` tokens (the start of a long conversation goes, the question stays)."""
    return tokenizer.render_chat(messages, add_generation_prompt=True)[0][-room:]


@dataclass
class Completion:
    """One generated answer: its prompt's ids, the new ids (stop token included), the text without it."""

    prompt_ids: list[int]
    ids: list[int]
    text: str
    stop_id: int | None  # the token that ended it, or None when it ran out of room or max_new_tokens

    @property
    def finish_reason(self) -> str:
        return "length" if self.stop_id is None else "stop"


def complete_chats(
    model: Transformer,
    tokenizer,
    conversations: Sequence[list[dict]],
    sampling: SamplingConfig,
    samples_per_prompt: int = 1,
) -> list[Completion]:
    """Answers to chat `conversations` (lists of {role, content}), `samples_per_prompt` each (in a row
    per conversation), generated as one batch until <|im_end|> or <|endoftext|>."""
    # the prompt keeps its last tokens that leave room for max_new_tokens; when max_new_tokens fills the
    # whole context (a small model's evaluation), as many as leave room for one
    room = model.config.seq_len - sampling.max_new_tokens
    if room <= 0:
        room = model.config.seq_len - 1
    stops = chat_stop_ids(tokenizer)
    prompts = [chat_prompt_ids(tokenizer, messages, room) for messages in conversations]
    outputs = generate(model, prompts, sampling, stops, samples_per_prompt=samples_per_prompt)
    return [
        completion(tokenizer, prompts[row // samples_per_prompt], ids, stops)
        for row, ids in enumerate(outputs)
    ]


def completion(tokenizer, prompt_ids: list[int], ids: list[int], stop_ids: Sequence[int]) -> Completion:
    """A Completion from generated `ids`: generation ends at the first stop token, so only the last can be one."""
    stop = ids[-1] if ids and ids[-1] in stop_ids else None
    return Completion(prompt_ids, ids, tokenizer.decode(ids if stop is None else ids[:-1]), stop)


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
