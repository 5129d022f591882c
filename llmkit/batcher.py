"""Continuous batching: many generation requests share one model's decode steps, joining and leaving
the running batch between steps (what a server needs: N clients should not cost N× one client).

`Batcher` owns a background thread that loops: admit waiting requests (each prompt is prefilled on
its own, then its KV cache joins the batch), run one decode step for every active row, hand each
row's new token to its request's callback, and drop rows that finished or were cancelled.

Rows have different lengths, so the batch's cache is left-padded: column j of row b is a real key
when `valid[b, j]`; each row keeps its own RoPE position, so padding changes nothing it computes. A
request alone in the batch decodes exactly as `engine.generate` does (no mask, same sampling calls),
so a server's greedy answer equals `llmkit generate`'s.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch

from llmkit.engine import SamplingConfig, sample_next
from llmkit.model import KVCache, Transformer, decoding

# what a request's callback receives: ("token", id), then ("done", finish_reason) or ("error", message)
Event = tuple[str, object]


class QueueFull(Exception):
    """More requests are waiting than the batcher accepts; the caller should answer 503."""


@dataclass
class Request:
    """One generation: a prompt (token ids), how to sample, when to stop, where its tokens go."""

    prompt_ids: list[int]
    sampling: SamplingConfig
    stop_ids: Sequence[int]
    on_event: Callable[[Event], None]
    deadline: float | None = None  # time.monotonic() after which it ends with finish_reason "length"
    cancelled: bool = False
    generated: int = 0
    finish_reason: str | None = None  # stop | length, once it ended
    generator: torch.Generator | None = field(init=False, default=None)  # made on the model's device

    def cancel(self) -> None:
        """Stop generating for this request (a client went away); its row leaves at the next step."""
        self.cancelled = True


class RowCache:
    """The running batch's keys and values: (rows, kv heads, columns, head dim) per layer, with room
    to grow, so a decode step writes one column instead of copying the whole cache. It has the
    interface `Transformer.hidden_states` expects of a KV cache (`update`, `length`, `max_len`)."""

    def __init__(self, keys: list[torch.Tensor], values: list[torch.Tensor], max_len: int):
        self.length, self.max_len = keys[0].size(2), max_len
        spare = max(16, self.length)  # doubling: a row's steps cost amortised O(1) copies
        self.keys = [_grow(k, spare) for k in keys]
        self.values = [_grow(v, spare) for v in values]

    def update(self, layer: int, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        start, end = self.length, self.length + k.size(2)
        if end > self.keys[layer].size(2):
            self.keys[layer], self.values[layer] = _grow(self.keys[layer], end), _grow(self.values[layer], end)
        self.keys[layer][:, :, start:end] = k
        self.values[layer][:, :, start:end] = v
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def used(self) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """The filled columns of every layer's keys and values."""
        return [k[:, :, : self.length] for k in self.keys], [v[:, :, : self.length] for v in self.values]


def _grow(x: torch.Tensor, extra: int) -> torch.Tensor:
    """`x` with `extra` empty columns after its end (dim 2)."""
    shape = list(x.shape)
    shape[2] = extra
    return torch.cat([x, torch.zeros(shape, dtype=x.dtype, device=x.device)], dim=2)


class DecodeBatch:
    """The rows decoding together. Not thread-safe: the Batcher's thread alone uses it."""

    def __init__(self, model: Transformer):
        self.model = model
        self.device = next(model.parameters()).device  # where the batch's tensors live: the model's
        self.requests: list[Request] = []
        self._empty()

    def _empty(self) -> None:
        """No rows: no cache, and empty per-row tensors: `valid` (rows, columns) marks the real keys,
        `positions` each row's next RoPE position, `next_tokens` each row's token to feed next."""
        self.cache: RowCache | None = None
        self.valid = torch.zeros(0, 0, dtype=torch.bool, device=self.device)
        self.positions = torch.zeros(0, dtype=torch.long, device=self.device)
        self.next_tokens = torch.zeros(0, dtype=torch.long, device=self.device)

    def __len__(self) -> int:
        return len(self.requests)

    @torch.inference_mode()  # as engine.generate_stream
    def add(self, request: Request) -> None:
        """Prefill the request's prompt alone, sample its first token, and join the batch."""
        cfg, prompt = self.model.config, request.prompt_ids
        # sampling draws from a generator on the logits' device (as engine.generate_stream's)
        request.generator = torch.Generator(device=self.device).manual_seed(request.sampling.seed)
        cache = KVCache(cfg, 1, len(prompt), device=self.device)
        logits = self.model(torch.tensor([prompt], device=self.device), kv_cache=cache)[:, -1]
        token = self._sample(request, logits)
        keys, values = cache.keys, cache.values
        if self.cache is None:
            self.cache = RowCache(keys, values, cfg.seq_len)
            self.valid = torch.ones(1, len(prompt), dtype=torch.bool, device=self.device)
        else:  # left-pad whichever side is shorter, so the columns line up at the right
            width = max(self.cache.length, len(prompt))
            old_keys, old_values = self.cache.used()
            self.cache = RowCache(
                [torch.cat([_left_pad(a, width), _left_pad(b, width)]) for a, b in zip(old_keys, keys, strict=True)],
                [torch.cat([_left_pad(a, width), _left_pad(b, width)]) for a, b in zip(old_values, values, strict=True)],
                cfg.seq_len,
            )  # fmt: skip
            row = torch.ones(1, len(prompt), dtype=torch.bool, device=self.device)
            self.valid = torch.cat([_left_pad(self.valid, width, dim=1), _left_pad(row, width, dim=1)])
        self.requests.append(request)
        self.positions = torch.cat([self.positions, torch.tensor([len(prompt)], device=self.device)])
        self.next_tokens = torch.cat([self.next_tokens, torch.tensor([token], device=self.device)])
        self._deliver(len(self.requests) - 1, token)

    @torch.inference_mode()
    def step(self) -> None:
        """One decode step for every row, then drop the rows that are done."""
        if self.requests:
            padded = not bool(self.valid.all())
            column = torch.ones(len(self), 1, dtype=torch.bool, device=self.device)
            window = {}
            if padded:  # the new column is real for every row; earlier columns where `valid`
                mask = torch.cat([self.valid, column], dim=1)
                window = dict(positions=self.positions[:, None], attn_mask=mask[:, None, None, :])
            logits = self.model(self.next_tokens[:, None], kv_cache=self.cache, **window)[:, -1]
            self.valid = torch.cat([self.valid, column], dim=1)
            self.positions = self.positions + 1
            for i, request in enumerate(self.requests):
                if not _finished(request):
                    token = self._sample(request, logits[i : i + 1])
                    self.next_tokens[i] = token
                    self._deliver(i, token)
        self._drop_finished()

    def _sample(self, request: Request, logits: torch.Tensor) -> int:
        s = request.sampling
        return int(sample_next(logits, s.temperature, s.top_k, s.top_p, request.generator)[0])

    def _deliver(self, row: int, token: int) -> None:
        """Hand the token to its request and decide whether the request ends with it."""
        request = self.requests[row]
        request.generated += 1
        request.on_event(("token", token))
        if token in request.stop_ids:
            _finish(request, "stop")
        # the token sits at position len(prompt) + generated - 1 (positions[row], read here without
        # a trip to the device); one at the context's last position cannot be fed
        elif (
            request.generated >= request.sampling.max_new_tokens
            or len(request.prompt_ids) + request.generated >= self.model.config.seq_len
        ):
            _finish(request, "length")  # fmt: skip
        elif request.deadline is not None and time.monotonic() > request.deadline:
            _finish(request, "length")

    def _drop_finished(self) -> None:
        keep = [i for i, r in enumerate(self.requests) if not _finished(r)]
        if len(keep) == len(self.requests):
            return
        self.requests = [self.requests[i] for i in keep]
        if not keep:
            self._empty()
            return
        index = torch.tensor(keep, device=self.device)
        valid = self.valid[index]
        first = int(valid.any(0).nonzero()[0])  # columns that are padding for every row left are cut
        self.valid = valid[:, first:]
        keys, values = self.cache.used()
        self.cache = RowCache(
            [k[index][:, :, first:] for k in keys], [v[index][:, :, first:] for v in values], self.model.config.seq_len
        )
        self.positions, self.next_tokens = self.positions[index], self.next_tokens[index]


def _left_pad(x: torch.Tensor, width: int, dim: int = 2) -> torch.Tensor:
    """`x` with zeros (False) added before its start along `dim` up to `width`."""
    missing = width - x.size(dim)
    if missing == 0:
        return x
    shape = list(x.shape)
    shape[dim] = missing
    return torch.cat([torch.zeros(shape, dtype=x.dtype, device=x.device), x], dim=dim)


def _finish(request: Request, reason: str) -> None:
    request.finish_reason = reason
    request.on_event(("done", reason))


def _finished(request: Request) -> bool:
    return request.cancelled or request.finish_reason is not None


class Batcher:
    """A background thread that serves `submit`ted requests with continuous batching.

    At most `max_batch` rows decode together; at most `max_waiting` requests wait to join (beyond that
    `submit` raises QueueFull). Callbacks run on the batcher's thread: keep them short.
    """

    def __init__(self, model: Transformer, max_batch: int = 16, max_waiting: int = 64):
        self.batch = DecodeBatch(model.eval())
        self.max_batch = max_batch
        self.waiting: queue.Queue[Request] = queue.Queue(maxsize=max_waiting)
        self._stop = threading.Event()
        self._cancel_all = False  # set by stop() once the grace period is over
        self._thread = threading.Thread(target=self._loop, name="llmkit-batcher", daemon=True)

    def start(self) -> Batcher:
        self._thread.start()
        return self

    def submit(self, request: Request) -> Request:
        """Queue `request`; its events arrive through its callback. Raises QueueFull when full."""
        if self._stop.is_set():
            raise QueueFull("the server is shutting down")
        try:
            self.waiting.put_nowait(request)
        except queue.Full:
            raise QueueFull(f"{self.waiting.maxsize} requests are already waiting") from None
        return request

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop admitting; let running requests finish for up to `grace_s`, then cancel the rest."""
        self._stop.set()
        deadline = time.monotonic() + grace_s
        while (
            self._thread.is_alive()
            and time.monotonic() < deadline
            and (len(self.batch) or not self.waiting.empty())
        ):
            time.sleep(0.05)
        self._cancel_all = True
        self._thread.join(timeout=5)

    def _loop(self) -> None:
        # the weights do not change while serving: decode from the fused copies, as engine.generate does
        with decoding(self.batch.model):
            self._run()

    def _run(self) -> None:
        while True:
            if self._cancel_all:
                for request in list(self.batch.requests) + _drain(self.waiting):
                    if not _finished(request):
                        request.cancel()
                        request.on_event(("error", "the server shut down before the answer was complete"))
                return
            self._admit()
            if len(self.batch):
                try:
                    self.batch.step()
                except Exception as e:  # a failing step ends its requests with an error, not the server
                    for request in self.batch.requests:
                        request.cancel()
                        request.on_event(("error", f"generation failed: {e}"))
                    self.batch = DecodeBatch(self.batch.model)
            elif self._stop.is_set():
                return
            else:
                time.sleep(0.002)

    def _admit(self) -> None:
        """Move waiting requests into the batch while there is room (cancelled ones are skipped)."""
        while len(self.batch) < self.max_batch:
            try:
                request = self.waiting.get_nowait()
            except queue.Empty:
                return
            if request.cancelled:
                continue
            try:
                self.batch.add(request)
            except Exception as e:
                request.on_event(("error", f"generation failed: {e}"))


def _drain(q: queue.Queue) -> list:
    items = []
    while True:
        try:
            items.append(q.get_nowait())
        except queue.Empty:
            return items
