"""Properties of event validation, over inputs Hypothesis makes up.

decode_event is what the worker runs on every record of the topic and what the API runs on
the bytes it is about to produce: whatever arrives, it must answer with an Event or an
EventRejected naming the field or the limit, and never fail in any other way (a crash in the
worker would stop the stream; in the API it would be a 500).
"""

from __future__ import annotations

from typing import Any

import orjson
from hypothesis import HealthCheck, assume, example, given, settings
from hypothesis import strategies as st

from schemas.events import EVENT_TYPES, Event, EventRejected, decode_event, encode_event
from schemas.limits import EventLimits
from tests.examples import examples

NOW = 1_776_686_400_000_000  # 2026-04-20T12:00:00Z
SMALL = EventLimits(max_bytes=4096, max_depth=8)  # small limits, so examples reach them
FIELDS = ("event_id", "type", "occurred_at", "org_id", "schema_version", "issuer_id",
          "badge_id", "award_id", "name", "skills", "visibility", "method", "channel",
          "source", "recipient_id", "reason")

FAST = settings(max_examples=examples(300), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# JSON scalars as orjson decodes them (integers within 64 bits; larger ones decode to floats,
# see test_numbers_out_of_range_never_break_validation), odd floats and any Unicode text
scalars = (st.none() | st.booleans() | st.integers(min_value=-(2**63), max_value=2**64 - 1)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=40))
json_values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                 max_size=4),
    max_leaves=30)


def deep(levels: int, leaf: Any = 0) -> Any:
    value = leaf
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


valid_values: dict[str, st.SearchStrategy[Any]] = {
    "event_id": st.from_regex(r"[A-Za-z0-9._:-]{1,20}", fullmatch=True),
    "type": st.sampled_from(sorted(EVENT_TYPES)),
    "occurred_at": st.sampled_from(["2026-04-13T09:30:00Z", "2026-04-13T09:30:00.5+02:00",
                                    "1999-12-31T23:59:60Z"]),
    "org_id": st.from_regex(r"[A-Za-z0-9._-]{1,12}", fullmatch=True),
    "issuer_id": st.sampled_from(["eng", "ops"]),
    "badge_id": st.sampled_from(["py", "k8s"]),
    "award_id": st.sampled_from(["aw-1", "aw-2"]),
    "name": st.text(min_size=1, max_size=20),
    "skills": st.lists(st.text(min_size=1, max_size=8), max_size=3),
    "visibility": st.sampled_from(["public", "private"]),
    "method": st.sampled_from(["lms", "api"]),
    "channel": st.sampled_from(["linkedin"]),
    "source": st.sampled_from(["direct"]),
}


@st.composite
def near_events(draw: st.DrawFn) -> dict[str, Any]:
    """Objects close to events: mostly valid fields, some replaced by any JSON value, some
    left out, and extra fields of any shape (deep, long, odd Unicode)."""
    obj: dict[str, Any] = {}
    for field in FIELDS:
        choice = draw(st.integers(0, 9))
        if field in valid_values and choice < 7:
            obj[field] = draw(valid_values[field])
        elif choice == 7:
            obj[field] = draw(json_values)
    extras = draw(st.dictionaries(st.text(max_size=6), json_values | st.builds(
        deep, st.integers(0, 40), scalars), max_size=3))
    for k, v in extras.items():
        obj.setdefault(k, v)
    if draw(st.booleans()):
        obj["padding"] = "x" * draw(st.integers(0, 5000))
    return obj


def verdict_of_bytes(raw: bytes, limits: EventLimits) -> str | Event:
    try:
        return decode_event(raw, NOW, limits)
    except EventRejected as err:
        return err.reason


@FAST
@given(st.binary(max_size=600))
@example(b"\xff\xfe{")
@example(b"[" * 3000)
@example(b'{"event_id":"\\ud800"}')
@example(b"1e400")
def test_any_bytes_decode_to_an_event_or_a_rejection(raw: bytes) -> None:
    for limits in (SMALL, EventLimits()):
        try:
            decode_event(raw, NOW, limits)
        except EventRejected as err:
            assert err.reason
            assert ":" in err.reason  # "<field or limit>: what is wrong"


@FAST
@given(json_values)
def test_any_json_value_decodes_to_an_event_or_a_rejection(value: Any) -> None:
    raw = orjson.dumps(value)
    for limits in (SMALL, EventLimits()):
        try:
            decode_event(raw, NOW, limits)
        except EventRejected as err:
            assert err.reason


@FAST
@given(near_events())
def test_the_verdict_on_a_decoded_element_is_the_verdict_on_its_bytes(obj: dict[str, Any]) -> None:
    """What the API holds for an element of a JSON array is judged by encode_event plus
    decode_event on the bytes it would produce; a producer writing the same object straight
    to the topic gets the same verdict from the worker."""
    for limits in (SMALL, EventLimits()):
        try:
            raw = orjson.dumps(obj)
        except orjson.JSONEncodeError:  # nested past 254 levels: only the API can hold it
            raw = None
        try:
            api: str | Event = decode_event(encode_event(obj, limits), NOW, limits)
        except EventRejected as err:
            api = err.reason
        if raw is not None:
            assert api == verdict_of_bytes(raw, limits)
        else:
            assert isinstance(api, str) and api.startswith("too_deep:")


@FAST
@given(near_events())
def test_an_accepted_event_is_within_both_limits(obj: dict[str, Any]) -> None:
    try:
        raw = encode_event(obj, SMALL)
        decode_event(raw, NOW, SMALL)
    except EventRejected:
        return
    assert len(raw) <= SMALL.max_bytes
    depth, stack = 0, [(obj, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            depth = max(depth, d)
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    assert depth <= SMALL.max_depth


@FAST
@given(st.integers(1, 60), st.sampled_from(sorted(EVENT_TYPES)))
def test_nesting_is_refused_exactly_past_the_limit(levels: int, etype: str) -> None:
    obj = {"event_id": "e-1", "type": etype, "occurred_at": "2026-04-13T09:30:00Z",
           "org_id": "acme", "extra": deep(levels)}
    reason = verdict_of_bytes(orjson.dumps(obj), SMALL)
    too_deep = "too_deep: objects/arrays nested more than 8 levels (in field 'extra')"
    # the event is level 1, so `extra` may hold 7 levels
    assert (reason == too_deep) == (levels > 7)


@FAST
@given(st.text(min_size=1, max_size=3000))
def test_strings_of_any_unicode_and_length_never_break_validation(text: str) -> None:
    assume(text)
    for field in ("name", "event_id", "reason", "org_id", "occurred_at"):
        obj = {"event_id": "e-1", "type": "award.revoked", "occurred_at": "2026-04-13T09:30:00Z",
               "org_id": "acme", "award_id": "aw-1", "name": "n", field: text}
        verdict_of_bytes(orjson.dumps(obj), SMALL)


@FAST
@given(st.from_regex(r"-?(0|[1-9][0-9]{0,399})(\.[0-9]{1,50})?([eE][-+]?[0-9]{1,5})?",
                     fullmatch=True),
       st.sampled_from(["schema_version", "event_id", "org_id", "extra"]))
def test_numbers_out_of_range_never_break_validation(number: str, field: str) -> None:
    raw = (b'{"event_id":"e-1","type":"award.accepted","occurred_at":"2026-04-13T09:30:00Z",'
           b'"org_id":"acme","award_id":"aw-1","' + field.encode() + b'":' + number.encode()
           + b"}")
    verdict = verdict_of_bytes(raw, EventLimits())
    # orjson (on both ways in) refuses a number that overflows a double
    if verdict == "body: not valid JSON":
        return
    if field == "extra":
        assert isinstance(verdict, Event)
    elif field == "schema_version":
        assert isinstance(verdict, Event) or verdict.startswith("schema_version: must be")
    else:
        assert verdict == f"{field}: must be a string, got number"
