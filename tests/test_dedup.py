"""`llmkit dedup`: MinHash signatures, clustering, the stage end to end, its bad inputs and faults."""

from __future__ import annotations

import json
import os
import random
import re
import signal
import subprocess
import sys
import time

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO, assert_one_line_error, run_cli
from datasketch import MinHash

from llmkit.artifacts import ArtifactWriter, open_artifact, partial_path
from llmkit.data import minhash
from llmkit.data.dedup import connected_components, read_ids, run_dedup
from llmkit.data.shards import reason_key
from llmkit.errors import UserError
from llmkit.parquet import ParquetPartWriter

WORDS = (
    "river stone market winter lantern copper meadow harbor violet engine paper garden silver thunder "
    "orchard candle marble forest ribbon planet saddle mirror velvet anchor bridge cotton falcon glacier"
).split()


def text(rng: random.Random, n: int = 120) -> str:
    return " ".join(rng.choice(WORDS) + str(rng.randrange(1000)) for _ in range(n))


def edit(t: str, rng: random.Random, k: int) -> str:
    words = t.split()
    for i in rng.sample(range(len(words)), k):
        words[i] = "edited" + str(i)
    return " ".join(words)


def make_docs(path, parts: list[list[dict]], kind="docs", schema=None):
    with ArtifactWriter(path, kind=kind, stage="filter") as w:
        for i, rows in enumerate(parts):
            with ParquetPartWriter(w.part_path(i), schema) as part:
                part.write(rows)
        w.commit(counts={"rows": sum(map(len, parts))})
    return path


def labelled_corpus():
    """Originals, exact copies (case/punctuation changed), near copies (2 of 120 words edited),
    and unrelated documents, in three parts, each copy after its original.
    Returns (parts, {removed id: (exact|near, kept id)})."""
    rng = random.Random(7)
    docs, removed = [], {}
    for i in range(12):
        base = text(rng)
        docs.append({"id": f"orig{i}", "url": f"https://a.example/{i}", "text": base, "language": "en"})
        if i < 4:
            docs.append({"id": f"exact{i}", "url": "u", "text": base.upper() + " !!", "language": "en"})
            removed[f"exact{i}"] = ("exact", f"orig{i}")
        elif i < 8:
            docs.append({"id": f"near{i}", "url": "u", "text": edit(base, rng, 2), "language": "en"})
            removed[f"near{i}"] = ("near", f"orig{i}")
    docs.append({"id": "empty1", "url": "u", "text": "", "language": "en"})
    docs.append({"id": "empty2", "url": "u", "text": " ... ", "language": "en"})  # empty once normalised
    removed["empty2"] = ("exact", "empty1")
    third = len(docs) // 3
    return [docs[:third], docs[third : 2 * third], docs[2 * third :]], removed


def read_rows(path):
    art = open_artifact(path)
    return [r for b in art.iter_batches() for r in b.to_pylist()], [
        r for f in art.rejected_parts() for r in pq.read_table(f).to_pylist()
    ]


# ------------------------------------------------------------------------------------ signatures


def test_normalize_text_follows_fineweb_rules():
    assert minhash.normalize_text("Hello,   World!\n\tIt's 2024 — 3.14") == b"hello world it s 0 0"
    assert minhash.normalize_text("Café DÉJÀ-VU naïve") == b"cafe deja vu naive"
    assert minhash.normalize_text(" ... ") == b""
    # FineWeb's numbers: a digit run with at most one decimal part (. or ,) is one 0, in any script
    assert minhash.normalize_text("1,000,000 v2 x86 2.0.1 007") == b"0 0 v0 x0 0 0 0"
    assert minhash.normalize_text("١٢٣٫٤٥ and ٢٠٢٤ “quoted”") == b"0 and 0 quoted"


def test_normalize_text_ascii_fast_path_equals_the_regex_rules():
    # FineWeb's order: lowercase, numbers -> 0, then punctuation (here: every non-word character) -> space
    def reference(s: str) -> bytes:
        s = re.sub(r"\d+(?:[.,]\d+)?", "0", s.lower())
        return " ".join(re.sub(r"[\W_]+", " ", s).split()).encode()

    rng = random.Random(0)
    for _ in range(2000):
        s = "".join(rng.choice("aZ0123456789 _-..,,!?\t\n\x1f'\"#") for _ in range(40))
        assert minhash.normalize_text(s) == reference(s), s
        # the Unicode path agrees too
        assert minhash.normalize_text(s + " é") == (minhash.normalize_text(s) + b" e").lstrip(), s


def test_signatures_equal_datasketch_minhash_bit_for_bit():
    docs = [b"one two three four five six seven", b"a b", b"", b"x " * 3000, b"solo"]
    hashes, counts = minhash.shingle_hashes(docs, 5)
    assert counts.tolist() == [3, 1, 0, 2996, 1]
    hasher = minhash.MinHasher(minhash.permutations(112, seed=3))
    hasher.BLOCK = 1000  # force the block and long-document paths
    sig = hasher.signatures(docs)
    hasher.MAX_BYTES = 40  # hash a few documents at a time: the same signatures
    assert np.array_equal(hasher.signatures(docs), sig)
    ends = np.cumsum(counts)
    for i in range(len(docs)):
        m = MinHash(num_perm=112, seed=3, hashfunc=int, scheme="affine32")
        m.update_batch([int(h) for h in hashes[ends[i] - counts[i] : ends[i]]])
        assert np.array_equal(m.hashvalues, sig[i]), i
    # a shingle's hash depends only on its words, not on where it sits
    a, _ = minhash.shingle_hashes([b"q r s one two three four five"], 5)
    b, _ = minhash.shingle_hashes([b"one two three four five"], 5)
    assert a[-1] == b[0]


def test_estimated_jaccard_tracks_true_jaccard():
    rng = random.Random(1)
    hasher = minhash.MinHasher(minhash.permutations())
    base = minhash.normalize_text(text(rng, 400))
    for k in (0, 20, 60):
        other = minhash.normalize_text(edit(base.decode(), rng, k))
        s = set(zip(*[base.split()[i:] for i in range(5)], strict=False))
        o = set(zip(*[other.split()[i:] for i in range(5)], strict=False))
        true = len(s & o) / len(s | o)
        sig = hasher.signatures([base, other])
        assert abs(minhash.estimated_jaccard(sig[0], sig[1]) - true) < 0.15, (k, true)


def test_lsh_params_and_band_hashes():
    assert minhash.lsh_params(0.8) == tuple(minhash.lsh_params(0.8))
    b, r = minhash.lsh_params(0.5)
    assert b * r <= 112 and (1 / b) ** (1 / r) < 0.6
    sig = np.arange(2 * 112, dtype=np.uint32).reshape(2, 112)
    sig[1, :8] = sig[0, :8]  # same first band only
    bands = minhash.band_hashes(sig, 14, 8)
    assert bands.shape == (2, 14) and bands[0, 0] == bands[1, 0]
    assert (bands[0, 1:] != bands[1, 1:]).all()


def test_connected_components_match_a_graph_search():
    rng = np.random.default_rng(0)
    for n, m in [(1, 0), (10, 0), (50, 30), (200, 150), (300, 1000)]:
        pairs = rng.integers(0, n, size=(2, m))
        labels = connected_components(n, pairs)
        adjacency = {i: set() for i in range(n)}
        for u, v in pairs.T:
            adjacency[u].add(v)
            adjacency[v].add(u)
        for start in range(n):  # the label is the smallest node reachable
            seen, stack = {start}, [start]
            while stack:
                for nxt in adjacency[stack.pop()] - seen:
                    seen.add(nxt)
                    stack.append(nxt)
            assert labels[start] == min(seen)


# ------------------------------------------------------------------------------------ the stage


def test_dedup_removes_exact_and_near_duplicates_and_explains_each(tmp_path):
    parts, expected = labelled_corpus()
    src = make_docs(tmp_path / "kept", parts)
    stats = run_dedup([src], tmp_path / "unique", {"note": "from test"}, workers=1, show_progress=False)
    kept, rejected = read_rows(tmp_path / "unique")
    n = sum(map(len, parts))
    assert {r["id"] for r in rejected} == set(expected)
    assert len(kept) + len(rejected) == n
    for r in rejected:
        kind, dup_of = expected[r["id"]]
        assert r["dup_of"] == dup_of
        if kind == "exact":
            assert r["reason"] == f"dedup:exact_dup {dup_of}" and r["similarity"] == 1.0
        else:
            assert r["reason"] == f"dedup:near_dup {dup_of} {r['similarity']:.2f}"
            assert 0.7 < r["similarity"] < 1.0
        # the reason's key is the funnel's: counting reasons gives the funnel's numbers
        assert reason_key(r["reason"]) == f"dedup:{kind}_dup"
        assert r["language"] == "en" and r["url"]  # every input column carried through
    by_id = {r["id"]: r for r in kept}
    assert by_id["orig0"]["minhash_cluster_size"] == 2 and by_id["orig11"]["minhash_cluster_size"] == 1
    assert {r["minhash_cluster"] for r in rejected} <= {r["minhash_cluster"] for r in kept}
    assert [next(iter(step["removed"])) for step in stats["funnel"]] == ["dedup:exact_dup", "dedup:near_dup"]
    assert stats["funnel"] == [
        {"step": "dedup_exact", "in": n, "out": n - 5, "removed": {"dedup:exact_dup": 5}},
        {"step": "dedup_near", "in": n - 5, "out": n - 9, "removed": {"dedup:near_dup": 4}},
    ]
    assert stats["clusters"]["clusters"] == 9 and stats["clusters"]["cluster_sizes"]["2"] == 9
    manifest = json.loads((tmp_path / "unique" / "manifest.json").read_text())
    assert manifest["config"]["note"] == "from test" and manifest["config"]["bands"] == 14
    assert manifest["counts"] == {"rows": n - 9, "rejected": 9, "parts": 3}
    assert sorted(os.listdir(tmp_path / "unique")) == [
        "manifest.json",
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
        "rejected",
    ]  # fmt: skip  (no signature work files left behind)


def test_kept_document_is_the_first_in_input_order_across_parts(tmp_path):
    rng = random.Random(3)
    base = text(rng)
    parts = [
        [{"id": "z-late", "url": "u", "text": "unrelated " + text(rng)}],
        [{"id": "b", "url": "u", "text": edit(base, rng, 1)}, {"id": "a", "url": "u", "text": base}],
    ]
    run_dedup([make_docs(tmp_path / "in", parts)], tmp_path / "out", workers=1, show_progress=False)
    kept, rejected = read_rows(tmp_path / "out")
    assert [r["id"] for r in kept] == ["z-late", "b"] and [r["dup_of"] for r in rejected] == ["b"]
    assert kept[1]["minhash_cluster"] == 1  # the input position of the cluster's kept document


def test_verify_drops_candidate_pairs_below_the_threshold(tmp_path):
    rng = random.Random(5)
    base = text(rng)
    parts = [[{"id": "a", "url": "u", "text": base}, {"id": "b", "url": "u", "text": edit(base, rng, 12)}]]
    src = make_docs(tmp_path / "in", parts)
    # 28 bands x 4 rows flags pairs near Jaccard 0.5-0.6 almost surely; --verify at 0.9 then drops it.
    loose = run_dedup([src], tmp_path / "loose", bands=28, rows=4, workers=1, show_progress=False)
    assert loose["docs_out"] == 1
    strict = run_dedup(
        [src],
        tmp_path / "strict",
        bands=28,
        rows=4,
        threshold=0.9,
        verify=True,
        workers=1,
        show_progress=False,
    )
    assert strict["docs_out"] == 2 and strict["clusters"]["pairs_dropped_by_verify"] == 1


def test_local_pool_and_single_process_give_identical_parts(tmp_path):
    parts, _ = labelled_corpus()
    src = make_docs(tmp_path / "in", parts)
    run_dedup([src], tmp_path / "one", workers=1, show_progress=False)
    run_dedup([src], tmp_path / "two", workers=2, show_progress=False)
    assert read_rows(tmp_path / "one") == read_rows(tmp_path / "two")


def test_empty_input_gives_an_empty_valid_artifact(tmp_path):
    schema = pa.schema([("id", pa.string()), ("url", pa.string()), ("text", pa.string())])
    src = make_docs(tmp_path / "in", [[]], schema=schema)
    stats = run_dedup([src], tmp_path / "out", workers=1, show_progress=False)
    assert stats["docs_in"] == 0 and stats["docs_out"] == 0
    art = open_artifact(tmp_path / "out", kinds=["docs"])
    assert art.num_rows() == 0 and "minhash_cluster" in art.schema().names
    assert pq.read_schema(art.rejected_parts()[0]).field("dup_of").type == pa.string()


def test_ids_are_gathered_without_the_2_gib_string_limit(tmp_path):
    # All ids of a run are read into one array: `large_string` (64-bit offsets), where `string` would
    # overflow past 2 GiB of ids. The artifact's own columns stay `string`.
    paths = []
    for i, ids in enumerate([["a", "bb"], [], ["ccc"]]):
        paths.append(str(tmp_path / f"sig-{i}.parquet"))
        pq.write_table(pa.table({"id": pa.array(ids, pa.string())}), paths[-1])
    ids = read_ids(paths)
    assert ids.type == pa.large_string() and ids.to_pylist() == ["a", "bb", "ccc"]


def test_duplicate_ids_are_a_user_error_and_leave_nothing(tmp_path):
    rows = [{"id": "same", "url": "u", "text": "a b c"}]
    src = make_docs(tmp_path / "in", [rows, rows])
    with pytest.raises(UserError, match="duplicate document ids.*'same' appears 2 times"):
        run_dedup([src], tmp_path / "out", workers=1, show_progress=False)
    assert not (tmp_path / "out").exists() and not partial_path(tmp_path / "out").exists()


def test_cli_dedup_prints_the_funnel_and_refuses_bad_input_in_one_line(tmp_path):
    parts, _ = labelled_corpus()
    src = make_docs(tmp_path / "kept", parts)
    r = run_cli("dedup", src, "-o", tmp_path / "unique", "--workers", "1")
    assert r.returncode == 0, r.stderr
    assert "dedup_near" in r.stdout and "9 duplicate clusters" in r.stdout
    assert "S-curve midpoint (1/bands)^(1/rows) = 0.719" in r.stdout and "cut-off" not in r.stdout
    # with --verify, the cut-off is shown apart from the curve's midpoint
    options = ["--bands", "14", "--rows", "8", "--threshold", "0.8", "--verify", "-w", "1"]
    r = run_cli("dedup", src, "-o", tmp_path / "verified", *options)
    assert r.returncode == 0, r.stderr
    assert "midpoint (1/bands)^(1/rows) = 0.719); --verify cut-off 0.8" in r.stdout
    r = run_cli("dedup", src, "-o", tmp_path / "unique")
    assert_one_line_error(r, "already exists", "--force")
    dup = make_docs(tmp_path / "dup", [[{"id": "x", "url": "u", "text": "t"}] * 2])
    r = run_cli("dedup", dup, "-o", tmp_path / "bad")
    assert_one_line_error(r, "duplicate document ids", "'x'")
    assert not (tmp_path / "bad").exists() and not partial_path(tmp_path / "bad").exists()


def test_bad_inputs_and_options_are_user_errors_that_leave_nothing(tmp_path):
    parts, _ = labelled_corpus()
    src = make_docs(tmp_path / "kept", parts)
    notext = make_docs(tmp_path / "notext", [[{"id": "x", "url": "u"}]])
    noid = make_docs(tmp_path / "noid", [[{"id": None, "url": "u", "text": "t"}]])
    pages = make_docs(tmp_path / "pages", [[{"id": "x", "url": "u", "html": "<p>"}]], kind="pages")
    for inputs, options, message in [
        ([tmp_path / "missing"], {}, "does not exist"),
        ([notext], {}, "no column text"),
        ([noid], {}, "documents with no id"),
        ([pages], {}, "'pages' artifact; expected 'docs'"),
        ([src], {"threshold": 1.5}, "--threshold must be"),
        ([src], {"bands": 0}, "--bands must be at least 1"),
        ([src], {"rows": 2000}, "at most 1024 permutations"),
        ([src], {"shingle_size": 0}, "--shingle-size must be at least 1"),
        ([src], {"executor": "spark"}, "--executor must be one of"),
        ([src], {"workers": 0}, "--workers must be at least 1"),  # 0 is not "all cores"
        ([src], {"seed": -1}, "--seed must be between 0 and 4294967295"),
        ([src], {"seed": 2**32}, "--seed must be between 0 and 4294967295"),
        (
            [src],
            {"threshold": 0.8, "rows": 8},
            "--threshold with --bands/--rows does nothing without --verify",
        ),
    ]:
        out = tmp_path / "bad"
        with pytest.raises(UserError, match=re.escape(message)):
            run_dedup(inputs, out, **{"workers": 1, "show_progress": False, **options})
        assert not out.exists() and not partial_path(out).exists()


def test_rerun_after_a_kill_gives_identical_output(tmp_path):
    rng = random.Random(11)
    parts = [[{"id": f"p{p}d{i}", "url": "u", "text": text(rng, 300)} for i in range(250)] for p in range(4)]
    src = make_docs(tmp_path / "in", parts)
    run_dedup([src], tmp_path / "clean", workers=1, show_progress=False)

    out = tmp_path / "out"
    # A run killed (SIGKILL) while it writes signatures leaves only out.partial/ behind ...
    proc = subprocess.Popen(
        [sys.executable, "-m", "llmkit", "dedup", str(src), "-o", str(out), "-w", "1"],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    signatures = partial_path(out) / "_work" / "signatures"
    deadline = time.time() + 60
    while time.time() < deadline and proc.poll() is None and not any(signatures.glob("*.parquet")):
        time.sleep(0.01)
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert partial_path(out).exists() and not out.exists()
    # ... and so does one killed later: simulate it with every file it wrote half-written.
    for f in partial_path(out).rglob("*.parquet"):
        f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    r = run_cli("dedup", src, "-o", out, "-w", "1")
    assert r.returncode == 0, r.stderr
    assert not partial_path(out).exists()
    assert read_rows(out) == read_rows(tmp_path / "clean")


def test_executor_ray_without_ray_installed_is_a_one_line_install_hint(tmp_path):
    hide = tmp_path / "no_ray"  # first on PYTHONPATH: a `ray` that fails to import, as if absent
    (hide / "ray").mkdir(parents=True)
    (hide / "ray" / "__init__.py").write_text("raise ImportError(\"No module named 'ray'\")\n")
    parts, _ = labelled_corpus()
    src = make_docs(tmp_path / "in", parts)
    r = run_cli("dedup", src, "-o", tmp_path / "out", "--executor", "ray", env={"PYTHONPATH": str(hide)})
    assert_one_line_error(r, "--executor ray needs Ray", "pip install 'llmkit[ray]'")
    assert not (tmp_path / "out").exists()
