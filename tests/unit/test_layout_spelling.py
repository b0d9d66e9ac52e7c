"""Key and field syntax is spelled in schemas/layout.py only: the writer, the reader's
modules and core build counter keys, field names and pairs with its functions, never with
their own separators or field codes. A line that spells something alike that is no key
(a message header, a protocol's own code) says so: `# not key syntax: <what it is>`, on
it or on the line above."""

from __future__ import annotations

import ast
from datetime import date
from pathlib import Path

from schemas import layout

ROOT = Path(__file__).resolve().parents[2]
CODES = {layout.AWARDED, layout.ACCEPTED, layout.SHARED, layout.PUBLIC, layout.CREATED,
         *layout.TABLE_KINDS, layout.ORG_LEVEL, layout.ISSUER_LEVEL, layout.BADGE_LEVEL,
         layout.RETIRED_PREFIX}
SEPARATORS = {layout.PAIR_SEP, layout.BUCKET_SEP}
# Modules another change had open while this check arrived; they still spell some fields.
PENDING: set[str] = set()


WAIVER = "# not key syntax"


def spelled(path: Path) -> list[str]:
    found: list[str] = []
    text = path.read_text()
    lines = text.splitlines()
    for node in ast.walk(ast.parse(text)):
        lineno = getattr(node, "lineno", 0)
        if lineno and any(WAIVER in lines[i] for i in (lineno - 1, lineno - 2) if i >= 0):
            continue
        if isinstance(node, ast.JoinedStr):
            # f"{a}|{b}" or f"{base}:{bucket}": a separator between two values
            parts = node.values
            for before, mid, after in zip(parts, parts[1:], parts[2:], strict=False):
                if (isinstance(before, ast.FormattedValue) and isinstance(after, ast.FormattedValue)
                        and isinstance(mid, ast.Constant) and mid.value in SEPARATORS):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
                node.func.attr in {"partition", "rpartition", "split", "rsplit"} and \
                any(isinstance(a, ast.Constant) and a.value in SEPARATORS for a in node.args):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
        elif isinstance(node, ast.Constant) and node.value in CODES:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    return found


def test_the_writer_the_reader_and_core_spell_no_key_or_field_syntax_of_their_own():
    paths = [p for pattern in ("streams/*.py", "api/readers/*.py", "api/routes/*.py",
                               "core/*.py")
             for p in sorted(ROOT.glob(pattern))
             if str(p.relative_to(ROOT)) not in PENDING]
    assert [hit for p in paths for hit in spelled(p)] == []


def test_the_counter_field_helpers_split_what_they_join():
    assert layout.split_field(layout.token_field(layout.SHARE_CHANNEL, "linkedin", "a")) == (
        "sc", "linkedin", "a")
    assert layout.split_field(layout.status_field(layout.BOT_VIEWS, "p")) == ("bv", "", "p")
    assert layout.split_field(layout.token_field(layout.METHOD_TIME_TO_ACCEPT, "lms.3", "r")) \
        == ("mt", "lms.3", "r")
    assert layout.split_field(layout.CREATED) == ("bc", "", "")


def test_the_layouts_field_helpers_round_trip():
    day = layout.day_b(date(2026, 4, 13))
    assert layout.counter_key("bp:g1:c:acme:o:-", day) == "bp:g1:c:acme:o:-" + ":" + day
    assert layout.counter_parts("bp:g1:c:acme:o:-:" + day) is None
    # an entity's counters: the org's packed hash of the bucket, the entity's field in it
    # and the hash an older worker wrote, spelled out by hand
    key = layout.counter_key(layout.Layout("bp").counter_base("acme", "b", "eng|py"), day)
    assert layout.counter_parts(key) == ("bp:g1:{acme}:cp:" + day, "beng|py",
                                         "bp:g1:{acme}:c:b:eng|py:" + day)
    assert layout.status_field(layout.AWARDED, "a") == "aw.a"
    assert layout.split_method_field(layout.pair("eng", "lms") + ".a") == ("eng", "lms", "a")
    assert layout.split_method_field("eng|lms.v2.a") == ("eng", "lms.v2", "a")
    assert layout.retired_generation(layout.retired_field(7)) == 7
    assert layout.retired_generation("serving") is None


def test_positions_are_spelled_by_the_layout_and_rendered_into_the_writer_script():
    tp = layout.tp_field("badge-events", 3)
    assert layout.position_fields(tp) == ("e:badge-events:3", "n:badge-events:3",
                                          "o:badge-events:3")
    assert layout.split_position("2:1500") == (2, 1500)
    assert layout.split_position("") == (None, None)
    # apply.lua takes the fields from the rendered constants, never its own literals
    template = (ROOT / "streams" / "apply.lua").read_text()
    for prefix in (layout.POS_EPOCH, layout.POS_WRITES, layout.POS_NEXT):
        assert f"'{prefix}'" not in template
    from streams.protocol import apply_lua
    assert "local POS = {epoch = 'e:', writes = 'n:', next = 'o:', sep = ':'}" in apply_lua()
    assert layout.Layout("bp").drop_lock() == layout.Layout("bp").generations() + ":droplock"
