"""End to end on sample_data/: crawl → extract → filter → scrub, and every planted case's fate.

`sample_data/planted.json` lists every response record of the sample crawl with the fate it should
meet. This runs the four stages (2 workers) and checks each record against it: removed by the step
and filter meant for it, or reaching the clean output (pages meant for `llmkit dedup` must pass
all four of these stages), PII strings replaced, declared/undeclared encodings decoded, and C4's
line removals applied.
"""

from __future__ import annotations

import json

import pytest
from conftest import SAMPLE, run_cli
from test_filters import read_parts

from llmkit.data.crawl import run_crawl
from llmkit.data.extract import run_extract
from llmkit.data.filters import run_filter
from llmkit.data.scrub import run_scrub

PLANTED = SAMPLE / "planted.json"
WARCS = sorted(SAMPLE.glob("crawl/*.warc.gz"))

pytestmark = pytest.mark.skipif(
    not PLANTED.is_file() or not WARCS,
    reason="sample_data/ not generated (python sample_data/make_sample_data.py)",
)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    run = tmp_path_factory.mktemp("sample")
    stats = {
        "crawl": run_crawl([str(w) for w in WARCS], run / "pages", workers=2),
        "extract": run_extract([run / "pages"], run / "text", workers=2),
        "filter": run_filter([run / "text"], run / "kept", workers=2),
        "scrub": run_scrub([run / "kept"], run / "clean", workers=2),
    }
    fates = {}
    for stage in ("pages", "text", "kept", "clean"):
        for row in read_parts(run / stage / "rejected"):
            fates[row["url"]] = row["reason"]
    extracted = {row["url"]: row["text"] for row in read_parts(run / "text")}
    clean = {row["url"]: row for row in read_parts(run / "clean")}
    for url in clean:
        fates[url] = "keep"
    return {"run": run, "stats": stats, "fates": fates, "clean": clean, "extracted": extracted}


def planted() -> list[dict]:
    return json.loads(PLANTED.read_text()) if PLANTED.is_file() else []


def fate_matches(expected: str, fate: str) -> bool:
    if expected in ("keep", "pii", "dedup"):  # dedup happens in `llmkit dedup`, not in these stages
        return fate == "keep"
    if expected == "extract":
        return fate.startswith("extract:")
    if expected.startswith("filter:"):
        return fate.startswith(expected.removeprefix("filter:") + ":")
    if expected == "crawl:truncated":
        return fate.startswith("crawl:truncated")
    if expected == "crawl:non_html":
        return fate.startswith(("crawl:not_html", "crawl:empty"))  # a redirect has an empty body
    raise AssertionError(f"unknown expected fate {expected}")


def test_every_planted_case_ends_where_it_should(pipeline):
    wrong = []
    for case in planted():
        fate = pipeline["fates"].get(case["url"], "missing")
        if not any(fate_matches(e, fate) for e in [case["expected"], *case.get("also_ok", [])]):
            wrong.append((case["case"], case["expected"], fate, case["url"]))
    assert not wrong, "\n".join(map(str, wrong))


def test_pii_is_replaced_and_non_pii_lookalikes_are_kept(pipeline):
    cases = [c for c in planted() if c["expected"] == "pii"]
    assert cases
    for case in cases:
        text = pipeline["clean"][case["url"]]["text"]
        for kind, values in case["pii"].items():
            for value in values:
                if kind in ("ipv4_private", "cards_luhn_invalid"):
                    assert value in text, (kind, value)
                else:
                    assert value not in text, (kind, value, case["url"])
    assert pipeline["stats"]["scrub"]["pii"]["email"] >= 6


def test_encodings_are_decoded_and_c4_lines_removed(pipeline):
    for case in planted():
        if case.get("must_contain"):  # some are non-English pages: check the extracted text
            text = pipeline["extracted"][case["url"]]
            for snippet in case["must_contain"]:
                assert snippet in text, (case["case"], snippet)
        for line in case.get("c4_removed_lines", []):
            assert line not in pipeline["clean"][case["url"]]["text"]


def test_stats_funnels_and_inspect(pipeline):
    crawl = pipeline["stats"]["crawl"]
    assert crawl["source_errors"] == {"truncated": 1}
    assert crawl["records"]["response"] == len(planted())
    steps = [s["step"] for s in pipeline["stats"]["filter"]["funnel"]]
    assert steps == ["url", "language", "gopher_repetition", "gopher_quality", "c4", "fineweb"]
    r = run_cli("inspect", pipeline["run"] / "kept", "--rows", "1")
    assert r.returncode == 0, r.stderr
    assert "funnel" in r.stdout and "language:de" in r.stdout and "rejected/" in r.stdout
