"""`llmkit scrub`: PII replaced with stable placeholders, counts per type, --max-pii."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error, run_cli
from test_filters import make_docs, read_parts

from llmkit.data.scrub import luhn_ok, run_scrub, scrub_text


@pytest.mark.parametrize(
    "text, expected, kind",
    [
        ("write to jane.doe+news@mail.example.org today", "write to <EMAIL> today", "email"),
        ("server at 8.8.8.8 answered", "server at <IP> answered", "ip"),
        ("v6 host 2001:4860:4860::8888 is up", "v6 host <IP> is up", "ip"),
        ("call +1 (555) 123-4567 now", "call <PHONE> now", "phone"),
        ("call 555-123-4567 now", "call <PHONE> now", "phone"),
        ("ring +44 20 7946 0958 today", "ring <PHONE> today", "phone"),
        ("ring +61 2 5550 1234 today", "ring <PHONE> today", "phone"),
        ("ring (555) 010-9876 today", "ring <PHONE> today", "phone"),
        ("card 4111 1111 1111 1111 ok", "card <CARD> ok", "card"),
        ("card 5500-0000-0000-0004 ok", "card <CARD> ok", "card"),
    ],
)
def test_each_pii_type_is_replaced(text, expected, kind):
    out, hits = scrub_text(text)
    assert out == expected and dict(hits) == {kind: 1}


@pytest.mark.parametrize(
    "text",
    [
        "private 192.168.1.10, loopback 127.0.0.1, docs range 192.0.2.1 and ::1 and fe80::1",
        "not an address: 999.1.1.1 or 1.2.3",
        "a date 2024-01-15, a range 1990-2000, a time 12:30:45, 3.14159 and 10,000 people",
        "an ISBN 978-3-16-148410-0 and an order number 4111 1111 1111 1112",  # the latter fails Luhn
        "the ratio was 1:2:3 and the word a::b",
    ],
)
def test_things_that_are_not_pii_are_left_alone(text):
    assert scrub_text(text) == (text, {})


@pytest.mark.parametrize(
    "text, expected",
    [
        ("the server is 8.8.8.8.", "the server is <IP>."),  # a full stop ends the sentence, not the address
        ("hosts 1.2.3.4, and more", "hosts <IP>, and more"),
        ("the site (93.184.216.34) answered", "the site (<IP>) answered"),
        ("it moved to 93.184.216.34.", "it moved to <IP>."),  # was read as a 10-digit phone number
    ],
)
def test_public_ipv4_before_punctuation_is_replaced(text, expected):
    assert scrub_text(text) == (expected, {"ip": 1})


@pytest.mark.parametrize(
    "text",
    [
        "upgrade to 1.2.3.4.5 today",  # a version with five parts is not an address
        "the router is 192.168.10.20.",  # private, and a dotted quad is never a phone number
        "the router is 192.168.10.20",
    ],
)
def test_versions_and_private_dotted_quads_stay(text):
    assert scrub_text(text) == (text, {})


def test_luhn():
    assert luhn_ok("4111111111111111") and luhn_ok("79927398713")
    assert not luhn_ok("4111111111111112") and not luhn_ok("79927398710")


def test_run_scrub_counts_per_type_and_max_pii_rejects(tmp_path):
    rows = [
        {"id": "a", "url": "u1", "text": "Mail a@b.com or c@d.org, call 555-123-4567."},
        {"id": "b", "url": "u2", "text": "Nothing personal here."},
        {"id": "c", "url": "u3", "text": "Host 8.8.8.8, card 4111 1111 1111 1111."},
    ]
    src = make_docs(tmp_path, rows)
    stats = run_scrub([src], tmp_path / "clean", workers=1)
    docs = {d["id"]: d for d in read_parts(tmp_path / "clean")}
    assert docs["a"]["text"] == "Mail <EMAIL> or <EMAIL>, call <PHONE>." and docs["a"]["pii_count"] == 3
    assert docs["b"]["text"] == "Nothing personal here." and docs["b"]["pii_count"] == 0
    assert stats["pii"] == {"email": 2, "card": 1, "ip": 1, "phone": 1}

    r = run_cli("scrub", src, "-o", tmp_path / "strict", "--max-pii", "2", "-w", "1")
    assert r.returncode == 0, r.stderr
    assert "2 email" in r.stdout
    assert [d["id"] for d in read_parts(tmp_path / "strict")] == ["b", "c"]
    rejected = read_parts(tmp_path / "strict/rejected")
    assert [(d["id"], d["reason"]) for d in rejected] == [("a", "pii:count 3")]
    assert rejected[0]["text"].startswith("Mail <EMAIL>")  # rejected text is scrubbed too
    manifest = json.loads((tmp_path / "strict/manifest.json").read_text())
    assert manifest["config"]["max_pii"] == 2
    assert manifest["stats"]["funnel"] == [{"step": "pii", "in": 3, "out": 2, "removed": {"pii:count": 1}}]


def test_scrub_bad_options(tmp_path):
    src = make_docs(tmp_path, [{"id": "a", "url": "u", "text": "t"}])
    assert_one_line_error(
        run_cli("scrub", src, "-o", tmp_path / "c", "--max-pii", "-1"), "--max-pii must be 0"
    )
    assert_one_line_error(run_cli("scrub", tmp_path / "nope", "-o", tmp_path / "c"), "nope does not exist")
