"""`llmkit eval`: numbers checked by hand, on a model whose next-token distribution is uniform and on a
random model whose log-likelihoods are recomputed from its full-sequence logits."""

from __future__ import annotations

import json
import math
import shutil

import pytest
import torch
from conftest import assert_one_line_error, make_checkpoint, make_tokenizer, run_cli

from llmkit.answers import answers_match, extract_answer, reference_answer
from llmkit.artifacts import open_artifact
from llmkit.checkpoint_files import save_checkpoint
from llmkit.errors import UserError
from llmkit.eval import EvalConfig, detect_task, read_suite, run_eval
from llmkit.eval_tasks import choice_logprobs, encode_pair
from llmkit.model import Transformer, model_config
from llmkit.parquet import iter_rows


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="module")
def uniform_ckpt(tmp_path_factory, tokenizer):
    """An untied model with a zero LM head: every next-token distribution is uniform over V, so
    log p(any token) = -ln V exactly and every number below can be computed by hand."""
    path = tmp_path_factory.mktemp("ckpt") / "uniform"
    cfg = model_config(
        "tiny",
        vocab_size=tokenizer.vocab_size,
        n_layers=1,
        d_model=32,
        n_heads=2,
        n_kv_heads=1,
        ffn_hidden=64,
        seq_len=32,
        tie_embeddings=False,
    )
    model = Transformer(cfg)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    save_checkpoint(path, model.weights(), cfg.to_dict(), tokenizer.path, stage="test")
    return path


def test_lm_loss_perplexity_and_bits_per_byte_by_hand(tmp_path, tokenizer, uniform_ckpt):
    text = "The miller counts sacks of grain. " * 5
    (tmp_path / "t.txt").write_text(text)
    manifest = run_eval(uniform_ckpt, [detect_task(tmp_path / "t.txt")], tmp_path / "out", EvalConfig())
    m = manifest["stats"]["metrics"]["t"]
    n_tokens = len(tokenizer.encode(text)) - 1  # every token but the first is predicted once
    ln_v = math.log(tokenizer.vocab_size)
    assert m["tokens"] == n_tokens
    assert m["loss"] == pytest.approx(ln_v, rel=1e-5)
    assert m["perplexity"] == pytest.approx(tokenizer.vocab_size, rel=1e-4)
    assert m["bits_per_byte"] == pytest.approx(n_tokens * ln_v / math.log(2) / len(text.encode()), rel=1e-5)
    assert m["nats_per_char"] == pytest.approx(n_tokens * ln_v / len(text), rel=1e-5)


def test_multiple_choice_acc_and_acc_norm_differ_as_computed_by_hand(tmp_path, tokenizer, uniform_ckpt):
    # Under a uniform model a choice's log-likelihood is -(its token count) · ln V. acc picks the
    # choice with the fewest tokens; acc_norm divides by its length in characters, so it prefers
    # the choice with the most characters per token.
    short, long = " x", " the miller counts grain"
    n_short, n_long = len(tokenizer.encode(short)), len(tokenizer.encode(long))
    assert n_short < n_long and n_short / len(short) > n_long / len(long)  # the premise of the case
    rows = [
        {"context": "Q: pick one.\nA:", "choices": [short, long], "label": 1},  # acc wrong, acc_norm right
        {"context": "Q: again.\nA:", "choices": [long, short], "label": 1},  # acc right, acc_norm wrong
        {"context": "Q: third.\nA:", "choices": [short, long], "label": 1},  # acc wrong, acc_norm right
    ]
    (tmp_path / "mc.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifest = run_eval(uniform_ckpt, [detect_task(tmp_path / "mc.jsonl")], tmp_path / "out", EvalConfig())
    m = manifest["stats"]["metrics"]["mc"]
    assert m == {"acc": pytest.approx(1 / 3), "acc_norm": pytest.approx(2 / 3), "examples": 3}
    examples = list(iter_rows((tmp_path / "out" / "examples").glob("*.parquet")))
    assert [e["response"] for e in examples] == [short, short, short]
    assert [e["score"] for e in examples] == [0.0, 1.0, 0.0]


def hand_logprob(model, context: list[int], continuation: list[int]) -> float:
    """log p(continuation | context) from one forward pass over the whole sequence: the logits at
    position i predict token i + 1, so continuation token j is read at len(context) - 1 + j."""
    with torch.no_grad():
        logprobs = model(torch.tensor([context + continuation]))[0].log_softmax(-1)
    return sum(logprobs[len(context) - 1 + j, t].item() for j, t in enumerate(continuation))


def test_log_likelihoods_and_loss_match_a_random_model_computed_by_hand(tmp_path, tokenizer):
    # A random model gives every position a different distribution, so reading the logits one position
    # off (the classic bug) changes every number below; a uniform model could not tell.
    model = make_checkpoint(tmp_path / "random", tokenizer, seq_len=64, seed=5)
    rows = [
        ("The river runs past the", [" old mill", " grain", " bread rises"]),
        ("Bread rises slowly in a", [" warm kitchen", " river", " postcard"]),
        ("", [" The miller", " Zürich", " 42 sacks"]),  # empty context: scored after <|endoftext|>
    ]
    expected = []
    for context, choices in rows:
        ctx = tokenizer.encode(context) if context else [tokenizer.eot_id]
        lls = []
        for choice in choices:
            cont = tokenizer.encode(choice)
            assert not context or tokenizer.encode(context + choice) == ctx + cont  # one encoding either way
            lls.append(hand_logprob(model, ctx, cont))
        assert choice_logprobs(model, tokenizer, context, choices) == pytest.approx(lls, abs=1e-4)
        expected.append(lls)
    # labels: the best choice twice, the worst once, so acc is neither 0 nor 1
    labels = [max(range(3), key=lambda c: lls[c]) for lls in expected[:2]]
    labels.append(min(range(3), key=lambda c: expected[2][c]))
    picks_norm = [
        max(range(3), key=lambda c: lls[c] / len(choices[c]))
        for lls, (_, choices) in zip(expected, rows, strict=True)
    ]
    (tmp_path / "mc.jsonl").write_text(
        "".join(
            json.dumps({"context": c, "choices": ch, "label": label}) + "\n"
            for (c, ch), label in zip(rows, labels, strict=True)
        )
    )
    text = "The miller counts 1234 sacks of grain each autumn."
    (tmp_path / "t.txt").write_text(text)
    ids = tokenizer.encode(text)
    with torch.no_grad():
        logprobs = model(torch.tensor([ids]))[0].log_softmax(-1)
    loss = -sum(logprobs[i, ids[i + 1]].item() for i in range(len(ids) - 1)) / (len(ids) - 1)

    tasks = [detect_task(tmp_path / "mc.jsonl"), detect_task(tmp_path / "t.txt")]
    m = run_eval(tmp_path / "random", tasks, tmp_path / "out", EvalConfig(batch_size=2))["stats"]["metrics"]
    assert m["mc"]["acc"] == pytest.approx(2 / 3)
    assert m["mc"]["acc_norm"] == pytest.approx(
        sum(p == lab for p, lab in zip(picks_norm, labels, strict=True)) / 3
    )
    assert m["t"]["loss"] == pytest.approx(loss, rel=1e-5) and m["t"]["tokens"] == len(ids) - 1


def test_choices_are_encoded_as_lm_evaluation_harness_does(tokenizer):
    # trailing whitespace of the context moves to the continuation; an empty context is <|endoftext|>
    assert encode_pair(tokenizer, "Q: sky colour? A: ", "blue") == (
        tokenizer.encode("Q: sky colour? A:"),
        tokenizer.encode(" blue"),
    )
    assert encode_pair(tokenizer, "", " blue") == ([tokenizer.eot_id], tokenizer.encode(" blue"))


def test_exact_match_extraction_rules():
    assert extract_answer("so the total is 12 apples, then 19.") == "19"
    assert extract_answer("work: 3 + 4 = 7\n#### 7 apples") == "7"
    assert extract_answer("It is 1,234.") == "1234"
    assert extract_answer("no digits here") is None
    assert extract_answer("Answer: blue.", regex=r"Answer: (\w+)") == "blue"
    assert answers_match("42", "42.0") and answers_match("Blue", "blue") and not answers_match(None, "1")
    assert not answers_match("41", "42")
    assert (
        extract_answer("no match here", regex=r"(a)?b") is None
        and extract_answer("b", regex=r"(a)?b") is None
    )
    # gsm8k-style references keep what follows '#### '
    assert reference_answer("48 / 2 = 24 clips in May.\n#### 72") == "72"
    assert reference_answer("1,000 + 234\n#### 1,234") == "1234"
    assert reference_answer("the sky\n#### blue") == "blue" and reference_answer(" 7 ") == " 7 "


def test_gsm8k_style_rows_score_on_the_extracted_reference(tmp_path, uniform_ckpt, tokenizer, monkeypatch):
    rows = [
        ("She has 40 + 2 = 42 apples.\n#### 42", "#### 42", 1.0),
        ("6 * 7 = 42\n#### 42", "So the total is 42.", 1.0),
        ("20 + 22 = 42\n#### 42", "#### 41", 0.0),
        ("1,000 + 234 = 1,234\n#### 1,234", "It is 1234", 1.0),
    ]
    (tmp_path / "gsm.jsonl").write_text(
        "".join(json.dumps({"question": f"q{i}", "answer": a}) + "\n" for i, (a, _, _) in enumerate(rows))
    )
    responses = iter(tokenizer.encode(r) for _, r, _ in rows)
    # the model's answers, fixed: what is tested is the scoring, not the (untrained) model
    monkeypatch.setattr(
        "llmkit.engine.generate", lambda model, prompts, *a, **k: [next(responses) for _ in prompts]
    )
    task = detect_task(tmp_path / "gsm.jsonl")
    m = run_eval(uniform_ckpt, [task], tmp_path / "out", EvalConfig(max_new_tokens=8))
    assert m["stats"]["metrics"]["gsm"] == {"exact_match": 0.75, "examples": 4}
    examples = list(iter_rows((tmp_path / "out" / "examples").glob("*.parquet")))
    assert [(e["target"], e["score"]) for e in examples] == [
        ("42", 1.0),
        ("42", 1.0),
        ("42", 0.0),
        ("1234", 1.0),
    ]


def test_exact_match_task_from_prompts_and_report_rows(tmp_path, tokenizer, uniform_ckpt):
    rows = [
        {"prompt": "What is 2 + 3?", "answer": "5"},
        {"prompt": [{"role": "user", "content": "What is 10 - 4?"}], "answer": "6"},
    ]
    (tmp_path / "arith.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    manifest = run_eval(
        uniform_ckpt, [detect_task(tmp_path / "arith.jsonl")], tmp_path / "out", EvalConfig(max_new_tokens=4)
    )
    # A uniform model's greedy choice is token 0 (<|endoftext|>), a stop token: empty answers, score 0.
    assert manifest["stats"]["metrics"]["arith"] == {"exact_match": 0.0, "examples": 2}
    examples = list(iter_rows((tmp_path / "out" / "examples").glob("*.parquet")))
    assert [(e["prompt"], e["response"], e["target"]) for e in examples] == [
        ("What is 2 + 3?", "", "5"),
        ("What is 10 - 4?", "", "6"),
    ]
    table = list(iter_rows(open_artifact(tmp_path / "out").parts))
    assert {"task": "arith", "metric": "exact_match", "value": 0.0} in table


def test_eval_on_a_tokens_artifact_uses_its_val_split(tmp_path, tokenizer, uniform_ckpt):
    from llmkit.tokenize import tokenize_docs

    (tmp_path / "book.txt").write_text("A line of a book about rivers and mills.\n" * 30)
    tokenize_docs(
        tmp_path / "book.txt", tokenizer.path, tmp_path / "tokens", val_tail_fraction=0.2, show_progress=False
    )
    val = [t for r in iter_rows((tmp_path / "tokens" / "val").glob("*.parquet")) for t in r["input_ids"]]
    manifest = run_eval(uniform_ckpt, [detect_task(tmp_path / "tokens")], tmp_path / "out", EvalConfig())
    m = manifest["stats"]["metrics"]["tokens"]
    assert m["tokens"] == len(val) - 1 and m["loss"] == pytest.approx(
        math.log(tokenizer.vocab_size), rel=1e-5
    )
    # no validation tokens: an error, never a silent fall-back to the training split
    tokenize_docs(
        tmp_path / "book.txt", tokenizer.path, tmp_path / "no-val", val_tail_fraction=0.0, show_progress=False
    )
    for remove_val in (False, True):  # val/ with an empty part, as tokenize writes it; then no val/ at all
        if remove_val:
            shutil.rmtree(tmp_path / "no-val" / "val")
        with pytest.raises(UserError, match="no validation tokens"):
            run_eval(uniform_ckpt, [detect_task(tmp_path / "no-val")], tmp_path / "out2", EvalConfig())


def test_suite_file_and_compare(tmp_path, tokenizer, uniform_ckpt):
    (tmp_path / "a.txt").write_text("grain and bread " * 10)
    (tmp_path / "suite.toml").write_text('[[tasks]]\nname = "bread"\npath = "a.txt"\n')
    tasks = read_suite(tmp_path / "suite.toml")
    assert [(t.name, t.type) for t in tasks] == [("bread", "lm")]
    r = run_cli("eval", uniform_ckpt, "--suite", tmp_path / "suite.toml", "-o", tmp_path / "e1")
    assert r.returncode == 0, r.stderr
    make_checkpoint(tmp_path / "random", tokenizer, seq_len=32)
    other = tmp_path / "random"
    r = run_cli(
        "eval", other, "--suite", tmp_path / "suite.toml", "-o", tmp_path / "e2", "--compare", tmp_path / "e1"
    )
    assert r.returncode == 0, r.stderr
    assert "delta" in r.stdout and "bits_per_byte" in r.stdout
    r = run_cli("eval", other, tmp_path / "a.txt", "-o", tmp_path / "e3", "--compare", tmp_path / "e1")
    assert r.returncode == 0, r.stderr  # task "a" is not in e1 (it named the task "bread"): a warning
    assert (
        r.stderr.strip() == f"warning: {tmp_path / 'e1'} shares no task and metric with this eval; no deltas"
    )


def test_eval_bad_inputs(tmp_path, tokenizer, uniform_ckpt):
    def fails(match, *paths, **cfg):
        with pytest.raises(UserError, match=match):
            run_eval(uniform_ckpt, [detect_task(p) for p in paths], tmp_path / "o", EvalConfig(**cfg))
        assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()

    (tmp_path / "odd.jsonl").write_text('{"text": "hi"}\n')
    fails("cannot tell the task type", tmp_path / "odd.jsonl")
    (tmp_path / "broken.jsonl").write_text('{"context": "a", "choices": ["b"], "label": 0}\n{oops\n')
    fails("broken.jsonl:2 is not valid JSON", tmp_path / "broken.jsonl")
    (tmp_path / "badlabel.jsonl").write_text('{"context": "a", "choices": ["b"], "label": 3}\n')
    fails("integer label", tmp_path / "badlabel.jsonl")
    (tmp_path / "boollabel.jsonl").write_text('{"context": "a", "choices": [" b", " c"], "label": true}\n')
    fails("integer label", tmp_path / "boollabel.jsonl")  # in Python True == 1, but it is no index
    fails("does not exist", tmp_path / "missing.jsonl")
    fails("at least one task")
    (tmp_path / "qa.jsonl").write_text('{"prompt": "2+2?", "answer": "4"}\n')
    fails("leaves no room", tmp_path / "qa.jsonl", max_new_tokens=32)
    fails("greater than 0", tmp_path / "qa.jsonl", batch_size=0)
    (tmp_path / "empty.txt").write_text("")
    fails("fewer than 2 tokens", tmp_path / "empty.txt")
    with pytest.raises(UserError, match="--answer-regex '\\(' is not a valid regex"):
        EvalConfig(answer_regex="(")
    (tmp_path / "suite.toml").write_text('[[tasks]]\npath = "qa.jsonl"\nanswer_regex = "(unclosed"\n')
    with pytest.raises(UserError, match="suite.toml: answer_regex '\\(unclosed' is not a valid regex"):
        read_suite(tmp_path / "suite.toml")
    # through the CLI: one line, exit 2, nothing written
    assert_one_line_error(
        run_cli("eval", tmp_path / "qa.jsonl", tmp_path / "qa.jsonl", "-o", tmp_path / "o"),
        "not an llmkit artifact",
    )
    # a bad regex and a bad --compare fail before any model loads (this checkpoint does not exist)
    no_ckpt = tmp_path / "no-such-checkpoint"
    assert_one_line_error(
        run_cli("eval", no_ckpt, tmp_path / "qa.jsonl", "--answer-regex", "(", "-o", tmp_path / "o"),
        "--answer-regex '(' is not a valid regex",
    )
    assert_one_line_error(
        run_cli("eval", no_ckpt, tmp_path / "qa.jsonl", "--compare", uniform_ckpt, "-o", tmp_path / "o"),
        "'checkpoint' artifact",
    )
    assert not (tmp_path / "o").exists() and not (tmp_path / "o.partial").exists()


def test_reward_model_mean_reward_and_win_rate(tmp_path, tokenizer, uniform_ckpt):
    from llmkit.model import RewardModel

    torch.manual_seed(3)
    cfg = model_config(
        "tiny",
        vocab_size=tokenizer.vocab_size,
        n_layers=1,
        d_model=32,
        n_heads=2,
        n_kv_heads=1,
        ffn_hidden=64,
        seq_len=256,
    )
    save_checkpoint(
        tmp_path / "rm", RewardModel(cfg).weights(), cfg.to_dict(), tokenizer.path, stage="train-reward"
    )
    make_checkpoint(tmp_path / "other", tokenizer, seq_len=32)
    (tmp_path / "qa.jsonl").write_text(
        "".join(json.dumps({"prompt": f"What is {i} + 1?", "answer": str(i + 1)}) + "\n" for i in range(4))
    )
    task = [detect_task(tmp_path / "qa.jsonl")]
    # against itself every answer ties with its twin: win rate exactly 0.5
    m = run_eval(
        uniform_ckpt,
        task,
        tmp_path / "e1",
        EvalConfig(max_new_tokens=8, reward_model=tmp_path / "rm", baseline=uniform_ckpt),
    )
    qa = m["stats"]["metrics"]["qa"]
    assert qa["win_rate"] == 0.5 and qa["reward"] == pytest.approx(qa["baseline_reward"])
    m = run_eval(
        tmp_path / "other",
        task,
        tmp_path / "e2",
        EvalConfig(max_new_tokens=8, reward_model=tmp_path / "rm", baseline=uniform_ckpt),
    )
    qa = m["stats"]["metrics"]["qa"]
    assert 0.0 <= qa["win_rate"] <= 1.0 and {"reward", "baseline_reward", "exact_match"} <= set(qa)
    wins = [e for e in iter_rows((tmp_path / "e2" / "examples").glob("*.parquet")) if e["task"] == "qa:win"]
    assert len(wins) == 4 - qa["reward_skipped"] and sum(e["score"] for e in wins) / len(
        wins
    ) == pytest.approx(qa["win_rate"])
    with pytest.raises(UserError, match="--baseline needs --reward-model"):
        run_eval(uniform_ckpt, task, tmp_path / "e3", EvalConfig(baseline=uniform_ckpt))
    with pytest.raises(UserError, match="is not a reward model"):
        run_eval(uniform_ckpt, task, tmp_path / "e3", EvalConfig(reward_model=uniform_ckpt))
    other_tok = make_tokenizer(tmp_path / "tok2", vocab_size=300)
    make_checkpoint(tmp_path / "foreign", other_tok, seq_len=32)
    with pytest.raises(UserError, match="different tokenizers"):
        run_eval(
            tmp_path / "foreign",
            task,
            tmp_path / "e3",
            EvalConfig(max_new_tokens=8, reward_model=tmp_path / "rm"),
        )
