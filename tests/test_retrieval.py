"""Retrieval: `llmkit index`, `llmkit search`, `--retrieve` in generate / chat / eval, the retrieval eval
task, and the grounded-QA sample data — on real bm25s indexes, real checkpoints and the real CLI."""

from __future__ import annotations

import json
import math
import re
from collections import Counter

import pyarrow.parquet as pq
import pytest
from conftest import SAMPLE, assert_one_line_error, make_checkpoint, make_tokenizer, run_cli, write_jsonl
from test_bad_inputs import write_docs
from test_generate import run_with_stdin
from test_layers import cli_defaults

from llmkit.artifacts import read_manifest
from llmkit.data.index import run_index, split_passages
from llmkit.defaults import STAGE_DEFAULTS
from llmkit.engine import SamplingConfig
from llmkit.errors import UserError
from llmkit.eval import EvalConfig, detect_task, run_eval
from llmkit.generate import run_generate
from llmkit.parquet import iter_rows, parquet_files
from llmkit.retrieval import (
    CONTEXT_HEADER,
    context_message,
    ground,
    open_index,
    query_words,
    retrieval_ranks,
)

DOCS = [
    {"id": "bridge", "url": "https://a.example/bridge", "text": "The Harlow Bridge crosses the river Tam.\n"
     "It was built in 1847 and is 312 metres long."},
    {"id": "mill", "url": "https://a.example/mill", "text": "The Copse Mill grinds grain for the village.\n"
     "It was built in 1903 by the miller's guild."},
    {"id": "tower", "url": "https://a.example/tower", "text": "The Vasso Tower is 140 metres tall.\n"
     "Painters like the view of the river from the tower."},
    {"id": "blank", "url": "", "text": "\n\n"},
]  # fmt: skip


@pytest.fixture(scope="module")
def index(tmp_path_factory):
    folder = tmp_path_factory.mktemp("index")
    run_index([write_jsonl(folder / "docs.jsonl", DOCS)], folder / "index", workers=1, show_progress=False)
    return folder / "index"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    """A random-weight model with room in its context for a few passages."""
    folder = tmp_path_factory.mktemp("ckpt")
    make_checkpoint(folder / "ckpt", make_tokenizer(folder), seq_len=512)
    return folder / "ckpt"


# --------------------------------------------------------------------------------------- index build


def test_passages_pack_whole_lines_and_window_long_ones():
    text = "one two three\nfour five\n\nsix seven eight nine ten eleven twelve"
    # lines are packed while they fit; the 7-word line is cut into 5-word windows overlapping by 1
    assert split_passages(text, 5, 1) == ["one two three\nfour five", "six seven eight nine ten",
                                          "ten eleven twelve"]  # fmt: skip
    assert split_passages(text, 100, 20) == [text.replace("\n\n", "\n")]
    assert split_passages("  \n\n", 10, 2) == []


def bm25_lucene(corpus: list[list[str]], query: list[str], k1=1.5, b=0.75) -> list[float]:
    """BM25 as Lucene scores it, written out from its formula: the reference for bm25s's scores."""
    n, avg = len(corpus), sum(map(len, corpus)) / len(corpus)
    df = Counter(w for doc in corpus for w in set(doc))
    scores = []
    for doc in corpus:
        tf = Counter(doc)
        scores.append(sum(
            math.log(1 + (n - df[w] + 0.5) / (df[w] + 0.5)) * tf[w] / (tf[w] + k1 * (1 - b + b * len(doc) / avg))
            for w in query if tf[w]
        ))  # fmt: skip
    return scores


def test_index_artifact_and_scores_match_the_bm25_formula(index):
    manifest = read_manifest(index)
    assert manifest["kind"] == "index" and manifest["stage"] == "index"
    assert manifest["counts"] == {"documents": 4, "passages": 3, "vocabulary": manifest["counts"]["vocabulary"],
                                  "parts": 1}  # fmt: skip
    assert manifest["config"]["passage_words"] == 100 and manifest["stats"]["passages_per_s"] > 0
    rows = list(iter_rows(parquet_files(index / "passages")))
    assert [(r["passage_id"], r["doc_id"]) for r in rows] == [("bridge#0", "bridge"), ("mill#0", "mill"),
                                                              ("tower#0", "tower")]  # fmt: skip
    assert sorted(p.name for p in (index / "bm25").iterdir()) == [
        "data.csc.index.npy", "indices.csc.index.npy", "indptr.csc.index.npy", "params.index.json",
        "vocab.index.json",
    ]  # fmt: skip
    assert manifest["counts"]["vocabulary"] == len({w for r in rows for w in query_words(r["text"])})

    hits = open_index(index).search("When was the river bridge built?", k=5)
    corpus = [query_words(r["text"]) for r in rows]
    expected = bm25_lucene(corpus, query_words("When was the river bridge built?"))
    assert [h.doc_id for h in hits] == ["bridge", "mill", "tower"]
    assert [h.score for h in hits] == pytest.approx(sorted(expected, reverse=True), rel=1e-5)
    assert hits[0].text == DOCS[0]["text"] and hits[0].url == DOCS[0]["url"] and hits[0].rank == 1
    assert open_index(index).search("zebra", k=3) == []  # no word of the query is in any passage


def test_the_executor_splits_the_same_passages_with_several_workers(tmp_path):
    """Scale-out: a docs artifact's parts split in a process pool give the index one worker gives."""
    parts = [write_docs(tmp_path / f"docs{i}", [d["text"] for d in DOCS]) for i in range(2)]
    one = run_index(parts, tmp_path / "one", workers=1, show_progress=False)
    two = run_index(parts, tmp_path / "two", workers=2, show_progress=False)
    assert one["counts"] == two["counts"] and one["counts"]["passages"] == 6
    for name in ("passages/part-00000.parquet", "passages/part-00001.parquet"):
        assert pq.read_table(tmp_path / "one" / name).equals(pq.read_table(tmp_path / "two" / name))
    a, b = open_index(tmp_path / "one"), open_index(tmp_path / "two")
    assert [h.passage_id for h in a.search("mill grain", 4)] == [
        h.passage_id for h in b.search("mill grain", 4)
    ]


# --------------------------------------------------------------------------------------- the CLI


def test_index_and_search_commands(tmp_path):
    docs = write_jsonl(tmp_path / "docs.jsonl", DOCS)
    r = run_cli("index", docs, "-o", tmp_path / "index", "--passage-words", "12", "--overlap", "3", "-w", "1")
    assert r.returncode == 0, r.stderr
    assert "passages" in r.stdout and read_manifest(tmp_path / "index")["config"]["overlap"] == 3
    r = run_cli("search", tmp_path / "index", "Harlow bridge", "-k", "2")
    assert r.returncode == 0, r.stderr
    assert "https://a.example/bridge" in r.stdout and "score" in r.stdout
    r = run_cli("search", tmp_path / "index", "grain mill", "--json")
    hits = [json.loads(line) for line in r.stdout.splitlines()]
    assert hits[0]["doc_id"] == "mill" and hits[0]["rank"] == 1 and set(hits[0]) >= {"score", "url", "text"}


def test_bad_inputs_end_with_one_line_and_write_nothing(tmp_path, index, checkpoint):
    # an index built from another kind of artifact (here: an index)
    out = tmp_path / "out"
    assert_one_line_error(run_cli("index", index, "-o", out), "'index' artifact; expected 'docs'")
    # an empty corpus: documents without a word
    empty = write_jsonl(tmp_path / "empty.jsonl", [{"id": "a", "text": "  "}, {"id": "b", "text": ""}])
    assert_one_line_error(run_cli("index", empty, "-o", out), "no text to index")
    stop = write_jsonl(tmp_path / "stop.jsonl", [{"id": "a", "text": "the and of it"}])
    assert_one_line_error(run_cli("index", stop, "-o", out), "no word to index")
    assert not out.exists() and not (tmp_path / "out.partial").exists()
    # a query of only stop words
    assert_one_line_error(run_cli("search", index, "is the of and"), "only stop words")
    # --retrieve pointing at a missing index, and at a corrupt one
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    for f in ("manifest.json", "passages"):
        (corrupt / f).symlink_to(index / f)
    (corrupt / "bm25").mkdir()
    (corrupt / "bm25" / "data.csc.index.npy").write_bytes(b"not numpy")
    task = write_jsonl(
        tmp_path / "qa.jsonl", [{"question": "When was the Harlow Bridge built?", "answer": "1847"}]
    )
    missing = tmp_path / "missing"
    assert_one_line_error(run_cli("generate", checkpoint, "Harlow bridge", "--retrieve", missing, "-o", out),
                          "missing does not exist")  # fmt: skip
    assert_one_line_error(run_cli("chat", checkpoint, "--retrieve", missing), "missing does not exist")
    assert_one_line_error(run_cli("eval", checkpoint, task, "--retrieve", corrupt, "-o", out), "is corrupt")
    with pytest.raises(UserError, match="is corrupt"):
        run_generate(checkpoint, ["Harlow bridge"], SamplingConfig(), out_dir=out, retrieve=corrupt)
    assert not out.exists() and not (tmp_path / "out.partial").exists()
    with pytest.raises(UserError, match="--overlap"):
        run_index([tmp_path / "empty.jsonl"], out, passage_words=10, overlap=10)


# --------------------------------------------------------------------------------------- generation and eval


def test_generate_puts_numbered_sources_in_the_context(index, checkpoint, tmp_path):
    greedy = SamplingConfig(max_new_tokens=4, temperature=0)
    question = "When was the Harlow Bridge built?"
    stats = run_generate(
        checkpoint, [question], greedy, out_dir=tmp_path / "gen", retrieve=index, retrieve_k=2
    )
    row = stats["results"][0]
    prompt = json.loads(row["prompt"])
    assert prompt[0] == {"role": "system", "content": f"{CONTEXT_HEADER}\n[1] https://a.example/bridge\n"
                         f"{DOCS[0]['text']}\n[2] https://a.example/mill\n{DOCS[1]['text']}"}  # fmt: skip
    assert prompt[1] == {"role": "user", "content": question}
    assert [s["passage_id"] for s in json.loads(row["sources"])] == ["bridge#0", "mill#0"]
    # the grounded prompt is exactly the chat a user could have written with the context message
    plain = run_generate(checkpoint, [prompt], greedy)
    assert plain["results"][0]["completion"] == row["completion"]

    r = run_with_stdin("chat", checkpoint, "-n", "3", "--temperature", "0", "--retrieve", index,
                       stdin="How tall is the Vasso Tower?\nthe of\n")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "sources:\n  [1] https://a.example/tower (tower#0)" in r.stdout
    assert "only stop words" in r.stdout and "sources: none matched" in r.stdout  # the chat goes on


def test_eval_reports_exact_match_with_and_without_retrieval_and_recall(index, checkpoint, tmp_path):
    qa = write_jsonl(tmp_path / "qa.jsonl", [{"question": "When was the Harlow Bridge built?", "answer": "1847"},
                                             {"question": "How tall is the Vasso Tower?", "answer": "140"}])  # fmt: skip
    gold = write_jsonl(tmp_path / "gold.jsonl", [
        {"question": "When was the Harlow Bridge built?", "doc_id": "bridge"},
        {"question": "grain built by the guild", "doc_id": "mill"},
        {"question": "river crosses", "doc_id": ["tower"]},  # the bridge passage has both words: rank 2
        {"question": "zebra", "doc_id": "mill"},  # not retrieved at all
    ])  # fmt: skip
    assert detect_task(gold).type == "retrieval" and detect_task(qa).type == "exact_match"
    cfg = EvalConfig(max_new_tokens=4, retrieve=index, retrieve_k=1)
    manifest = run_eval(checkpoint, [detect_task(qa), detect_task(gold)], tmp_path / "eval", cfg)
    metrics = manifest["stats"]["metrics"]
    assert set(metrics["qa"]) == {"exact_match", "exact_match_without_retrieval", "examples"}
    assert metrics["gold"] == {"recall@1": 0.5, "recall@5": 0.75, "recall@10": 0.75, "mrr": (1 + 1 + 0.5) / 4,
                               "examples": 4}  # fmt: skip
    tasks = Counter(r["task"] for r in iter_rows(parquet_files(tmp_path / "eval" / "examples")))
    assert tasks == {"qa": 2, "qa:without-retrieval": 2, "gold": 4}
    with pytest.raises(UserError, match="needs --retrieve"):
        run_eval(checkpoint, [detect_task(gold)], tmp_path / "eval2", EvalConfig())


# --------------------------------------------------------------------------------------- sample data


def test_sample_questions_are_found_and_the_training_context_is_the_inference_context(tmp_path):
    grounded = SAMPLE / "grounded"
    run_index([grounded / "docs.jsonl"], tmp_path / "index", workers=1, show_progress=False)
    index = open_index(tmp_path / "index")
    questions = [json.loads(line) for line in (grounded / "questions.jsonl").read_text().splitlines()]
    ranks, _ = retrieval_ranks(index, [q["question"] for q in questions],
                               [("doc_id", {q["doc_id"]}) for q in questions], depth=5)  # fmt: skip
    assert sum(r is not None for r in ranks) / len(ranks) >= 0.9  # recall@5, the bar
    train = [json.loads(line) for line in (grounded / "train.jsonl").read_text().splitlines()[:20]]
    for chat in train:
        context, user, answer = chat["messages"]
        assert [context] == ground(index, [user["content"]], 1)[0][0][:1]  # the same template, refilled
        assert re.search(r"\d+", answer["content"]).group() in context["content"]
    assert context_message([])["content"] == CONTEXT_HEADER + "\n"


def test_cli_and_library_read_the_same_retrieval_defaults():
    import inspect

    from llmkit.retrieval import DEFAULT_RETRIEVE_K, Index

    library = {n: p.default for n, p in inspect.signature(run_index).parameters.items()}
    for name, value in STAGE_DEFAULTS["index"].items():
        assert cli_defaults("index")[name] == library[name] == value
    assert inspect.signature(Index.search).parameters["k"].default == cli_defaults("search")["k"] == \
        STAGE_DEFAULTS["retrieval"]["k"]  # fmt: skip
    for command in ("generate", "chat", "eval"):
        assert (
            cli_defaults(command)["retrieve_k"]
            == DEFAULT_RETRIEVE_K
            == STAGE_DEFAULTS["retrieval"]["retrieve_k"]
        )
