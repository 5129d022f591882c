"""The CLI conventions and `llmkit inspect` on every artifact kind, through the real command."""

from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from conftest import assert_one_line_error, run_cli
from safetensors.numpy import save_file

from llmkit import __version__
from llmkit.artifacts import ArtifactWriter, ParquetPartWriter


def make_docs(tmp_path, name="kept", inputs=()):
    out = tmp_path / name
    with ArtifactWriter(
        out,
        kind="docs",
        stage="filter",
        config={"languages": ["en"], "language_threshold": 0.65},
        inputs=inputs,
    ) as w:
        with ParquetPartWriter(w.part_path(0)) as part:
            part.write(
                [{"id": f"d{i}", "url": f"http://a.example/{i}", "text": "word " * 200} for i in range(4)]
            )
        with ParquetPartWriter(w.part_path(0, "rejected")) as part:
            part.write(
                [
                    {"id": "r1", "url": "u", "text": "Guten Tag", "reason": "language:de 0.97"},
                    {"id": "r2", "url": "u", "text": "Hallo", "reason": "language:de 0.91"},
                    {
                        "id": "r3",
                        "url": "u",
                        "text": "buy buy",
                        "reason": "gopher_repetition:top_2_gram 0.42",
                    },
                ]
            )
        funnel = [
            {"step": "language", "in": 7, "out": 5, "removed": {"language:de": 2}},
            {"step": "gopher_repetition", "in": 5, "out": 4, "removed": {"gopher_repetition:top_2_gram": 1}},
        ]
        w.commit(counts={"rows": 4, "rejected": 3}, stats={"funnel": funnel, "docs_per_s": 123.4})
    return out


def test_version_and_help_list_commands():
    r = run_cli("--version")
    assert r.returncode == 0 and r.stdout.strip() == f"llmkit {__version__}"
    r = run_cli("--help")
    assert r.returncode == 0 and "inspect" in r.stdout
    r = run_cli("inspect", "--help")
    assert r.returncode == 0 and "Example" in r.stdout and "llmkit inspect" in r.stdout


def test_inspect_docs_shows_header_lineage_config_funnel_schema_rows_and_rejected(tmp_path):
    text_dir = make_docs(tmp_path, "text")
    kept = make_docs(tmp_path, "kept", inputs=[text_dir])
    r = run_cli("inspect", kept, "--rows", "2")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for expected in (
        "filter",
        "lineage",
        "language_threshold",
        "funnel",
        "gopher_repetition",
        "71.4%",
        "schema",
        "first 2 of 4 rows",
        "rejected/ (3 rows)",
        "language:de",
    ):
        assert expected in out, expected
    assert "d0" in out and "d2" not in out
    assert "chars)" in out  # the 1,000-char texts are truncated with a count


def test_inspect_json_is_machine_readable(tmp_path):
    kept = make_docs(tmp_path)
    r = run_cli("inspect", kept, "--json", "--rows", "1")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["kind"] == "docs"
    assert info["table"]["rows"] == 4 and len(info["table"]["head"]) == 1
    assert info["rejected"]["reasons"] == {"language:de": 2, "gopher_repetition:top_2_gram": 1}
    assert info["stats"]["funnel"][0]["removed"] == {"language:de": 2}


def test_inspect_plain_parquet_file_and_folder(tmp_path):
    table = pa.table({"id": ["a", "b", "c"], "input_ids": [[1, 2], [3], [4, 5, 6]]})
    pq.write_table(table, tmp_path / "plain.parquet")
    r = run_cli("inspect", tmp_path / "plain.parquet", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)
    assert info["kind"] == "parquet" and info["table"]["rows"] == 3
    assert [f["name"] for f in info["table"]["schema"]] == ["id", "input_ids"]
    folder = tmp_path / "folder"
    folder.mkdir()
    pq.write_table(table, folder / "a.parquet")
    pq.write_table(table, folder / "b.parquet")
    r = run_cli("inspect", folder)
    assert r.returncode == 0 and "plain Parquet" in r.stdout and "6 rows in 2 part(s)" in r.stdout


def test_inspect_checkpoint_shows_model_config_parameters_and_last_metrics(tmp_path):
    with ArtifactWriter(
        tmp_path / "ckpt", kind="checkpoint", stage="pretrain", config={"preset": "tiny"}
    ) as w:
        save_file(
            {"embed.weight": np.zeros((10, 4), np.float32), "head.weight": np.zeros((3, 4), np.float32)},
            str(w.path / "model.safetensors"),
        )
        (w.path / "config.json").write_text(json.dumps({"n_layers": 2, "d_model": 4}))
        pq.write_table(
            pa.table({"step": [1, 2, 3], "loss": [3.0, 2.5, 2.25], "lr": [1e-3, 1e-3, 5e-4]}),
            w.path / "metrics.parquet",
        )
        w.commit(counts={"steps": 3})
    r = run_cli("inspect", tmp_path / "ckpt", "--json")
    assert r.returncode == 0, r.stderr
    ck = json.loads(r.stdout)["checkpoint"]
    assert ck["parameters"] == 52 and ck["tensors"] == 2
    assert ck["model_config"] == {"n_layers": 2, "d_model": 4}
    assert ck["last_metrics"] == {"step": 3, "loss": 2.25, "lr": 5e-4}
    r = run_cli("inspect", tmp_path / "ckpt")
    assert r.returncode == 0 and "52 (2 tensors)" in r.stdout and "model.n_layers" in r.stdout
    assert "3.000" in r.stdout and "2.250" in r.stdout  # loss sparkline endpoints


def test_inspect_tokenizer_artifact(tmp_path):
    from tokenizers import Tokenizer, models

    tok = Tokenizer(models.BPE(vocab={"a": 0, "b": 1, "ab": 2}, merges=[("a", "b")]))
    tok.add_special_tokens(["<|endoftext|>"])
    with ArtifactWriter(tmp_path / "tok", kind="tokenizer", stage="train-tokenizer") as w:
        tok.save(str(w.path / "tokenizer.json"))
        w.commit()
    r = run_cli("inspect", tmp_path / "tok", "--json")
    assert r.returncode == 0, r.stderr
    info = json.loads(r.stdout)["tokenizer"]
    assert info["vocab_size"] == 4 and info["merges"] == 1
    assert info["special_tokens"] == {"<|endoftext|>": 3}


def test_inspect_errors_are_one_clear_line(tmp_path):
    assert_one_line_error(run_cli("inspect", tmp_path / "missing"), "does not exist")
    (tmp_path / "junk.parquet").write_bytes(b"PAR1 but not really")
    assert_one_line_error(run_cli("inspect", tmp_path / "junk.parquet"), "not a valid Parquet file")
    (tmp_path / "empty_dir").mkdir()
    assert_one_line_error(run_cli("inspect", tmp_path / "empty_dir"), "not an llmkit artifact")
    kept = make_docs(tmp_path)
    manifest = json.loads((kept / "manifest.json").read_text())
    (kept / "manifest.json").write_text(
        json.dumps({**manifest, "format_version": 7, "llmkit_version": "3.0.0"})
    )
    assert_one_line_error(run_cli("inspect", kept), "llmkit 3.0.0", "upgrade")
    assert_one_line_error(run_cli("inspect", kept, "--rows", "-1"), "--rows")


def test_corrupt_safetensors_is_one_clear_line(tmp_path):
    with ArtifactWriter(tmp_path / "ckpt", kind="checkpoint", stage="pretrain") as w:
        (w.path / "model.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{garbage")
        w.commit()
    assert_one_line_error(run_cli("inspect", tmp_path / "ckpt"), "not a valid safetensors file")


def test_debug_shows_the_traceback(tmp_path):
    r = run_cli("--debug", "inspect", tmp_path / "missing")
    assert r.returncode != 0 and "Traceback" in r.stderr and "UserError" in r.stderr


def test_config_file_supplies_defaults_and_flags_override(tmp_path):
    kept = make_docs(tmp_path)
    config = tmp_path / "llmkit.toml"
    config.write_text("[inspect]\nrows = 1\n")
    r = run_cli("--config", config, "inspect", kept)
    assert r.returncode == 0 and "first 1 of 4 rows" in r.stdout
    r = run_cli("--config", config, "inspect", kept, "--rows", "3")
    assert r.returncode == 0 and "first 3 of 4 rows" in r.stdout


def test_bad_config_files_are_one_clear_line(tmp_path):
    kept = make_docs(tmp_path)
    bad = tmp_path / "bad.toml"
    bad.write_text("[inspect\nrows = 1\n")
    assert_one_line_error(run_cli("--config", bad, "inspect", kept), "not valid TOML")
    unknown = tmp_path / "unknown.toml"
    unknown.write_text("[no-such-stage]\nx = 1\n")
    assert_one_line_error(run_cli("--config", unknown, "inspect", kept), "unknown command [no-such-stage]")
    assert_one_line_error(run_cli("--config", tmp_path / "absent.toml", "inspect", kept), "does not exist")
