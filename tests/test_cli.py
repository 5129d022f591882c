"""The CLI conventions (config files, usage errors, --force for single-file outputs), `llmkit inspect`
on every artifact kind, and the Makefile's torch install."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO, SAMPLE, assert_one_line_error, make_checkpoint, make_tokenizer, run_cli
from safetensors.numpy import save_file

from llmkit import __version__
from llmkit.artifacts import ArtifactWriter
from llmkit.parquet import ParquetPartWriter


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


# --------------------------------------------------------------------------------------- config files


def write_config(tmp_path, text):
    path = tmp_path / "llmkit.toml"
    path.write_text(text)
    return path


def test_config_keys_may_be_flag_or_parameter_names(tmp_path):
    kept = make_docs(tmp_path)
    # `json` is the flag (--json) of the parameter `json_out`: both spellings are accepted
    for key in ("json", "json_out", "json-out"):
        r = run_cli(
            "--config", write_config(tmp_path, f"[inspect]\n{key} = true\nrows = 1\n"), "inspect", kept
        )
        assert r.returncode == 0, r.stderr
        assert len(json.loads(r.stdout)["table"]["head"]) == 1, key


def test_config_with_unknown_table_option_or_bad_value_is_one_line(tmp_path):
    kept = make_docs(tmp_path)
    cases = [
        ("[scrub]\nmax_pi = 3\n", ["unknown option 'max_pi' in [scrub]", "max-pii", "workers"]),
        (
            "[inspect]\nrows = 1\nbogus = 2\n",
            ["unknown option 'bogus' in [inspect]", "(options: json, rows)"],
        ),
        ("[inspect]\npath = 'x'\n", ["unknown option 'path'"]),  # positional arguments are not options
        ("[scrubb]\nmax-pii = 3\n", ["unknown command [scrubb]", "scrub"]),
        ("[scrub]\nmax-pii = 'abc'\n", ["bad value for 'max-pii' in [scrub]", "integer"]),
        ("[inspect]\nrows = 1.5\n", ["bad value for 'rows' in [inspect]"]),
        ("[inspect]\njson = 'perhaps'\n", ["bad value for 'json' in [inspect]", "boolean"]),
        ("rows = 3\n", ["'rows' must be a table"]),
    ]
    for text, fragments in cases:
        config = write_config(tmp_path, text)
        assert_one_line_error(run_cli("--config", config, "inspect", kept), "llmkit.toml: ", *fragments)


def test_config_and_debug_may_follow_the_stage_name(tmp_path):
    kept = make_docs(tmp_path)
    config = write_config(tmp_path, "[inspect]\nrows = 1\n")
    for args in (("--config", config), ("-c", config), (f"--config={config}",)):
        r = run_cli("inspect", kept, *args)
        assert r.returncode == 0 and "first 1 of 4 rows" in r.stdout, (args, r.stderr)
    r = run_cli("inspect", tmp_path / "missing", "--debug")
    assert r.returncode != 0 and "Traceback" in r.stderr and "UserError" in r.stderr
    # without --debug the same mistake is one line
    assert_one_line_error(run_cli("inspect", tmp_path / "missing"), "does not exist")


# --------------------------------------------------------------------------------------- usage errors


def test_usage_errors_are_one_line_naming_the_command(tmp_path):
    kept = make_docs(tmp_path)
    cases = [
        (("inspect", kept, "--rows", "abc"), ["llmkit inspect: Invalid value for '--rows'", "integer"]),
        (("inspect", kept, "--bogus"), ["llmkit inspect: No such option: --bogus"]),
        (("inspect",), ["llmkit inspect: Missing argument 'path'"]),
        (("scrub", kept), ["llmkit scrub: Missing option '--out'"]),
        (("no-such-stage",), ["llmkit: No such command 'no-such-stage'", "(see llmkit --help)"]),
    ]
    for args, fragments in cases:
        r = run_cli(*args)
        assert_one_line_error(r, *fragments)
        assert "╭" not in r.stderr and "Usage:" not in r.stderr  # not click's boxed panel
    assert "(see llmkit inspect --help)" in run_cli("inspect", kept, "--rows", "abc").stderr


# --------------------------------------------------------------------------------------- plot, report


def test_plot_and_report_refuse_to_overwrite_without_force(tmp_path):
    run = tmp_path / "run"
    with ArtifactWriter(run / "base", kind="checkpoint", stage="pretrain") as w:
        pq.write_table(pa.table({"step": [1, 2], "loss": [2.0, 1.0]}), w.path / "metrics.parquet")
        w.commit()
    png = tmp_path / "curves.png"
    png.write_bytes(b"mine")
    assert_one_line_error(run_cli("plot", run / "base", "-o", png), "already exists", "--force")
    assert png.read_bytes() == b"mine"
    assert run_cli("plot", run / "base", "-o", png, "--force").returncode == 0
    assert png.read_bytes()[:4] == b"\x89PNG"

    empty = tmp_path / "empty"  # no finished stage: a report that gets past the check fails on that
    empty.mkdir()
    (empty / "REPORT.md").write_text("my notes")
    assert_one_line_error(run_cli("report", empty), "REPORT.md already exists", "--force")
    assert_one_line_error(run_cli("report", empty, "--force"), "holds no finished stage")
    assert (empty / "REPORT.md").read_text() == "my notes"


# --------------------------------------------------------------------------------------- inspect: every kind


@pytest.fixture(scope="module")
def every_kind(tmp_path_factory):
    """One small artifact of each remaining kind, written by the real stage functions (a random tiny
    model for eval and generations)."""
    from llmkit.data.crawl import run_crawl
    from llmkit.data.importers import run_import
    from llmkit.engine import SamplingConfig
    from llmkit.eval import EvalConfig, detect_task, run_eval
    from llmkit.generate import run_generate
    from llmkit.tokenize import tokenize_docs

    root = tmp_path_factory.mktemp("kinds")
    run_crawl([str(SAMPLE / "crawl" / "crawl-00000.warc.gz")], root / "pages", workers=1)
    for kind in ("chat", "prefs", "prompts"):
        run_import(SAMPLE / f"{kind}.jsonl", root / kind)
    tokenizer = make_tokenizer(root / "tok")
    (root / "book.txt").write_text("A line of a book about rivers and mills.\n" * 30)
    tokenize_docs(
        root / "book.txt", tokenizer.path, root / "tokens", val_tail_fraction=0.2, show_progress=False
    )
    make_checkpoint(root / "ckpt", tokenizer)
    run_eval(root / "ckpt", [detect_task(root / "tokens")], root / "eval", EvalConfig(device="cpu"))
    run_generate(
        root / "ckpt", ["The river"], SamplingConfig(max_new_tokens=4), root / "generations", device="cpu"
    )
    return root


def inspect_both(path, rows=2):
    """What `inspect --json` prints and the rich view of the same artifact (in-process: the command
    around them is tested above)."""
    from io import StringIO

    from rich.console import Console

    from llmkit.inspect import describe, render_inspect

    out = StringIO()
    render_inspect(path, rows, Console(file=out, width=200, no_color=True))
    return json.loads(json.dumps(describe(path, rows), default=str)), out.getvalue()


def test_inspect_pages(every_kind):
    info, view = inspect_both(every_kind / "pages", rows=1)
    assert info["kind"] == "pages" and info["header"]["stage"] == "crawl"
    assert info["table"]["rows"] == info["counts"]["rows"] > 50
    assert {"id", "url", "html", "warc_date", "warc_record_id", "content_type"} <= {
        f["name"] for f in info["table"]["schema"]
    }
    head = info["table"]["head"][0]
    # pages have 9 columns: the rich view shows a row as column/value lines, html cut with a count
    assert f"first 1 of {info['table']['rows']:,} rows" in view
    assert head["url"] in view and head["warc_record_id"] in view and "chars)" in view
    assert "crawl-00000.warc.gz" in view  # lineage: the WARC file


def test_inspect_tokens_shows_train_and_val(every_kind):
    info, view = inspect_both(every_kind / "tokens")
    assert info["kind"] == "tokens"
    assert info["tables"] == {"train": {"rows": 1, "parts": 1}, "val": {"rows": 1, "parts": 1}}
    assert info["table"]["folder"] == "train" and info["table"]["head"][0]["id"] == "book"
    assert "train/" in view and "val/" in view and "schema of train/" in view and "input_ids" in view


def test_inspect_eval(every_kind):
    info, view = inspect_both(every_kind / "eval", rows=20)
    assert info["kind"] == "eval"
    metrics = {(r["task"], r["metric"]): r["value"] for r in info["table"]["head"]}
    assert metrics[("tokens", "loss")] == info["stats"]["metrics"]["tokens"]["loss"]
    assert info["tables"]["examples"]["rows"] == 0  # a perplexity task keeps no per-example rows
    assert "perplexity" in view and "tokens" in view
    assert "checkpoint" in view and str(every_kind / "ckpt") in view  # lineage: the model evaluated


def test_inspect_chat_prefs_prompts(every_kind):
    first = {
        kind: json.loads((SAMPLE / f"{kind}.jsonl").open().readline())
        for kind in ("chat", "prefs", "prompts")
    }
    info, view = inspect_both(every_kind / "chat", rows=1)
    assert info["kind"] == "chat" and info["table"]["rows"] >= 300
    # chat rows carry the tool fields of the chat schema (None on plain messages)
    messages = [{k: v for k, v in m.items() if v is not None} for m in info["table"]["head"][0]["messages"]]
    assert messages == first["chat"]["messages"]
    assert first["chat"]["messages"][0]["content"] in view

    info, view = inspect_both(every_kind / "prefs", rows=1)
    assert info["kind"] == "prefs" and info["table"]["rows"] >= 300
    assert info["table"]["head"][0]["chosen"] == first["prefs"]["chosen"]
    assert "chosen" in view and "rejected" in view

    info, view = inspect_both(every_kind / "prompts", rows=1)
    assert info["kind"] == "prompts" and info["table"]["rows"] >= 100
    assert info["table"]["head"][0]["answer"] == first["prompts"]["answer"]
    assert first["prompts"]["prompt"][0]["content"] in view


def test_inspect_generations(every_kind):
    info, view = inspect_both(every_kind / "generations")
    assert info["kind"] == "generations" and info["table"]["rows"] == 1
    row = info["table"]["head"][0]
    assert row["prompt"] == "The river" and 1 <= row["completion_tokens"] <= 4
    assert "The river" in view and "completion" in view


def test_inspect_shows_a_shared_input_once_the_full_config_and_wide_rows_as_blocks(tmp_path):
    (tmp_path / "crawl.warc.gz").write_bytes(b"")
    text = make_docs(tmp_path, "text", inputs=[tmp_path / "crawl.warc.gz"])
    kept = make_docs(tmp_path, "kept", inputs=[text])
    long_path = "/models/" + "x" * 300 + "/lid.176.ftz"
    signals = {f"signal_{i}": float(i) for i in range(8)}
    with ArtifactWriter(
        tmp_path / "both",
        kind="docs",
        stage="test",
        config={"settings": {"language": {"languages": ["en"], "lid_model": long_path}}},
        inputs=[kept, text],  # text is reached twice: through kept, and directly
    ) as w:
        with ParquetPartWriter(w.part_path(0)) as part:
            part.write([{"id": "d0", "text": "word " * 100, **signals}])
        w.commit(counts={"rows": 1})
    info, view = inspect_both(tmp_path / "both", rows=1)
    lineage = view[view.index("lineage") : view.index("config")]
    assert lineage.count("crawl.warc.gz") == 1  # text's subtree is drawn once
    assert lineage.count(str(text)) == 2 and lineage.count("(see above)") == 1
    assert info["lineage"]["inputs"][1]["inputs"][0]["path"].endswith("crawl.warc.gz")  # JSON: unabridged
    # the config in full: nested keys indented, a long value folded, not cut
    config = view[view.index("config") : view.index("schema")]
    assert "│   language " in config and "│     lid_model " in config
    assert "chars)" not in config
    assert long_path in "".join(c for c in config if c not in "│ \n")  # folded over several lines
    # 10 columns: one column/value line per column, so no cell is squeezed to a few characters
    rows = view[view.index("first 1 of 1 rows") :]
    assert all(f"│ signal_{i} " in rows for i in range(8)) and "│ 7.0 " in rows
    assert "word word word" in rows and "chars)" in rows  # the long text is cut with a count


# --------------------------------------------------------------------------------------- Makefile


def test_make_reinstalls_torch_when_torch_or_its_index_changes_and_only_then(tmp_path):
    """`make -n` on a stand-in venv: what make would run, nothing installed."""
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").touch()

    def make_n(*args):
        r = subprocess.run(
            ["make", "-n", "setup", f"VENV={venv}", *args], cwd=REPO, capture_output=True, text=True
        )
        assert r.returncode == 0, r.stderr
        return r.stdout

    first = make_n()
    assert 'pip install --quiet "torch==2.13.0"' in first and "pip install --quiet -e ." in first
    stamp = re.search(r"touch (\S+/\.torch-\d+)", first).group(1)
    for offset, path in enumerate((stamp, venv / ".installed"), start=1):  # as if that had run, in order
        Path(path).touch()
        os.utime(path, (time.time() + offset, time.time() + offset))
    assert "pip install" not in make_n()  # cached: nothing to install
    assert "pip install" not in make_n("TORCH=torch==2.13.0")
    changed = make_n("TORCH=torch==2.5.1")
    assert 'pip install --quiet "torch==2.5.1"' in changed and "pip install --quiet -e ." in changed
    index = make_n("TORCH_INDEX=https://download.pytorch.org/whl/cpu")
    assert '--index-url https://download.pytorch.org/whl/cpu "torch==2.13.0"' in index
