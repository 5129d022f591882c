"""The byte-level BPE tokenizer: loading, encoding, decoding, special tokens, the chat template, and
the exact form of the BPE that llmkit trains.

`tokenizer.json` (HF `tokenizers` format) is the one canonical file; everything loads it (`tokenizers`,
`transformers.PreTrainedTokenizerFast`, `load_tokenizer`). Training runs HF's BPE trainer (start from
the 256 bytes, merge the most frequent pair until the vocabulary is full) behind a GPT-4-style split
(digits in groups of up to 3, or with `digits="single"` one digit per piece).
The trained merges are then rewritten in tiktoken's form (every split of every token into two tokens,
ranked by the merged token's id, with whole-piece lookup first: `ignore_merges`, as in Llama 3's
tokenizer.json), so that a `tiktoken.Encoding` built from the same vocabulary gives exactly the same
ids as `tokenizers` does. Bulk encoding goes through tiktoken (several times faster); a tokenizer.json
not in that exact form (not written by llmkit) is encoded by `tokenizers` instead.

Special tokens are looked up by their role's name (`SPECIAL_ROLES`), never by position. Every
tokenizer llmkit trains has all seven at ids 0..6, the 256 bytes and the merges after them; one trained
before the tool tokens existed has the first five and still loads (only asking it for tools is an
error). Special-token text inside ordinary text is always encoded as text, never as a control token, so
a user (or a tool's output) cannot close a chat turn by typing `<|im_end|>` or forge a `<|tool_call|>`.

This module writes no artifacts and draws nothing: the stages that read documents, train a tokenizer
artifact and tokenize into a tokens artifact (`train-tokenizer`, `tokenize`) are in llmkit/tokenize.py.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import cached_property
from pathlib import Path

from llmkit.artifacts import fingerprint, partial_path
from llmkit.defaults import stage_default
from llmkit.errors import UserError

# role → token text. The chat template (`render_chat`) and the engine use the roles: <|endoftext|>
# starts/ends a document, <|im_start|>{role}<|im_sep|>…<|im_end|> is a chat turn, <|tool_call|> opens a
# call inside an assistant turn, <|tool_result|> opens a tool's answer.
SPECIAL_ROLES = {
    "eot": "<|endoftext|>",
    "pad": "<|pad|>",
    "im_start": "<|im_start|>",
    "im_sep": "<|im_sep|>",
    "im_end": "<|im_end|>",
    "tool_call": "<|tool_call|>",
    "tool_result": "<|tool_result|>",
}
REQUIRED_ROLES = ("eot", "pad", "im_start", "im_sep", "im_end")  # chat needs these; tools need the rest
TOOL_ROLES = ("tool_call", "tool_result")
SPECIAL_TOKENS = tuple(SPECIAL_ROLES.values())  # in the id order llmkit trains them
# GPT-4's (cl100k) pre-tokenizer split: contractions, letter runs (with one leading non-letter), digit
# groups of at most 3, punctuation runs, newlines, other whitespace. BPE merges never cross these pieces.
SPLIT_PATTERN = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
# The same split with every digit its own piece (as Llama 1/2 and PaLM split numbers): a number is always
# its digits, one token each, instead of BPE's irregular chunks of up to 3 ('2232832' → '2','23','28',
# '3','2'), so a small model can copy a number and do arithmetic on it digit by digit.
SPLIT_PATTERN_SINGLE_DIGITS = r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]++[\r\n]*|\s*[\r\n]|\s+(?!\S)|\s+"""
# train-tokenizer --digits → the split it trains behind (a tokenizer.json carries its own split)
SPLIT_PATTERNS = {"groups": SPLIT_PATTERN, "single": SPLIT_PATTERN_SINGLE_DIGITS}
MIN_VOCAB_SIZE = len(SPECIAL_TOKENS) + 256 + 1  # specials, the 256 bytes, at least one merge
TOKENIZER_FILE = "tokenizer.json"
# A tokenizer that is not llmkit's (one `llmkit import-model` brought in) has this file next to its
# tokenizer.json: {"roles": {role: token text}, ...}, the chat format its checkpoint renders with.
CHAT_FORMAT_FILE = "chat_format.json"


def _byte_to_char() -> dict[int, str]:
    """GPT-2's byte-level alphabet: each byte as one printable character (how tokenizer.json spells bytes).

    Printable Latin-1 bytes stand for themselves; the others are shifted to code points 256 and up.
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    shifted = [b for b in range(256) if b not in printable]
    return {b: chr(b) for b in printable} | {b: chr(256 + i) for i, b in enumerate(shifted)}


BYTE_TO_CHAR = _byte_to_char()
CHAR_TO_BYTE = {c: b for b, c in BYTE_TO_CHAR.items()}


# --------------------------------------------------------------------------------------- the tokenizer


class Tokenizer:
    """A trained tokenizer: a thin wrapper over `tokenizers.Tokenizer` (and a tiktoken twin for speed).

    Build it with `load_tokenizer(path)`. Ids are Python ints; text is str.
    """

    def __init__(self, path: Path, hf, special_roles: dict[str, str] = SPECIAL_ROLES):
        self.path = path
        self.hf = hf
        # Special-token text in input is ordinary text (the chat template inserts control ids itself).
        self.hf.encode_special_tokens = True
        self.vocab_size: int = hf.get_vocab_size(with_added_tokens=True)
        # role → id of the special tokens this vocabulary has (`load_tokenizer` checks the required ones)
        self.special_ids: dict[str, int] = {
            role: i for role, text in special_roles.items() if (i := hf.token_to_id(text)) is not None
        }
        self.special_roles = {role: special_roles[role] for role in self.special_ids}
        ids = self.special_ids
        self.eot_id, self.pad_id = ids.get("eot"), ids.get("pad")
        self.im_start_id, self.im_sep_id, self.im_end_id = ids.get("im_start"), ids.get("im_sep"), ids.get("im_end")
        self.tool_call_id, self.tool_result_id = ids.get("tool_call"), ids.get("tool_result")  # None: no tools
        # _fast is None when tokenizer.json is not in llmkit's exact form; digits is then None too, else
        # which of llmkit's splits it has: "groups" (GPT-4's) or "single" (one digit per piece)
        self._fast, self.digits = _tiktoken_twin(hf)

    @property
    def has_tools(self) -> bool:
        return all(role in self.special_ids for role in TOOL_ROLES)

    def require_tools(self) -> None:
        """A UserError unless this tokenizer has the tool-call and tool-result tokens."""
        if not self.has_tools:
            missing = ", ".join(SPECIAL_ROLES[r] for r in TOOL_ROLES if r not in self.special_ids)
            raise UserError(
                f"the tokenizer {self.path} has no tool tokens ({missing}): it was trained before llmkit "
                "had tools; train a new tokenizer (llmkit train-tokenizer) and model to use --tools"
            )

    @cached_property
    def fingerprint(self) -> str:
        """sha256 of tokenizer.json; a checkpoint records it to detect a tokenizer mismatch."""
        return fingerprint(self.path)

    @property
    def encoder(self) -> str:
        """Which library encodes: 'tiktoken' (same ids, faster) or 'tokenizers'."""
        return "tiktoken" if self._fast is not None else "tokenizers"

    def encode(self, text: str) -> list[int]:
        """Token ids of `text` (no special tokens added; special-token text is encoded as text)."""
        if self._fast is not None:
            return self._fast.encode_ordinary(text)
        return self.hf.encode(_valid_unicode(text), add_special_tokens=False).ids

    def encode_batch(self, texts: Sequence[str], threads: int | None = None) -> list[list[int]]:
        """`encode` of each text, in order, on `threads` threads (default: all cores)."""
        texts = list(texts)
        if self._fast is not None:
            # Each thread encodes a contiguous slice in a plain loop (tiktoken releases the GIL):
            # tiktoken's own encode_ordinary_batch submits one pool task per text, whose overhead
            # exceeds the encoding itself for web-page-sized documents.
            threads = min(threads or _usable_cores(), len(texts))
            if threads <= 1:
                return [self._fast.encode_ordinary(t) for t in texts]
            size = -(-len(texts) // (4 * threads))  # 4 slices per thread evens out uneven documents
            slices = [texts[i : i + size] for i in range(0, len(texts), size)]
            with ThreadPoolExecutor(threads) as pool:
                encoded = pool.map(lambda part: [self._fast.encode_ordinary(t) for t in part], slices)
                return [ids for part in encoded for ids in part]
        texts = [_valid_unicode(t) for t in texts]
        return [e.ids for e in self.hf.encode_batch(texts, add_special_tokens=False)]

    def decode(self, ids: Sequence[int]) -> str:
        """Text of `ids`; special tokens appear as their text; invalid UTF-8 becomes U+FFFD."""
        ids = [int(i) for i in ids]  # also numpy arrays and torch tensors
        bad = [i for i in ids if not 0 <= i < self.vocab_size]
        if bad:
            raise ValueError(f"token id {bad[0]} is outside the vocabulary (size {self.vocab_size})")
        if self._fast is not None:
            return self._fast.decode(ids, errors="replace")
        return self.hf.decode(ids, skip_special_tokens=False)

    def id_to_token(self, token_id: int) -> str:
        """The vocabulary entry of `token_id`, in tokenizer.json's byte-level spelling."""
        return self.hf.id_to_token(token_id)

    def render_chat(
        self, messages: Sequence[dict], add_generation_prompt: bool = False, tools: Sequence[dict] | None = None
    ) -> tuple[list[int], list[int]]:
        """Token ids of a conversation and its assistant mask (1 = a token the assistant wrote).

        Each message renders as `<|im_start|>{role}<|im_sep|>{content}<|im_end|>`, except:
        - an assistant message with `tool_calls` (OpenAI shape; content may be null) puts
          `<|tool_call|>{"name": …, "arguments": …}` after its content, once per call;
        - a `tool` message (a tool's answer) renders as `<|tool_result|>{content}<|im_end|>`.
        `tools` (schemas, OpenAI shape) go first, in a `tools` turn, one signature per line
        (`tool_signature`: compact, since a small model's context is short).
        The mask is 1 on assistant content, calls and their `<|im_end|>` (what SFT learns to produce),
        0 elsewhere: tool results are context, never targets. `add_generation_prompt` appends
        `<|im_start|>assistant<|im_sep|>` for the model to continue. A message of any other shape is
        a UserError; so are tool calls or tool messages with a tokenizer that has no tool tokens.
        """
        ids: list[int] = []
        mask: list[int] = []
        if tools:
            self.require_tools()
            block = "\n".join(tool_signature(t["function"]) for t in check_tools(tools))
            ids += [self.im_start_id, *self.encode("tools"), self.im_sep_id, *self.encode(block), self.im_end_id]
            mask += [0] * (len(ids) - len(mask))
        for i, message in enumerate(messages):
            role, content, calls = check_message(message, i)
            if role == "tool":
                self.require_tools()
                ids += [self.tool_result_id, *self.encode(content), self.im_end_id]
                mask += [0] * (len(ids) - len(mask))
                continue
            header = [self.im_start_id, *self.encode(role), self.im_sep_id]
            body = self.encode(content)
            if calls:
                self.require_tools()
            for call in calls:
                body += [self.tool_call_id, *self.encode(tool_call_text(call))]
            body.append(self.im_end_id)
            ids += header + body
            mask += [0] * len(header) + [int(role == "assistant")] * len(body)
        if add_generation_prompt:
            prompt = [self.im_start_id, *self.encode("assistant"), self.im_sep_id]
            ids += prompt
            mask += [0] * len(prompt)
        return ids, mask

    def __repr__(self) -> str:
        return f"Tokenizer({str(self.path)!r}, vocab_size={self.vocab_size}, encoder={self.encoder!r})"


def tool_signature(function: dict) -> str:
    """One tool as the chat template shows it: `name(param: type, optional?: type): description`, the
    parameters in the order of the JSON schema's properties."""
    parameters = function.get("parameters") or {}
    properties = parameters.get("properties") or {}
    required = parameters.get("required") or []
    listed = ", ".join(
        f"{name}{'' if name in required else '?'}: {spec.get('type', 'any') if isinstance(spec, dict) else 'any'}"
        for name, spec in properties.items()
    )
    description = function.get("description")
    return f"{function['name']}({listed})" + (f": {description}" if description else "")


def tool_call_text(call: dict) -> str:
    """The text of one call after <|tool_call|>: `{"name": NAME, "arguments": ARGS}`. `call` is OpenAI's
    `{"function": {"name", "arguments"}}`; arguments given as a JSON string (as OpenAI sends them) go in
    as they are, an object as `json.dumps` writes it (what the exported Jinja template's tojson writes)."""
    function = call["function"]
    arguments = function.get("arguments", {})
    if not isinstance(arguments, str):
        arguments = json.dumps(arguments, ensure_ascii=False)
    return '{"name": ' + json.dumps(function["name"], ensure_ascii=False) + ', "arguments": ' + arguments + "}"


def check_message(message, index: int) -> tuple[str, str, list[dict]]:
    """(role, content, tool calls) of one chat message, or a UserError saying what is wrong with it.

    content must be a string, except that an assistant message with tool_calls may have null content.
    """
    if not isinstance(message, dict):
        raise UserError(
            f"chat message {index} must be an object with 'role' and 'content' (got {message!r:.60})"
        )
    role, content = message.get("role"), message.get("content")
    if not isinstance(role, str) or not role:
        raise UserError(f"chat message {index} needs a non-empty string 'role' (got {role!r:.60})")
    calls = message.get("tool_calls") or []
    if calls and role != "assistant":
        raise UserError(f"chat message {index}: only an assistant message can have tool_calls (role {role!r})")
    if not isinstance(calls, list):
        raise UserError(f"chat message {index}: tool_calls must be a list (got {calls!r:.60})")
    for call in calls:
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise UserError(
                f'chat message {index}: each tool call needs {{"function": {{"name": ..., "arguments": ...}}}} '
                f"(got {call!r:.80})"
            )
        arguments = function.get("arguments", {})
        if isinstance(arguments, str):
            try:
                arguments = json.loads(arguments)
            except json.JSONDecodeError as e:
                raise UserError(
                    f"chat message {index}: tool call {function['name']!r} has arguments that are not JSON ({e.msg})"
                ) from e
        if not isinstance(arguments, dict):
            raise UserError(
                f"chat message {index}: tool call {function['name']!r} needs arguments that are a JSON object"
            )
    if content is None and calls:
        content = ""
    if not isinstance(content, str):
        raise UserError(f"chat message {index} needs a string 'content' (got {content!r:.60})")
    return role, content, calls


def check_tools(tools) -> list[dict]:
    """Tool schemas in OpenAI's shape `{"type": "function", "function": {"name", "description",
    "parameters"}}` (a bare `{"name", ...}` is wrapped); a UserError for anything else."""
    if not isinstance(tools, list | tuple):
        raise UserError(f"tools must be a list of tool schemas (got {tools!r:.60})")
    out = []
    for i, tool in enumerate(tools):
        function = tool.get("function", tool) if isinstance(tool, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str) or not function["name"]:
            raise UserError(f"tool {i} needs a 'name' (got {tool!r:.80})")
        out.append({"type": "function", "function": function})
    return out


def _valid_unicode(text: str) -> str:
    """`text` with lone surrogates (which UTF-8 cannot encode) replaced by U+FFFD, as tiktoken does."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def _usable_cores() -> int:
    """All cores this process may use: `encode_batch`'s default thread count."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def load_tokenizer(path: str | Path, special_roles: dict[str, str] = SPECIAL_ROLES) -> Tokenizer:
    """Load a tokenizer from a tokenizer.json file, or from any directory holding one (tokenizer or
    tokens artifact, checkpoint). `special_roles` maps each role to its token text in this vocabulary
    (llmkit's own by default; a tokenizer from elsewhere brings its own spellings). A missing or invalid
    file, or one without a special token of every required role, is a UserError."""
    from tokenizers import Tokenizer as HFTokenizer

    p = Path(path)
    if p.is_dir():
        p = p / TOKENIZER_FILE
        if not p.is_file():
            raise UserError(
                f"{path} has no {TOKENIZER_FILE}; expected a tokenizer, tokens or checkpoint directory"
            )
    elif not p.exists():
        hint = " (a previous run did not finish)" if partial_path(p).exists() else ""
        raise UserError(f"{path} does not exist{hint}")
    try:
        hf = HFTokenizer.from_file(str(p))
    except Exception as e:  # tokenizers raises plain Exception for any parse error
        raise UserError(f"{p} is not a valid tokenizer.json: {str(e).splitlines()[0][:200]}") from e
    chat_format = p.with_name(CHAT_FORMAT_FILE)
    if special_roles is SPECIAL_ROLES and chat_format.is_file():  # the roles this tokenizer was imported with
        special_roles = read_chat_format(chat_format)["roles"]
    specials = {t.content for t in hf.get_added_tokens_decoder().values() if t.special}
    missing = [special_roles[r] for r in REQUIRED_ROLES if special_roles.get(r) not in specials]
    if missing:
        raise UserError(f"{p} is not an llmkit tokenizer: it has no special token {', '.join(missing)}")
    return Tokenizer(p, hf, special_roles)


def read_chat_format(path: Path) -> dict:
    """A chat_format.json (CHAT_FORMAT_FILE); a corrupt one, or one without every required role, is a UserError."""
    try:
        chat_format = json.loads(path.read_text(encoding="utf-8"))
        roles = chat_format["roles"]
        if not all(isinstance(roles.get(r), str) for r in REQUIRED_ROLES):
            raise KeyError(", ".join(r for r in REQUIRED_ROLES if not isinstance(roles.get(r), str)))
    except (OSError, ValueError, KeyError, TypeError, AttributeError) as e:
        raise UserError(f"{path} is not a valid chat format ({type(e).__name__}: {e})") from e
    return chat_format


# --------------------------------------------------------------------------------------- tiktoken twin


def _tiktoken_form(ranks: dict[bytes, int]) -> list[tuple[bytes, bytes]]:
    """The merges tiktoken implies for a vocabulary: every split of a token into two tokens, by rank.

    tiktoken merges whichever adjacent pair forms the lowest-id token; listing every such pair with that
    token's rank (ties by the parts' ranks, as transformers' tiktoken converter does) makes HF's BPE do
    the same.
    """
    merges = []
    for token, rank in ranks.items():
        for cut in range(1, len(token)):
            left, right = token[:cut], token[cut:]
            if left in ranks and right in ranks:
                merges.append((rank, ranks[left], ranks[right], left, right))
    merges.sort()
    return [(left, right) for *_, left, right in merges]


def _byte_ranks(vocab: dict[str, int], n_special: int) -> dict[bytes, int]:
    """The BPE vocabulary (without the `n_special` special tokens in front) as bytes -> id."""
    return {bytes(CHAR_TO_BYTE[c] for c in tok): i for tok, i in vocab.items() if i >= n_special}


def _tiktoken_twin(hf):
    """(a tiktoken Encoding with the same ids as `hf`, its split's name in SPLIT_PATTERNS), or (None,
    None) if `hf` is not in llmkit's exact form.

    The form: no normalizer, no added tokens but the special ones, one of llmkit's splits
    (SPLIT_PATTERNS) then ByteLevel, a BPE with whole-piece lookup first and exactly the merges
    tiktoken implies (`_tiktoken_form`). Anything else could encode differently, so it is left to
    `tokenizers`.
    """
    import tiktoken

    spec = json.loads(hf.to_str())
    model = spec.get("model") or {}
    pre = spec.get("pre_tokenizer") or {}
    steps = pre.get("pretokenizers", []) if pre.get("type") == "Sequence" else []
    pattern = ((steps[0].get("pattern") or {}).get("Regex") if steps else None) or ""
    digits = next((name for name, p in SPLIT_PATTERNS.items() if p == pattern), None)
    expected_steps = [
        ("Split", {"Regex": pattern}, "Isolated", False),
        ("ByteLevel", False, False),
    ]
    got_steps = [
        (s.get("type"), s.get("pattern"), s.get("behavior"), s.get("invert"))
        if s.get("type") == "Split"
        else (s.get("type"), s.get("add_prefix_space"), s.get("use_regex"))
        for s in steps
    ]
    added = [(t.get("id"), t.get("content"), t.get("special")) for t in spec.get("added_tokens", [])]
    # llmkit's specials at ids 0..n-1: all of them, or the first five (a tokenizer from before tools)
    n_special = len(added)
    if (
        spec.get("normalizer") is not None
        or n_special not in (len(REQUIRED_ROLES), len(SPECIAL_TOKENS))
        or added != [(i, t, True) for i, t in enumerate(SPECIAL_TOKENS[:n_special])]  # others split text
        or digits is None
        or got_steps != expected_steps
        or model.get("type") != "BPE"
        or not model.get("ignore_merges")
        or model.get("byte_fallback")
        or model.get("continuing_subword_prefix")
        or model.get("end_of_word_suffix")
    ):
        return None, None
    try:
        ranks = _byte_ranks(model["vocab"], n_special)
    except KeyError:  # a character outside the byte-level alphabet
        return None, None
    if len(ranks) + n_special != hf.get_vocab_size(with_added_tokens=True):
        return None, None
    to_chars = lambda b: "".join(BYTE_TO_CHAR[x] for x in b)  # noqa: E731
    merges = [[to_chars(left), to_chars(right)] for left, right in _tiktoken_form(ranks)]
    if merges != [m if isinstance(m, list) else m.split(" ", 1) for m in model.get("merges", [])]:
        return None, None
    encoding = tiktoken.Encoding(
        "llmkit",
        pat_str=pattern,
        mergeable_ranks=ranks,
        special_tokens={t: i for i, t in enumerate(SPECIAL_TOKENS[:n_special])},
    )
    return encoding, digits


def _check_same_as_tokenizers(tok: Tokenizer, texts: list[str], encoded: list[list[int]]) -> None:
    """Fail loudly if the tiktoken twin and `tokenizers` disagree on real input.

    They agree by construction and in the tests; this guards against a future version of either
    library changing its regex engine's Unicode tables, at the cost of encoding a few documents twice.
    """
    if tok.encoder != "tiktoken":
        return
    for text, ids in zip(texts, encoded, strict=True):
        if ids != tok.hf.encode(_valid_unicode(text), add_special_tokens=False).ids:
            import tiktoken
            import tokenizers

            raise UserError(
                f"tiktoken {tiktoken.__version__} and tokenizers {tokenizers.__version__} encode "
                f"{text[:40]!r} differently, so llmkit cannot use tiktoken with them; please report this"
            )


# --------------------------------------------------------------------------------------- training the BPE


def _train_bpe(
    texts: Iterator[str], vocab_size: int, digits: str = stage_default("train-tokenizer", "digits")
):
    """HF's byte-level BPE trained on `texts` behind the split SPLIT_PATTERNS[digits] (GPT-4's, or
    the same with one digit per piece), merges as trained (a `tokenizers.Tokenizer`).
    `train_tokenizer` then rewrites the merges in tiktoken's form."""
    from tokenizers import Regex, decoders, models, pre_tokenizers, trainers
    from tokenizers import Tokenizer as HFTokenizer

    hf = HFTokenizer(models.BPE())
    hf.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(SPLIT_PATTERNS[digits]), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    hf.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=list(SPECIAL_TOKENS),  # first, so they get ids 0..6
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),  # all 256 bytes, seen or not
        show_progress=False,
    )
    hf.train_from_iterator(texts, trainer)
    return hf


def _rewrite_in_tiktoken_form(hf):
    """`hf` with its merges replaced by the ones tiktoken implies for its vocabulary (module docstring)."""
    from tokenizers import models

    vocab = hf.get_vocab(with_added_tokens=False)
    ranks = _byte_ranks(vocab, len(SPECIAL_TOKENS))
    to_chars = lambda b: "".join(BYTE_TO_CHAR[x] for x in b)  # noqa: E731
    merges = [(to_chars(left), to_chars(right)) for left, right in _tiktoken_form(ranks)]
    hf.model = models.BPE(vocab=vocab, merges=merges, ignore_merges=True)
    return hf


# --------------------------------------------------------------------------------------- the validation split


def in_val_split(doc_id: str, val_fraction: float) -> bool:
    """Whether a document belongs to the validation split: a stable hash of its id, so every run (and
    every stage) puts the same documents on the same side."""
    h = int.from_bytes(hashlib.blake2b(doc_id.encode("utf-8"), digest_size=8).digest(), "big")
    return h < val_fraction * 2**64
