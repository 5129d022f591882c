"""lm-evaluation-harness and `llmkit eval` score the same local multiple-choice files on the same model
(the Hugging Face export of an llmkit checkpoint) and agree on every example.

Two tasks, each a YAML pointing at a local JSON file: llmkit's own layout (context / choices / label,
a choice carrying its own leading space, so the YAML's target_delimiter is "") and the ARC layout as
lm-evaluation-harness's own arc_easy.yaml reads it. Neither touches the network: the `json` dataset
builder reads the files, and the model is a folder on disk."""

from __future__ import annotations

import json

import pytest
from conftest import make_checkpoint, make_tokenizer
from lm_eval import simple_evaluate
from lm_eval.tasks import TaskManager

from llmkit.checkpoint import load_model
from llmkit.eval import EvalConfig, detect_task, run_eval
from llmkit.eval_suites import continuation_scores
from llmkit.eval_tasks import encode_pair
from llmkit.export import export_hf
from llmkit.parquet import iter_rows

OWN = [
    ("The miller counts the sacks of", [" grain", " bread", " rivers"], 0),
    ("Bread rises slowly in a warm", [" kitchen", " river", " mill", " autumn"], 0),
    ("Émilie visited Zürich in", [" 2019", " the kitchen", " grain"], 0),
    ("Patience is the baker's main", [" ingredient", " postcard", " river"], 0),
    ("The river runs past the old", [" mill", " bread", " sacks of grain"], 0),
    ("She wrote forty-two", [" postcards", " rivers", " kitchens"], 0),
]
ARC = [
    ("What does the miller count?", ["sacks of grain", "postcards", "rivers", "ovens"], "A"),
    ("Where does bread rise?", ["in a river", "in a warm kitchen", "at the mill"], "B"),
    ("What did Émilie write?", ["42 postcards", "a river", "bread"], "A"),
    ("What runs past the old mill?", ["the baker", "the river", "autumn", "Zürich"], "B"),
    ("When are sacks counted?", ["each autumn", "never", "in 2019"], "A"),
]

OWN_YAML = """task: llmkit_own
dataset_path: json
dataset_kwargs:
  data_files: {own}
test_split: train
output_type: multiple_choice
doc_to_text: "{{{{context}}}}"
doc_to_choice: "{{{{choices}}}}"
doc_to_target: "{{{{label}}}}"
target_delimiter: ""
metric_list:
  - metric: acc
  - metric: acc_norm
"""
# lm-evaluation-harness's arc_easy.yaml, with a local file in place of allenai/ai2_arc
ARC_YAML = """task: llmkit_arc
dataset_path: json
dataset_kwargs:
  data_files: {arc}
test_split: train
output_type: multiple_choice
doc_to_text: "Question: {{{{question}}}}\\nAnswer:"
doc_to_target: "{{{{choices.label.index(answerKey)}}}}"
doc_to_choice: "{{{{choices.text}}}}"
metric_list:
  - metric: acc
  - metric: acc_norm
"""


def test_lm_evaluation_harness_and_llmkit_agree_on_every_example(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))
    tokenizer = make_tokenizer(tmp_path / "tok")
    make_checkpoint(tmp_path / "ckpt", tokenizer, seed=11)
    export_hf(tmp_path / "ckpt", tmp_path / "hf")
    own, arc = tmp_path / "own.json", tmp_path / "arc.json"
    own.write_text("".join(json.dumps({"context": c, "choices": ch, "label": y}) + "\n" for c, ch, y in OWN))
    arc.write_text(
        "".join(
            json.dumps({"id": str(i), "question": q, "answerKey": k,
                        "choices": {"text": t, "label": list("ABCD"[: len(t)])}}) + "\n"
            for i, (q, t, k) in enumerate(ARC)
        )
    )  # fmt: skip
    tasks_dir = tmp_path / "tasks"
    tasks_dir.mkdir()
    (tasks_dir / "own.yaml").write_text(OWN_YAML.format(own=own))
    (tasks_dir / "arc.yaml").write_text(ARC_YAML.format(arc=arc))

    theirs = simple_evaluate(
        model="hf",
        # add_bos_token=False: lm-eval 0.4.13 otherwise keeps the tokenizer's default, and the export's
        # tokenizer puts <|endoftext|> in front of every text, where llmkit eval scores the context as it is
        model_args=f"pretrained={tmp_path / 'hf'},dtype=float32,add_bos_token=False",
        tasks=["llmkit_own", "llmkit_arc"],
        task_manager=TaskManager(include_path=str(tasks_dir), include_defaults=False),  # not its own tasks
        device="cpu",
        batch_size=4,
        log_samples=True,
    )
    tasks = [detect_task(own, "llmkit_own"), detect_task(arc, "llmkit_arc")]
    assert [t.type for t in tasks] == ["multiple_choice", "imported"]
    ours = run_eval(tmp_path / "ckpt", tasks, tmp_path / "eval", EvalConfig())["stats"]["metrics"]
    examples = list(iter_rows(sorted((tmp_path / "eval" / "examples").glob("*.parquet"))))
    for name in ("llmkit_own", "llmkit_arc"):
        result = theirs["results"][name]
        assert ours[name]["acc"] == result["acc,none"], name
        assert ours[name]["acc_norm"] == result["acc_norm,none"], name
        # and example by example, not only on average
        their_scores = [s["acc"] for s in sorted(theirs["samples"][name], key=lambda s: s["doc_id"])]
        assert [e["score"] for e in examples if e["task"] == name] == their_scores, name
    # and choice by choice: the harness's log-likelihoods are the ones llmkit scores (ARC rows)
    model = load_model(tmp_path / "ckpt")[0]
    for sample in sorted(theirs["samples"]["llmkit_arc"], key=lambda s: s["doc_id"]):
        question, texts, _ = ARC[sample["doc_id"]]
        requests = [encode_pair(tokenizer, f"Question: {question}\nAnswer:", " " + t) for t in texts]
        ours_ll = [score[0] for score in continuation_scores(model, requests, batch_size=8)]
        their_ll = [float(resp[0]) for resp in sample["filtered_resps"]]
        assert ours_ll == pytest.approx(their_ll, abs=1e-4), sample["doc_id"]
    # the example's accuracies are not all equal, so the agreement says something
    assert 0 < ours["llmkit_own"]["acc"] < 1 or 0 < ours["llmkit_arc"]["acc"] < 1
