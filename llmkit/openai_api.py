"""The OpenAI API's shapes, for `llmkit serve`: reading a request body into generation settings, and
writing responses, stream chunks and errors the way the `openai` clients expect them.

Only what llmkit serves: chat completions and (legacy) completions, text only. Anything a request
asks for that is not supported is refused with a clear 400 rather than silently ignored.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, field

MAX_CHOICES = 8  # `n`: a request may not take the whole batch
MAX_STOPS = 4  # as OpenAI allows


class APIError(Exception):
    """An error answered as OpenAI answers it: {"error": {"message", "type", "param", "code"}}."""

    def __init__(self, status: int, message: str, param: str | None = None, code: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param, self.code = status, message, param, code

    def body(self) -> dict:
        kind = {401: "authentication_error", 404: "not_found_error", 413: "request_too_large",
                429: "rate_limit_error", 503: "server_overloaded"}.get(self.status)  # fmt: skip
        if kind is None:
            kind = "invalid_request_error" if self.status < 500 else "server_error"
        return {"error": {"message": self.message, "type": kind, "param": self.param, "code": self.code}}


@dataclass
class GenerationSettings:
    """What a completion request asks for, validated."""

    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    n: int = 1
    seed: int = field(default_factory=lambda: secrets.randbits(31))
    stop: list[str] = field(default_factory=list)
    stream: bool = False
    include_usage: bool = False  # stream_options.include_usage: a last chunk with the token counts


def parse_json(raw: bytes) -> dict:
    """The request body as a JSON object (400 when it is not one)."""
    try:
        body = json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise APIError(400, f"the request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise APIError(400, "the request body must be a JSON object")
    return body


def typed(body: dict, name: str, types: type | tuple, default=None, required: bool = False):
    """body[name] checked against `types` (422 when missing but required, or of the wrong type)."""
    if name not in body or body[name] is None:
        if required:
            raise APIError(422, f"'{name}' is required", param=name)
        return default
    value = body[name]
    if isinstance(value, bool) and bool not in (types if isinstance(types, tuple) else (types,)):
        raise APIError(422, f"'{name}' must be a number, not a boolean", param=name)
    if not isinstance(value, types):
        raise APIError(422, f"'{name}' has the wrong type ({type(value).__name__})", param=name)
    return value


def generation_settings(body: dict, max_tokens_limit: int) -> GenerationSettings:
    """The sampling settings of a chat or completions request, each checked."""
    max_tokens = typed(body, "max_completion_tokens", int) or typed(body, "max_tokens", int, max_tokens_limit)
    if not 1 <= max_tokens <= max_tokens_limit:
        raise APIError(400, f"max_tokens must be between 1 and {max_tokens_limit} (the server's --max-tokens)",
                       param="max_tokens")  # fmt: skip
    temperature = float(typed(body, "temperature", (int, float), 1.0))
    if not 0 <= temperature <= 2:
        raise APIError(400, f"temperature must be between 0 and 2 (got {temperature})", param="temperature")
    top_p = float(typed(body, "top_p", (int, float), 1.0))
    if not 0 < top_p <= 1:
        raise APIError(400, f"top_p must be in (0, 1] (got {top_p})", param="top_p")
    n = typed(body, "n", int, 1)
    if not 1 <= n <= MAX_CHOICES:
        raise APIError(400, f"n must be between 1 and {MAX_CHOICES} (got {n})", param="n")
    stop = typed(body, "stop", (str, list), [])
    stop = [stop] if isinstance(stop, str) else stop
    if len(stop) > MAX_STOPS or not all(isinstance(s, str) and s for s in stop):
        raise APIError(
            400, f"stop must be a string or a list of up to {MAX_STOPS} non-empty strings", param="stop"
        )
    for unsupported in ("tools", "functions", "logprobs", "response_format"):
        if body.get(unsupported):
            raise APIError(400, f"'{unsupported}' is not supported by this server", param=unsupported)
    settings = GenerationSettings(max_tokens, temperature, top_p, n, stop=stop,
                                  stream=bool(typed(body, "stream", bool, False)))  # fmt: skip
    seed = typed(body, "seed", int)
    if seed is not None:  # choice i samples with seed + i, which must fit a 64-bit generator seed
        if not -(2**63) <= seed <= 2**63 - 1 - MAX_CHOICES:
            raise APIError(400, "seed must fit in a signed 64-bit integer", param="seed")
        settings.seed = seed
    options = typed(body, "stream_options", dict, {})
    settings.include_usage = bool(options.get("include_usage"))
    return settings


def chat_messages(body: dict) -> list[dict]:
    """The request's messages as llmkit's {role, content} dicts. Content may be a string or a list of
    content parts (only text parts); client text is later encoded as text, never as control tokens."""
    messages = typed(body, "messages", list, required=True)
    if not messages:
        raise APIError(400, "'messages' must not be empty", param="messages")
    out = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise APIError(422, f"messages[{i}] must be an object with a 'role'", param="messages")
        role, content = message["role"], message.get("content")
        if role not in ("system", "developer", "user", "assistant"):
            raise APIError(400, f"messages[{i}]: role {role!r} is not supported", param="messages")
        if isinstance(content, list):
            if not all(isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
                       for p in content):  # fmt: skip
                raise APIError(400, f"messages[{i}]: only text content parts are supported", param="messages")
            content = "".join(p["text"] for p in content)
        if not isinstance(content, str):
            raise APIError(422, f"messages[{i}] needs its 'content' as a string", param="messages")
        out.append({"role": "system" if role == "developer" else role, "content": content})
    return out


def completion_prompt(body: dict) -> str:
    """The prompt of a (legacy) completions request: a string, or a list holding one string."""
    prompt = typed(body, "prompt", (str, list), required=True)
    if isinstance(prompt, list):
        if len(prompt) != 1 or not isinstance(prompt[0], str):
            raise APIError(400, "'prompt' must be a string (or a list of one string)", param="prompt")
        prompt = prompt[0]
    if not prompt:
        raise APIError(400, "'prompt' must not be empty", param="prompt")
    return prompt


# --------------------------------------------------------------------------------------- responses


def response_id(chat: bool) -> str:
    return ("chatcmpl-" if chat else "cmpl-") + secrets.token_hex(12)


def choice(chat: bool, index: int, text: str | None, finish_reason: str | None, delta: bool = False) -> dict:
    """One choice of a response (or, with `delta`, of a stream chunk)."""
    if not chat:
        return {"index": index, "text": text or "", "finish_reason": finish_reason, "logprobs": None}
    if delta:
        content = {} if text is None else {"content": text}
        return {"index": index, "delta": content, "finish_reason": finish_reason, "logprobs": None}
    message = {"role": "assistant", "content": text, "refusal": None}
    return {"index": index, "message": message, "finish_reason": finish_reason, "logprobs": None}


def envelope(
    chat: bool, rid: str, model: str, choices: list[dict], usage: dict | None, chunk: bool = False
) -> dict:
    kind = ("chat.completion.chunk" if chunk else "chat.completion") if chat else "text_completion"
    out = {"id": rid, "object": kind, "created": int(time.time()), "model": model, "choices": choices}
    if usage is not None or not chunk:
        out["usage"] = usage
    return out


def usage(prompt_tokens: int, completion_tokens: int) -> dict:
    return {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens}  # fmt: skip


def sse(data: dict | str) -> bytes:
    """One server-sent event."""
    return f"data: {data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)}\n\n".encode()
