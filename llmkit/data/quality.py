"""The text-quality rules of `llmkit filter`: Gopher repetition and quality, C4 and FineWeb quality.

Each is a `Filter` (see filter_interface.py) that measures one document's text and says which
threshold it failed ("gopher_quality:mean_word_length 11.3"); `filters.py` chains them after the URL
and language filters. Thresholds are the FineWeb paper's (datatrove at the time), not datatrove's
current defaults: stop words counted by occurrence (now distinct words), FineWeb's end-of-line
punctuation `. ' " ! ?` (now a large Unicode set), and `line_punct_ratio <= 0.12` removes (now `<`).
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from dataclasses import dataclass
from itertools import accumulate

from llmkit.data.filter_interface import Filter, _fmt, setting

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
