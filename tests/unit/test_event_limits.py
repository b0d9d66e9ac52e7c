"""The size and nesting limits of one event (schemas/limits.py), as decode_event applies them
on both ways in: the bytes the worker reads from the topic and the bytes the API produces."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from schemas.events import EventRejected, decode_event, encode_event
from schemas.limits import DEFAULT_LIMITS, MAX_EVENT_BYTES, MAX_EVENT_DEPTH, EventLimits

NOW = 1_776_686_400_000_000  # 2026-04-20T12:00:00Z


def event(**extra: Any) -> dict[str, Any]:
    return {"event_id": "e-1", "type": "award.accepted", "occurred_at": "2026-04-13T09:30:00Z",
            "org_id": "acme", "award_id": "aw-1", **extra}


def nested(levels: int) -> Any:
    """A value that is `levels` arrays/objects deep (alternating), 0 for a plain number."""
    value: Any = 0
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


def verdict(raw: bytes, limits: EventLimits = DEFAULT_LIMITS) -> str:
    try:
        decode_event(raw, NOW, limits)
    except EventRejected as err:
        return err.reason
    return "accepted"


def test_the_defaults_are_900_kib_and_32_levels() -> None:
    assert (MAX_EVENT_BYTES, MAX_EVENT_DEPTH) == (921_600, 32)


def test_an_event_of_exactly_the_byte_limit_is_accepted_and_one_byte_more_is_too_large() -> None:
    base = orjson.dumps(event(note=""))
    pad = MAX_EVENT_BYTES - len(base)
    at_limit = orjson.dumps(event(note="x" * pad))
    assert len(at_limit) == 921_600
    assert verdict(at_limit) == "accepted"
    over = orjson.dumps(event(note="x" * (pad + 1)))
    assert verdict(over) == ("too_large: the event is 921601 bytes, over the limit of 921600 "
                             "bytes per event")


def test_a_too_large_event_still_names_its_event_and_org() -> None:
    with pytest.raises(EventRejected) as info:
        decode_event(orjson.dumps(event(note="x" * 2_000_000)), NOW)
    assert info.value.reason.startswith("too_large: the event is 2000")
    assert (info.value.event_id, info.value.org_id) == ("e-1", "acme")


def test_the_byte_limit_follows_the_setting() -> None:
    raw = orjson.dumps(event(note="x" * 2000))
    assert verdict(raw, EventLimits(max_bytes=4096)) == "accepted"
    assert verdict(raw, EventLimits(max_bytes=1024)).startswith(
        f"too_large: the event is {len(raw)} bytes, over the limit of 1024 bytes")


def test_an_extra_field_may_nest_to_level_32_counting_the_event_itself() -> None:
    # the event object is level 1, so its field may hold 31 levels
    assert verdict(orjson.dumps(event(extra=nested(31)))) == "accepted"
    assert verdict(orjson.dumps(event(extra=nested(32)))) == (
        "too_deep: objects/arrays nested more than 32 levels (in field 'extra')")


@pytest.mark.parametrize("levels", [33, 253, 254, 300, 1022])
def test_deep_nesting_is_too_deep_both_from_bytes_and_from_a_decoded_array_element(
    levels: int,
) -> None:
    # the decoded element is what the API holds for an event of a JSON array; orjson cannot
    # even encode it past 254 levels, yet its verdict is the same as for its bytes
    element = event(extra=nested(levels))
    raw = b'{"event_id":"e-1","type":"award.accepted","occurred_at":"2026-04-13T09:30:00Z",' \
          b'"org_id":"acme","award_id":"aw-1","extra":' + b"[" * levels + b"0" + \
          b"]" * levels + b"}"
    reason = "too_deep: objects/arrays nested more than 32 levels (in field 'extra')"
    assert verdict(raw) == reason
    with pytest.raises(EventRejected) as info:
        decode_event(encode_event(element), NOW)
    assert info.value.reason == reason
    assert (info.value.event_id, info.value.org_id) == ("e-1", "acme")


def test_nesting_beyond_what_orjson_decodes_is_too_deep_not_bad_json() -> None:
    raw = b'{"event_id":"e-1","x":' + b"[" * 5000 + b"]" * 5000 + b"}"
    assert verdict(raw) == "too_deep: objects/arrays nested more than 32 levels"


def test_brackets_inside_strings_do_not_count_as_nesting() -> None:
    assert verdict(orjson.dumps(event(reason="[" * 100 + "{" * 100))) == "accepted"


def test_the_size_is_checked_before_the_json() -> None:
    assert verdict(b"{" * (MAX_EVENT_BYTES + 1)).startswith("too_large: the event is 921601")


def test_encode_event_gives_the_bytes_decode_event_accepts() -> None:
    obj = event(extra={"a": [1, 2.5, "é", None, True]})
    raw = encode_event(obj)
    assert orjson.loads(raw) == obj
    assert decode_event(raw, NOW).event_id == "e-1"
