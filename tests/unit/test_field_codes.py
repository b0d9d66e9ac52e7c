"""The field codes a counter hash stores (schemas/layout.py): each well-known field has one
code of its own, no code is a field name, an open-vocabulary token keeps its name, and a
hash read back gives each field under its name with both spellings added. The expected
codes are spelled out by hand from the rule (kind letter, token position, bucket, status)."""

from __future__ import annotations

import re

import pytest

from api.readers.counters import fold
from schemas.labels import AWARDING_METHODS, SHARING_CHANNELS, VIEWING_SOURCES
from schemas.layout import FIELD_CODES, field_code, field_name, split_field, stored_names


@pytest.mark.parametrize(("name", "code"), [
    ("bc", "K"), ("aw.p", "Ap"), ("ac.a", "Ca"), ("sh.d", "Sd"), ("pu.r", "Pr"), ("vw.a", "Wa"),
    ("bv.p", "Bp"), ("me.manual.a", "M0a"), ("ms.other.p", "N6p"), ("sc.linkedin.a", "X0a"),
    ("sc.wallet.r", "X8r"), ("vs.verification.d", "Y6d"), ("mt.lms.2.a", "T22a"),
    ("mt.automation.7.p", "T57p"),
])
def test_a_well_known_field_is_stored_as_its_code(name: str, code: str) -> None:
    assert field_code(name) == code
    assert field_name(code.encode()) == name.encode()


@pytest.mark.parametrize("name", ["sc.myspace.a", "me.badgr.p", "vs.tiktok.a", "mt.badgr.3.a",
                                  "tt.3.a", "aw.x"])
def test_a_field_outside_the_vocabularies_keeps_its_name(name: str) -> None:
    assert field_code(name) == name
    assert field_name(name.encode()) == name.encode()


def test_codes_are_unique_short_and_never_a_field_name() -> None:
    codes = list(FIELD_CODES.values())
    assert len(set(codes)) == len(codes)
    # every well-known field: 6 status kinds + 4 token kinds + mt, 4 statuses each, and bc
    statuses = 4
    expected = 1 + 6 * statuses + 2 * len(AWARDING_METHODS) * statuses \
        + len(SHARING_CHANNELS) * statuses + len(VIEWING_SOURCES) * statuses \
        + len(AWARDING_METHODS) * 8 * statuses
    assert len(codes) == expected
    for code in codes:
        assert re.fullmatch(r"[A-Z][0-9a-z]{0,3}", code), code
        assert len(code) <= 4
    for name in FIELD_CODES:  # names start lowercase: no code can be read as one
        assert re.fullmatch(r"[a-z][a-z0-9_.]*", name), name


def test_a_hash_read_back_names_each_field_once_with_both_spellings_added() -> None:
    stored = {b"aw.a": b"3", b"Aa": b"2", b"X0a": b"1", b"sc.myspace.a": b"4", b"Ca": b"1"}
    named = stored_names(stored)
    assert {k: int(v) for k, v in named.items()} == {
        b"aw.a": 5, b"sc.linkedin.a": 1, b"sc.myspace.a": 4, b"ac.a": 1}
    c = fold([named], frozenset("a"))  # what CounterReader.run hands over
    assert (c.badges_awarded, c.accepted_awards, c.shares) == (5, 1, 5)
    assert dict(c.channels) == {"linkedin": 1, "myspace": 4}


def test_every_code_names_a_field_the_readers_understand() -> None:
    for name in FIELD_CODES:
        if name == "bc":
            continue
        kind, head, status = split_field(name)
        assert status in "padr" and kind
