"""Filters behind one interface: each filter's settings are its dataclass fields, `llmkit filter`
derives one option per field (help, default, config-file key), and a new filter is one class."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import get_type_hints

import pytest
from conftest import assert_one_line_error, run_cli
from test_filters import make_docs, read_parts, stage_rows
from typer.testing import CliRunner

from llmkit import cli
from llmkit.data.filters import FILTERS, Filter, setting, settings_of


def flag(field) -> str:
    return "--" + (field.metadata.get("flag") or field.name.replace("_", "-"))


def shown_default(field, type_) -> str | None:
    """How `--help` shows a setting's default (None: no default shown)."""
    if field.default is None:
        return None
    if type_ is bool:
        return flag(field).removeprefix("--") if field.default else "no-" + flag(field).removeprefix("--")
    if isinstance(field.default, tuple):
        return ",".join(field.default)
    return str(field.default)


def test_every_filter_setting_is_an_option_in_the_thresholds_panel_with_its_default_and_help():
    r = run_cli("filter", "--help")
    assert r.returncode == 0, r.stderr
    panel = r.stdout[r.stdout.index("Thresholds (default: FineWeb)") :]
    rows = {line.split()[1]: line for line in panel.splitlines() if re.match(r"│ --", line)}
    for cls in FILTERS.values():
        assert issubclass(cls, Filter)
        types = get_type_hints(cls)
        for field in settings_of(cls):
            help_text = field.metadata.get("help")
            assert help_text, f"{cls.name}.{field.name} has no help: declare it with setting()"
            row = rows[flag(field)]
            assert f"{cls.name}: {help_text}" in row, row
            default = shown_default(field, types[field.name])
            if default is None:
                assert "[default:" not in row, row
            else:
                assert f"[default: {default}]" in row, row
    assert len(rows) == sum(len(settings_of(cls)) for cls in FILTERS.values())


@dataclass
class ShoutingFilter(Filter):
    """A filter as a user would add one: remove pages written mostly in capitals."""

    max_upper_ratio: float = setting(0.5, "Removes if capital letters / letters > this.")

    name = "shouting"
    columns = {"upper_ratio": "float64"}

    def check(self, doc: dict) -> str | None:
        letters = [c for c in doc["text"] if c.isalpha()]
        doc["upper_ratio"] = ratio = round(sum(c.isupper() for c in letters) / max(len(letters), 1), 3)
        return f"upper_ratio {ratio}" if ratio > self.max_upper_ratio else None


@pytest.fixture
def with_shouting_filter(monkeypatch):
    """`llmkit filter` as it is built when filters.py lists ShoutingFilter in FILTERS."""
    monkeypatch.setitem(FILTERS, "shouting", ShoutingFilter)
    monkeypatch.delattr(cli.filter_docs, "__signature__")  # back to the def, with its **settings
    cli.with_filter_settings(cli.filter_docs)  # what importing cli.py does; undone after the test


def test_a_new_filter_is_one_class_and_gets_its_option(tmp_path, with_shouting_filter):
    runner = CliRunner()
    r = runner.invoke(cli.app, ["filter", "--help"], env={"COLUMNS": "200"})
    assert r.exit_code == 0, r.output
    assert re.search(r"--max-upper-ratio .*shouting: Removes if capital letters / letters > this\. "
                     r"\[default: 0\.5\]", r.output), r.output  # fmt: skip

    rows = [*stage_rows(), {"id": "loud", "url": "http://news.example/c", "text": "STOP THE PRESSES NOW"}]
    src = make_docs(tmp_path, rows)
    args = ["filter", str(src), "-o", str(tmp_path / "kept"), "-w", "1", "--filters", "shouting,language",
            "--allow-empty"]  # some sources lose every document here
    r = runner.invoke(cli.app, [*args, "--max-upper-ratio", "0.6"])
    assert r.exit_code == 0, r.output
    manifest = json.loads((tmp_path / "kept/manifest.json").read_text())
    assert manifest["config"]["filters"] == ["shouting", "language"]
    assert manifest["config"]["settings"]["shouting"] == {"max_upper_ratio": 0.6}
    rejected = {row["id"]: row for row in read_parts(tmp_path / "kept/rejected")}
    assert rejected["loud"]["reason"] == "shouting:upper_ratio 1.0"
    # the language filter is not special-cased: it annotates what an earlier filter removed
    assert rejected["loud"]["language"] is not None and rejected["loud"]["language_score"] is not None
    assert all(row["upper_ratio"] is not None for row in read_parts(tmp_path / "kept"))


def test_config_file_sets_derived_options_by_flag_or_field_name(tmp_path):
    src = make_docs(tmp_path, stage_rows())
    config = tmp_path / "llmkit.toml"
    config.write_text('[filter]\nmin_doc_words = 5\ndup-para-frac = 0.5\nlanguages = "en,de"\nno-c4 = 1\n')
    r = run_cli("--config", config, "filter", src, "-o", tmp_path / "kept", cwd=tmp_path)
    assert_one_line_error(r, "unknown option 'no-c4' in [filter]", "min-doc-words", "dup-para-frac")
    config.write_text('[filter]\nmin_doc_words = 5\ndup-para-frac = 0.5\nlanguages = "en,de"\n')
    r = run_cli("--config", config, "filter", src, "-o", tmp_path / "kept", "-w", "1", "--min-doc-words", "7", "--allow-empty")
    assert r.returncode == 0, r.stderr
    settings = json.loads((tmp_path / "kept/manifest.json").read_text())["config"]["settings"]
    assert settings["gopher_quality"]["min_doc_words"] == 7  # the flag overrides the config file
    assert settings["gopher_repetition"]["dup_para_frac"] == 0.5
    assert settings["language"]["languages"] == ["en", "de"]
    assert settings["gopher_quality"]["max_doc_words"] == 100_000  # the field's default


@pytest.mark.parametrize(
    "args, fragments",
    [
        (["--language-threshold", "high"], ["Invalid value for '--language-threshold'"]),
        (["--min-doc-words", "1.5"], ["Invalid value for '--min-doc-words'"]),
        (["--dup-5-gram"], ["'--dup-5-gram' requires an argument"]),
        (["--c4-terminal-punct=yes"], ["--c4-terminal-punct"]),
    ],
)
def test_bad_threshold_values_end_with_one_line(tmp_path, args, fragments):
    src = make_docs(tmp_path, stage_rows())
    r = run_cli("filter", src, "-o", tmp_path / "kept", *args, cwd=tmp_path)
    assert_one_line_error(r, *fragments)
    assert not (tmp_path / "kept").exists()


def test_bad_threshold_value_in_a_config_file_is_one_line(tmp_path):
    src = make_docs(tmp_path, stage_rows())
    config = tmp_path / "llmkit.toml"
    config.write_text('[filter]\nmin-doc-words = "many"\n')
    r = run_cli("--config", config, "filter", src, "-o", tmp_path / "kept", cwd=tmp_path)
    assert_one_line_error(r, "bad value for 'min-doc-words' in [filter]")
