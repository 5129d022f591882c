"""The `llmkit` command: one Typer command per pipeline stage.

Each command parses its options, calls the stage's one public function, and prints a rich summary.
Shape, the same for every stage: `llmkit STAGE INPUT... --out DIR [options]`.

`--config FILE.toml` supplies defaults per stage (a table per command, e.g. `[filter]`); flags on
the command line override them, and the resolved values go into the artifact's manifest.
"""

from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape

# typer (>= 0.29) vendors its own click: its usage errors are these classes, not the `click` package's
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer.core import TyperGroup

from llmkit import __version__
from llmkit.defaults import STAGE_DEFAULTS, stage_default
from llmkit.errors import Terminated, UserError

console = Console()
err_console = Console(stderr=True)

app = typer.Typer(
    name="llmkit",
    help="Build a language model end to end: crawl, curate, tokenize, pretrain, post-train, evaluate.",
    rich_markup_mode="rich",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

Out = Annotated[Path, typer.Option("--out", "-o", help="Output artifact directory.", show_default=False)]
Force = Annotated[bool, typer.Option("--force", help="Overwrite the output if it exists.")]


def _version(value: bool) -> None:
    if value:
        console.print(f"llmkit {__version__}")
        raise typer.Exit()


def load_config_file(path: Path, group: TyperGroup, ctx: typer.Context) -> dict[str, dict]:
    """Read a TOML config into click's default_map: {command: {parameter name: value}}.

    A table per command; a key is an option's flag name (`max-pii`, `json`) or its parameter name,
    with dashes or underscores. Unknown tables, unknown options and values the flag would refuse are
    errors here, so a typo never silently falls back to the default.
    """
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8-sig"))  # a BOM (Notepad) is dropped
    except FileNotFoundError as e:
        raise UserError(f"config file {path} does not exist") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"config file {path} is not valid TOML: {e}") from e
    tables = {}
    for stage, table in data.items():
        if not isinstance(table, dict):
            raise UserError(f"{path}: '{stage}' must be a table like [{stage}]")
        command = group.get_command(ctx, stage)
        if command is None:
            known = ", ".join(sorted(group.list_commands(ctx)))
            raise UserError(f"{path}: unknown command [{stage}] (commands: {known})")
        options = config_keys(command)
        tables[stage] = {}
        for key, value in table.items():
            param = options.get(key.replace("_", "-"))
            if param is None:
                names = ", ".join(sorted({flag_name(p) for p in options.values()}))
                raise UserError(f"{path}: unknown option '{key}' in [{stage}] (options: {names})")
            if param.multiple and not isinstance(value, list):
                value = [value]  # `label = "a"` for a repeatable option
            try:
                param.process_value(ctx, value)  # the same conversion the flag goes through
            except typer.BadParameter as e:
                raise UserError(f"{path}: bad value for '{key}' in [{stage}]: {e.message}") from e
            tables[stage][param.name] = value
    return tables


def flag_name(param) -> str:
    """An option's long flag without dashes, e.g. `max-pii` for --max-pii."""
    return next((o[2:] for o in param.opts if o.startswith("--")), param.name.replace("_", "-"))


def config_keys(command) -> dict:
    """Each option of a command under every key a config may use: flag and parameter name, dashed."""
    keys = {}
    for param in command.params:
        if param.param_type_name == "option":  # positional arguments come from the command line
            for name in (param.name, flag_name(param)):
                keys[name.replace("_", "-")] = param
    return keys


@app.callback()
def main_options(
    ctx: typer.Context,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="TOML file with a table of defaults per command.")
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show full tracebacks for errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """Build a language model end to end: crawl, curate, tokenize, pretrain, post-train, evaluate."""
    if config is not None:
        ctx.default_map = load_config_file(config, ctx.command, ctx)


def resolved_config(ctx: typer.Context, exclude: tuple[str, ...] = ("out", "force")) -> dict:
    """The command's effective options (config file merged with flags), for the manifest."""
    return {k: v for k, v in ctx.params.items() if k not in exclude}


def refuse_existing(out: Path, force: bool) -> None:
    """A single-file output (a plot, a report) is never overwritten without --force, like an artifact."""
    if out.exists() and not force:
        raise UserError(f"{out} already exists; pass --force to overwrite it")


def check_positive(**values: float | int | None) -> None:
    """One clear error for a size or count option that must be > 0."""
    for name, value in values.items():
        if value is not None and value <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be greater than 0 (got {value})")


# Stage commands, in pipeline order (`llmkit --help` lists them in this order). Each section belongs
# to one area; add a stage's command inside its area's section.

# --------------------------------------------------------------------------------------- data: crawl, extract, filter, scrub


Workers = Annotated[
    int | None, typer.Option("--workers", "-w", help="Parallel shard tasks (default: all cores).")
]
Executor = Annotated[
    str, typer.Option("--executor", help="Where shard tasks run: local (process pool) or ray.")
]
RayAddress = Annotated[
    str | None,
    typer.Option("--ray-address", help="Ray cluster to join with --executor ray (default: start one)."),
]
DocsInputs = Annotated[
    list[Path], typer.Argument(help="docs artifacts (or Parquet files/folders with id, url, text).")
]
# The loud funnel (llmkit/data/loud_funnel.py): a source that loses too much ends the stage with exit 3.
MaxRejectFraction = Annotated[
    float,
    typer.Option(
        "--max-reject-fraction",
        help="Warn and exit 3 when one source (input file, WARC, page source) loses more than this "
        "fraction of its records; a source that keeps nothing always does.",
    ),
]
AllowEmpty = Annotated[
    bool,
    typer.Option(
        "--allow-empty", help="Accept sources that lost all (or too many) records: warn, but exit 0."
    ),
]


def print_funnel(stats: dict, out: Path, rate: str = "docs/s") -> None:
    """The stage summary every curation command prints: in → out per step and reason, and the rate."""
    from rich.table import Table

    table = Table(title=f"{out}")
    for col in ("step", "in", "out", "removed", "reason"):
        table.add_column(col, justify="left" if col in ("step", "reason") else "right")
    for step in stats["funnel"]:
        reasons = step["removed"] or {"": 0}
        for i, (reason, n) in enumerate(sorted(reasons.items(), key=lambda kv: -kv[1])):
            first = i == 0
            table.add_row(
                step["step"] if first else "",
                f"{step['in']:,}" if first else "",
                f"{step['out']:,}" if first else "",
                f"{n:,}" if reason else "0",
                reason,
            )
    speed = stats.get("docs_per_s") or stats.get("pages_per_s")
    table.caption = f"{stats.get('seconds', 0):.2f} s" + (f", {speed:,.1f} {rate}" if speed else "")
    console.print(table)


@app.command()
def crawl(
    ctx: typer.Context,
    inputs: Annotated[
        list[str] | None,
        typer.Argument(
            help="WARC / WARC.gz / ARC / ARC.gz files, folders, globs, or http(s):// URLs (streamed).",
            show_default=False,
        ),
    ] = None,
    out: Out = ...,
    cc_crawl: Annotated[
        str | None, typer.Option("--cc-crawl", help="A Common Crawl crawl id, e.g. CC-MAIN-2024-10.")
    ] = None,
    cc_files: Annotated[
        int, typer.Option("--cc-files", help="How many WARC files of --cc-crawl to stream.")
    ] = 1,
    cc_base_url: Annotated[
        str, typer.Option("--cc-base-url", help="Where Common Crawl's crawl-data/ lives.")
    ] = "https://data.commoncrawl.org",
    max_record_bytes: Annotated[
        int,
        typer.Option("--max-record-bytes", help="Payload bytes read per record; larger records are skipped."),
    ] = 10 * 1024 * 1024,
    pages_per_part: Annotated[
        int,
        typer.Option(
            "--pages-per-part",
            help="Pages per output part: a big WARC becomes several shards for the later stages.",
        ),
    ] = 250,
    workers: Workers = None,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    max_reject_fraction: MaxRejectFraction = 1.0,
    allow_empty: AllowEmpty = False,
    force: Force = False,
) -> None:
    """Read WARC files, URLs or a Common Crawl crawl into a `pages` artifact of decoded HTML.

    Keeps `response` records with HTML payloads (by HTTP Content-Type, WARC-Identified-Payload-Type
    or sniffing), decoded by declared charset, then detection, then replacement characters. Other
    responses go to rejected/ with a reason; truncated or non-WARC inputs are counted, not fatal,
    but a source that gives no page is named in a warning and the command exits 3 (--allow-empty).
    Bodies stored already decoded under a Content-Encoding header are kept and counted.

    Example:

        llmkit crawl sample_data/crawl/*.warc.gz -o runs/demo/pages
        llmkit crawl --cc-crawl CC-MAIN-2024-10 --cc-files 2 -o runs/cc/pages
    """
    from llmkit.data.crawl import run_crawl

    check_positive(cc_files=cc_files, max_record_bytes=max_record_bytes, workers=workers)
    stats = run_crawl(
        inputs or [],
        out,
        resolved_config(ctx),
        cc_crawl=cc_crawl,
        cc_files=cc_files,
        cc_base_url=cc_base_url,
        max_record_bytes=max_record_bytes,
        pages_per_part=pages_per_part,
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        force=force,
        max_reject_fraction=max_reject_fraction,
        allow_empty=allow_empty,
    )
    print_funnel(stats, out, rate="pages/s")
    records = ", ".join(f"{n:,} {t}" for t, n in sorted(stats["records"].items()))
    console.print(f"WARC records: {records or 'none'}")
    if stats["content_encoding_mismatch"]:
        console.print(
            f"content_encoding_mismatch: {stats['content_encoding_mismatch']:,} bodies were stored already "
            "decoded under their Content-Encoding header (kept as they are)"
        )
    for source, problems in stats["sources_with_errors"].items():
        console.print(f"[yellow]{escape(source)}[/]: {escape('; '.join(problems))}")
    for source, line in stats["warcio_warnings"].items():
        console.print(f"[yellow]{escape(source)}[/]: {escape(line)}")


@app.command()
def extract(
    ctx: typer.Context,
    inputs: Annotated[list[Path], typer.Argument(help="pages artifacts (from `llmkit crawl`).")],
    out: Out,
    timeout: Annotated[
        float,
        typer.Option(
            "--timeout",
            help="CPU seconds allowed per page; slower pages are rejected (0: no limit). "
            "datatrove allows 1 s of wall-clock time.",
        ),
    ] = 5.0,
    extractor: Annotated[
        str,
        typer.Option(
            "--extractor",
            help="trafilatura (precision mode, as FineWeb), trafilatura-fast (no fallback "
            "extractors), or resiliparse (DCLM's; C++, much faster per page, keeps a little more "
            "boilerplate).",
        ),
    ] = "trafilatura",
    workers: Workers = None,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    max_reject_fraction: MaxRejectFraction = 1.0,
    allow_empty: AllowEmpty = False,
    force: Force = False,
) -> None:
    """Extract each page's main text with trafilatura (precision mode, no comments), as FineWeb did,
    or with trafilatura's fast mode or Resiliparse (`--extractor`).

    Pages with no main text, an extraction error or over --timeout go to rejected/ with the reason.

    Example:

        llmkit extract runs/demo/pages -o runs/demo/text
    """
    from llmkit.data.extract import run_extract

    check_positive(workers=workers)
    stats = run_extract(
        inputs,
        out,
        resolved_config(ctx),
        timeout=timeout,
        extractor=extractor,
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        force=force,
        max_reject_fraction=max_reject_fraction,
        allow_empty=allow_empty,
    )
    print_funnel(stats, out)


# `llmkit filter`'s filter settings are not declared here: each is a dataclass field of a filter class
# in llmkit.data.filters (its default and help next to the rule that uses it), and this decorator
# makes one option of each, so a new filter or threshold needs no CLI change. typer builds options
# from a function's signature, so the settings become keyword-only parameters of that signature; the
# config file (`config_keys`) and the manifest (`resolved_config`) see them like any other option.
THRESHOLDS_PANEL = "Thresholds (default: FineWeb)"


def with_filter_settings(command):
    """Replace `command`'s `**settings` with one option per setting of every filter in FILTERS;
    typer then calls it with their values in `settings`."""
    from inspect import Parameter, Signature, signature
    from typing import get_type_hints

    from llmkit.data.filters import FILTERS, settings_of

    # eval_str: this module's annotations are strings (__future__), and typer reads the signature as set
    params = signature(command, eval_str=True).parameters.values()
    own = [p for p in params if p.kind != Parameter.VAR_KEYWORD]
    derived = []
    for cls in FILTERS.values():
        types = get_type_hints(cls)  # the fields' types, evaluated (filters.py uses __future__ too)
        derived += [_threshold(cls.name, setting, types[setting.name]) for setting in settings_of(cls)]
    command.__signature__ = Signature([*own, *derived])  # a name in two filters fails here, at import
    return command


def _threshold(filter_name: str, setting, type_):
    """A filter setting as a keyword-only parameter for typer: `--flag` (`--flag/--no-flag` for a
    bool), the field's default as the option's, and its help prefixed with the filter's name."""
    from inspect import Parameter

    flag = setting.metadata.get("flag") or setting.name.replace("_", "-")
    default, callback = setting.default, None
    if setting.metadata.get("file"):
        type_, callback = Path | None, _path_as_str
    elif getattr(type_, "__origin__", None) is tuple:  # a list of codes, given as --languages en,de
        type_, default, callback = str, ",".join(default), _comma_separated
    option = typer.Option(
        f"--{flag}/--no-{flag}" if type_ is bool else f"--{flag}",
        help=escape(f"{filter_name}: {setting.metadata.get('help', '')}"),  # plain text, not rich markup
        callback=callback,
        rich_help_panel=THRESHOLDS_PANEL,
    )
    annotation = Annotated[type_, option]
    return Parameter(setting.name, Parameter.KEYWORD_ONLY, annotation=annotation, default=default)


def _path_as_str(value: Path | None) -> str | None:
    """A file setting reaches the filter, and the JSON manifest, as a string."""
    return None if value is None else str(value)


def _comma_separated(value: str) -> list[str]:
    return [item.strip() for item in value.split(",") if item.strip()]


@app.command("filter")
@with_filter_settings
def filter_docs(
    ctx: typer.Context,
    inputs: DocsInputs,
    out: Out,
    filters: Annotated[
        str, typer.Option("--filters", help="Filters to apply, in order (comma-separated).")
    ] = "url,language,gopher_repetition,gopher_quality,c4,fineweb",
    workers: Workers = None,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    max_reject_fraction: MaxRejectFraction = 1.0,
    allow_empty: AllowEmpty = False,
    force: Force = False,
    **settings,
) -> None:
    """Filter documents through the FineWeb chain: URL, fastText language ID, Gopher, C4, FineWeb.

    Every removed document goes to rejected/ with its reason and measured value (e.g.
    `language:de 0.97`); `language` and `language_score` are written for every document.

    Defaults reproduce the FineWeb paper's run. datatrove's current defaults differ: its language
    list is None (all languages), it counts distinct stop words, it uses a large Unicode set of
    end-of-line punctuation and `<` for the punctuated-line ratio; here: `--languages en`, stop-word
    occurrences, `. ' " ! ?` and `<=`, and a language score >= 0.65 keeps a document. The URL
    filter ships a small built-in word list, not the UT1 blocklist: pass --url-blocklist for that.

    Example:

        llmkit filter runs/demo/text -o runs/demo/kept --languages en --language-threshold 0.65
    """
    from llmkit.data.filters import run_filter, settings_from_options

    check_positive(workers=workers)
    stats = run_filter(
        inputs,
        out,
        # the filter settings go into the manifest resolved, per filter, under config.settings
        {k: v for k, v in resolved_config(ctx).items() if k not in settings},
        filters=_comma_separated(filters),
        settings=settings_from_options(settings),
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        force=force,
        max_reject_fraction=max_reject_fraction,
        allow_empty=allow_empty,
    )
    print_funnel(stats, out)


@app.command()
def scrub(
    ctx: typer.Context,
    inputs: DocsInputs,
    out: Out,
    max_pii: Annotated[
        int | None,
        typer.Option("--max-pii", help="Move documents with more PII replacements than this to rejected/."),
    ] = None,
    workers: Workers = None,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    max_reject_fraction: MaxRejectFraction = 1.0,
    allow_empty: AllowEmpty = False,
    force: Force = False,
) -> None:
    """Replace e-mail addresses, public IPs, phone numbers and Luhn-valid card numbers with placeholders.

    Placeholders are fixed: <EMAIL>, <IP>, <PHONE>, <CARD>. Counts per type go in the manifest.

    Example:

        llmkit scrub runs/demo/unique -o runs/demo/clean --max-pii 20
    """
    from llmkit.data.scrub import run_scrub

    check_positive(workers=workers)
    stats = run_scrub(
        inputs,
        out,
        resolved_config(ctx),
        max_pii=max_pii,
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        force=force,
        max_reject_fraction=max_reject_fraction,
        allow_empty=allow_empty,
    )
    print_funnel(stats, out)
    console.print("PII replaced: " + ", ".join(f"{n:,} {kind}" for kind, n in stats["pii"].items()))


# (end of data: crawl, extract, filter, scrub)

# --------------------------------------------------------------------------------------- data: dedup


@app.command()
def dedup(
    ctx: typer.Context,
    inputs: DocsInputs,
    out: Out,
    shingle_size: Annotated[int, typer.Option("--shingle-size", help="Words per shingle.")] = 5,
    bands: Annotated[int | None, typer.Option("--bands", help="LSH bands (default 14).")] = None,
    rows: Annotated[int | None, typer.Option("--rows", help="Permutations per band (default 8).")] = None,
    threshold: Annotated[
        float | None,
        typer.Option(
            "--threshold",
            help="Target Jaccard similarity: sets --bands/--rows (unless given, then it needs --verify); "
            "the --verify cut-off.",
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the MinHash permutations (0 to 2**32-1).")] = 1,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Drop candidate pairs whose estimated Jaccard is below the threshold."),
    ] = False,
    workers: Workers = None,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    force: Force = False,
) -> None:
    """Remove exact and MinHash near-duplicate documents (FineWeb: 5-gram shingles, 14 bands x 8 rows).

    Example:

        llmkit dedup runs/demo/kept -o runs/demo/unique
        llmkit dedup runs/demo/kept -o runs/demo/unique --threshold 0.8 --verify --executor ray
    """
    from llmkit.data.dedup import run_dedup

    check_positive(workers=workers)
    stats = run_dedup(
        inputs,
        out,
        resolved_config(ctx),
        shingle_size=shingle_size,
        bands=bands,
        rows=rows,
        threshold=threshold,
        seed=seed,
        verify=verify,
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        force=force,
    )
    print_funnel(stats, out)
    c, lsh = stats["clusters"], stats["lsh"]
    console.print(
        f"{c['clusters']:,} duplicate clusters ({c['docs_in_clusters']:,} docs, largest {c['largest_cluster']:,}), "
        f"{c['candidate_pairs']:,} candidate pairs; LSH {lsh['bands']} bands × {lsh['rows']} rows "
        f"(S-curve midpoint (1/bands)^(1/rows) = {lsh['midpoint']})"
        + (f"; --verify cut-off {lsh['threshold']}" if verify else "")
    )


# (end of data: dedup)

# --------------------------------------------------------------------------------------- data: decontaminate


@app.command()
def decontaminate(
    ctx: typer.Context,
    inputs: DocsInputs,
    out: Out,
    against: Annotated[
        list[Path],
        typer.Option(
            "--against",
            help="Evaluation task files (a published layout or llmkit's own), or folders of them; repeatable.",
            show_default=False,
        ),
    ],
    ngram: Annotated[int, typer.Option("--ngram", help="Words per n-gram (13: GPT-3, lm-eval).")] = 13,
    workers: Workers = None,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    max_reject_fraction: MaxRejectFraction = 1.0,
    allow_empty: AllowEmpty = False,
    force: Force = False,
) -> None:
    """Remove documents that share a word n-gram with an evaluation item (its question and answer).

    Texts are normalised as dedup normalises them; removed documents go to rejected/ with the task and
    the matched n-gram; the manifest counts them per task.

    Example:

        llmkit decontaminate runs/demo/unique --against data/eval -o runs/demo/decontaminated
    """
    from llmkit.data.decontaminate import run_decontaminate

    check_positive(workers=workers)
    stats = run_decontaminate(
        inputs,
        out,
        against,
        resolved_config(ctx),
        ngram=ngram,
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        force=force,
        max_reject_fraction=max_reject_fraction,
        allow_empty=allow_empty,
    )
    print_funnel(stats, out)
    console.print(
        "contaminated documents per task: "
        + ", ".join(
            f"{task} {c['docs']:,} ({c['ngrams']:,} {ngram}-grams)"
            for task, c in stats["contamination"].items()
        )
    )


# (end of data: decontaminate)

# --------------------------------------------------------------------------------------- retrieval: index, search

Retrieve = Annotated[
    Path | None,
    typer.Option(
        "--retrieve",
        help="An index artifact (llmkit index): put its top passages for each question in the context.",
        show_default=False,
    ),
]
# not --top-k: generate and chat already use it for sampling
RetrieveK = Annotated[int, typer.Option("--retrieve-k", help="Passages --retrieve puts in the context.")]

# tool use (llmkit/tools.py): generate, chat, eval, grpo, ppo
Tools = Annotated[
    str | None,
    typer.Option(
        "--tools",
        help="Tools the model may call: built-in names (calculator) and .toml/.json files of tool "
        "schemas bound to module:function, comma-separated.",
        show_default=False,
    ),
]
MaxToolCalls = Annotated[
    int, typer.Option("--max-tool-calls", help="With --tools: tool calls one answer may make.", min=0)
]


@app.command()
def index(
    ctx: typer.Context,
    inputs: Annotated[
        list[Path], typer.Argument(help="docs artifacts, Parquet files/folders or JSONL files with id, url, text.")
    ],
    out: Out,
    passage_words: Annotated[
        int, typer.Option("--passage-words", help="At most this many words per passage (whole lines packed).")
    ] = stage_default("index", "passage_words"),
    overlap: Annotated[
        int, typer.Option("--overlap", help="Words shared by consecutive windows of a line longer than a passage.")
    ] = stage_default("index", "overlap"),
    workers: Workers = None,
    executor: Executor = "local",
    ray_address: RayAddress = None,
    force: Force = False,
) -> None:
    """Split documents into passages and build a BM25 index (bm25s) to search and to ground answers in.

    Writes passages/ (Parquet: passage_id, doc_id, url, text), bm25/ (the score matrix as .npy and
    .json files any machine can memory-map) and the manifest (documents, passages, vocabulary).

    Example:

        llmkit index runs/demo/clean -o runs/demo/index
        llmkit index sample_data/grounded/docs.jsonl -o runs/grounded/index --passage-words 80
    """
    from rich.table import Table

    from llmkit.data.index import run_index

    check_positive(workers=workers)
    manifest = run_index(
        inputs, out, resolved_config(ctx), passage_words=passage_words, overlap=overlap, workers=workers,
        executor=executor, ray_address=ray_address, force=force,
    )  # fmt: skip
    counts, stats = manifest["counts"], manifest["stats"]
    table = Table(title=f"index → {out}", show_header=False)
    table.add_row("documents", f"{counts['documents']:,}")
    table.add_row("passages", f"{counts['passages']:,}")
    table.add_row("vocabulary", f"{counts['vocabulary']:,} words")
    table.add_row("time", f"{stats['seconds']:.2f} s ({stats['passages_per_s'] or 0:,.0f} passages/s)")
    console.print(table)


@app.command()
def search(
    index_path: Annotated[Path, typer.Argument(metavar="INDEX", help="An index artifact (llmkit index).")],
    query: Annotated[str, typer.Argument(help="What to search for.")],
    k: Annotated[int, typer.Option("--k", "-k", help="Passages to show.")] = stage_default("retrieval", "k"),
    as_json: Annotated[bool, typer.Option("--json", help="Print the hits as JSON lines (for scripts).")] = False,
) -> None:
    """Search an index: the top passages with their BM25 scores and urls, matched words highlighted.

    Example:

        llmkit search runs/demo/index "how to keep basil fresh" -k 3
        llmkit search runs/demo/index "basil" --json | jq .url
    """
    import json
    import re
    from dataclasses import asdict

    from rich.table import Table
    from rich.text import Text

    from llmkit.retrieval import open_index, query_words

    check_positive(k=k)
    hits = open_index(index_path).search(query, k)
    if as_json:
        for hit in hits:
            print(json.dumps(asdict(hit), ensure_ascii=False))
        return
    if not hits:
        console.print(f"no passage contains any of the words {', '.join(query_words(query))}")
        return
    table = Table(title=f"{escape(query)} — {index_path}", show_lines=True)
    for col in ("#", "score", "passage"):
        table.add_column(col, justify="right" if col != "passage" else "left")
    pattern = r"(?i)\b(" + "|".join(map(re.escape, query_words(query))) + r")\b"
    for hit in hits:
        text = Text(f"{hit.url or hit.doc_id}\n", style="cyan") + Text(hit.text)
        text.highlight_regex(pattern, style="bold yellow")
        table.add_row(str(hit.rank), f"{hit.score:.3f}", text)
    console.print(table)


# (end of retrieval: index, search)

# --------------------------------------------------------------------------------------- tokenizer


DocsValFraction = Annotated[
    float,
    typer.Option(
        "--val-fraction",
        help="Share of documents (chosen by a hash of their id) held out for validation.",
    ),
]
TextValTailFraction = Annotated[
    float,
    typer.Option(
        "--val-tail-fraction",
        help="For a plain text file (one document): the share of characters at its end held out.",
    ),
]


@app.command("train-tokenizer")
def train_tokenizer(
    ctx: typer.Context,
    docs: Annotated[
        Path,
        typer.Argument(help="A docs artifact, a Parquet file/folder with a 'text' column, or a text file."),
    ],
    out: Out,
    vocab_size: Annotated[
        int, typer.Option("--vocab-size", help="Tokens in the vocabulary: 7 special + 256 bytes + merges.")
    ] = 32768,
    max_chars: Annotated[
        int | None, typer.Option("--max-chars", help="Train on at most this many characters (default: all).")
    ] = None,
    val_fraction: DocsValFraction = 0.05,
    val_tail_fraction: TextValTailFraction = 0.1,
    digits: Annotated[
        str,
        typer.Option(
            "--digits",
            help="How numbers split before BPE: groups (GPT-4's, up to 3 digits per token) or single "
            "(one digit per token, as Llama and PaLM: easier for a small model to copy and compute on).",
        ),
    ] = stage_default("train-tokenizer", "digits"),
    force: Force = False,
) -> None:
    """Train a byte-level BPE tokenizer (GPT-4-style split, chat special tokens) on documents.

    Trains on the train split only (the documents `tokenize` puts in train with the same fractions)
    and reports compression (bytes per token) on held-out validation text.

    Example:

        llmkit train-tokenizer runs/demo/clean -o runs/demo/tokenizer --vocab-size 4096
        llmkit train-tokenizer runs/demo/clean -o runs/demo/tokenizer --vocab-size 4096 --digits single
    """
    from rich.table import Table

    from llmkit.tokenize import train_tokenizer as run

    stats = run(
        docs,
        out,
        vocab_size=vocab_size,
        max_chars=max_chars,
        val_fraction=val_fraction,
        val_tail_fraction=val_tail_fraction,
        digits=digits,
        config=resolved_config(ctx),
        force=force,
    )
    table = Table(title=f"tokenizer → {out}", show_header=False)
    bpt = stats["heldout_bytes_per_token"]
    short = f"; asked for {vocab_size:,}: no pairs left" if stats["vocab_size"] < vocab_size else ""
    for name, value in [
        ("vocab size", f"{stats['vocab_size']:,} ({stats['merged_tokens']:,} merged tokens)" + short),
        ("training text", f"{stats['training_docs']:,} docs, {stats['training_chars']:,} chars"),
        ("training time", f"{stats['training_s']:.2f} s ({stats['training_s_per_mb']:.2f} s/MB)"),
        (
            "held-out bytes/token",
            f"{bpt:.3f} on {stats['heldout_chars']:,} chars" if bpt else "no held-out text",
        ),
        ("digits", "one per token" if stats["digits"] == "single" else "groups of up to 3"),
        ("encoder", stats["encoder"]),
    ]:
        table.add_row(name, value)
    console.print(table)


@app.command()
def tokenize(
    ctx: typer.Context,
    docs: Annotated[
        Path,
        typer.Argument(help="A docs artifact, a Parquet file/folder with a 'text' column, or a text file."),
    ],
    tokenizer: Annotated[
        Path, typer.Argument(help="A tokenizer artifact (or any folder with tokenizer.json).")
    ],
    out: Out,
    val_fraction: DocsValFraction = 0.05,
    val_tail_fraction: TextValTailFraction = 0.1,
    threads: Annotated[
        int | None, typer.Option("--threads", help="Encoding threads (default: all cores).")
    ] = None,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Documents encoded per batch.")] = 1024,
    force: Force = False,
) -> None:
    """Encode documents into train/val token shards (each document's ids, then <|endoftext|>).

    Example:

        llmkit tokenize runs/demo/clean runs/demo/tokenizer -o runs/demo/tokens
    """
    from rich.table import Table

    from llmkit.tokenize import tokenize_docs

    check_positive(batch_size=batch_size, threads=threads)
    stats = tokenize_docs(
        docs,
        tokenizer,
        out,
        val_fraction=val_fraction,
        val_tail_fraction=val_tail_fraction,
        threads=threads,
        batch_size=batch_size,
        config=resolved_config(ctx),
        force=force,
    )
    table = Table(title=f"tokens → {out}")
    for col in ("split", "documents", "tokens", "bytes/token"):
        table.add_column(col, justify="left" if col == "split" else "right")
    for name, s in stats["splits"].items():
        bpt = f"{s['bytes_per_token']:.3f}" if s["bytes_per_token"] else "-"
        table.add_row(name, f"{s['documents']:,}", f"{s['tokens']:,}", bpt)
    table.caption = (
        f"{stats['mb_per_s']:.1f} MB/s on {stats['threads']} threads ({stats['encoder']}), "
        f"vocab {stats['vocab_size']:,}"
    )
    console.print(table)


# (end of tokenizer)

# --------------------------------------------------------------------------------------- pretrain, generate, chat

Checkpoint = Annotated[
    Path, typer.Argument(help="A checkpoint artifact (from pretrain, sft, ...).", show_default=False)
]
MaxNewTokens = Annotated[int, typer.Option("--max-new-tokens", "-n", help="Tokens to generate at most.")]
Temperature = Annotated[float, typer.Option("--temperature", "-t", help="Sampling temperature; 0 = greedy.")]
TopK = Annotated[int, typer.Option("--top-k", help="Sample from the k most likely tokens only; 0 = off.")]
TopP = Annotated[
    float, typer.Option("--top-p", help="Sample from the smallest set with this much probability; 1 = off.")
]
Seed = Annotated[int, typer.Option("--seed", help="Random seed.")]
Device = Annotated[str, typer.Option("--device", help="auto (GPU if available), cpu, cuda or cuda:N.")]
# The training options pretrain and every post-training command share.
Nproc = Annotated[
    int, typer.Option("--nproc", help="Train with this many DistributedDataParallel processes here.")
]
Resume = Annotated[
    bool, typer.Option("--resume", help="Continue an unfinished run at OUT from its last checkpoint.")
]
Threads = Annotated[
    int | None,
    typer.Option(
        "--threads", help="CPU threads per process (default: cores / processes).", show_default=False
    ),
]


def _size_option(flag: str, help: str):
    return Annotated[
        int | None, typer.Option(flag, help=f"{help} (default: the preset's).", show_default=False)
    ]


@app.command()
def pretrain(
    ctx: typer.Context,
    tokens: Annotated[
        Path, typer.Argument(help="A tokens artifact (from `llmkit tokenize`).", show_default=False)
    ],
    out: Out,
    preset: Annotated[
        str, typer.Option("--preset", "-p", help="Model size: tiny, small, base, medium, large.")
    ] = stage_default("pretrain", "preset"),
    n_layers: _size_option("--n-layers", "Transformer blocks") = None,
    d_model: _size_option("--d-model", "Model width") = None,
    n_heads: _size_option("--n-heads", "Attention heads") = None,
    n_kv_heads: _size_option("--n-kv-heads", "Key/value heads (grouped-query attention)") = None,
    ffn_hidden: _size_option("--ffn-hidden", "SwiGLU hidden size") = None,
    seq_len: _size_option("--seq-len", "Context length in tokens") = None,
    dropout: Annotated[
        float | None,
        typer.Option("--dropout", help="Dropout while training (default: 0).", show_default=False),
    ] = None,
    tie_embeddings: Annotated[
        bool | None,
        typer.Option(
            "--tie-embeddings/--untie-embeddings",
            help="Share the input embedding and LM head (default: the preset's).",
            show_default=False,
        ),
    ] = None,
    n_experts: Annotated[
        int | None,
        typer.Option(
            "--experts",
            help="Mixture of experts: this many SwiGLU experts of --ffn-hidden each per layer (≥ 2; default: a dense MLP).",
            show_default=False,
        ),
    ] = None,
    experts_per_token: Annotated[
        int | None,
        typer.Option("--experts-per-token", help="MoE: experts each token is routed to (default: 2).", show_default=False),
    ] = None,
    router_aux_coef: Annotated[
        float | None,
        typer.Option("--router-aux-coef", help="MoE: weight of the load-balancing loss (default: 0.01).", show_default=False),
    ] = None,
    router_z_coef: Annotated[
        float | None,
        typer.Option("--router-z-coef", help="MoE: weight of the router z-loss (default: 0 = off).", show_default=False),
    ] = None,
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate.")] = stage_default("pretrain", "lr"),
    min_lr_ratio: Annotated[
        float, typer.Option("--min-lr-ratio", help="Final learning rate as a fraction of --lr.")
    ] = 0.1,
    warmup_steps: Annotated[int, typer.Option("--warmup-steps", help="Linear warmup steps.")] = stage_default("pretrain", "warmup_steps"),
    schedule: Annotated[
        str,
        typer.Option("--schedule", help="Decay after warmup: cosine, linear or wsd (warmup-stable-decay)."),
    ] = "cosine",
    decay_fraction: Annotated[
        float, typer.Option("--decay-fraction", help="wsd: the final fraction of the run that decays.")
    ] = 0.2,
    weight_decay: Annotated[
        float, typer.Option("--weight-decay", help="Decoupled weight decay (matmul weights only).")
    ] = 0.1,
    optimizer: Annotated[
        str,
        typer.Option(
            "--optimizer",
            help="adamw, or muon: Muon for the hidden layers' matrices, AdamW for embeddings and gains.",
        ),
    ] = "adamw",
    grad_clip: Annotated[
        float, typer.Option("--grad-clip", help="Clip the gradient norm to this; 0 = off.")
    ] = 1.0,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", help="Sequences per micro-batch, per process.")
    ] = stage_default("pretrain", "batch_size"),
    tokens_per_step: Annotated[
        int | None,
        typer.Option(
            "--tokens-per-step",
            help="Tokens per optimizer step, by gradient accumulation (default: one micro-batch per process).",
            show_default=False,
        ),
    ] = None,
    max_steps: Annotated[
        int | None,
        typer.Option("--max-steps", help="Stop after this many optimizer steps.", show_default=False),
    ] = None,
    max_tokens: Annotated[
        int | None,
        typer.Option("--max-tokens", help="Stop after this many training tokens.", show_default=False),
    ] = None,
    max_time: Annotated[
        float | None,
        typer.Option(
            "--max-time",
            help="Stop after this many seconds; the schedule follows the clock.",
            show_default=False,
        ),
    ] = None,
    precision: Annotated[
        str, typer.Option("--precision", help="auto (bf16 where the hardware has it), bf16 or fp32.")
    ] = "auto",
    compile: Annotated[bool, typer.Option("--compile", help="torch.compile the model.")] = False,
    seed: Seed = 0,
    log_every: Annotated[int, typer.Option("--log-every", help="Log metrics every N steps.")] = stage_default("pretrain", "log_every"),
    eval_every: Annotated[
        int, typer.Option("--eval-every", help="Validate (and sample) every N steps; 0 = at the end only.")
    ] = stage_default("pretrain", "eval_every"),
    eval_tokens: Annotated[
        int, typer.Option("--eval-tokens", help="Validation tokens per evaluation; 0 = no validation.")
    ] = stage_default("pretrain", "eval_tokens"),
    checkpoint_every: Annotated[
        int, typer.Option("--checkpoint-every", help="Save a resumable checkpoint every N steps; 0 = off.")
    ] = 0,
    peak_flops: Annotated[
        float | None,
        typer.Option(
            "--peak-flops",
            help="FLOP/s per device for MFU (default: measured on CPU, datasheet on GPU).",
            show_default=False,
        ),
    ] = None,
    device: Device = "auto",
    threads: Threads = None,
    nproc: Nproc = 1,
    resume: Resume = False,
    force: Force = False,
) -> None:
    """Pretrain a Llama-style transformer on a tokens artifact → a checkpoint.

    Logs loss, learning rate, tokens/s and MFU; validates and samples every --eval-every steps. For
    several processes or GPUs use --nproc N, or run it under torchrun (one process per GPU).

    Example:

        llmkit pretrain runs/demo/tokens -o runs/demo/base --preset tiny --max-steps 300
        llmkit pretrain runs/demo/tokens -o runs/demo/moe --experts 8 --experts-per-token 2 --ffn-hidden 192
        torchrun --nproc-per-node 2 -m llmkit pretrain runs/demo/tokens -o runs/demo/base
    """
    from rich.table import Table

    from llmkit.train.common import TrainConfig
    from llmkit.train.pretrain import run_pretrain

    train_config = TrainConfig(
        lr=lr, min_lr_ratio=min_lr_ratio, warmup_steps=warmup_steps, schedule=schedule, decay_fraction=decay_fraction,
        weight_decay=weight_decay, optimizer=optimizer, grad_clip=grad_clip, batch_size=batch_size,
        tokens_per_step=tokens_per_step, max_steps=max_steps, max_tokens=max_tokens, max_time=max_time,
        precision=precision, compile=compile, seed=seed, log_every=log_every, eval_every=eval_every,
        checkpoint_every=checkpoint_every, peak_flops=peak_flops, device=device, threads=threads,
    )  # fmt: skip
    overrides = dict(
        n_layers=n_layers, d_model=d_model, n_heads=n_heads, n_kv_heads=n_kv_heads, ffn_hidden=ffn_hidden,
        seq_len=seq_len, dropout=dropout, tie_embeddings=tie_embeddings, n_experts=n_experts,
        experts_per_token=experts_per_token, router_aux_coef=router_aux_coef, router_z_coef=router_z_coef,
    )  # fmt: skip
    manifest = run_pretrain(
        tokens, out, preset, overrides, train_config, eval_tokens=eval_tokens, nproc=nproc,
        config=resolved_config(ctx), force=force, resume=resume,
    )  # fmt: skip
    if manifest is None:  # a rank other than 0 under torchrun: rank 0 reports
        return
    s = manifest["stats"]

    def num(value, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    table = Table(title=f"checkpoint → {out}", show_header=False)
    for name, value in [
        ("model", f"{preset}: {s['parameters'] / 1e6:.2f}M parameters ({s['active_parameters'] / 1e6:.2f}M active per token)"),
        ("trained", f"{s['steps']:,} steps, {s['tokens']:,} tokens in {s['train_s']:.1f} s on {s['device']} × {s['world_size']} ({s['precision']})"),
        ("loss", f"train {num(s['final_loss'], '.4f')}, val {num(s['final_val_loss'], '.4f')} nats/token, {num(s['final_val_bpb'], '.4f')} bits/byte"),
        ("throughput", f"{num(s['tokens_per_s'], ',.0f')} tokens/s, MFU {num(s['mfu'], '.1%')} of {num(s['peak_flops'] and s['peak_flops'] / 1e9, ',.0f')} GFLOP/s ({s['peak_flops_source']})"),
    ]:  # fmt: skip
        table.add_row(name, value)
    if s.get("resumed_from_step") is not None:
        table.add_row("resumed", f"from step {s['resumed_from_step']:,}")
    console.print(table)


DistillTemperature = Annotated[
    float, typer.Option("--temperature", help="Softmax temperature T of both distributions in the KL term (> 0).")
]
DistillAlpha = Annotated[
    float, typer.Option("--alpha", help="Weight α of the teacher's soft labels; 1 − α goes to the data's cross-entropy.")
]


def with_pretrain_options(command):
    """Give a command all of `pretrain`'s options (the student's size, the training settings, --nproc,
    --resume, ...; its own arguments aside) with their help and defaults, in place of its `**options`;
    typer then passes their values in `options`. Built as `with_training_options` builds its options."""
    from inspect import Parameter, Signature, signature

    own = [p for p in signature(command, eval_str=True).parameters.values() if p.kind != Parameter.VAR_KEYWORD]
    taken = {p.name for p in own} | {"tokens"}
    borrowed = [
        p.replace(kind=Parameter.KEYWORD_ONLY)
        for p in signature(pretrain, eval_str=True).parameters.values()
        if p.name not in taken
    ]
    command.__signature__ = Signature([*own, *borrowed])
    return command


@app.command()
@with_pretrain_options
def distill(
    ctx: typer.Context,
    teacher: Annotated[
        Path, typer.Argument(help="The teacher: a language-model checkpoint with the tokens' tokenizer.", show_default=False)
    ],
    tokens: Annotated[
        Path, typer.Argument(help="A tokens artifact (from `llmkit tokenize`).", show_default=False)
    ],
    out: Out,
    temperature: DistillTemperature = stage_default("distill", "temperature"),
    alpha: DistillAlpha = stage_default("distill", "alpha"),
    **options,
) -> None:
    """Distil a teacher checkpoint into a fresh, smaller student on a tokens artifact → a checkpoint.

    Loss per token: α · T² · KL(teacher_T ‖ student_T) + (1 − α) · cross-entropy. The teacher runs in
    the same process in inference mode; MFU counts its forward FLOPs with the student's. Every other
    option (the student's --preset and size, schedule, --max-steps, --nproc, --resume) is pretrain's.

    Example:

        llmkit distill runs/demo/base runs/demo/tokens -o runs/demo/student --preset tiny --n-layers 2 --max-steps 300
    """
    from dataclasses import fields

    from llmkit.model import ModelConfig
    from llmkit.train.common import TrainConfig
    from llmkit.train.distill import run_distill

    params = ctx.params
    train_config = TrainConfig(**{f.name: params[f.name] for f in fields(TrainConfig) if f.name in params})
    overrides = {f.name: params[f.name] for f in fields(ModelConfig) if f.name in params}
    manifest = run_distill(
        teacher, tokens, out, options["preset"], overrides, train_config, options["eval_tokens"], temperature, alpha,
        nproc=options["nproc"], config=resolved_config(ctx), force=options["force"], resume=options["resume"],
    )  # fmt: skip
    if manifest is None:  # a rank other than 0 under torchrun: rank 0 reports
        return
    s = manifest["stats"]

    def num(value, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    console.print(
        f"[green]wrote[/] student {out} ({s['parameters'] / 1e6:.2f}M parameters, teacher "
        f"{s['teacher_parameters'] / 1e6:.2f}M): {s['steps']:,} steps, {s['tokens']:,} tokens in {s['train_s']:.1f} s; "
        f"val loss {num(s['final_val_loss'], '.4f')} nats/token (teacher {num(s.get('teacher_val_loss'), '.4f')}), "
        f"MFU {num(s['mfu'], '.1%')} with the teacher's FLOPs"
    )


def _numbers(flag: str, text: str, kind: type) -> list:
    """`--depths 2,3,4` / `--budgets 1e12,3e12` as numbers; anything else is one clear error."""
    try:
        return [kind(float(v)) if kind is int and float(v).is_integer() else kind(v) for v in _comma_separated(text)]
    except ValueError:
        raise UserError(f"{flag} must be comma-separated numbers (got {text!r})") from None


@app.command()
def sweep(
    ctx: typer.Context,
    tokens: Annotated[
        Path, typer.Argument(help="A tokens artifact (from `llmkit tokenize`).", show_default=False)
    ],
    out: Out,
    depths: Annotated[
        str, typer.Option("--depths", help="Model depths to train, e.g. 1,2,3 (d_model = --aspect × depth).", show_default=False)
    ],
    budgets: Annotated[
        str, typer.Option("--budgets", help="Training compute budgets in FLOPs, e.g. 1e11,3e11,1e12.", show_default=False)
    ],
    workers: Annotated[
        int, typer.Option("--workers", "-w", help="Runs trained at a time, each in its own process.")
    ] = stage_default("sweep", "workers"),
    lr: Annotated[float, typer.Option("--lr", help="Peak learning rate of every run.")] = stage_default("sweep", "lr"),
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", help="Sequences per step.")
    ] = stage_default("sweep", "batch_size"),
    seq_len: Annotated[int, typer.Option("--seq-len", help="Context length in tokens.")] = stage_default("sweep", "seq_len"),
    aspect: Annotated[
        int, typer.Option("--aspect", help="Model width per layer: d_model = aspect × depth.")
    ] = stage_default("sweep", "aspect"),
    eval_tokens: Annotated[
        int, typer.Option("--eval-tokens", help="Validation tokens of each run's final evaluation.")
    ] = stage_default("sweep", "eval_tokens"),
    seed: Seed = 0,
    threads: Annotated[
        int | None, typer.Option("--threads", help="CPU threads per run (default: cores / workers).", show_default=False)
    ] = None,
    resume: Annotated[
        bool, typer.Option("--resume", help="Continue a killed sweep: finished runs are not repeated.")
    ] = False,
    force: Force = False,
) -> None:
    """A scaling-law sweep: train each (depth, budget) pair, fit L(C) = E + A·C^(−α) to the frontier.

    Each run's steps are its budget / (FLOPs per token × tokens per step). Writes results.parquet,
    fit.json (with standard errors and R²), table.md and loss_vs_compute.png.

    Example:

        llmkit sweep runs/demo/tokens -o runs/demo/sweep --depths 1,2,3 --budgets 1e11,3e11,1e12,3e12 --workers 2
    """
    from llmkit.train.sweep import fit_line, run_sweep

    manifest = run_sweep(
        tokens, out, _numbers("--depths", depths, int), _numbers("--budgets", budgets, float), workers, lr,
        batch_size, seq_len, aspect, eval_tokens, seed, threads, config=resolved_config(ctx), force=force, resume=resume,
    )  # fmt: skip
    console.print((out / "table.md").read_text(encoding="utf-8"), markup=False, highlight=False)
    console.print(f"[green]wrote[/] sweep {out}: fit {escape(fit_line(manifest['stats']['fit']))}")


@app.command()
def generate(
    ctx: typer.Context,
    checkpoint: Checkpoint,
    prompts: Annotated[
        list[str] | None,
        typer.Argument(
            help="Prompts (default: --prompts-file, else one per line on stdin).", show_default=False
        ),
    ] = None,
    prompts_file: Annotated[
        Path | None,
        typer.Option(
            "--prompts-file",
            "-f",
            help="A text file (a prompt per line) or .jsonl with a 'prompt' per line (text or chat messages).",
            show_default=False,
        ),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", "-o", help="Also write a generations artifact here.", show_default=False),
    ] = None,
    max_new_tokens: MaxNewTokens = 128,
    temperature: Temperature = 0.8,
    top_k: TopK = 0,
    top_p: TopP = 1.0,
    seed: Seed = 0,
    num_samples: Annotated[int, typer.Option("--num-samples", help="Completions per prompt.")] = 1,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", help="Completions generated together.")
    ] = 8,
    chat: Annotated[
        bool, typer.Option("--chat", help="Wrap each text prompt as a user message in the chat template.")
    ] = False,
    no_kv_cache: Annotated[
        bool,
        typer.Option("--no-kv-cache", help="Recompute the whole sequence every step (slow; for checking)."),
    ] = False,
    device: Device = "auto",
    retrieve: Retrieve = None,
    retrieve_k: RetrieveK = stage_default("retrieval", "retrieve_k"),
    tools: Tools = None,
    max_tool_calls: MaxToolCalls = stage_default("tools", "max_tool_calls"),
    force: Force = False,
) -> None:
    """Generate text from a checkpoint, streaming it; optionally write a generations artifact.

    Stops at <|endoftext|> or <|im_end|>, at --max-new-tokens, or at the model's context length.

    Example:

        llmkit generate runs/demo/base "The king" --temperature 0.8 --top-k 50
        llmkit generate runs/demo/sft -f sample_data/prompts.jsonl -o runs/demo/generations --num-samples 2
        llmkit generate runs/grounded/sft "How tall is the Vasso Tower?" --retrieve runs/grounded/index
        llmkit generate runs/tools/sft-tools "What is 4817 * 93?" --tools calculator --temperature 0
    """
    from rich.table import Table

    from llmkit.engine import SamplingConfig
    from llmkit.generate import read_prompts, run_generate

    prompt_list = read_prompts(prompts or [], prompts_file, sys.stdin)
    sampling = SamplingConfig(
        max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed
    )
    stats = run_generate(
        checkpoint, prompt_list, sampling, out_dir=out, num_samples=num_samples, batch_size=batch_size, chat=chat,
        use_kv_cache=not no_kv_cache, stream=sys.stdout, device=device, config=resolved_config(ctx), force=force,
        retrieve=retrieve, retrieve_k=retrieve_k, tools=tools, max_tool_calls=max_tool_calls,
    )  # fmt: skip
    table = Table(title=f"generations{f' → {out}' if out else ''}", show_header=False)
    table.add_row("completions", f"{stats['completions']:,} ({stats['stopped']:,} stopped at an end token)")
    table.add_row(
        "tokens",
        f"{stats['generated_tokens']:,} in {stats['seconds']:.2f} s ({stats['tokens_per_s'] or 0:,.0f} tokens/s)",
    )
    err_console.print(table)


@app.command()
def chat(
    checkpoint: Checkpoint,
    system: Annotated[
        str | None,
        typer.Option("--system", help="A system message that starts every conversation.", show_default=False),
    ] = None,
    max_new_tokens: MaxNewTokens = 256,
    temperature: Temperature = 0.7,
    top_k: TopK = 50,
    top_p: TopP = 1.0,
    seed: Seed = 0,
    device: Device = "auto",
    retrieve: Retrieve = None,
    retrieve_k: RetrieveK = stage_default("retrieval", "retrieve_k"),
    tools: Tools = None,
    max_tool_calls: MaxToolCalls = stage_default("tools", "max_tool_calls"),
) -> None:
    """Chat with a checkpoint in the terminal: replies stream; /reset starts over, /exit quits.

    Reads one message per line, so it also takes piped input.

    Example:

        llmkit chat runs/demo/sft --temperature 0.7
        printf 'Hello!\\n/reset\\nWho are you?\\n' | llmkit chat runs/demo/sft
        llmkit chat runs/grounded/sft --retrieve runs/grounded/index   # sources under each answer
        llmkit chat runs/tools/grpo --tools calculator,my_tools.toml  # calls shown dim
    """
    from llmkit.engine import SamplingConfig
    from llmkit.generate import run_chat

    sampling = SamplingConfig(
        max_new_tokens=max_new_tokens, temperature=temperature, top_k=top_k, top_p=top_p, seed=seed
    )
    run_chat(checkpoint, sampling, system=system, device=device, retrieve=retrieve, retrieve_k=retrieve_k,
             tools=tools, max_tool_calls=max_tool_calls)  # fmt: skip


@app.command()
def serve(
    checkpoint: Checkpoint,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on; 127.0.0.1 (this machine only) unless set.")
    ] = stage_default("serve", "host"),
    port: Annotated[int, typer.Option("--port", "-p", help="Port; 0 = any free one.")] = stage_default(
        "serve", "port"
    ),
    api_key: Annotated[
        str | None,
        typer.Option("--api-key", help="Require 'Authorization: Bearer KEY' on every route but /health.",
                     envvar="LLMKIT_API_KEY", show_default=False),
    ] = None,
    model_name: Annotated[
        str | None,
        typer.Option("--model-name", help="The model id clients ask for (default: the checkpoint folder's name).",
                     show_default=False),
    ] = None,
    max_batch: Annotated[
        int, typer.Option("--max-batch", help="Requests decoding together (continuous batching).")
    ] = stage_default("serve", "max_batch"),
    max_waiting: Annotated[
        int, typer.Option("--max-waiting", help="Requests waiting for a batch row; more get 503.")
    ] = stage_default("serve", "max_waiting"),
    max_tokens: Annotated[
        int, typer.Option("--max-tokens", help="The most new tokens a request may ask for (and its default).")
    ] = stage_default("serve", "max_tokens"),
    timeout: Annotated[
        float, typer.Option("--timeout", help="Seconds a request may generate for (then finish_reason 'length').")
    ] = stage_default("serve", "timeout"),
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", help="Largest request body; larger ones get 413.")
    ] = stage_default("serve", "max_body_bytes"),
    grace: Annotated[
        float, typer.Option("--grace", help="Seconds in-flight requests get to finish on SIGTERM or Ctrl-C.")
    ] = stage_default("serve", "grace"),
    device: Device = "auto",
    threads: Threads = None,
) -> None:
    """Serve a checkpoint over an OpenAI-compatible HTTP API (chat completions, completions, streaming).

    One process: concurrent requests share its decode steps (continuous batching, --max-batch rows),
    using --threads CPU threads (or the GPU). Binds to 127.0.0.1 by default; use --api-key before
    listening on another address. Request log on stdout. Stop it with Ctrl-C or SIGTERM.

    Example:

        llmkit serve runs/demo/sft --port 8000
        curl http://127.0.0.1:8000/v1/chat/completions -H 'Content-Type: application/json' \\
             -d '{"model": "sft", "messages": [{"role": "user", "content": "Hi"}]}'
    """
    from llmkit.serve import ServeConfig, run_serve

    run_serve(checkpoint, ServeConfig(
        host=host, port=port, api_key=api_key, model_name=model_name, max_batch=max_batch, max_waiting=max_waiting,
        max_tokens=max_tokens, timeout=timeout, max_body_bytes=max_body_bytes, grace=grace, device=device,
        threads=threads,
    ))  # fmt: skip


# (end of pretrain, generate, chat, serve)

# --------------------------------------------------------------------------------------- post-training data: import


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Annotated[
        Path,
        typer.Argument(
            help="A JSONL file (or a JSON list) of conversations, preference pairs or prompts.",
            show_default=False,
        ),
    ],
    out: Out,
    fmt: Annotated[
        str,
        typer.Option(
            "--format",
            "-f",
            help="auto, openai, sharegpt, alpaca, prompt-completion, prefs, hh-rlhf, prompts or gsm8k.",
        ),
    ] = "auto",
    allow_empty_answers: Annotated[
        bool,
        typer.Option(
            "--allow-empty-answers", help="Keep preference pairs whose chosen or rejected answer is empty."
        ),
    ] = False,
    max_reject_fraction: MaxRejectFraction = 1.0,
    allow_empty: AllowEmpty = False,
    force: Force = False,
) -> None:
    """Import chat, preference or prompt data (JSONL/JSON) into a chat, prefs or prompts artifact.

    Malformed rows go to OUT/rejected/ with a reason and never stop the import. Files may be gzip,
    bzip2, xz or zstd compressed (told by their first bytes) and may start with a UTF-8 BOM;
    `--format auto` decides by majority over the first 100 rows.

    Example:

        llmkit import sample_data/chat.jsonl -o runs/demo/chat
        llmkit import hh_rlhf_train.jsonl -o runs/hh/prefs --format hh-rlhf
    """
    from llmkit.data.importers import run_import

    manifest = run_import(
        path,
        out,
        fmt=fmt,
        force=force,
        config=resolved_config(ctx),
        allow_empty_answers=allow_empty_answers,
        max_reject_fraction=max_reject_fraction,
        allow_empty=allow_empty,
    )
    counts = manifest["counts"]
    console.print(
        f"[green]imported[/] {counts['rows']:,} rows as [bold]{manifest['kind']}[/] "
        f"({manifest['config']['format']} format) into {out}; {counts['rejected']:,} rejected"
    )
    for reason, n in manifest["stats"]["funnel"][0]["removed"].items():
        console.print(f"  rejected {reason}: {n:,}")


# --------------------------------------------------------------------------------------- post-training: sft, train-reward, dpo, score
# The training options every post-training command shares (they fill train.common.TrainConfig).

Lr = Annotated[float, typer.Option("--lr", help="Peak learning rate.")]
Epochs = Annotated[
    float, typer.Option("--epochs", help="Passes over the training data (unless a --max-* limit is set).")
]
BatchSize = Annotated[int, typer.Option("--batch-size", "-b", help="Examples per micro-batch, per process.")]
WarmupSteps = Annotated[int, typer.Option("--warmup-steps", help="Linear warmup steps.")]
MaxSteps = Annotated[
    int | None, typer.Option("--max-steps", help="Stop after this many optimizer steps.", show_default=False)
]
MaxTime = Annotated[
    float | None, typer.Option("--max-time", help="Stop after this many seconds.", show_default=False)
]
ValFraction = Annotated[
    float, typer.Option("--val-fraction", help="Fraction of examples held out (by id hash) for validation.")
]
EvalEvery = Annotated[int, typer.Option("--eval-every", help="Validate every N steps; 0 = at the end only.")]
CheckpointEvery = Annotated[
    int, typer.Option("--checkpoint-every", help="Save a resumable checkpoint every N steps; 0 = off.")
]
Precision = Annotated[
    str, typer.Option("--precision", help="auto (bf16 where the hardware has it), bf16 or fp32.")
]
DataFormat = Annotated[
    str, typer.Option("--format", "-f", help="Format of a JSONL input (auto-detected; see `llmkit import`).")
]
# LoRA (llmkit/lora.py): the five post-training commands' adapter options; off unless --lora-rank is given
LoraRank = Annotated[
    int | None,
    typer.Option("--lora-rank", help="Train LoRA adapters of this rank instead of the whole model.", show_default=False),
]
LoraAlpha = Annotated[float, typer.Option("--lora-alpha", help="LoRA scale: updates are multiplied by alpha / rank.")]
LoraDropout = Annotated[float, typer.Option("--lora-dropout", help="Dropout on the adapters' input.")]
LoraTargets = Annotated[
    str, typer.Option("--lora-targets", help="Comma-separated linear layers that get adapters (e.g. q_proj,v_proj,gate_proj).")
]
LoraSave = Annotated[
    str,
    typer.Option(
        "--lora-save", help="merged: a plain checkpoint; adapter: only the adapters, loaded on top of the base."
    ),
]


PrefsInput = Annotated[
    Path, typer.Argument(help="A prefs artifact, or a JSONL file of preference pairs.", show_default=False)
]
SftPolicy = Annotated[
    Path, typer.Argument(help="The SFT checkpoint: the starting policy and the frozen reference.", show_default=False)
]
# The RL commands' (grpo, ppo) sampling options.
AnswerTokens = Annotated[int, typer.Option("--max-new-tokens", help="Answer length limit when sampling.")]
RolloutTemperature = Annotated[float, typer.Option("--temperature", help="Sampling temperature of the rollouts.")]

TRAINING_OPTIONS = {
    "lr": Lr, "batch_size": BatchSize, "warmup_steps": WarmupSteps, "max_steps": MaxSteps, "max_time": MaxTime,
    "val_fraction": ValFraction, "eval_every": EvalEvery, "checkpoint_every": CheckpointEvery,
    "precision": Precision, "seed": Seed, "device": Device, "data_format": DataFormat, "nproc": Nproc,
    "threads": Threads, "resume": Resume, "force": Force, "lora_rank": LoraRank, "lora_alpha": LoraAlpha,
    "lora_dropout": LoraDropout, "lora_targets": LoraTargets, "lora_save": LoraSave,
}  # fmt: skip
# Defaults of the shared options that are the same for every stage; the rest come from llmkit.defaults.
SHARED_DEFAULTS = {
    "max_steps": None, "max_time": None, "checkpoint_every": 0, "precision": "auto", "seed": 0, "device": "auto",
    "data_format": "auto", "nproc": 1, "threads": None, "resume": False, "force": False, **STAGE_DEFAULTS["lora"],
}  # fmt: skip


def with_training_options(stage: str, skip: tuple[str, ...] = ()):
    """Give a post-training command the training options every such command shares (TRAINING_OPTIONS),
    with `stage`'s defaults from llmkit.defaults, in place of its `**options`; typer then passes their
    values in `options`. An option the command declares itself (e.g. GRPO's own --batch-size help)
    or names in `skip` is left out. Built as `with_filter_settings` builds the filter's thresholds."""
    from inspect import Parameter, Signature, signature

    def decorate(command):
        params = signature(command, eval_str=True).parameters.values()
        own = [p for p in params if p.kind != Parameter.VAR_KEYWORD]
        taken = {p.name for p in own} | set(skip)
        defaults = {**SHARED_DEFAULTS, **STAGE_DEFAULTS[stage]}
        shared = [
            Parameter(name, Parameter.KEYWORD_ONLY, annotation=annotation, default=defaults[name])
            for name, annotation in TRAINING_OPTIONS.items()
            if name not in taken
        ]
        command.__signature__ = Signature([*own, *shared])
        return command

    return decorate


def train_config_from(stage: str, params: dict):
    """The TrainConfig of a post-training command's options."""
    from llmkit.train.common import TrainConfig

    given = {k: params[k] for k in ("lr", "batch_size", "warmup_steps", "max_steps", "max_time", "eval_every",
                                    "checkpoint_every", "precision", "seed", "device", "threads") if k in params}  # fmt: skip
    return TrainConfig.for_stage(stage, **given, log_every=min(10, params["max_steps"] or 10))


def run_options(ctx: typer.Context, options: dict) -> dict:
    """What a post-training command passes on to its stage besides its own settings."""
    return {
        "data_format": options["data_format"], "nproc": options["nproc"], "config": resolved_config(ctx),
        "force": options["force"], "resume": options["resume"], "lora": lora_settings(options),
    }  # fmt: skip


def lora_settings(options: dict):
    """The LoraSettings of a post-training command's --lora-* options; None (full fine-tuning) without
    --lora-rank, where another --lora-* option is an error rather than silently unused."""
    from llmkit.lora import LoraSettings

    names = [k for k in STAGE_DEFAULTS["lora"] if k != "lora_rank"]
    if options["lora_rank"] is None:
        given = [k for k in names if options[k] != STAGE_DEFAULTS["lora"][k]]
        if given:
            raise UserError(f"--{given[0].replace('_', '-')} needs --lora-rank (LoRA is off without it)")
        return None
    return LoraSettings(options["lora_rank"], **{k.removeprefix("lora_"): options[k] for k in names}).validate()


def print_training_summary(manifest: dict | None, keys: tuple[str, ...]) -> None:
    if manifest is None:  # ranks other than 0
        return
    stats = manifest["stats"]
    shown = ", ".join(
        f"{k} {stats[k]:.4g}" if isinstance(stats.get(k), float) else f"{k} {stats.get(k)}"
        for k in keys
        if k in stats
    )
    console.print(f"[green]wrote[/] {manifest['stage']} checkpoint ({stats['steps']} steps): {shown}")


@app.command()
@with_training_options("sft")
def sft(
    ctx: typer.Context,
    base: Annotated[
        Path, typer.Argument(help="The checkpoint to fine-tune (from pretrain).", show_default=False)
    ],
    chats: Annotated[
        Path, typer.Argument(help="A chat artifact, or a JSONL file of conversations.", show_default=False)
    ],
    out: Out,
    epochs: Epochs = stage_default("sft", "epochs"),
    long: Annotated[
        str, typer.Option("--long", help="Conversations longer than the context: truncate or drop.")
    ] = stage_default("sft", "long"),
    teacher: Annotated[
        Path | None,
        typer.Option(
            "--teacher", help="Distil from this checkpoint on the assistant tokens (see `llmkit distill`).",
            show_default=False,
        ),
    ] = None,
    temperature: DistillTemperature = stage_default("distill", "temperature"),
    alpha: DistillAlpha = stage_default("distill", "alpha"),
    **options,
) -> None:
    """Supervised fine-tuning on conversations: the loss on assistant tokens only.

    Each conversation is one row (no packing), so attention never crosses conversations. Reports the
    held-out loss and the stop rate (answers that end with <|im_end|>). With --teacher the loss on
    those tokens is distillation's: α · T² · KL(teacher_T ‖ student_T) + (1 − α) · cross-entropy.

    Example:

        llmkit sft runs/demo/base runs/demo/chat -o runs/demo/sft --epochs 3
    """
    from llmkit.train.sft import run_sft

    manifest = run_sft(
        base, chats, out, train_config_from("sft", ctx.params), epochs, options["val_fraction"], long,
        teacher=teacher, temperature=temperature, alpha=alpha, **run_options(ctx, options),
    )  # fmt: skip
    print_training_summary(manifest, ("final_loss", "final_val_loss", "train_conversations", "dropped"))


@app.command("train-reward")
@with_training_options("train-reward")
def train_reward(
    ctx: typer.Context,
    sft_checkpoint: Annotated[
        Path, typer.Argument(help="The SFT checkpoint to start from.", show_default=False)
    ],
    prefs: PrefsInput,
    out: Out,
    epochs: Epochs = stage_default("train-reward", "epochs"),
    margin: Annotated[
        float, typer.Option("--margin", help="Required reward margin in the Bradley–Terry loss.")
    ] = stage_default("train-reward", "margin"),
    center: Annotated[
        float, typer.Option("--center", help="Weight of the (r_chosen + r_rejected)² centering penalty.")
    ] = stage_default("train-reward", "center"),
    **options,
) -> None:
    """Train a reward model (backbone + scalar head at the response's <|im_end|>) on preference pairs.

    Bradley–Terry loss −log σ(r_chosen − r_rejected − margin); reports pairwise accuracy and mean
    margin on held-out pairs.

    Example:

        llmkit train-reward runs/demo/sft runs/demo/prefs -o runs/demo/rm
    """
    from llmkit.train.reward import run_train_reward

    manifest = run_train_reward(
        sft_checkpoint, prefs, out, train_config_from("train-reward", ctx.params), epochs, margin, center,
        options["val_fraction"], **run_options(ctx, options),
    )  # fmt: skip
    print_training_summary(manifest, ("final_loss", "final_val_loss", "train_pairs", "val_pairs"))


@app.command()
@with_training_options("dpo")
def dpo(
    ctx: typer.Context,
    sft_checkpoint: SftPolicy,
    prefs: PrefsInput,
    out: Out,
    beta: Annotated[
        float,
        typer.Option("--beta", help="DPO temperature β: how far the policy may move from the reference."),
    ] = stage_default("dpo", "beta"),
    epochs: Epochs = stage_default("dpo", "epochs"),
    **options,
) -> None:
    """Direct preference optimisation (sigmoid loss) of an SFT checkpoint on preference pairs.

    Logs the implicit-reward accuracy and margins on held-out pairs.

    Example:

        llmkit dpo runs/demo/sft runs/demo/prefs -o runs/demo/dpo --beta 0.1
    """
    from llmkit.train.dpo import run_dpo

    manifest = run_dpo(
        sft_checkpoint, prefs, out, train_config_from("dpo", ctx.params), beta, epochs, options["val_fraction"],
        **run_options(ctx, options),
    )  # fmt: skip
    print_training_summary(manifest, ("final_loss", "final_val_loss", "initial_val_loss", "train_pairs"))


@app.command()
@with_training_options("grpo")
def grpo(
    ctx: typer.Context,
    sft_checkpoint: Annotated[
        Path,
        typer.Argument(
            help="The SFT checkpoint: the starting policy (and KL reference).", show_default=False
        ),
    ],
    prompts: Annotated[
        Path, typer.Argument(help="A prompts artifact, or JSONL of prompts with answers.", show_default=False)
    ],
    out: Out,
    group_size: Annotated[
        int, typer.Option("--group-size", "-g", help="Answers sampled per prompt (G).")
    ] = stage_default("grpo", "group_size"),
    max_new_tokens: AnswerTokens = stage_default("grpo", "max_new_tokens"),
    temperature: RolloutTemperature = stage_default("grpo", "temperature"),
    clip: Annotated[
        float, typer.Option("--clip", help="PPO clip range ε of the probability ratio.")
    ] = stage_default("grpo", "clip"),
    kl_coef: Annotated[
        float, typer.Option("--kl-coef", help="β of the KL penalty to the SFT reference; 0 = off.")
    ] = stage_default("grpo", "kl_coef"),
    updates_per_batch: Annotated[
        int, typer.Option("--updates-per-batch", help="Optimizer steps per batch of rollouts.")
    ] = stage_default("grpo", "updates_per_batch"),
    reward: Annotated[
        str | None,
        typer.Option(
            "--reward",
            help="module:function(prompt, response, answer) -> float; default: numeric exact match.",
            show_default=False,
        ),
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", "-b", help="Prompts per optimizer step.")
    ] = stage_default("grpo", "batch_size"),
    max_steps: Annotated[
        int | None,
        typer.Option(
            "--max-steps", help="Optimizer steps (default: one pass over the prompts).", show_default=False
        ),
    ] = None,
    max_val: Annotated[
        int, typer.Option("--max-val", help="Held-out prompts scored at each evaluation (at most).")
    ] = stage_default("grpo", "max_val"),
    tools: Tools = None,
    max_tool_calls: MaxToolCalls = stage_default("tools", "max_tool_calls"),
    **options,
) -> None:
    """RL on verifiable rewards (GRPO): sample G answers per prompt, reinforce the better ones.

    Reports held-out exact-match accuracy (before and during training) and the rollouts' mean reward.

    Example:

        llmkit grpo runs/demo/sft runs/demo/prompts -o runs/demo/grpo --group-size 8 --max-steps 50
        llmkit grpo runs/tools/sft-tools sample_data/tools/prompts.jsonl -o runs/tools/grpo --tools calculator
    """
    from llmkit.train.grpo import run_grpo

    manifest = run_grpo(
        sft_checkpoint, prompts, out, train_config_from("grpo", ctx.params), group_size, max_new_tokens, temperature,
        clip, kl_coef, updates_per_batch, reward, options["val_fraction"], max_val, tools=tools,
        max_tool_calls=max_tool_calls, **run_options(ctx, options),
    )  # fmt: skip
    print_training_summary(manifest, ("initial_val_accuracy", "final_loss", "train_prompts", "val_prompts"))


@app.command()
@with_training_options("ppo", skip=("batch_size",))
def ppo(
    ctx: typer.Context,
    sft_checkpoint: SftPolicy,
    reward_model: Annotated[
        Path,
        typer.Argument(
            help="The reward model (from train-reward); also the value model's start.", show_default=False
        ),
    ],
    prompts: Annotated[
        Path, typer.Argument(help="A prompts artifact, or JSONL of prompts.", show_default=False)
    ],
    out: Out,
    rollouts: Annotated[
        int, typer.Option("--rollouts", help="Rollout batches to train on (unless --max-steps/--max-time).")
    ] = stage_default("ppo", "rollouts"),
    rollout_size: Annotated[
        int, typer.Option("--rollout-size", help="Prompts (one sampled answer each) per rollout batch.")
    ] = stage_default("ppo", "rollout_size"),
    minibatches: Annotated[
        int, typer.Option("--minibatches", help="Optimizer steps per pass over a rollout batch.")
    ] = stage_default("ppo", "minibatches"),
    ppo_epochs: Annotated[
        int, typer.Option("--ppo-epochs", help="Passes over each rollout batch.")
    ] = stage_default("ppo", "ppo_epochs"),
    max_new_tokens: AnswerTokens = stage_default("ppo", "max_new_tokens"),
    temperature: RolloutTemperature = stage_default("ppo", "temperature"),
    kl_coef: Annotated[
        float, typer.Option("--kl-coef", help="β: per-token KL(policy ‖ SFT) penalty in the reward.")
    ] = stage_default("ppo", "kl_coef"),
    target_kl: Annotated[
        float | None,
        typer.Option(
            "--target-kl", help="Adapt β toward this KL per answer (default: fixed β).", show_default=False
        ),
    ] = stage_default("ppo", "target_kl"),
    clip: Annotated[float, typer.Option("--clip", help="PPO clip range ε of the policy ratio.")] = stage_default("ppo", "clip"),
    value_clip: Annotated[float, typer.Option("--value-clip", help="Clip range of the value update.")] = stage_default("ppo", "value_clip"),
    value_coef: Annotated[float, typer.Option("--value-coef", help="Weight of the value loss.")] = stage_default("ppo", "value_coef"),
    gamma: Annotated[float, typer.Option("--gamma", help="GAE discount γ.")] = stage_default("ppo", "gamma"),
    lam: Annotated[float, typer.Option("--lam", help="GAE λ.")] = stage_default("ppo", "lam"),
    missing_eos_penalty: Annotated[
        float,
        typer.Option(
            "--missing-eos-penalty", help="Added to the score of an answer that never ends with <|im_end|>."
        ),
    ] = stage_default("ppo", "missing_eos_penalty"),
    eval_every: Annotated[
        int, typer.Option("--eval-every", help="Evaluate every N optimizer steps; 0 = at the end only.")
    ] = stage_default("ppo", "eval_every"),
    max_val: Annotated[
        int, typer.Option("--max-val", help="Held-out prompts scored at each evaluation (at most).")
    ] = stage_default("ppo", "max_val"),
    tools: Tools = None,
    max_tool_calls: MaxToolCalls = stage_default("tools", "max_tool_calls"),
    **options,
) -> None:
    """RLHF with PPO (InstructGPT): sample answers, score them with the reward model, KL-penalise, GAE, clipped updates.

    Logs per evaluation: mean reward-model score and held-out reward, KL to the SFT model, β, entropy,
    clip fraction, approximate KL, value loss, answer length and the rate of answers that end
    properly.

    Example:

        llmkit ppo runs/demo/sft runs/demo/rm runs/demo/prompts -o runs/demo/ppo --rollouts 20
    """
    from llmkit.train.ppo import PPOConfig, run_ppo

    cfg = train_config_from("ppo", ctx.params)
    cfg.log_every = min(cfg.log_every, eval_every) if eval_every else cfg.log_every
    pcfg = PPOConfig(
        rollout_size, minibatches, ppo_epochs, max_new_tokens, temperature, kl_coef, target_kl, clip, value_clip,
        value_coef, gamma, lam, missing_eos_penalty, tools, max_tool_calls,
    )  # fmt: skip
    manifest = run_ppo(
        sft_checkpoint, reward_model, prompts, out, cfg, pcfg, rollouts, options["val_fraction"], max_val,
        **run_options(ctx, options),
    )  # fmt: skip
    print_training_summary(
        manifest, ("initial_val_reward", "final_loss", "train_prompts", "steps_per_rollout")
    )


@app.command()
def score(
    reward_model: Annotated[
        Path, typer.Argument(help="A reward model (from train-reward).", show_default=False)
    ],
    chats: Annotated[
        Path, typer.Argument(help="A chat artifact or JSONL of conversations to score.", show_default=False)
    ],
    rows: Annotated[int, typer.Option("--rows", "-n", help="How many scored conversations to print.")] = 10,
    json_out: Annotated[bool, typer.Option("--json", help="Print every score as JSON lines.")] = False,
    device: Device = "auto",
    data_format: DataFormat = "auto",
) -> None:
    """Score conversations with a reward model: the reward of each conversation's last assistant turn.

    Example:

        llmkit score runs/demo/rm sample_data/chat.jsonl --rows 5
    """
    import json

    from rich.table import Table

    from llmkit.train.reward import score_chats

    scored = score_chats(reward_model, chats, data_format, device=device)
    if json_out:
        for row in scored:
            print(json.dumps(row, ensure_ascii=False))
        return
    table = Table(
        title=f"{len(scored):,} conversations, mean reward {sum(r['reward'] for r in scored) / len(scored):.3f}",
        title_justify="left",
    )
    for col in ("reward", "prompt", "response"):
        table.add_column(col, justify="right" if col == "reward" else "left", overflow="fold", max_width=60)
    for row in scored[:rows]:
        table.add_row(f"{row['reward']:+.3f}", escape(row["prompt"]), escape(row["response"]))
    console.print(table)


# --------------------------------------------------------------------------------------- eval


@app.command("eval")
def eval_(
    ctx: typer.Context,
    checkpoint: Annotated[Path, typer.Argument(help="The checkpoint to evaluate.", show_default=False)],
    out: Out,
    tasks: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Tasks: a tokens artifact or text file (lm), JSONL multiple choice or prompt/answer, a prompts artifact.",
            show_default=False,
        ),
    ] = None,
    suite: Annotated[
        Path | None,
        typer.Option(
            "--suite",
            help="TOML file with \\[\\[tasks]] entries (path, name, type, answer_regex, layout, num_fewshot, "
            "fewshot, metric), or 'core' / 'chatcore': those suites' published files in --data-dir, centred.",
        ),
    ] = None,
    data_dir: Annotated[
        Path,
        typer.Option(
            "--data-dir", help="With --suite core|chatcore: the folder of <task>.jsonl|parquet files."
        ),
    ] = Path("data/eval"),
    num_fewshot: Annotated[
        int,
        typer.Option("--num-fewshot", help="Few-shot examples for published-layout tasks that set none."),
    ] = 0,
    fewshot_seed: Annotated[
        int, typer.Option("--fewshot-seed", help="Seed of the few-shot draw (lm-evaluation-harness's).")
    ] = 1234,
    max_examples: Annotated[
        int | None, typer.Option("--max-examples", help="At most this many examples per task.")
    ] = None,
    max_new_tokens: Annotated[
        int, typer.Option("--max-new-tokens", help="Generation length for exact-match tasks.")
    ] = 32,
    batch_size: Annotated[int, typer.Option("--batch-size", help="Sequences per forward pass.")] = 8,
    answer_regex: Annotated[
        str | None,
        typer.Option(
            "--answer-regex",
            help="Regex whose first group is the answer (default: '#### N', else the last number).",
        ),
    ] = None,
    compare_to: Annotated[
        Path | None, typer.Option("--compare", help="Another eval artifact: print the deltas.")
    ] = None,
    reward_model: Annotated[
        Path | None,
        typer.Option(
            "--reward-model", help="Score prompt tasks' answers with this reward model.", show_default=False
        ),
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            "--baseline",
            help="With --reward-model: the checkpoint to compute the win rate against.",
            show_default=False,
        ),
    ] = None,
    device: Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N.")] = "auto",
    retrieve: Annotated[
        Path | None,
        typer.Option(
            "--retrieve",
            help="An index: exact-match tasks run with its passages in the context and without (both "
            "reported); retrieval tasks (question + gold doc_id) get recall@k and MRR.",
            show_default=False,
        ),
    ] = None,
    retrieve_k: RetrieveK = stage_default("retrieval", "retrieve_k"),
    tools: Tools = None,
    max_tool_calls: MaxToolCalls = stage_default("tools", "max_tool_calls"),
    force: Force = False,
) -> None:
    """Evaluate a checkpoint: loss/perplexity/bits per byte, multiple choice (acc, acc_norm), exact match.

    With --tools, exact-match answers may call the tools (the final reply is scored).

    Example:

        llmkit eval runs/demo/sft runs/demo/tokens sample_data/eval/multiple_choice.jsonl -o runs/demo/eval-sft
        llmkit eval runs/grounded/sft sample_data/grounded/questions.jsonl --retrieve runs/grounded/index -o runs/grounded/eval
        llmkit eval runs/tools/grpo sample_data/tools/heldout.jsonl --tools calculator -o runs/tools/eval-grpo
    """
    from rich.table import Table

    from llmkit.eval import EvalConfig, compare, detect_task, read_eval_metrics, read_suite, run_eval
    from llmkit.eval_suites import SUITES, suite_tasks

    # Everything a user can get wrong is checked before the model loads and the eval runs.
    if num_fewshot < 0:
        raise UserError(f"--num-fewshot must be 0 or more (got {num_fewshot})")
    builtin = suite is not None and str(suite) in SUITES and not suite.exists()
    task_list = [detect_task(t, num_fewshot=num_fewshot) for t in tasks or []]
    task_list += suite_tasks(str(suite), data_dir) if builtin else read_suite(suite) if suite else []
    cfg = EvalConfig(max_examples, max_new_tokens, batch_size, answer_regex, device, reward_model, baseline,
                     retrieve=retrieve, retrieve_k=retrieve_k, tools=tools, max_tool_calls=max_tool_calls)  # fmt: skip
    cfg.num_fewshot, cfg.fewshot_seed = num_fewshot, fewshot_seed
    other = read_eval_metrics(compare_to) if compare_to else None
    suite_name = str(suite) if builtin else "centered"
    manifest = run_eval(
        checkpoint, task_list, out, cfg, config=resolved_config(ctx), force=force, suite_name=suite_name
    )
    metrics = manifest["stats"]["metrics"]
    deltas = {(r["task"], r["metric"]): r for r in compare(metrics, other)} if compare_to else {}
    if compare_to and not deltas:
        err_console.print(
            f"[yellow]warning[/]: {escape(str(compare_to))} shares no task and metric with this eval; no deltas"
        )
    table = Table(title=f"eval of {checkpoint}", title_justify="left")
    for col in ("task", "metric", "value") + (("other", "delta") if compare_to else ()):
        table.add_column(col, justify="left" if col in ("task", "metric") else "right")
    for task, values in metrics.items():
        for metric, value in values.items():
            row = [task, metric, f"{value:.4f}" if isinstance(value, float) else f"{value:,}"]
            if compare_to:
                d = deltas.get((task, metric))
                row += [f"{d['other']:.4f}", f"{d['delta']:+.4f}"] if d else ["", ""]
            table.add_row(*row)
    console.print(table)
    if "suite" in manifest["stats"]:
        summary = manifest["stats"]["suite"]
        console.print(
            f"{summary['name']} (mean centred score of {len(summary['centered'])} tasks): {summary['mean']:.4f}"
        )
    console.print(f"[green]wrote[/] {out} (per-example rows in {out}/examples/)")


# --------------------------------------------------------------------------------------- export


@app.command("import-model")
def import_model(
    hf_dir: Annotated[
        Path,
        typer.Argument(
            help="A local Hugging Face LlamaForCausalLM or Qwen2ForCausalLM folder (config.json, *.safetensors, tokenizer.json).",
            show_default=False,
        ),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="The checkpoint to write.", show_default=False)],
    seq_len: Annotated[
        int | None,
        typer.Option("--seq-len", help="Context length to record (default: the model's max_position_embeddings).", show_default=False),
    ] = None,
    force: Force = False,
) -> None:
    """Import a Hugging Face model folder as an llmkit checkpoint (never downloads; .bin pickles are refused).

    The weights are used as they are (Llama's names and RoPE layout are llmkit's); the tokenizer stays
    the model's, its special tokens found by name, with llmkit's chat tokens added for any it lacks.

    Example:

        llmkit import-model ~/models/SmolLM2-135M-Instruct -o runs/smol/base
    """
    from llmkit.import_model import import_model as run_import

    manifest = run_import(hf_dir, out, seq_len=seq_len, force=force)
    source, chat = manifest["source"], manifest["chat_format"]
    added = ", ".join(chat["added"].values()) or "none"
    console.print(
        f"[green]imported[/] {source['name']} ({source['architecture']}, {manifest['counts']['parameters']:,} "
        f"parameters) to {out}; chat tokens added: {added}"
    )


@app.command()
def export(
    checkpoint: Annotated[Path, typer.Argument(help="A checkpoint directory.", show_default=False)],
    out: Annotated[
        Path, typer.Argument(help="The folder (hf) or the .gguf file (gguf) to write.", show_default=False)
    ],
    fmt: Annotated[
        str,
        typer.Option(
            "--format", "-f", help="Export format: hf (Hugging Face LlamaForCausalLM, or MixtralForCausalLM for MoE) or gguf (llama.cpp)."
        ),
    ] = "hf",
    gguf_type: Annotated[
        str,
        typer.Option("--gguf-type", help="Weight type of a GGUF file: f32, f16 or q8_0 (norms stay f32)."),
    ] = stage_default("export", "gguf_type"),
    force: Force = False,
) -> None:
    """Export a checkpoint as a Hugging Face LlamaForCausalLM folder (transformers, lm-eval, vLLM) or
    as one GGUF file for llama.cpp and the programs built on it.

    Example:

        llmkit export runs/demo/sft runs/demo/hf --format hf

        llmkit export runs/demo/sft runs/demo/sft.gguf --format gguf --gguf-type q8_0
    """
    from llmkit.export import FORMATS

    if fmt not in FORMATS:
        raise UserError(f"--format must be one of {', '.join(FORMATS)} (got {fmt!r})")
    if fmt == "gguf":
        from llmkit.gguf_export import export_gguf

        summary = export_gguf(checkpoint, out, gguf_type=gguf_type, force=force)
        console.print(
            f"[green]exported[/] {checkpoint} as GGUF ({summary['type']}) to {summary['out']} "
            f"({summary['parameters']:,} parameters in {summary['tensors']} tensors, "
            f"{summary['bytes'] / 2**20:,.1f} MiB)"
        )
        return
    from llmkit.export import export_hf

    summary = export_hf(checkpoint, out, force=force)
    console.print(
        f"[green]exported[/] {checkpoint} as {summary['architecture']} to {summary['out']} "
        f"({summary['parameters']:,} parameters in {summary['tensors']} tensors)"
    )


# --------------------------------------------------------------------------------------- plot


@app.command()
def plot(
    runs: Annotated[
        list[Path],
        typer.Argument(help="Checkpoint directories (or metrics.parquet files).", show_default=False),
    ],
    out: Annotated[Path, typer.Option("--out", "-o", help="PNG file to write.")] = Path("curves.png"),
    label: Annotated[
        list[str] | None,
        typer.Option("--label", help="Legend label per run (repeat; default: folder names)."),
    ] = None,
    force: Force = False,
) -> None:
    """Plot training curves (loss and val loss against tokens, lr, tokens/s, reward, KL...), runs overlaid.

    Example:

        llmkit plot runs/demo/base runs/demo/sft -o runs/demo/curves.png
    """
    from llmkit.plot import plot_runs

    refuse_existing(out, force)
    result = plot_runs(runs, out, labels=label)
    console.print(f"[green]wrote[/] {out}: {', '.join(result['panels'])} for {result['runs']} run(s)")


# --------------------------------------------------------------------------------------- report


@app.command()
def report(
    run: Annotated[
        Path,
        typer.Argument(
            help="A run folder holding the pipeline's stages (e.g. runs/demo).", show_default=False
        ),
    ],
    out: Annotated[
        Path | None,
        typer.Option(
            "--out", "-o", help="Markdown file to write (default: RUN/REPORT.md).", show_default=False
        ),
    ] = None,
    force: Force = False,
) -> None:
    """Write a report card of a pipeline run: data funnel, tokenizer, training curves, evals, generations.

    Example:

        llmkit report runs/demo
    """
    from llmkit.report import write_report

    refuse_existing(out or run / "REPORT.md", force)
    console.print(f"[green]wrote[/] {write_report(run, out)}")


# --------------------------------------------------------------------------------------- inspect


@app.command()
def inspect(
    path: Annotated[
        Path, typer.Argument(help="An artifact directory, or a Parquet file or folder.", show_default=False)
    ],
    rows: Annotated[int, typer.Option("--rows", "-n", help="How many first rows to show.")] = 5,
    json_out: Annotated[bool, typer.Option("--json", help="Print a JSON summary instead of tables.")] = False,
) -> None:
    """Show any artifact: header, lineage, config, stats, schema and first rows.

    Example:

        llmkit inspect runs/demo/kept --rows 3
    """
    from llmkit.inspect import describe, render_inspect

    if rows < 0:
        raise UserError(f"--rows must be 0 or more (got {rows})")
    if json_out:
        import json

        print(json.dumps(describe(path, rows), indent=2, ensure_ascii=False, default=str))
    else:
        render_inspect(path, rows, console)


# --------------------------------------------------------------------------------------- entry point


def split_global_options(args: list[str]) -> tuple[list[str], list[str]]:
    """Pick `--config FILE` and `--debug` out of the command line, wherever they are, so that main()
    can pass them before the stage name, where Typer expects them. Returns (them, the rest)."""
    front, rest = [], []
    i = 0
    while i < len(args):
        if args[i] == "--":  # everything after `--` is positional
            rest += args[i:]
            break
        if args[i] in ("--config", "-c"):
            front += args[i : i + 2]
            i += 1
        elif args[i] == "--debug" or args[i].startswith("--config="):
            front.append(args[i])
        else:
            rest.append(args[i])
        i += 1
    return front, rest


def print_error(message: str) -> None:
    err_console.print(f"[bold red]error:[/] {escape(message)}", highlight=False, soft_wrap=True)


def main() -> None:
    """Console-script entry point: run the app, turning user errors into one red line and exit 2."""
    # Idle OpenMP threads sleep instead of spinning (set before torch loads): on a busy CPU (shared
    # cores, DDP processes, data workers) spinning threads starve each other; measured here, a tiny
    # model trained 8× slower and generated 18× slower with spinning threads.
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    global_options, args = split_global_options(sys.argv[1:])
    debug = "--debug" in global_options
    try:
        # standalone_mode=False: click's usage errors come back to us instead of a boxed rich panel
        code = app(args=global_options + args, prog_name="llmkit", standalone_mode=False)
    except NoArgsIsHelpError as e:  # bare `llmkit`: the help is already printed
        sys.exit(e.exit_code)
    except UsageError as e:  # a bad option value, an unknown option, a missing argument
        where = e.ctx.command_path if e.ctx else "llmkit"
        message = " ".join(e.format_message().split()).rstrip(".")
        print_error(f"{where}: {message} (see {where} --help)")
        sys.exit(e.exit_code)
    except ClickException as e:
        print_error(" ".join(e.format_message().split()))
        sys.exit(e.exit_code)
    except typer.Abort:  # end of input at a prompt
        err_console.print("[yellow]aborted[/]")
        sys.exit(1)
    except UserError as e:
        if debug:
            raise
        print_error(str(e))
        sys.exit(e.exit_code)  # 2, or 3 when a data source lost all its records (SourcesLost)
    except OSError as e:  # disk full, permission denied, ...: the user's environment, not a bug
        if debug:
            raise
        print_error(str(e.strerror or e) + (f": {e.filename}" if e.filename else ""))
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except Terminated:  # SIGTERM while training: a checkpoint was saved (train/loop.py)
        sys.exit(143)  # 128 + SIGTERM, as the shell reports a terminated process
    # an explicit exit (--help, --version, typer.Exit, Ctrl-C) comes back as its exit code
    sys.exit(code if isinstance(code, int) else 0)
