"""Answers to questions with a reference: extract the answer from a response, reduce a reference to
its answer, compare the two; and greedy exact-match accuracy of a model on such questions. One module
for `llmkit eval`'s exact-match tasks and GRPO's reward and held-out accuracy.
"""

from __future__ import annotations

import re

from llmkit.engine import SamplingConfig, complete_chats
from llmkit.errors import UserError

NUMBER = re.compile(r"-?\d[\d,]*(?:\.\d+)?")


def extract_answer(text: str, regex: str | re.Pattern | None = None) -> str | None:
    """The answer in a response: a regex's first group, else the number after '####', else the last number."""
    if regex:
        m = re.search(regex, text)
        answer = (m.group(1) if m.re.groups else m.group(0)) if m else None
        return answer.strip() if answer is not None else None  # an optional group may match nothing
    if "####" in text:
        m = NUMBER.search(text.split("####", 1)[1])
        return m.group(0).replace(",", "") if m else None
    numbers = NUMBER.findall(text)
    return numbers[-1].replace(",", "") if numbers else None


def reference_answer(answer: str) -> str:
    """The reference a response's answer is compared with. A gsm8k-style answer (`reasoning ... #### 42`)
    is reduced as a response is: the number after `####`, or the text after `#### ` if it has none."""
    if "#### " not in answer:
        return answer
    return extract_answer(answer) or answer.split("#### ", 1)[1].strip()


def answers_match(predicted: str | None, target: str) -> bool:
    if predicted is None:
        return False
    try:
        return float(predicted.replace(",", "")) == float(target.replace(",", ""))
    except ValueError:
        return predicted.strip().lower() == target.strip().lower()


def exact_match(
    model,
    tokenizer,
    rows: list[tuple[list[dict], str]],
    max_new_tokens: int,
    batch_size: int,
    regex: str | re.Pattern | None = None,
    tools=None,
    max_tool_calls: int = 0,
):
    """Greedy answers to chat prompts scored against reference answers: (accuracy, per-example rows).
    With a tool box (llmkit/tools.py) the answers may call its tools; the final reply is scored."""
    if max_new_tokens >= model.config.seq_len:
        raise UserError(
            f"--max-new-tokens {max_new_tokens} leaves no room for a prompt in the context of {model.config.seq_len}"
        )
    sampling = SamplingConfig(max_new_tokens=max_new_tokens, temperature=0.0)
    examples = []
    for i in range(0, len(rows), batch_size):
        batch = rows[i : i + batch_size]
        answers = complete_chats(
            model, tokenizer, [messages for messages, _ in batch], sampling, tools=tools, max_tool_calls=max_tool_calls
        )
        for (messages, target), answer in zip(batch, answers, strict=True):
            response = answer.text
            score = float(answers_match(extract_answer(response, regex), target))
            examples.append(
                {"prompt": messages[-1]["content"], "response": response, "target": target, "score": score}
            )
    return sum(e["score"] for e in examples) / max(1, len(examples)), examples
