"""`llmkit import`: every format, auto-detection, and bad rows counted in rejected/ without stopping."""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLE, assert_one_line_error, run_cli, write_jsonl

from llmkit.artifacts import open_artifact
from llmkit.data.importers import BadRow, from_gsm8k, from_hh_rlhf, run_import
from llmkit.errors import UserError
from llmkit.parquet import iter_rows


def rows_of(path, sub=None):
    art = open_artifact(path)
    return list(iter_rows(art.rejected_parts() if sub == "rejected" else art.parts))


@pytest.mark.parametrize(
    "fmt,row,expected",
    [
        (
            "openai",
            {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]},
            [("user", "hi"), ("assistant", "hello")],
        ),
        (
            "sharegpt",
            {
                "conversations": [
                    {"from": "system", "value": "be nice"},
                    {"from": "human", "value": "hi"},
                    {"from": "gpt", "value": "hello"},
                ]
            },
            [("system", "be nice"), ("user", "hi"), ("assistant", "hello")],
        ),
        (
            "alpaca",
            {"instruction": "Add.", "input": "2 and 3", "output": "5"},
            [("user", "Add.\n\n2 and 3"), ("assistant", "5")],
        ),
        (
            "alpaca",
            {"instruction": "Say hi.", "input": "", "output": "hi"},
            [("user", "Say hi."), ("assistant", "hi")],
        ),
        ("prompt-completion", {"prompt": "2+2=", "completion": "4"}, [("user", "2+2="), ("assistant", "4")]),
    ],
)
def test_chat_formats(tmp_path, fmt, row, expected):
    src = write_jsonl(tmp_path / "in.jsonl", [row])
    manifest = run_import(src, tmp_path / "out", fmt=fmt)
    assert manifest["kind"] == "chat" and manifest["counts"] == {"rows": 1, "rejected": 0}
    (got,) = rows_of(tmp_path / "out")
    assert [(m["role"], m["content"]) for m in got["messages"]] == expected
    assert len(got["id"]) == 16


def test_hh_rlhf_splits_shared_prompt_and_final_responses():
    row = {
        "chosen": "\n\nHuman: What is 2+2?\n\nAssistant: Let me think.\n\nHuman: And?\n\nAssistant: It is 4.",
        "rejected": "\n\nHuman: What is 2+2?\n\nAssistant: Let me think.\n\nHuman: And?\n\nAssistant: Go away.",
    }
    rec = from_hh_rlhf(row)
    assert rec["prompt"] == [
        {"role": "user", "content": "What is 2+2?"},
        {"role": "assistant", "content": "Let me think."},
        {"role": "user", "content": "And?"},
    ]
    assert rec["chosen"] == "It is 4." and rec["rejected"] == "Go away."
    with pytest.raises(BadRow, match="hh:prompts_differ"):
        from_hh_rlhf({"chosen": "\n\nHuman: a\n\nAssistant: b", "rejected": "\n\nHuman: c\n\nAssistant: d"})
    with pytest.raises(BadRow, match="hh:not_a_transcript"):
        from_hh_rlhf({"chosen": "no turns here", "rejected": "none"})


def test_gsm8k_final_answer_extraction():
    assert from_gsm8k({"question": "q", "answer": "3 + 4 = 7\n#### 7"})["answer"] == "7"
    assert from_gsm8k({"question": "q", "answer": "so\n#### 1,234"})["answer"] == "1234"
    assert from_gsm8k({"question": "q", "answer": "#### -2.5"})["answer"] == "-2.5"
    with pytest.raises(BadRow, match="gsm8k:no_final_answer"):
        from_gsm8k({"question": "q", "answer": "the answer is 7"})


def test_bad_rows_are_rejected_with_reasons_and_never_stop_the_import(tmp_path):
    good = {"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "hello"}]}
    src = write_jsonl(
        tmp_path / "mixed.jsonl",
        [
            good,
            "{not json",
            '"a string, not an object"',
            {"messages": [{"role": "wizard", "content": "x"}]},
            {"messages": [{"role": "user", "content": "only a question"}]},
            {"messages": []},
            good,
        ],
    )
    manifest = run_import(src, tmp_path / "out", fmt="openai")
    assert manifest["counts"] == {"rows": 2, "rejected": 5}
    rejected = rows_of(tmp_path / "out", "rejected")
    assert [r["line"] for r in rejected] == [2, 3, 4, 5, 6]
    assert [r["reason"] for r in rejected] == [
        "json:invalid",
        "json:not_an_object",
        "messages:bad_role wizard (message 1)",
        "messages:no_assistant_turn",
        "messages:empty",
    ]
    assert rejected[0]["raw"] == "{not json"
    assert manifest["stats"]["funnel"][0]["removed"]["json:invalid"] == 1


def test_auto_detects_each_kind_and_json_arrays(tmp_path):
    cases = {
        "prefs": {"prompt": "Which is better?", "chosen": "A helpful answer.", "rejected": "No."},
        "prompts": {"prompt": [{"role": "user", "content": "What is 12 + 30?"}], "answer": 42},
        "chat": {"conversations": [{"from": "human", "value": "hi"}, {"from": "gpt", "value": "hey"}]},
    }
    for kind, row in cases.items():
        src = tmp_path / f"{kind}.json"
        src.write_text(json.dumps([row, row]))
        manifest = run_import(src, tmp_path / kind)
        assert manifest["kind"] == kind and manifest["counts"]["rows"] == 2
    (prompt_row, _) = rows_of(tmp_path / "prompts")
    assert prompt_row["answer"] == "42"


def test_ids_are_stable_across_imports(tmp_path):
    src = write_jsonl(tmp_path / "p.jsonl", [{"prompt": "a", "answer": "1"}, {"prompt": "b", "answer": "2"}])
    run_import(src, tmp_path / "one")
    run_import(src, tmp_path / "two")
    assert [r["id"] for r in rows_of(tmp_path / "one")] == [r["id"] for r in rows_of(tmp_path / "two")]


def test_import_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        run_import(tmp_path / "missing.jsonl", tmp_path / "out")
    write_jsonl(tmp_path / "bad.jsonl", ["{oops", "{also bad"])
    with pytest.raises(UserError, match="no JSON object rows"):
        run_import(tmp_path / "bad.jsonl", tmp_path / "out")
    with pytest.raises(UserError, match=r"no valid openai rows \(2 rejected: json:invalid 2\)"):
        run_import(tmp_path / "bad.jsonl", tmp_path / "out", fmt="openai")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
    write_jsonl(tmp_path / "odd.jsonl", [{"foo": 1}])
    with pytest.raises(UserError, match="cannot tell the format"):
        run_import(tmp_path / "odd.jsonl", tmp_path / "out")
    with pytest.raises(UserError, match="--format must be"):
        run_import(tmp_path / "odd.jsonl", tmp_path / "out", fmt="csv")


def test_cli_import_and_its_errors(tmp_path):
    src = write_jsonl(tmp_path / "c.jsonl", [{"instruction": "Say hi.", "output": "hi"}, "{broken"])
    r = run_cli("import", src, "-o", tmp_path / "chat")
    assert r.returncode == 0, r.stderr
    assert "imported 1 rows as chat (alpaca format)" in r.stdout and "json:invalid: 1" in r.stdout
    assert_one_line_error(run_cli("import", src, "-o", tmp_path / "chat"), "already exists")
    assert_one_line_error(run_cli("import", tmp_path / "nope.jsonl", "-o", tmp_path / "x"), "does not exist")
    assert_one_line_error(
        run_cli("import", src, "-o", tmp_path / "y", "--format", "yaml"), "--format must be"
    )


@pytest.mark.skipif(not (SAMPLE / "chat.jsonl").exists(), reason="sample data not generated")
def test_sample_data_imports_cleanly(tmp_path):
    for name, kind, minimum in (("chat", "chat", 300), ("prefs", "prefs", 300), ("prompts", "prompts", 300)):
        manifest = run_import(SAMPLE / f"{name}.jsonl", tmp_path / name)
        assert manifest["kind"] == kind
        assert manifest["counts"]["rows"] >= minimum and manifest["counts"]["rejected"] == 0
