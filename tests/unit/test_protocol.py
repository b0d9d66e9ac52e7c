"""The commit protocol without Redis (tests/stream/test_protocol.py drives every op and
result through the real script): encoding leaves the commit as it was, and the script is
rendered with the constants streams/protocol.py owns."""

from __future__ import annotations

import copy

from schemas.layout import TABLE_VECTOR, Layout
from streams.processor import Commit
from streams.protocol import (
    CONSTANTS_MARKER,
    HEADER_SLOTS,
    UNCHECKED,
    ApplyResult,
    Header,
    Op,
    apply_lua,
    decode,
    encode,
)

LAYOUT = Layout("u")


def test_encoding_a_commit_twice_sends_the_same_stats_and_changes_nothing():
    commit = Commit()
    commit.count("acme", "eng", "py", "2026-04-14", "aw.a")
    commit.stat("acme", "applied", 3)
    commit.incr[("k", "f")] += 1
    before = copy.deepcopy(commit)
    header = Header("events:0", 1, 0, 3, None, "fp")
    sent = [decode(encode(commit, LAYOUT, header)[0]) for _ in range(2)]
    assert commit == before
    for payload in sent:
        stats = payload.index(LAYOUT.org_stats("acme"))
        assert payload[stats:stats + 3] == [LAYOUT.org_stats("acme"), "applied", "3"]
    assert sent[0][:len(HEADER_SLOTS)] == ["events:0", "1", "0", "3", "", LAYOUT.offsets(),
                                           LAYOUT.epochs(), LAYOUT.generations(), "1",
                                           LAYOUT.fingerprints(), "fp", 0, "p", "0",
                                           LAYOUT.incarnations(), LAYOUT.rewound()]


def test_the_script_gets_its_constants_from_python():
    lua = apply_lua()
    assert CONSTANTS_MARKER not in lua
    assert f"local VLEN = {TABLE_VECTOR}\n" in lua
    assert f"local OPS_START = {len(HEADER_SLOTS) + 1}\n" in lua
    assert f"local UNCHECKED, FORCED, REWIND = {UNCHECKED}, " in lua
    for op in Op:
        assert f"{op.name} = '{op.value}'" in lua and f"OP.{op.name} then" in lua
    for result in ApplyResult:
        assert f"{result.name} = '{result.value}'" in lua
    assert len({op.value for op in Op}) == len(Op)
