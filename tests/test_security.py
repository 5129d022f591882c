"""Security (issue 9): what llmkit reads cannot run code, exhaust memory, reach other URL schemes,
or write outside the directories the user named.

(a) weights load only through safetensors or torch.load(weights_only=True): a trainer state that
    would run code when unpickled is refused, and no code path unpickles arbitrary objects;
(b) WARC and gzip readers bound the decompressed size of a record (the shard-level bounds are in
    test_crawl.py; here the real command, with bombs far larger than its cap);
(c) HTTP reading accepts only http(s), redirects included;
(d) names derived from data never escape a directory: manifest inputs, tensor names.
"""

from __future__ import annotations

import ast
import http.server
import json
import random
import re
import shutil
import socket
import subprocess
import sys
import threading
import uuid
import zlib
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import torch
from conftest import REPO, assert_one_line_error, make_checkpoint, make_tokenizer, run_cli
from test_crawl import good_records, http_response, warc_record

from llmkit.artifacts import ArtifactWriter, partial_path
from llmkit.checkpoint_files import open_checkpoint
from llmkit.errors import UserError
from llmkit.parquet import ParquetPartWriter

MB = 1 << 20


def tree(root: Path) -> set[str]:
    """Every path under `root`, relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


# --------------------------------------------------------------------------------------- (a) unpickling


class WritesMarker:
    """Unpickling this calls open(marker, "w"): a stand-in for any code an attacker would run."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


TINY = dict(n_layers=1, d_model=32, n_heads=2, n_kv_heads=1, ffn_hidden=64, seq_len=32)
TINY_FLAGS = [f"--{k.replace('_', '-')}={v}" for k, v in TINY.items()]
TRAIN_FLAGS = ["--batch-size=2", "--eval-tokens=0", "--eval-every=0", "--precision=fp32", "--device=cpu"]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """A tokenizer, a tokens artifact and a finished 1-step pretraining run (with its trainer state)."""
    from llmkit.tokenize import tokenize_docs
    from llmkit.train.common import TrainConfig
    from llmkit.train.pretrain import run_pretrain

    root = tmp_path_factory.mktemp("security")
    make_tokenizer(root / "tk")
    tokens = root / "tokens"
    tokenize_docs(root / "tk" / "text.txt", root / "tk" / "tokenizer", tokens, threads=1, show_progress=False)
    cfg = TrainConfig(
        batch_size=2, max_steps=1, eval_every=0, checkpoint_every=1, precision="fp32", device="cpu", threads=1
    )
    run_pretrain(tokens, root / "base", "tiny", TINY, cfg, eval_tokens=0, show_progress=False)
    return root


def plant_evil_state(ckpt: Path, marker: Path) -> Path:
    """Replace the checkpoint's trainer_state/state.pt by one whose unpickling would create `marker`."""
    state = ckpt / "trainer_state" / "state.pt"
    good = torch.load(state, map_location="cpu", weights_only=True)
    torch.save({**good, "optimizer": WritesMarker(marker)}, state)
    return state


def test_the_planted_payload_is_live_when_unpickled_unsafely(run, tmp_path):
    # the control: the same file read with weights_only=False does run the payload
    ckpt = shutil.copytree(run / "base", tmp_path / "ckpt")
    marker = tmp_path / "pwned"
    state = plant_evil_state(ckpt, marker)
    torch.load(state, map_location="cpu", weights_only=False)
    assert marker.exists()


def test_checkpoint_trainer_state_refuses_pickled_code(run, tmp_path):
    ckpt = shutil.copytree(run / "base", tmp_path / "ckpt")
    marker = tmp_path / "pwned"
    plant_evil_state(ckpt, marker)
    with pytest.raises(UserError, match="cannot be loaded safely"):
        open_checkpoint(ckpt).trainer_state()
    assert not marker.exists()


def test_resume_from_a_step_checkpoint_with_pickled_code_ends_with_one_line(run, tmp_path):
    out = tmp_path / "base"
    step = shutil.copytree(run / "base", tmp_path / "base.checkpoints" / "step-00000001")
    marker = tmp_path / "pwned"
    plant_evil_state(step, marker)
    r = run_cli(
        "pretrain",
        run / "tokens",
        "-o",
        out,
        "--resume",
        "--max-steps=2",
        *TINY_FLAGS,
        *TRAIN_FLAGS,
        cwd=tmp_path,
    )
    assert_one_line_error(r, "state.pt", "cannot be loaded safely")
    assert not marker.exists()
    assert not out.exists() and not partial_path(out).exists()


def _calls(tree_: ast.AST):
    for node in ast.walk(tree_):
        if isinstance(node, ast.Call):
            f = node.func
            name = f.attr if isinstance(f, ast.Attribute) else f.id if isinstance(f, ast.Name) else ""
            owner = f.value.id if isinstance(f, ast.Attribute) and isinstance(f.value, ast.Name) else ""
            yield node, owner, name


def unsafe_loads(source: str) -> list[str]:
    """Calls in `source` that can unpickle arbitrary objects: torch.load without weights_only=True,
    pickle/cloudpickle/dill/joblib loads, numpy loads with allow_pickle=True, pandas read_pickle."""
    found = []
    for node, owner, name in _calls(ast.parse(source)):
        kw = {k.arg: k.value for k in node.keywords}
        where = f"line {node.lineno}: {owner + '.' if owner else ''}{name}"
        if owner == "torch" and name == "load":
            wo = kw.get("weights_only")
            if not (isinstance(wo, ast.Constant) and wo.value is True):
                found.append(where)
        elif owner in ("pickle", "cloudpickle", "dill", "joblib", "_pickle") and name in ("load", "loads"):
            found.append(where)
        elif name in ("Unpickler", "read_pickle"):
            found.append(where)
        elif owner in ("np", "numpy") and name == "load":
            ap = kw.get("allow_pickle")
            if (
                isinstance(ap, ast.Constant)
                and ap.value is True
                or (ap is not None and not isinstance(ap, ast.Constant))
            ):
                found.append(where)
    return found


def test_the_unsafe_load_scanner_finds_what_it_should():
    bad = (
        "import torch, pickle, numpy as np\n"
        "torch.load('a')\ntorch.load('a', weights_only=False)\ntorch.load('a', weights_only=flag)\n"
        "pickle.load(f)\npickle.loads(b)\nnp.load('x', allow_pickle=True)\n"
    )
    assert len(unsafe_loads(bad)) == 6
    assert unsafe_loads("import torch\ntorch.load('a', map_location='cpu', weights_only=True)\n") == []


def test_no_code_path_unpickles_arbitrary_objects():
    files = [p for d in ("llmkit", "benchmarks", "sample_data") for p in (REPO / d).rglob("*.py")]
    assert any(p.name == "checkpoint_files.py" for p in files)
    problems = {str(p.relative_to(REPO)): hits for p in files if (hits := unsafe_loads(p.read_text()))}
    assert problems == {}
    # and the one place that reads trainer_state does so with weights_only=True
    assert "weights_only=True" in (REPO / "llmkit" / "checkpoint_files.py").read_text()


# --------------------------------------------------------------------------------------- (b) bombs


def zeros_gzip(n: int, prefix: bytes = b"", suffix: bytes = b"") -> bytes:
    """One gzip member that inflates to prefix + n zero bytes + suffix (built without holding n bytes)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    parts, zero = [c.compress(prefix)], bytes(MB)
    parts += [c.compress(zero) for _ in range(n // MB)]
    parts += [c.compress(suffix), c.flush()]
    return b"".join(parts)


def test_crawl_skips_warc_and_http_gzip_bombs_with_a_reason_in_bounded_memory(tmp_path):
    n = 256 * MB
    # an HTTP payload with Content-Encoding: gzip that inflates to 256 MB
    http_bomb = warc_record(
        "http://example.com/http-bomb",
        http_response(zeros_gzip(n), "text/html", "Content-Encoding: gzip\r\n"),
    )
    # a WARC record whose own gzip member inflates to a 256 MB (identity-encoded) page
    http_head = f"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {n}\r\n\r\n".encode()
    warc_head = (
        "WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://example.com/warc-bomb\r\n"
        f"WARC-Date: 2024-03-01T12:00:00Z\r\nWARC-Record-ID: <urn:uuid:{uuid.uuid4()}>\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(http_head) + n}\r\n\r\n"
    ).encode()
    warc_bomb = zeros_gzip(n, warc_head + http_head, b"\r\n\r\n")
    warc = tmp_path / "bombs.warc.gz"
    warc.write_bytes(b"".join([*good_records("before", 1), http_bomb, warc_bomb, *good_records("after", 1)]))
    assert warc.stat().st_size < 2 * MB
    out = tmp_path / "pages"
    # the command runs under a parent that reports the peak RSS of everything it waited for
    measure = (
        "import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)"
    )
    cmd = [
        sys.executable,
        "-m",
        "llmkit",
        "crawl",
        warc,
        "-o",
        out,
        "--max-record-bytes",
        str(MB),
        "--workers",
        "1",
    ]
    r = subprocess.run(
        [sys.executable, "-c", measure, *map(str, cmd)], capture_output=True, text=True, timeout=300
    )
    assert r.returncode == 0, r.stderr
    peak_mb = int(r.stdout.rsplit("PEAK_KB", 1)[1].split()[0]) / 1024
    assert peak_mb < n / MB, f"peak RSS {peak_mb:.0f} MB for {n // MB} MB bombs"  # bounded: not one bomb held
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["stats"]["funnel"][0]["removed"] == {"crawl:too_large": 2}
    assert manifest["counts"]["rows"] == 2  # the pages before and after the bombs are kept


# --------------------------------------------------------------------------------------- (c) URL schemes


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://127.0.0.1/crawl.warc.gz", "FILE:///etc/hostname", "data://text/plain,x"],
)
def test_crawl_reads_only_http_urls(tmp_path, url):
    r = run_cli("crawl", url, "-o", tmp_path / "pages", cwd=tmp_path)
    assert_one_line_error(r, "only http:// and https://", url)
    assert list(tmp_path.iterdir()) == []


def test_common_crawl_base_url_must_be_http(tmp_path):
    # a listing that file:// would happily read
    listing = tmp_path / "cc" / "crawl-data" / "CC-MAIN-2024-10" / "warc.paths.gz"
    listing.parent.mkdir(parents=True)
    warc = tmp_path / "w.warc.gz"
    warc.write_bytes(b"".join(good_records("p", 2)))
    import gzip

    listing.write_bytes(gzip.compress(f"{warc}\n".encode()))
    r = run_cli(
        "crawl", "--cc-crawl", "CC-MAIN-2024-10", "--cc-base-url", f"file://{tmp_path / 'cc'}",
        "-o", tmp_path / "pages", cwd=tmp_path,
    )  # fmt: skip
    assert_one_line_error(r, "only http:// and https://", "file://")
    assert not (tmp_path / "pages").exists() and not partial_path(tmp_path / "pages").exists()


def test_http_redirect_to_another_scheme_is_refused_without_connecting(tmp_path):
    # an FTP "server" that records whether anyone connected
    ftp = socket.create_server(("127.0.0.1", 0))
    ftp.settimeout(0.2)
    ftp_port = ftp.getsockname()[1]
    connections = []

    def accept():
        while not stop.is_set():
            try:
                conn, _ = ftp.accept()
            except OSError:
                continue
            connections.append(1)
            conn.close()

    class Redirect(http.server.BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            self.send_response(302)
            self.send_header("Location", f"ftp://127.0.0.1:{ftp_port}/crawl.warc.gz")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Redirect)
    stop = threading.Event()
    threads = [threading.Thread(target=server.serve_forever, daemon=True), threading.Thread(target=accept)]
    for t in threads:
        t.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/crawl.warc.gz"
        r = run_cli("crawl", url, "-o", tmp_path / "pages", cwd=tmp_path, timeout=120)
    finally:
        server.shutdown()
        stop.set()
        threads[1].join()
        ftp.close()
        server.server_close()
    assert_one_line_error(r, "redirects to", "ftp://")
    assert connections == []
    assert not (tmp_path / "pages").exists() and not partial_path(tmp_path / "pages").exists()


# --------------------------------------------------------------------------------------- (d) names


def write_docs(out: Path, rows: list[dict], inputs=()) -> Path:
    with ArtifactWriter(out, kind="docs", stage="test", inputs=inputs) as w:
        with ParquetPartWriter(w.part_path(0)) as part:
            part.write(rows)
        w.commit(counts={"rows": len(rows)})
    return out


ENGLISH = (
    "The committee met on Tuesday to discuss the new library building, and after a long debate the members "
    "agreed that the reading room should face the park because the morning light is softer there.\n"
)


def test_manifest_input_paths_that_climb_out_are_never_read_as_data_nor_written(tmp_path):
    # sandbox/a/b/c is the working directory; "../../etc" from there is sandbox/a/etc, which holds a
    # docs artifact with rows that must never show up downstream
    sandbox = tmp_path / "sandbox"
    cwd = sandbox / "a" / "b" / "c"
    cwd.mkdir(parents=True)
    write_docs(sandbox / "a" / "etc", [{"id": "secret", "url": "http://evil/", "text": "SECRET " * 50}])
    words = ENGLISH.split()
    rows = [  # three different documents: the words of ENGLISH in three orders
        {"id": f"d{i}", "url": f"http://ok/{i}", "text": " ".join(random.Random(i).sample(words, len(words)))}
        for i in range(3)
    ]
    docs = write_docs(cwd / "docs", rows[:2])
    # a second part whose file name is odd: output names must come from part indexes, not from it
    odd = docs / "..; rm -rf ~ ..parquet"
    pq.write_table(pa.Table.from_pylist(rows[2:]), odd)
    manifest = json.loads((docs / "manifest.json").read_text())
    manifest["inputs"] = [
        {"path": "../../etc", "kind": "docs", "fingerprint": "sha256:0"},
        {"path": "../../../../../../../../etc/passwd", "kind": "file", "fingerprint": "sha256:0"},
        {"path": "/", "kind": "tokens", "fingerprint": "sha256:0"},
    ]
    (docs / "manifest.json").write_text(json.dumps(manifest))
    before = tree(tmp_path)

    r = run_cli("inspect", "docs", "--json", cwd=cwd)
    assert r.returncode == 0, r.stderr
    assert "SECRET" not in r.stdout
    r = run_cli("dedup", "docs", "-o", "unique", cwd=cwd)
    assert r.returncode == 0, r.stderr
    r = run_cli("scrub", "unique", "-o", "clean", cwd=cwd)
    assert r.returncode == 0, r.stderr

    # nothing was written anywhere but the two outputs the user named
    added = tree(tmp_path) - before
    assert added and all(p.startswith(("sandbox/a/b/c/unique", "sandbox/a/b/c/clean")) for p in added), added
    # the data is docs/ and only docs/, and lineage records the real input, not the manifest's claims
    parts = sorted((cwd / "clean").glob("*.parquet"))
    assert [p.name for p in parts] == ["part-00000.parquet", "part-00001.parquet"]
    ids = sorted(i for p in parts for i in pq.read_table(p, columns=["id"]).column("id").to_pylist())
    assert ids == ["d0", "d1", "d2"]
    clean = json.loads((cwd / "clean" / "manifest.json").read_text())
    assert [Path(i["path"]) for i in clean["inputs"]] == [(cwd / "unique").resolve()]
    for stage in ("unique", "clean"):
        names = {str(p.relative_to(cwd / stage)) for p in (cwd / stage).rglob("*")}
        assert all(re.fullmatch(r"manifest\.json|(rejected/?)?(part-\d{5}\.parquet)?", n) for n in names), (
            names
        )


def test_export_with_path_like_tensor_names_writes_only_inside_out(tmp_path):
    from safetensors.torch import load_file, save_file

    tok = make_tokenizer(tmp_path / "tk")
    ckpt = tmp_path / "ckpt"
    make_checkpoint(ckpt, tok, **TINY)
    weights = load_file(ckpt / "model.safetensors")
    evil = ["../../escaped", "../escaped.safetensors", "/tmp/llmkit-escaped", "a/../../b"]
    save_file({**weights, **{name: torch.zeros(2) for name in evil}}, ckpt / "model.safetensors")
    work = tmp_path / "work"
    work.mkdir()
    before = tree(tmp_path)

    r = run_cli("export", ckpt, work / "hf", cwd=work)
    added = tree(tmp_path) - before
    assert added and all(p.startswith("work/hf/") or p == "work/hf" for p in added), added
    assert not Path("/tmp/llmkit-escaped").exists()
    assert r.returncode == 0, r.stderr
    # the odd names are keys inside the one weights file, never paths
    assert sorted(p.name for p in (work / "hf").iterdir()) == [
        "config.json", "generation_config.json", "model.safetensors", "special_tokens_map.json",
        "tokenizer.json", "tokenizer_config.json",
    ]  # fmt: skip
    exported = load_file(work / "hf" / "model.safetensors")
    assert {f"model.{name}" for name in evil} <= set(exported)
