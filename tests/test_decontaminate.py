"""`llmkit decontaminate`: documents sharing a normalised 13-gram with an evaluation item go to rejected/."""

from __future__ import annotations

import json
import random

import pytest
from conftest import assert_one_line_error, run_cli, write_jsonl
from test_filters import make_docs, read_parts

from llmkit.data import minhash
from llmkit.data.decontaminate import build_index, contaminated, run_decontaminate
from llmkit.errors import UserError

HELLASWAG = {
    "ind": 1, "activity_label": "Fixing a bicycle", "ctx_a": "A woman turns the bicycle upside down on the grass.",
    "ctx_b": "she", "ctx": "", "endings": ["loosens the wheel nuts with a small wrench and lifts the wheel out.",
    "eats a sandwich.", "flies away.", "paints the sky."], "source_id": "s", "split": "val",
    "split_type": "indomain", "label": 0,
}  # fmt: skip
OWN_MC = {"context": "Q: short?\nA:", "choices": [" yes", " no"], "label": 0}  # 4 words: too short to check


def test_contaminated_documents_are_rejected_with_the_task_and_the_ngram(tmp_path):
    tasks = tmp_path / "tasks"
    tasks.mkdir()
    write_jsonl(tasks / "hellaswag.jsonl", [HELLASWAG])
    write_jsonl(tasks / "own.jsonl", [OWN_MC])
    # the question and its answer, in other case and punctuation, inside other text
    copied = ("Forum post!!! FIXING A BICYCLE: a woman turns the bicycle upside-down, on the grass... She "
              "loosens the wheel nuts - with a small wrench. Thanks for reading.")  # fmt: skip
    twelve = "a woman turns the bicycle upside down on the grass she loosens"  # 12 words of it: too few
    # the question alone is 14 words: a document holding it is contaminated whatever answer follows
    wrong_answer = (
        "Fixing a bicycle: a woman turns the bicycle upside down on the grass. She eats a sandwich."
    )
    rows = [
        {"id": str(i), "url": f"https://e.example/{i}", "text": t}
        for i, t in enumerate(["plain text about bread", copied, twelve, wrong_answer, ""])
    ]
    docs = make_docs(tmp_path, rows, name="unique")
    r = run_cli("decontaminate", docs, "--against", tasks, "-o", tmp_path / "out", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert "hellaswag 2" in r.stdout
    kept = sorted(row["id"] for row in read_parts(tmp_path / "out"))
    rejected = read_parts(tmp_path / "out" / "rejected")
    assert kept == ["0", "2", "4"] and [row["id"] for row in rejected] == ["1", "3"]
    # the first 13-gram the document shares, normalised
    assert (
        rejected[0]["reason"]
        == "decontaminate:hellaswag fixing a bicycle a woman turns the bicycle upside down on the grass"
    )
    stats = json.loads((tmp_path / "out" / "manifest.json").read_text())["stats"]
    assert stats["contamination"]["hellaswag"] == {
        "docs": 2,
        "items": 1,
        "items_too_short": 0,
        "ngrams": 15,
    }  # 27 words
    assert stats["contamination"]["own"] == {"docs": 0, "items": 1, "items_too_short": 1, "ngrams": 0}
    assert stats["funnel"] == [
        {"step": "decontaminate", "in": 5, "out": 3, "removed": {"decontaminate:hellaswag": 2}}
    ]


def naive_contaminated(questions: list[str], docs: list[str], n: int = 13) -> list[bool]:
    """The same check written plainly: a Python set of word-tuple n-grams."""
    grams = set()
    for q in questions:
        words = minhash.normalize_text(q).decode().split()
        grams.update(tuple(words[i : i + n]) for i in range(len(words) - n + 1))
    out = []
    for d in docs:
        words = minhash.normalize_text(d).decode().split()
        out.append(any(tuple(words[i : i + n]) in grams for i in range(len(words) - n + 1)))
    return out


def test_the_index_finds_what_a_set_of_word_tuples_finds(tmp_path):
    rng = random.Random(0)
    vocab = [f"w{i}" for i in range(60)] + ["Zürich", "café", "2019", "3.5"]
    questions = [" ".join(rng.choices(vocab, k=rng.randint(8, 30))) for _ in range(200)]
    docs = []
    for _ in range(400):
        words = rng.choices(vocab, k=rng.randint(0, 80))
        if rng.random() < 0.3:  # paste part of a question, which may or may not reach 13 words
            q = rng.choice(questions).split()
            start = rng.randint(0, len(q) - 1)
            words[rng.randint(0, len(words)) : 0] = q[start : start + rng.randint(10, 16)]
        docs.append(" ".join(words))
    task = write_jsonl(tmp_path / "qa.jsonl", [{"prompt": q, "answer": ""} for q in questions])
    found = [hit is not None for hit in contaminated(build_index([task]), docs)]
    assert found == naive_contaminated([q + " " for q in questions], docs)
    assert 10 < sum(found) < 390  # both kinds of document occur


def test_bad_inputs(tmp_path):
    docs = make_docs(tmp_path, [{"id": "1", "url": "u", "text": "t"}], name="unique")
    odd = write_jsonl(tmp_path / "squad.jsonl", [{"title": "t", "qas": []}])
    r = run_cli("decontaminate", docs, "--against", odd, "-o", tmp_path / "out")
    assert_one_line_error(r, "cannot tell the task type", "arc, boolq, copa")
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.partial").exists()
    with pytest.raises(UserError, match="no evaluation item has 13 words or more"):
        run_decontaminate([docs], tmp_path / "out", [write_jsonl(tmp_path / "own.jsonl", [OWN_MC])])
    assert not (tmp_path / "out").exists()


def test_report_shows_contamination_and_the_centred_suite_table(tmp_path):
    from llmkit.artifacts import ArtifactWriter
    from llmkit.report import write_report

    run = tmp_path / "run"
    tasks = write_jsonl(tmp_path / "hellaswag.jsonl", [HELLASWAG])
    text = "Fixing a bicycle: a woman turns the bicycle upside down on the grass. She waits."
    docs = make_docs(
        run, [{"id": "1", "url": "u", "text": text}, {"id": "2", "url": "v", "text": "bread"}], "unique"
    )
    run_decontaminate([docs], run / "decontaminated", [tasks], workers=1)
    with ArtifactWriter(run / "eval-base", kind="eval", stage="eval") as w:  # the stats `llmkit eval` writes
        metrics = {
            "piqa": {"acc": 0.75, "baseline": 0.5, "centered": 0.5},
            "lambada": {"acc": 0.0, "centered": 0.0},
        }
        w.commit(
            stats={
                "metrics": metrics,
                "suite": {"name": "core", "centered": {"piqa": 0.5, "lambada": 0.0}, "mean": 0.25},
            }
        )
    report = write_report(run).read_text()
    assert "| decontaminate | 2 | 1 | decontaminate:hellaswag 1 |" in report
    assert "| hellaswag | 1 | 1 | 0 | 15 |" in report
    assert "| piqa | 0.5 |" in report and "| **core mean** | 0.25 |" in report


def test_make_runs_decontaminate_between_dedup_and_scrub_only_with_eval_tasks(tmp_path):
    import subprocess

    from conftest import REPO

    def planned(*args):
        cmd = ["make", "-n", "-B", f"RUN={tmp_path}/run", f"{tmp_path}/run/clean/manifest.json", *args]
        out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, check=True).stdout
        return [line for line in out.splitlines() if "llmkit " in line and "echo" not in line]

    tasks = write_jsonl(tmp_path / "piqa.jsonl", [])
    with_tasks = planned(f"EVAL_TASKS={tasks}")
    stages = [line.split("llmkit ", 1)[1].split()[0] for line in with_tasks]
    assert stages[-3:] == ["dedup", "decontaminate", "scrub"]
    assert (
        f"decontaminate {tmp_path}/run/unique -o {tmp_path}/run/decontaminated --against {tasks}"
        in with_tasks[-2]
    )
    assert f"scrub {tmp_path}/run/decontaminated -o" in with_tasks[-1]
    assert [line.split("llmkit ", 1)[1].split()[0] for line in planned()][-2:] == ["dedup", "scrub"]


def test_a_source_that_loses_every_document_is_loud_unless_allowed(tmp_path):
    from llmkit.errors import SourcesLost

    tasks = write_jsonl(tmp_path / "hellaswag.jsonl", [HELLASWAG])
    text = "Fixing a bicycle: a woman turns the bicycle upside down on the grass. She waits."
    docs = make_docs(tmp_path, [{"id": "1", "url": "u", "text": text}], name="unique")
    with pytest.raises(SourcesLost, match="1 source lost all or too many documents"):
        run_decontaminate([docs], tmp_path / "out", [tasks], workers=1)
    stats = run_decontaminate([docs], tmp_path / "out2", [tasks], workers=1, allow_empty=True)
    assert stats["docs_out"] == 0 and stats["contamination"]["hellaswag"]["docs"] == 1
