"""The documentation holds together: every relative link in README.md and docs/*.md reaches a file
(and, with an #anchor, a heading of that file), and every `llmkit <command>` the README's pipeline
diagram and layout table name is a real CLI command."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import typer.main

REPO = Path(__file__).resolve().parents[1]
PAGES = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]

# [text](target) and ![alt](target); a target ends at whitespace or the closing parenthesis
LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
INLINE_CODE = re.compile(r"`[^`]*`")


def prose_lines(text: str) -> list[str]:
    """The lines outside fenced code blocks (links and headings inside them are not markdown)."""
    lines, fence = [], False
    for line in text.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fence = not fence
        elif not fence:
            lines.append(line)
    return lines


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: markup dropped, lowercase, punctuation other than `-` and
    `_` removed, each space a hyphen (so "`crawl`: WARC → `pages`" becomes "crawl-warc--pages")."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"[`*]", "", text).strip().lower()
    text = "".join(c for c in text if c.isalnum() or c in " -_")
    return text.replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading anchor of a page, with GitHub's -1, -2, ... suffixes for repeated headings."""
    seen: dict[str, int] = {}
    result = set()
    for line in prose_lines(page.read_text(encoding="utf-8")):
        m = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if not m:
            continue
        slug = github_slug(m.group(1))
        n = seen.get(slug, 0)
        seen[slug] = n + 1
        result.add(slug if n == 0 else f"{slug}-{n}")
    return result


def relative_links(page: Path) -> list[str]:
    links = []
    for line in prose_lines(page.read_text(encoding="utf-8")):
        for target in LINK.findall(INLINE_CODE.sub("", line)):
            if not re.match(r"[a-z][a-z0-9+.-]*:", target, re.I):  # not http:, mailto:, ...
                links.append(target)
    return links


def test_slugs_follow_github():
    assert github_slug("`crawl`: WARC files, URLs, Common Crawl → `pages`") == (
        "crawl-warc-files-urls-common-crawl--pages"
    )
    assert github_slug("`llmkit generate CHECKPOINT [PROMPT...]`") == "llmkit-generate-checkpoint-prompt"
    assert github_slug("Pretraining quality: tinyshakespeare") == "pretraining-quality-tinyshakespeare"


def test_docs_pages_exist():
    stages = ("curation", "dedup", "tokenizer", "pretraining", "posttraining", "eval-export")
    names = {p.name for p in PAGES}
    for page in (*stages, "benchmarks"):
        assert f"{page}.md" in names


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(REPO)))
def test_relative_links_resolve(page):
    broken = []
    for target in relative_links(page):
        path, _, anchor = target.partition("#")
        dest = (page.parent / path).resolve() if path else page
        if not dest.exists():
            broken.append(f"{target}: no file {dest}")
        elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
            broken.append(f"{target}: no heading with anchor #{anchor} in {dest.name}")
    assert not broken, f"{page.name}: " + "; ".join(broken)


def readme_commands() -> set[str]:
    """The commands the README names: the arrows of its pipeline diagram (──sft──▶, ──generate /
    chat──▶) and every `llmkit <command>` in its layout table, inline code and code blocks."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    commands = set()
    for label in re.findall(r"──([a-z][a-z /-]*?)──▶", text):
        commands.update(part.strip() for part in label.split("/"))
    # a command line starts with llmkit (or .venv/bin/llmkit, or a `$ ` prompt); in a comment or in
    # prose the word is just the project's name
    command_line = re.compile(r"^\s*(?:\$ )?(?:\.venv/bin/)?llmkit ([a-z][a-z-]*)", re.M)
    for code in INLINE_CODE.findall(text):
        commands.update(command_line.findall(code.strip("`")))
    for block in re.findall(r"```[a-z]*\n(.*?)```", text, re.S):
        commands.update(command_line.findall(block))
    return commands


def test_readme_names_only_real_commands():
    from llmkit.cli import app

    registered = set(typer.main.get_command(app).commands)
    named = readme_commands()
    assert {"crawl", "pretrain", "ppo", "grpo", "report"} <= named  # the parsing found the diagram
    assert not named - registered, f"the README names commands the CLI lacks: {sorted(named - registered)}"
    assert not registered - named, f"the README's pipeline and layout omit: {sorted(registered - named)}"
