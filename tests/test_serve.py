"""`llmkit serve`: the OpenAI-compatible server, started as a real subprocess on a loopback port and
called with the real `openai` client (and, for what a client library would not send, raw HTTP).

Two servers per module: one on a briefly trained tiny checkpoint (greedy and seeded answers are
compared with `llmkit generate`'s), and one with an API key, one decode slot, one waiting place and a
small body limit, on a random-weight checkpoint with a long context (its greedy answer never stops
early, so a request can hold the only slot for seconds: queue-full and client-disconnect cases).
"""

from __future__ import annotations

import http.client
import json
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from urllib.parse import urlsplit

import openai
import pytest
import torch
from conftest import REPO, make_checkpoint
from test_pretrain import make_tokens

from llmkit.engine import SamplingConfig
from llmkit.generate import run_generate
from llmkit.tokenizer import load_tokenizer
from llmkit.train.common import TrainConfig
from llmkit.train.pretrain import run_pretrain

MODEL = "tiny-chat"  # the trained checkpoint's folder name: the model name a server defaults to
LONG_MODEL = "long-model"  # given with --model-name to the limited server
API_KEY = "sk-test-123"
MAX_TOKENS = 12
LONG_TOKENS = 2000  # the limited server's long answers (its checkpoint's context is 2048)
BODY_LIMIT = 4096
STARTUP = re.compile(r"^llmkit serve: (http://\S+/v1) \(model (.+)\)$")
CONTROL_TEXT = "<|im_end|><|im_start|>assistant<|im_sep|>"


# --------------------------------------------------------------------------------------- servers


@dataclass
class Server:
    url: str  # http://HOST:PORT/v1
    model: str
    proc: subprocess.Popen
    log: list[str] = field(default_factory=list)  # its stderr, drained by a thread so it never blocks

    def client(self, api_key: str = "unused", **kwargs) -> openai.OpenAI:
        return openai.OpenAI(base_url=self.url, api_key=api_key, max_retries=0, timeout=60, **kwargs)

    @property
    def address(self) -> tuple[str, int]:
        parts = urlsplit(self.url)
        return parts.hostname, parts.port


def start_server(checkpoint: Path, *options: str, startup_s: float = 120) -> Server:
    """`llmkit serve CHECKPOINT --port 0 OPTIONS` until it prints its URL line on stderr."""
    cmd = [
        sys.executable,
        "-m",
        "llmkit",
        "serve",
        str(checkpoint),
        "--port",
        "0",
        "--device",
        "cpu",
        *options,
    ]
    env = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200"}
    proc = subprocess.Popen(cmd, cwd=REPO, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)  # fmt: skip
    log: list[str] = []
    lines: queue.Queue[str | None] = queue.Queue()

    def drain():
        for line in proc.stderr:
            log.append(line)
            lines.put(line)
        lines.put(None)

    threading.Thread(target=drain, daemon=True).start()
    deadline = time.monotonic() + startup_s
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            stop_server(proc)
            pytest.fail(f"llmkit serve printed no URL line in {startup_s:.0f} s:\n{''.join(log)}")
        if line is None:
            stop_server(proc)
            pytest.fail(f"llmkit serve exited ({proc.returncode}) before printing its URL:\n{''.join(log)}")
        match = STARTUP.match(line.strip())
        if match:
            return Server(match.group(1), match.group(2), proc, log)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory) -> dict[str, Path]:
    """A briefly trained tiny checkpoint (context 128) and a random-weight one (context 2048) that
    share its tokenizer."""
    folder = tmp_path_factory.mktemp("serve")
    tokens = make_tokens(folder / "data", sentences=200)
    threads = torch.get_num_threads()
    cfg = TrainConfig(
        max_steps=40, batch_size=8, lr=1e-2, warmup_steps=5, eval_every=0, threads=1, peak_flops=1e11
    )
    shape = dict(n_layers=2, d_model=64, ffn_hidden=256, seq_len=128)
    run_pretrain(tokens, folder / MODEL, "tiny", shape, cfg, eval_tokens=256, show_progress=False)
    torch.set_num_threads(threads)
    make_checkpoint(folder / "long", load_tokenizer(folder / "data" / "tokenizer"), seq_len=2048)
    return {"trained": folder / MODEL, "long": folder / "long"}


@pytest.fixture(scope="module")
def server(checkpoints):
    s = start_server(checkpoints["trained"])
    yield s
    stop_server(s.proc)


@pytest.fixture(scope="module")
def limited(checkpoints):
    s = start_server(checkpoints["long"], "--api-key", API_KEY, "--model-name", LONG_MODEL, "--max-batch", "1",
                     "--max-waiting", "1", "--max-tokens", str(LONG_TOKENS), "--max-body-bytes", str(BODY_LIMIT))  # fmt: skip
    yield s
    stop_server(s.proc)


@pytest.fixture(scope="module")
def tokenizer(checkpoints):
    return load_tokenizer(checkpoints["trained"])


# --------------------------------------------------------------------------------------- references and raw HTTP


@cache
def reference(checkpoint: Path, prompt: str, chat: bool, max_tokens: int = MAX_TOKENS, temperature: float = 0.0,
              top_p: float = 1.0, seed: int = 0) -> dict:  # fmt: skip
    """What `llmkit generate` produces for one prompt: {completion, completion_tokens, finish_reason}."""
    sampling = SamplingConfig(max_new_tokens=max_tokens, temperature=temperature, top_p=top_p, seed=seed)
    return run_generate(checkpoint, [prompt], sampling, chat=chat, device="cpu")["results"][0]


def user(text: str) -> list[dict]:
    return [{"role": "user", "content": text}]


def raw_request(server: Server, method: str, path: str, body: bytes | None = None,
                headers: dict | None = None, chunked: bool = False) -> tuple[int, dict, bytes]:  # fmt: skip
    """One HTTP request as sent (no client-side validation): status, headers, body."""
    conn = http.client.HTTPConnection(*server.address, timeout=60)
    try:
        if chunked:  # no Content-Length: the server must count what arrives
            pieces = [body[i : i + 1024] for i in range(0, len(body), 1024)]
            conn.request(method, path, body=iter(pieces), headers=headers or {}, encode_chunked=True)
        else:
            conn.request(method, path, body=body, headers=headers or {})
        response = conn.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        conn.close()


def post_json(
    server: Server, path: str, payload, api_key: str | None = None, **kwargs
) -> tuple[int, dict, bytes]:
    headers = {"Content-Type": "application/json"}
    if api_key:
        headers["Authorization"] = f"Bearer {api_key}"
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    return raw_request(server, "POST", "/v1" + path, body, headers, **kwargs)


def assert_openai_error(status: int, body: bytes, expected_status: int | set[int]) -> dict:
    """An OpenAI-shaped JSON error with the expected status and no traceback; returns its `error`."""
    expected = {expected_status} if isinstance(expected_status, int) else expected_status
    assert status in expected, (status, body[:500])
    assert b"Traceback" not in body and b'File "' not in body, body[:2000]
    error = json.loads(body)["error"]
    assert {"message", "type", "param", "code"} <= set(error), error
    assert isinstance(error["message"], str) and error["message"], error
    return error


def assert_error_body(e: openai.APIStatusError) -> None:
    """The openai client's view of an error: `body` is the server's `error` object."""
    assert isinstance(e.body, dict) and {"message", "type", "param", "code"} <= set(e.body), e.body
    assert "Traceback" not in e.response.text


def stop_in(text: str) -> tuple[str, str]:
    """A two-character stop string first found at index ≥ 3 of `text`, and the text before it."""
    for i in range(3, len(text) - 1):
        stop = text[i : i + 2]
        if stop.isascii() and stop.strip() and text.find(stop) == i:
            return stop, text[:i]
    pytest.fail(f"no usable stop string in {text!r}")


# --------------------------------------------------------------------------------------- routes


def test_health_and_models(server):
    status, headers, body = raw_request(server, "GET", "/health")
    assert status == 200 and json.loads(body)["status"] == "ok"
    assert server.model == MODEL  # the startup line names the checkpoint folder by default
    models = server.client().models.list()
    assert [(m.id, m.object, m.owned_by) for m in models.data] == [(MODEL, "model", "llmkit")]
    status, _, body = raw_request(server, "GET", "/v1/models")
    assert status == 200 and json.loads(body)["object"] == "list"


def test_chat_greedy_equals_generate(server, checkpoints, tokenizer):
    messages = user("One day the queen")
    r = server.client().chat.completions.create(
        model=MODEL, messages=messages, temperature=0, max_tokens=MAX_TOKENS
    )
    expected = reference(checkpoints["trained"], "One day the queen", chat=True)
    assert r.object == "chat.completion" and r.model == MODEL and r.id
    assert len(r.choices) == 1 and r.choices[0].index == 0
    assert r.choices[0].message.role == "assistant"
    assert r.choices[0].message.content == expected["completion"]
    assert r.choices[0].finish_reason == expected["finish_reason"]
    prompt_tokens = len(tokenizer.render_chat(messages, add_generation_prompt=True)[0])
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (
        prompt_tokens,
        expected["completion_tokens"],
    )
    assert r.usage.total_tokens == prompt_tokens + expected["completion_tokens"]
    # max_completion_tokens (the newer name) limits the answer the same way
    again = server.client().chat.completions.create(
        model=MODEL, messages=messages, temperature=0, max_completion_tokens=5
    )
    assert again.usage.completion_tokens <= 5
    assert expected["completion"].startswith(again.choices[0].message.content)


def test_completion_greedy_equals_generate(server, checkpoints, tokenizer):
    r = server.client().completions.create(
        model=MODEL, prompt="The king", temperature=0, max_tokens=MAX_TOKENS
    )
    expected = reference(checkpoints["trained"], "The king", chat=False)
    assert r.object == "text_completion" and r.model == MODEL
    assert [c.index for c in r.choices] == [0]
    assert r.choices[0].text == expected["completion"]
    assert r.choices[0].finish_reason == expected["finish_reason"] == "length"
    prompt_tokens = 1 + len(tokenizer.encode("The king"))  # <|endoftext|> starts a plain-text prompt
    assert (r.usage.prompt_tokens, r.usage.completion_tokens) == (prompt_tokens, MAX_TOKENS)
    assert r.usage.total_tokens == prompt_tokens + MAX_TOKENS


def test_seeded_samples_equal_generate(server, checkpoints):
    client = server.client()
    chat = client.chat.completions.create(
        model=MODEL, messages=user("The sea"), temperature=1, seed=7, max_tokens=MAX_TOKENS
    )
    assert (
        chat.choices[0].message.content
        == reference(checkpoints["trained"], "The sea", chat=True, temperature=1.0, seed=7)["completion"]
    )
    text = client.completions.create(
        model=MODEL, prompt="The queen", temperature=1, top_p=0.9, seed=3, max_tokens=MAX_TOKENS
    )
    assert (
        text.choices[0].text
        == reference(checkpoints["trained"], "The queen", chat=False, temperature=1.0, top_p=0.9, seed=3)[
            "completion"
        ]
    )
    other_seed = client.completions.create(
        model=MODEL, prompt="The queen", temperature=1, top_p=0.9, seed=4, max_tokens=MAX_TOKENS
    )
    assert (
        other_seed.choices[0].text
        == reference(checkpoints["trained"], "The queen", chat=False, temperature=1.0, top_p=0.9, seed=4)[
            "completion"
        ]
    )


def test_chat_streaming(server, checkpoints, tokenizer):
    messages = user("One day the queen")
    stream = server.client().chat.completions.create(
        model=MODEL, messages=messages, temperature=0, max_tokens=MAX_TOKENS, stream=True,
        stream_options={"include_usage": True},
    )  # fmt: skip
    chunks = list(stream)
    expected = reference(checkpoints["trained"], "One day the queen", chat=True)
    assert len(chunks) >= 2 and {c.object for c in chunks} == {"chat.completion.chunk"}
    assert len({c.id for c in chunks}) == 1 and {c.model for c in chunks} == {MODEL}
    choices = [choice for c in chunks for choice in c.choices]
    assert {choice.index for choice in choices} == {0}
    assert any(choice.delta.role == "assistant" for choice in choices)
    assert "".join(choice.delta.content or "" for choice in choices) == expected["completion"]
    finishes = [choice.finish_reason for choice in choices if choice.finish_reason]
    assert finishes == [expected["finish_reason"]]
    usage = [c.usage for c in chunks if c.usage]
    assert len(usage) == 1
    prompt_tokens = len(tokenizer.render_chat(messages, add_generation_prompt=True)[0])
    assert (usage[0].prompt_tokens, usage[0].completion_tokens) == (
        prompt_tokens,
        expected["completion_tokens"],
    )


def sse_events(body: bytes) -> list[str]:
    return [line[len("data: ") :] for line in body.decode().splitlines() if line.startswith("data: ")]


def test_completion_stream_is_server_sent_events_ending_with_done(server, checkpoints):
    payload = {"model": MODEL, "prompt": "The king", "temperature": 0, "max_tokens": MAX_TOKENS, "stream": True,
               "n": 2}  # fmt: skip
    status, headers, body = post_json(server, "/completions", payload)
    assert status == 200 and headers["content-type"].startswith("text/event-stream")
    events = sse_events(body)
    assert events[-1] == "[DONE]" and "[DONE]" not in events[:-1]
    chunks = [json.loads(e) for e in events[:-1]]
    assert {c["object"] for c in chunks} == {"text_completion"}
    texts = {0: "", 1: ""}
    finishes = {}
    for c in chunks:
        for choice in c["choices"]:
            texts[choice["index"]] += choice.get("text") or ""
            if choice.get("finish_reason"):
                finishes[choice["index"]] = choice["finish_reason"]
    expected = reference(checkpoints["trained"], "The king", chat=False)["completion"]
    assert texts == {0: expected, 1: expected}  # greedy: both choices are the greedy answer
    assert finishes == {0: "length", 1: "length"}


def test_n_choices(server, tokenizer):
    client = server.client()
    messages = user("The sea")
    r = client.chat.completions.create(model=MODEL, messages=messages, n=3, temperature=1, seed=5,
                                       max_tokens=MAX_TOKENS)  # fmt: skip
    assert sorted(c.index for c in r.choices) == [0, 1, 2]
    texts = [c.message.content for c in r.choices]
    assert len(set(texts)) > 1, texts  # three samples, not one sample three times
    assert all(c.finish_reason in ("stop", "length") for c in r.choices)
    assert r.usage.prompt_tokens == len(tokenizer.render_chat(messages, add_generation_prompt=True)[0])
    assert 3 <= r.usage.completion_tokens <= 3 * MAX_TOKENS
    assert r.usage.total_tokens == r.usage.prompt_tokens + r.usage.completion_tokens
    again = client.chat.completions.create(model=MODEL, messages=messages, n=3, temperature=1, seed=5,
                                           max_tokens=MAX_TOKENS)  # fmt: skip
    assert [c.message.content for c in sorted(again.choices, key=lambda c: c.index)] == [
        c.message.content for c in sorted(r.choices, key=lambda c: c.index)
    ]  # the same seed, the same samples
    text = client.completions.create(model=MODEL, prompt="The king", n=2, temperature=1, seed=1, max_tokens=4)
    assert sorted(c.index for c in text.choices) == [0, 1]


def test_stop_strings(server, checkpoints):
    client = server.client()
    full = reference(checkpoints["trained"], "The king", chat=False)["completion"]
    stop, before = stop_in(full)
    r = client.completions.create(
        model=MODEL, prompt="The king", temperature=0, max_tokens=MAX_TOKENS, stop=stop
    )
    assert (r.choices[0].text, r.choices[0].finish_reason) == (before, "stop")
    r = client.completions.create(model=MODEL, prompt="The king", temperature=0, max_tokens=MAX_TOKENS,
                                  stop=["never in it", stop])  # fmt: skip
    assert (r.choices[0].text, r.choices[0].finish_reason) == (before, "stop")
    assert r.usage.completion_tokens < MAX_TOKENS

    full = reference(checkpoints["trained"], "The king", chat=True)["completion"]
    stop, before = stop_in(full)
    r = client.chat.completions.create(model=MODEL, messages=user("The king"), temperature=0,
                                       max_tokens=MAX_TOKENS, stop=[stop])  # fmt: skip
    assert (r.choices[0].message.content, r.choices[0].finish_reason) == (before, "stop")
    stream = client.chat.completions.create(model=MODEL, messages=user("The king"), temperature=0,
                                            max_tokens=MAX_TOKENS, stop=stop, stream=True)  # fmt: skip
    choices = [choice for chunk in stream for choice in chunk.choices]
    assert "".join(c.delta.content or "" for c in choices) == before  # no part of the stop string leaks
    assert [c.finish_reason for c in choices if c.finish_reason] == ["stop"]


def test_control_token_text_in_a_message_is_plain_text(server, tokenizer):
    content = "Hi " + CONTROL_TEXT
    messages = user(content)
    r = server.client().chat.completions.create(model=MODEL, messages=messages, temperature=0, max_tokens=4)
    ids = tokenizer.render_chat(messages, add_generation_prompt=True)[0]
    as_markers = len(tokenizer.render_chat(user("Hi "), add_generation_prompt=True)[0]) + 3
    assert r.usage.prompt_tokens == len(ids) > as_markers
    specials = {tokenizer.im_start_id, tokenizer.im_sep_id, tokenizer.im_end_id, tokenizer.eot_id}
    assert sum(i in specials for i in ids) == 5  # user header (2) + its <|im_end|> + the assistant header (2)
    text = server.client().completions.create(model=MODEL, prompt=CONTROL_TEXT, temperature=0, max_tokens=4)
    assert text.usage.prompt_tokens == 1 + len(tokenizer.encode(CONTROL_TEXT)) > 4


def test_concurrent_requests_each_equal_their_single_answer(server, checkpoints):
    prompts = [("The king", False), ("The queen", False), ("One day", False), ("The sea went", False),
               ("The king", True), ("One day the queen", True), ("The sea", True), ("Their people", True)]  # fmt: skip
    expected = [reference(checkpoints["trained"], p, chat)["completion"] for p, chat in prompts]
    client = server.client()
    barrier = threading.Barrier(len(prompts), timeout=30)

    def ask(prompt: str, chat: bool) -> str:
        barrier.wait()
        if chat:
            r = client.chat.completions.create(model=MODEL, messages=user(prompt), temperature=0,
                                               max_tokens=MAX_TOKENS)  # fmt: skip
            return r.choices[0].message.content
        return (
            client.completions.create(model=MODEL, prompt=prompt, temperature=0, max_tokens=MAX_TOKENS)
            .choices[0]
            .text
        )

    with ThreadPoolExecutor(len(prompts)) as pool:
        futures = [pool.submit(ask, p, chat) for p, chat in prompts]
        answers = [f.result(timeout=120) for f in futures]
    assert answers == expected


# --------------------------------------------------------------------------------------- errors


def test_unknown_model_and_route_are_404(server):
    client = server.client()
    with pytest.raises(openai.NotFoundError) as e:
        client.chat.completions.create(model="no-such-model", messages=user("hi"), max_tokens=2)
    assert_error_body(e.value)
    with pytest.raises(openai.NotFoundError) as e:
        client.completions.create(model="no-such-model", prompt="hi", max_tokens=2)
    assert_error_body(e.value)
    status, _, body = raw_request(server, "GET", "/v1/no-such-route")
    assert_openai_error(status, body, 404)


def test_malformed_json_and_bad_values_are_400(server):
    status, _, body = post_json(server, "/chat/completions", b'{"model": "tiny-chat", "messages": [')
    assert_openai_error(status, body, 400)
    client = server.client()
    bad = [dict(temperature=-1), dict(n=0), dict(max_tokens=0), dict(top_p=1.5), dict(seed=2**70)]
    for values in bad:
        with pytest.raises(openai.BadRequestError) as e:
            client.chat.completions.create(model=MODEL, messages=user("hi"), **values)
        assert_error_body(e.value)
    for values in [dict(temperature=-1), dict(seed=2**70)]:  # a seed no random generator takes
        with pytest.raises(openai.BadRequestError):
            client.completions.create(model=MODEL, prompt="hi", max_tokens=2, **values)


def test_missing_or_wrong_typed_fields_are_422(server):
    for path, payload in [
        ("/chat/completions", {"model": MODEL, "messages": "hi"}),
        ("/chat/completions", {"model": MODEL}),
        ("/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": 3}]}),
        ("/completions", {"model": MODEL}),
        ("/completions", {"model": MODEL, "prompt": None}),
    ]:  # fmt: skip
        status, _, body = post_json(server, path, payload)
        assert_openai_error(status, body, 422)
    for path, payload in [  # a wrong-typed optional field: 422 (like a required one) or 400 (a bad value)
        ("/chat/completions", {"model": MODEL, "messages": user("hi"), "max_tokens": "x"}),
        ("/completions", {"model": MODEL, "prompt": "hi", "temperature": "hot"}),
    ]:
        status, _, body = post_json(server, path, payload)
        assert_openai_error(status, body, {400, 422})
    status, _, body = post_json(server, "/chat/completions", [1, 2])  # JSON, but not an object
    assert_openai_error(status, body, {400, 422})
    with pytest.raises(openai.UnprocessableEntityError) as e:
        server.client().chat.completions.create(model=MODEL, messages="hi")
    assert_error_body(e.value)


def test_api_key_is_required_on_every_v1_route(limited):
    wrong = limited.client(api_key="sk-wrong")
    with pytest.raises(openai.AuthenticationError) as e:
        wrong.models.list()
    assert_error_body(e.value)
    with pytest.raises(openai.AuthenticationError):
        wrong.chat.completions.create(model=LONG_MODEL, messages=user("hi"), max_tokens=2)
    with pytest.raises(openai.AuthenticationError):
        wrong.completions.create(model=LONG_MODEL, prompt="hi", max_tokens=2)
    status, _, body = raw_request(limited, "GET", "/v1/models")  # no Authorization header at all
    assert_openai_error(status, body, 401)
    status, _, body = post_json(limited, "/chat/completions", {"model": LONG_MODEL, "messages": user("hi")})
    assert_openai_error(status, body, 401)
    right = limited.client(api_key=API_KEY)
    assert [m.id for m in right.models.list().data] == [LONG_MODEL]
    r = right.chat.completions.create(model=LONG_MODEL, messages=user("hi"), temperature=0, max_tokens=3)
    assert r.usage.completion_tokens == 3 and r.model == LONG_MODEL


def test_oversized_body_is_413(limited):
    payload = {"model": LONG_MODEL, "messages": user("x" * (2 * BODY_LIMIT)), "max_tokens": 2}
    status, _, body = post_json(limited, "/chat/completions", payload, api_key=API_KEY)
    assert_openai_error(status, body, 413)
    # without a Content-Length (chunked), the server must count the bytes itself
    status, _, body = post_json(limited, "/chat/completions", payload, api_key=API_KEY, chunked=True)
    assert_openai_error(status, body, 413)
    status, _, body = post_json(limited, "/chat/completions", {**payload, "messages": user("hi")}, api_key=API_KEY,
                                chunked=True)  # fmt: skip
    assert status == 200, body[:500]


def test_queue_full_is_503(limited):
    client = limited.client(api_key=API_KEY)
    results: dict[str, object] = {}

    def ask(name: str, max_tokens: int):
        try:
            results[name] = client.chat.completions.create(model=LONG_MODEL, messages=user("Hello"), temperature=0,
                                                           max_tokens=max_tokens)  # fmt: skip
        except Exception as e:  # reported by the assertions below
            results[name] = e

    long = threading.Thread(target=ask, args=("long", LONG_TOKENS))
    long.start()
    time.sleep(0.5)  # the long request holds the only decode slot...
    waiting = threading.Thread(target=ask, args=("waiting", 2))
    waiting.start()
    time.sleep(0.3)  # ...and this one the only waiting place
    assert long.is_alive() and waiting.is_alive(), "the long answer ended too soon for this test to judge"
    with pytest.raises(openai.InternalServerError) as e:
        client.chat.completions.create(model=LONG_MODEL, messages=user("Hello"), max_tokens=2)
    assert e.value.status_code == 503
    assert_error_body(e.value)
    long.join(timeout=120)
    waiting.join(timeout=120)
    assert not isinstance(results["long"], Exception), results["long"]
    assert not isinstance(results["waiting"], Exception), results["waiting"]
    assert results["long"].usage.completion_tokens == LONG_TOKENS
    assert results["waiting"].usage.completion_tokens == 2


def test_a_client_that_disconnects_frees_its_slot(limited):
    """With one slot, a streaming answer of LONG_TOKENS tokens whose client leaves after the first chunk
    must stop: the next request is answered in well under the time the whole answer takes."""
    leaver = limited.client(api_key=API_KEY)
    stream = leaver.chat.completions.create(model=LONG_MODEL, messages=user("Hello"), temperature=0,
                                            max_tokens=LONG_TOKENS, stream=True)  # fmt: skip
    next(iter(stream))
    stream.close()
    leaver.close()
    client = limited.client(api_key=API_KEY)
    start = time.monotonic()
    r = client.chat.completions.create(model=LONG_MODEL, messages=user("Hi"), temperature=0, max_tokens=2)
    after_leaving_s = time.monotonic() - start
    assert r.usage.completion_tokens == 2
    start = time.monotonic()
    full = client.chat.completions.create(model=LONG_MODEL, messages=user("Hello"), temperature=0,
                                          max_tokens=LONG_TOKENS)  # fmt: skip
    full_s = time.monotonic() - start
    assert full.usage.completion_tokens == LONG_TOKENS  # what the leaver would have held the slot for
    assert after_leaving_s < full_s / 2, (after_leaving_s, full_s)


def test_server_logs_have_no_traceback(server, limited):
    for s in (server, limited):
        assert s.proc.poll() is None, "".join(s.log)
        assert "Traceback" not in "".join(s.log), "".join(s.log)


def test_bad_serve_options_end_with_one_clear_line(checkpoints, tmp_path):
    """A checkpoint that is not one, a port already taken, or a zero limit: one line, exit 2, no server."""
    import socket

    from conftest import assert_one_line_error, run_cli

    checkpoint = next(iter(checkpoints.values()))
    assert_one_line_error(run_cli("serve", tmp_path, "--port", "0"), str(tmp_path))
    assert_one_line_error(run_cli("serve", checkpoint, "--max-batch", "0"), "--max-batch")
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        assert_one_line_error(run_cli("serve", checkpoint, "--port", port, timeout=60), "cannot listen", str(port))
