"""The bad-input matrix (issue 9): every mistake a user can make with an input or an option ends,
through the real `llmkit` command, with one `error:` line on stderr, exit status 2, no traceback,
and nothing written: neither OUT/ nor OUT.partial/.

The inputs are tiny real artifacts built once per module with the stages' own Python functions;
only the checks go through the CLI (each call is a fresh Python process).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest
from conftest import SAMPLE, assert_one_line_error, make_checkpoint, make_tokenizer, run_cli

from llmkit.artifacts import ArtifactWriter, partial_path
from llmkit.parquet import ParquetPartWriter

ENGLISH = (
    "The committee met on Tuesday to discuss the new library building. After a long debate, the members "
    "agreed that the reading room should face the park, because the morning light is softer there. "
    "The architect will present a revised plan next month, and the town will vote on the budget in spring.\n"
    "Several residents asked whether the old oak trees could be kept. The architect said that the design "
    "was changed so that the trees remain where they are, which pleased almost everyone in the hall.\n"
)


def write_docs(out: Path, texts: list[str]) -> Path:
    """A docs artifact with one part holding `texts` (an empty part when there are none)."""
    import pyarrow as pa

    schema = pa.schema([("id", pa.string()), ("url", pa.string()), ("text", pa.string())])
    with ArtifactWriter(out, kind="docs", stage="test", config={}) as w:
        with ParquetPartWriter(w.part_path(0), schema=schema) as part:
            part.write(
                [{"id": f"d{i}", "url": f"http://example.com/{i}", "text": t} for i, t in enumerate(texts)]
            )
        w.commit(counts={"rows": len(texts)})
    return out


@dataclass
class World:
    root: Path
    docs: Path
    empty_docs: Path
    tokenizer: Path
    tokens: Path
    ckpt: Path
    bad_weights_ckpt: Path
    mismatched_ckpt: Path
    corrupt_parquet: Path
    corrupt_page: Path
    newer_manifest: Path
    non_utf8_text: Path
    non_utf8_jsonl: Path
    bad_toml: Path
    a_file: Path


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> World:
    from llmkit.tokenize import tokenize_docs

    root = tmp_path_factory.mktemp("bad_inputs")
    docs = write_docs(root / "docs", [ENGLISH * (1 + i % 3) for i in range(12)])
    empty_docs = write_docs(root / "empty_docs", [])

    tok = make_tokenizer(root / "tk", vocab_size=320)
    tokenizer = root / "tk" / "tokenizer"
    tokens = root / "tokens"
    tokenize_docs(docs, tokenizer, tokens, threads=1, show_progress=False)

    ckpt = root / "ckpt"
    make_checkpoint(ckpt, tok, seq_len=64)

    bad_weights_ckpt = root / "bad_weights_ckpt"
    shutil.copytree(ckpt, bad_weights_ckpt)
    (bad_weights_ckpt / "model.safetensors").write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json at all")

    # a checkpoint whose tokenizer.json comes from another (smaller) tokenizer than its embedding table
    other = make_tokenizer(root / "tk_other", vocab_size=300)
    assert other.vocab_size != tok.vocab_size
    mismatched_ckpt = root / "mismatched_ckpt"
    shutil.copytree(ckpt, mismatched_ckpt)
    shutil.copyfile(other.path, mismatched_ckpt / "tokenizer.json")

    corrupt_parquet = root / "corrupt_parquet"
    shutil.copytree(docs, corrupt_parquet)
    part = corrupt_parquet / "part-00000.parquet"
    data = part.read_bytes()
    part.write_bytes(data[: len(data) // 2] + b"\x00" * 64 + data[-8:])  # keeps the PAR1 magic, footer broken

    # an intact footer over a damaged data page: the error comes only when the rows are read
    corrupt_page = root / "corrupt_page"
    shutil.copytree(docs, corrupt_page)
    part = corrupt_page / "part-00000.parquet"
    data = bytearray(part.read_bytes())
    data_end = len(data) - 8 - int.from_bytes(data[-8:-4], "little")  # where the footer starts
    data[4:data_end] = b"\xa5" * (data_end - 4)
    part.write_bytes(bytes(data))

    newer_manifest = root / "newer_manifest"
    shutil.copytree(docs, newer_manifest)
    manifest = json.loads((newer_manifest / "manifest.json").read_text())
    manifest.update(format_version=99, llmkit_version="99.0.0")
    (newer_manifest / "manifest.json").write_text(json.dumps(manifest))

    non_utf8_text = root / "latin1.txt"
    non_utf8_text.write_bytes(("Caf\xe9 au lait, cr\xe8me br\xfbl\xe9e. " * 200).encode("latin-1"))
    non_utf8_jsonl = root / "latin1.jsonl"
    non_utf8_jsonl.write_bytes(
        b'{"messages": [{"role": "user", "content": "Caf\xe9?"}, {"role": "assistant", "content": "Oui."}]}\n'
    )
    bad_toml = root / "bad.toml"
    bad_toml.write_text("[filter\nworkers = = 2\n")
    a_file = root / "a_file.txt"
    a_file.write_text("I am a file, not a directory.\n")
    return World(
        root, docs, empty_docs, tokenizer, tokens, ckpt, bad_weights_ckpt, mismatched_ckpt, corrupt_parquet,
        corrupt_page, newer_manifest, non_utf8_text, non_utf8_jsonl, bad_toml, a_file,
    )  # fmt: skip


SAMPLE_WARC = Path(__file__).resolve().parent.parent / "sample_data" / "crawl" / "crawl-00000.warc.gz"

# Each case: an id, the command line (a function of the world and OUT), and fragments of the one line.
CASES = [
    # ---- missing inputs, wrong kinds
    ("filter-missing-input", lambda w, o: ["filter", w.root / "nope", "-o", o], ["does not exist"]),
    ("crawl-missing-warc", lambda w, o: ["crawl", w.root / "nope.warc.gz", "-o", o], ["nope.warc.gz"]),
    (
        "sft-missing-chat-file",
        lambda w, o: ["sft", w.ckpt, w.root / "nope.jsonl", "-o", o],
        ["does not exist"],
    ),
    ("filter-given-tokens", lambda w, o: ["filter", w.tokens, "-o", o], ["'tokens' artifact"]),
    (
        "pretrain-given-docs",
        lambda w, o: ["pretrain", w.docs, "-o", o, "--max-steps", "1"],
        ["'docs' artifact"],
    ),
    ("tokenize-docs-as-tokenizer", lambda w, o: ["tokenize", w.docs, w.docs, "-o", o], ["tokenizer"]),
    ("sft-tokens-as-base", lambda w, o: ["sft", w.tokens, SAMPLE / "chat.jsonl", "-o", o], ["'tokens'"]),
    ("generate-docs-as-checkpoint", lambda w, o: ["generate", w.docs, "Hi", "-o", o], ["'docs' artifact"]),
    # ---- corrupt files inside artifacts, a newer format
    ("filter-corrupt-parquet", lambda w, o: ["filter", w.corrupt_parquet, "-o", o], ["part-00000.parquet"]),
    ("dedup-corrupt-parquet", lambda w, o: ["dedup", w.corrupt_parquet, "-o", o], ["part-00000.parquet"]),
    (
        "dedup-corrupt-page",
        lambda w, o: ["dedup", w.corrupt_page, "-o", o],
        ["part-00000.parquet", "corrupt"],
    ),
    (
        "filter-corrupt-page",
        lambda w, o: ["filter", w.corrupt_page, "-o", o],
        ["part-00000.parquet", "corrupt"],
    ),
    (
        "tokenize-corrupt-parquet",
        lambda w, o: ["tokenize", w.corrupt_parquet, w.tokenizer, "-o", o],
        ["part-00000"],
    ),
    (
        "generate-corrupt-safetensors",
        lambda w, o: ["generate", w.bad_weights_ckpt, "Hi", "-o", o],
        ["safetensors"],
    ),
    (
        "eval-corrupt-safetensors",
        lambda w, o: ["eval", w.bad_weights_ckpt, w.tokens, "-o", o],
        ["safetensors"],
    ),
    (
        "sft-corrupt-safetensors",
        lambda w, o: ["sft", w.bad_weights_ckpt, SAMPLE / "chat.jsonl", "-o", o, "--max-steps", "1"],
        ["safetensors"],
    ),
    ("export-corrupt-safetensors", lambda w, o: ["export", w.bad_weights_ckpt, o], ["safetensors"]),
    ("filter-newer-manifest", lambda w, o: ["filter", w.newer_manifest, "-o", o], ["upgrade llmkit", "99"]),
    (
        "generate-vocab-mismatch",
        lambda w, o: ["generate", w.mismatched_ckpt, "Hi", "-o", o],
        ["vocabulary mismatch"],
    ),
    (
        "eval-vocab-mismatch",
        lambda w, o: ["eval", w.mismatched_ckpt, w.tokens, "-o", o],
        ["vocabulary mismatch"],
    ),
    # ---- empty data
    (
        "train-tokenizer-empty-docs",
        lambda w, o: ["train-tokenizer", w.empty_docs, "-o", o, "--vocab-size", "300"],
        ["no training text"],
    ),
    (
        "filter-removes-everything",
        lambda w, o: ["filter", w.docs, "-o", o, "--filters", "gopher_quality", "--min-doc-words", "100000"],
        ["kept no document of 12", "gopher_quality"],
    ),
    ("generate-empty-prompt", lambda w, o: ["generate", w.ckpt, "", "-o", o], ["prompt 1 is empty"]),
    ("generate-prompt-longer-than-context", lambda w, o: ["generate", w.ckpt, ENGLISH, "-o", o], ["context"]),
    # ---- non-UTF-8 text
    (
        "train-tokenizer-non-utf8",
        lambda w, o: ["train-tokenizer", w.non_utf8_text, "-o", o, "--vocab-size", "300"],
        ["UTF-8"],
    ),
    ("tokenize-non-utf8", lambda w, o: ["tokenize", w.non_utf8_text, w.tokenizer, "-o", o], ["UTF-8"]),
    ("import-non-utf8", lambda w, o: ["import", w.non_utf8_jsonl, "-o", o], ["encoding:not_utf8"]),
    # ---- sizes that must be positive
    (
        "train-tokenizer-vocab-size-0",
        lambda w, o: ["train-tokenizer", w.docs, "-o", o, "--vocab-size", "0"],
        ["--vocab-size"],
    ),
    ("filter-workers-0", lambda w, o: ["filter", w.docs, "-o", o, "--workers", "0"], ["--workers"]),
    (
        "crawl-pages-per-part-0",
        lambda w, o: ["crawl", SAMPLE_WARC, "-o", o, "--pages-per-part", "0"],
        ["--pages-per-part"],
    ),
    (
        "pretrain-max-steps-0",
        lambda w, o: ["pretrain", w.tokens, "-o", o, "--max-steps", "0"],
        ["--max-steps"],
    ),
    (
        "pretrain-batch-size-negative",
        lambda w, o: ["pretrain", w.tokens, "-o", o, "--batch-size", "-1"],
        ["--batch-size"],
    ),
    ("dedup-rows-negative", lambda w, o: ["dedup", w.docs, "-o", o, "--rows", "-1"], ["--rows"]),
    ("dedup-workers-0", lambda w, o: ["dedup", w.docs, "-o", o, "--workers", "0"], ["--workers"]),
    ("dedup-seed-negative", lambda w, o: ["dedup", w.docs, "-o", o, "--seed", "-1"], ["--seed", "-1"]),
    (
        "dedup-seed-too-big",
        lambda w, o: ["dedup", w.docs, "-o", o, "--seed", "5000000000"],
        ["--seed", "5000000000"],
    ),
    (
        "dedup-threshold-with-bands-no-verify",
        lambda w, o: ["dedup", w.docs, "-o", o, "--threshold", "0.8", "--bands", "14", "--rows", "8"],
        ["--threshold", "--verify"],
    ),
    (
        "generate-max-new-tokens-0",
        lambda w, o: ["generate", w.ckpt, "Hi", "-o", o, "--max-new-tokens", "0"],
        ["--max-new-tokens"],
    ),
    (
        "tokenize-batch-size-0",
        lambda w, o: ["tokenize", w.docs, w.tokenizer, "-o", o, "--batch-size", "0"],
        ["--batch-size"],
    ),
    # ---- bad option values, config and output paths
    (
        "filter-unknown-filter",
        lambda w, o: ["filter", w.docs, "-o", o, "--filters", "url,nosuch"],
        ["nosuch"],
    ),
    ("filter-bad-executor", lambda w, o: ["filter", w.docs, "-o", o, "--executor", "slurm"], ["slurm"]),
    ("config-invalid-toml", lambda w, o: ["--config", w.bad_toml, "filter", w.docs, "-o", o], ["TOML"]),
    ("output-is-a-file", lambda w, o: ["filter", w.docs, "-o", w.a_file], ["already exists"]),
    (
        "output-is-a-file-forced",
        lambda w, o: ["scrub", w.docs, "-o", w.a_file, "--force"],
        ["not a directory"],
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_ends_with_one_line_and_writes_nothing(world, tmp_path, case):
    _, argv, fragments = case
    out = tmp_path / "OUT"
    before = world.a_file.read_text()
    result = run_cli(*argv(world, out), cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    assert not out.exists() and not partial_path(out).exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [], list(tmp_path.iterdir())
    # an output path that is an existing file is neither replaced nor accompanied by a .partial
    assert world.a_file.read_text() == before
    assert not partial_path(world.a_file).exists()


def test_matrix_is_large_enough():
    assert len(CASES) >= 20


def test_import_rejects_non_utf8_rows_with_a_reason_and_keeps_the_rest(tmp_path):
    from llmkit.artifacts import open_artifact
    from llmkit.data.importers import run_import
    from llmkit.parquet import iter_rows

    good = '{"messages": [{"role": "user", "content": "Café?"}, {"role": "assistant", "content": "Oui."}]}'
    src = tmp_path / "mixed.jsonl"
    src.write_bytes(good.encode("utf-8") + b"\n" + good.encode("latin-1") + b"\n")  # é as 0xE9: not UTF-8
    manifest = run_import(src, tmp_path / "chat")
    assert manifest["counts"]["rows"] == 1 and manifest["counts"]["rejected"] == 1
    art = open_artifact(tmp_path / "chat")
    assert [r["messages"][0]["content"] for r in iter_rows(art.parts)] == ["Café?"]
    assert [r["reason"] for r in iter_rows(art.rejected_parts())] == ["encoding:not_utf8"]
