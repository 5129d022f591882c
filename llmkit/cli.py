"""The `llmkit` command: one Typer command per pipeline stage.

Each command parses its options, calls the stage's one public function, and prints a rich summary.
Shape, the same for every stage: `llmkit STAGE INPUT... --out DIR [options]`.

`--config FILE.toml` supplies defaults per stage (a table per command, e.g. `[filter]`); flags on
the command line override them, and the resolved values go into the artifact's manifest.
"""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path
from typing import Annotated

import click
import typer
from rich.console import Console
from rich.markup import escape

from llmkit import __version__
from llmkit.errors import UserError

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


def load_config_file(path: Path) -> dict[str, dict]:
    """Read a TOML config: one table per command; keys may use dashes or underscores."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise UserError(f"config file {path} does not exist") from e
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"config file {path} is not valid TOML: {e}") from e
    known = set(app_command_names())
    tables = {}
    for stage, table in data.items():
        if not isinstance(table, dict):
            raise UserError(f"config file {path}: '{stage}' must be a table like [{stage}]")
        if stage not in known:
            raise UserError(
                f"config file {path}: unknown command [{stage}] (commands: {', '.join(sorted(known))})"
            )
        tables[stage] = {k.replace("-", "_"): v for k, v in table.items()}
    return tables


def app_command_names() -> list[str]:
    return [c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands]


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
        ctx.default_map = load_config_file(config)


def resolved_config(ctx: typer.Context, exclude: tuple[str, ...] = ("out", "force")) -> dict:
    """The command's effective options (config file merged with flags), for the manifest."""
    return {k: v for k, v in ctx.params.items() if k not in exclude}


def check_positive(**values: float | int | None) -> None:
    """One clear error for a size or count option that must be > 0."""
    for name, value in values.items():
        if value is not None and value <= 0:
            raise UserError(f"--{name.replace('_', '-')} must be greater than 0 (got {value})")


# Stage commands, in pipeline order (`llmkit --help` lists them in this order). Each section belongs
# to one area; add a stage's command inside its area's section.

# --------------------------------------------------------------------------------------- data: crawl, extract, filter, scrub
# (end of data: crawl, extract, filter, scrub)

# --------------------------------------------------------------------------------------- data: dedup
# (end of data: dedup)

# --------------------------------------------------------------------------------------- tokenizer
# (end of tokenizer)

# --------------------------------------------------------------------------------------- pretrain, generate, chat
# (end of pretrain, generate, chat)

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


def main() -> None:
    """Console-script entry point: run the app, turning user errors into one red line and exit 2."""
    debug = "--debug" in sys.argv[1:]
    try:
        app()
    except UserError as e:
        if debug:
            raise
        err_console.print(f"[bold red]error:[/] {escape(str(e))}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except OSError as e:  # disk full, permission denied, ...: the user's environment, not a bug
        if debug:
            raise
        where = f": {e.filename}" if e.filename else ""
        err_console.print(
            f"[bold red]error:[/] {escape(str(e.strerror or e) + where)}", highlight=False, soft_wrap=True
        )
        sys.exit(1)
    except KeyboardInterrupt:
        err_console.print("[yellow]interrupted[/]")
        sys.exit(130)
    except click.exceptions.Exit as e:  # raised outside standalone handling by eager callbacks
        sys.exit(e.exit_code)
