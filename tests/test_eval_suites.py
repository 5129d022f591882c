"""Published task layouts, few-shot prompts, the reference scorings and the CORE centring, checked by hand.

Every row here is written for this test in the published layout of its set (field names and types as
the public releases ship them); none is copied from a dataset."""

from __future__ import annotations

import json
import math

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import assert_one_line_error, make_checkpoint, make_tokenizer, run_cli, write_jsonl

from llmkit.checkpoint_files import save_checkpoint
from llmkit.errors import UserError
from llmkit.eval import EvalConfig, detect_task, read_suite, run_eval
from llmkit.eval_suites import centered, with_fewshot
from llmkit.eval_tasks import encode_pair
from llmkit.model import Transformer, model_config
from llmkit.task_layouts import LAYOUTS, detect_layout, import_rows

# layout → (a hand-written row in its published layout, the llmkit item it becomes)
ROWS = {
    "hellaswag": (
        {"ind": 7, "activity_label": "Baking bread", "ctx_a": "A man kneads dough on a table.",
         "ctx_b": "he", "ctx": "A man kneads dough on a table. he", "split": "val", "split_type": "indomain",
         "endings": ["shapes it into a loaf [title] Bake it.", "drives a tractor.", "sings  loudly.", "sleeps."],
         "source_id": "x", "label": "0"},
        {"context": "Baking bread: A man kneads dough on a table. He",
         "choices": ["shapes it into a loaf. Bake it.", "drives a tractor.", "sings loudly.", "sleeps."], "label": 0},
    ),
    "arc": (
        {"id": "q1", "question": "Which gas do plants take in?",
         "choices": {"text": ["oxygen", "carbon dioxide", "helium", "neon"], "label": ["A", "B", "C", "D"]},
         "answerKey": "B"},
        {"context": "Question: Which gas do plants take in?\nAnswer:",
         "choices": ["oxygen", "carbon dioxide", "helium", "neon"], "label": 1},
    ),
    "openbookqa": (
        {"id": "o1", "question_stem": "A magnet sticks to",
         "choices": {"text": ["wood", "iron", "glass", "paper"], "label": ["A", "B", "C", "D"]}, "answerKey": "B"},
        {"context": "A magnet sticks to", "choices": ["wood", "iron", "glass", "paper"], "label": 1},
    ),
    "piqa": (
        {"goal": "Keep soup warm", "sol1": "Put a lid on the pot.", "sol2": "Put the pot in snow.", "label": 0},
        {"context": "Question: Keep soup warm\nAnswer:",
         "choices": ["Put a lid on the pot.", "Put the pot in snow."], "label": 0},
    ),
    "winogrande": (
        {"sentence": "The cup fell off the shelf because the _ was tilted.", "option1": "cup",
         "option2": "shelf", "answer": "2"},
        {"kind": "schema", "contexts": ["The cup fell off the shelf because the cup",
                                        "The cup fell off the shelf because the shelf"],
         "continuation": "was tilted.", "label": 1},
    ),
    "copa": (
        {"premise": "The floor was wet.", "choice1": "Someone spilled water.", "choice2": "The sun rose.",
         "question": "cause", "idx": 3, "label": 0},
        {"context": "The floor was wet because", "choices": ["someone spilled water.", "the sun rose."], "label": 0},
    ),
    "boolq": (
        {"question": "is the moon a planet", "answer": False,
         "passage": "The Moon is a natural satellite of Earth."},
        {"context": "The Moon is a natural satellite of Earth.\nQuestion: is the moon a planet?\nAnswer:",
         "choices": ["no", "yes"], "label": 0},
    ),
    "mmlu": (
        {"question": "What is 2 + 3? ", "subject": "elementary_mathematics", "choices": ["4", "5", "6", "7"],
         "answer": 1},
        {"context": "What is 2 + 3?\nA. 4\nB. 5\nC. 6\nD. 7\nAnswer:", "choices": ["A", "B", "C", "D"], "label": 1,
         "description": "The following are multiple choice questions (with answers) about elementary mathematics.\n\n"},
    ),
    "gsm8k": (
        {"question": "Ann has 3 pens and buys 4 more. How many pens?", "answer": "3 + 4 = 7\n#### 7"},
        {"kind": "exact_match", "prompt": "Ann has 3 pens and buys 4 more. How many pens?",
         "answer": "3 + 4 = 7\n#### 7"},
    ),
    "lambada": (
        {"text": "She opened the door and greeted her neighbour"},
        {"kind": "continuation", "context": "She opened the door and greeted her", "continuation": "neighbour"},
    ),
}  # fmt: skip


def test_every_layout_has_a_hand_written_row():
    assert sorted(ROWS) == sorted(LAYOUTS)


@pytest.mark.parametrize("name", sorted(ROWS))
def test_each_layout_imports_its_published_rows(tmp_path, name):
    row, expected = ROWS[name]
    assert detect_layout(row, f"{name}_test.jsonl").name == name
    [item] = import_rows(LAYOUTS[name], [row], "rows")
    assert item == {"kind": "choice", **expected}


def test_lambada_is_told_by_its_file_name_as_its_only_key_is_text():
    assert detect_layout({"text": "a b"}, "docs.jsonl") is None
    assert detect_layout({"text": "a b"}, "data/lambada_openai_test.jsonl").name == "lambada"


def test_boolq_superglue_labels_and_arc_numeric_keys():
    row = {"question": "is ice cold", "passage": "Ice is frozen water.", "idx": 0, "label": 1}
    assert import_rows(LAYOUTS["boolq"], [row], "r")[0]["label"] == 1
    arc = {
        "id": "q",
        "question": "Pick two",
        "choices": {"text": ["one", "two"], "label": ["1", "2"]},
        "answerKey": "2",
    }
    assert import_rows(LAYOUTS["arc"], [arc], "r")[0]["label"] == 1


def test_fewshot_prompts_are_seeded_and_never_show_the_scored_item():
    items = import_rows(LAYOUTS["piqa"], [{**ROWS["piqa"][0], "goal": f"goal {i}"} for i in range(5)], "r")
    a, b = with_fewshot(items, items, 2, seed=7), with_fewshot(items, items, 2, seed=7)
    assert [x["prefix"] for x in a] == [x["prefix"] for x in b]
    assert a != with_fewshot(items, items, 2, seed=8)
    for item in a:
        shots = item["prefix"].split("\n\n")[:-1]
        assert len(shots) == 2 and item["context"] not in item["prefix"]
        assert all(s.endswith("Answer: Put a lid on the pot.") for s in shots)  # context, " ", right answer
    mmlu = import_rows(LAYOUTS["mmlu"], [ROWS["mmlu"][0]] * 2, "r")
    first = with_fewshot(mmlu, mmlu, 1, seed=0)[0]["prefix"]
    assert first == ROWS["mmlu"][1]["description"] + ROWS["mmlu"][1]["context"] + " B\n\n"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    return make_tokenizer(tmp_path_factory.mktemp("tok"))


def test_choice_metrics_match_log_likelihoods_computed_by_hand(tmp_path, tokenizer):
    """acc, acc_norm (characters), acc_norm_bytes and CORE's mean per-token loss, each recomputed from one
    forward pass per choice of a random model; a non-ASCII choice makes characters and bytes differ."""
    model = make_checkpoint(tmp_path / "ckpt", tokenizer, seed=3)
    arc_rows = []
    for i, texts in enumerate(
        [["the old mill", "grain", "Zürich in 2019", "bread rises"], ["postcards", "東京 too", "sacks", "mill"],
         ["patience", "river", "kitchen", "Émilie"], ["autumn", "warm", "counts", "wrote 42"]]
    ):  # fmt: skip
        arc_rows.append({"id": str(i), "question": f"Where does the river {i} run?",
                         "choices": {"text": texts, "label": list("ABCD")}, "answerKey": "ABCD"[i]})  # fmt: skip
    task = detect_task(write_jsonl(tmp_path / "arc_easy.jsonl", arc_rows))
    assert task.type == "imported" and task.options["layout"] == "arc"
    got = run_eval(tmp_path / "ckpt", [task], tmp_path / "out", EvalConfig())["stats"]["metrics"]["arc_easy"]

    def ll(context, choice):
        ctx, cont = encode_pair(tokenizer, context, " " + choice)
        with torch.no_grad():
            logp = model(torch.tensor([ctx + cont]))[0].log_softmax(-1)
        return sum(logp[len(ctx) - 1 + j, t].item() for j, t in enumerate(cont)), len(cont)

    hits = dict.fromkeys(("acc", "acc_norm", "acc_norm_bytes", "acc_mean_loss"), 0)
    for i, row in enumerate(arc_rows):
        scores = [ll(f"Question: {row['question']}\nAnswer:", c) for c in row["choices"]["text"]]
        texts = row["choices"]["text"]
        picks = {
            "acc": max(range(4), key=lambda c: scores[c][0]),
            "acc_norm": max(range(4), key=lambda c: scores[c][0] / len(texts[c])),
            "acc_norm_bytes": max(range(4), key=lambda c: scores[c][0] / len(texts[c].encode())),
            "acc_mean_loss": max(range(4), key=lambda c: scores[c][0] / scores[c][1]),
        }
        for metric, pick in picks.items():
            hits[metric] += pick == i
    for metric, n in hits.items():
        assert got[metric] == pytest.approx(n / 4), metric
    assert got["baseline"] == 0.25 and got["centered"] == pytest.approx((hits["acc"] / 4 - 0.25) / 0.75)


@pytest.fixture(scope="module")
def uniform_ckpt(tmp_path_factory, tokenizer):
    """A zero LM head: every token has log-prob -ln V, so equal-length continuations tie (the first wins)
    and no greedy token is ever a real one."""
    path = tmp_path_factory.mktemp("ckpt") / "uniform"
    cfg = model_config("tiny", vocab_size=tokenizer.vocab_size, n_layers=1, d_model=32, n_heads=2,
                       n_kv_heads=1, ffn_hidden=64, seq_len=64, tie_embeddings=False)  # fmt: skip
    model = Transformer(cfg)
    with torch.no_grad():
        model.lm_head.weight.zero_()
    save_checkpoint(path, model.weights(), cfg.to_dict(), tokenizer.path, stage="test")
    return path


def test_core_suite_centres_each_task_and_averages_them_by_hand(tmp_path, uniform_ckpt):
    """Under the uniform model Winogrande's continuation scores the same after either option, so the first
    option is picked: 3 of 4 answers are "1", acc 0.75, centred (0.75 - 0.5) / (1 - 0.5) = 0.5. LAMBADA's
    greedy token is token 0, never the last word: acc 0, centred (0 - 0) / 1 = 0. CORE = (0.5 + 0) / 2."""
    data = tmp_path / "data"
    data.mkdir()
    wino = [{"sentence": f"The bag {i} is heavier than the box because the _ is full.", "option1": "bag",
             "option2": "box", "answer": a} for i, a in enumerate("1121")]  # fmt: skip
    write_jsonl(data / "winogrande.jsonl", wino)
    pq.write_table(
        pa.Table.from_pylist([{"text": "The river runs past the old mill"}] * 3), data / "lambada.parquet"
    )
    r = run_cli("eval", uniform_ckpt, "--suite", "core", "--data-dir", data, "-o", tmp_path / "out")
    assert r.returncode == 0, r.stderr
    stats = json.loads((tmp_path / "out" / "manifest.json").read_text())["stats"]
    assert stats["metrics"]["winogrande"]["acc"] == 0.75 and stats["metrics"]["lambada"]["acc"] == 0.0
    assert stats["suite"] == {"name": "core", "centered": {"winogrande": 0.5, "lambada": 0.0}, "mean": 0.25}
    assert "core (mean centred score of 2 tasks): 0.2500" in r.stdout
    assert centered(0.62, 0.62) == 0 and centered(1.0, 0.62) == 1 and math.isclose(centered(0.81, 0.62), 0.5)


def test_bad_inputs_are_one_line_and_write_nothing(tmp_path, uniform_ckpt):
    """Each is found before the model loads; one goes through the CLI for the exit code and the one line."""
    out = tmp_path / "out"
    unknown = write_jsonl(tmp_path / "squad.jsonl", [{"title": "t", "context": "c", "qas": []}])
    r = run_cli("eval", uniform_ckpt, unknown, "-o", out)
    assert_one_line_error(r, "cannot tell the task type", "arc, boolq, copa, gsm8k, hellaswag, lambada, mmlu")
    write_jsonl(tmp_path / "piqa.jsonl", [ROWS["piqa"][0]] * 3)
    (tmp_path / "suite.toml").write_text('[[tasks]]\npath = "piqa.jsonl"\nlayout = "squad"\n')
    with pytest.raises(UserError, match="unknown task layout 'squad' .known layouts: arc, boolq, copa"):
        read_suite(tmp_path / "suite.toml")
    with pytest.raises(UserError, match="--num-fewshot 5 but the few-shot split .*piqa.jsonl.* has 2 rows"):
        detect_task(tmp_path / "piqa.jsonl", num_fewshot=5)
    write_jsonl(tmp_path / "shots.jsonl", [ROWS["piqa"][0]] * 2)
    with pytest.raises(UserError, match="--num-fewshot 3 but the few-shot split .*shots.jsonl has 2 rows"):
        detect_task(tmp_path / "piqa.jsonl", num_fewshot=3, fewshot=str(tmp_path / "shots.jsonl"))
    empty = {
        "id": "q",
        "question": "Nothing to pick?",
        "choices": {"text": [], "label": []},
        "answerKey": "A",
    }
    with pytest.raises(UserError, match="arc.jsonl: row 2 has no choices to score"):
        detect_task(write_jsonl(tmp_path / "arc.jsonl", [ROWS["arc"][0], empty]))
    with pytest.raises(
        UserError, match="row 1 is not in the hellaswag layout .missing activity_label, ctx_b, endings"
    ):
        detect_task(write_jsonl(tmp_path / "hs.jsonl", [{"ctx_a": "x"}]), layout="hellaswag")
    assert not out.exists() and not (tmp_path / "out.partial").exists()


def test_chatcore_centres_choice_and_generated_answers(tmp_path, uniform_ckpt):
    """arc_easy and mmlu (chance 0.25) and gsm8k (chance 0) from --data-dir; the missing arc_challenge is
    left out. The uniform model's greedy answer is token 0 repeated: no number, exact match 0."""
    from llmkit.eval_suites import suite_tasks

    write_jsonl(tmp_path / "arc_easy.jsonl", [ROWS["arc"][0]] * 2)
    write_jsonl(tmp_path / "mmlu.jsonl", [ROWS["mmlu"][0]] * 2)
    write_jsonl(tmp_path / "gsm8k.jsonl", [ROWS["gsm8k"][0]])
    write_jsonl(tmp_path / "mmlu.fewshot.jsonl", [ROWS["mmlu"][0]])  # MMLU's dev split, beside the test file
    tasks = suite_tasks("chatcore", tmp_path)
    assert [t.name for t in tasks] == ["arc_easy", "mmlu", "gsm8k"]
    assert (
        tasks[1].options["fewshot"] == str(tmp_path / "mmlu.fewshot.jsonl")
        and "fewshot" not in tasks[0].options
    )
    cfg = EvalConfig(max_new_tokens=8)
    stats = run_eval(uniform_ckpt, tasks, tmp_path / "out", cfg, suite_name="chatcore")["stats"]
    m = stats["metrics"]
    assert m["gsm8k"]["exact_match"] == 0 and m["gsm8k"]["centered"] == 0
    for name in ("arc_easy", "mmlu"):
        assert m[name]["centered"] == pytest.approx((m[name]["acc"] - 0.25) / 0.75)
    assert stats["suite"]["name"] == "chatcore"
    assert stats["suite"]["mean"] == pytest.approx(sum(m[t]["centered"] for t in m) / 3)
    with pytest.raises(UserError, match="--suite core: .* holds none of its task files"):
        suite_tasks("core", tmp_path / "out")


def test_a_compressed_release_is_read_as_it_ships(tmp_path):
    import gzip

    path = tmp_path / "piqa_validation.jsonl.gz"
    path.write_bytes(gzip.compress((json.dumps(ROWS["piqa"][0]) + "\n").encode()))
    task = detect_task(path)
    assert task.type == "imported" and task.options["layout"] == "piqa"
