"""schemas.fastevents.decode_events is only an accelerator: on every record it gives exactly
decode_event's verdict, the same Event field by field or a rejection with the same reason,
event_id and org_id.

Checked two ways: over records Hypothesis makes up (valid events of every type and near
misses of each rule, in batches, so one odd record sits among valid ones), and by running
every test of the event modules (test_events, test_events_properties, test_event_limits)
again with their decode_event replaced by one that asks both and compares them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from types import ModuleType
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import tests.unit.test_event_limits as limits_tests
import tests.unit.test_events as event_tests
import tests.unit.test_events_properties as property_tests
from schemas import fastevents
from schemas.events import EVENT_TYPES, Event, EventRejected, decode_event
from schemas.fastevents import decode_events
from schemas.limits import DEFAULT_LIMITS, EventLimits
from tests.examples import examples

NOW = 1_776_686_400_000_000  # 2026-04-20T12:00:00Z
VALID = (b'{"event_id":"v-1","type":"award.viewed","occurred_at":"2026-04-13T09:30:00.5Z",'
         b'"org_id":"acme","award_id":"aw-1","source":"direct"}')
MANY = settings(max_examples=examples(600), deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def verdict(raw: bytes, now_us: int = NOW,
            limits: EventLimits = DEFAULT_LIMITS) -> Event | EventRejected:
    try:
        return decode_event(raw, now_us, limits)
    except EventRejected as err:
        return err


def assert_same(fast: Event | EventRejected, slow: Event | EventRejected, raw: bytes) -> None:
    if isinstance(slow, Event):
        assert isinstance(fast, Event), (raw, slow, fast)
        for f in dataclasses.fields(Event):
            a, b = getattr(fast, f.name), getattr(slow, f.name)
            assert type(a) is type(b) and a == b, (raw, f.name, a, b)
    else:
        assert isinstance(fast, EventRejected), (raw, slow.reason, fast)
        assert (fast.reason, fast.event_id, fast.org_id) == (
            slow.reason, slow.event_id, slow.org_id), raw


def check_batch(raws: list[bytes], now_us: int = NOW,
                limits: EventLimits = DEFAULT_LIMITS) -> None:
    """decode_events over the batch, and over each record alone and between two valid
    ones, against decode_event record by record."""
    slow = [verdict(raw, now_us, limits) for raw in raws]
    fast = decode_events(raws, now_us, limits)
    assert len(fast) == len(raws)
    for raw, f, s in zip(raws, fast, slow, strict=True):
        assert_same(f, s, raw)
    for raw, s in zip(raws, slow, strict=True):
        assert_same(decode_events([raw], now_us, limits)[0], s, raw)
        assert_same(decode_events([VALID, raw, VALID], now_us, limits)[1], s, raw)


def both(raw: bytes, now_us: int, limits: EventLimits = DEFAULT_LIMITS) -> Event:
    """decode_event, checked against decode_events on the same record."""
    check_batch([raw], now_us, limits)
    slow = verdict(raw, now_us, limits)
    if isinstance(slow, EventRejected):
        raise slow
    return slow


# --- every test of the event modules again, with decode_event asking both -----------------

def _rerun(module: ModuleType, short: str) -> None:
    for name, fn in list(vars(module).items()):
        if name.startswith("test_") and callable(fn):
            globals()[f"test_{short}__{name[5:]}"] = fn


_rerun(event_tests, "events")
_rerun(property_tests, "properties")
_rerun(limits_tests, "limits")


@pytest.fixture(autouse=True)
def _decode_event_asks_both(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in (event_tests, property_tests, limits_tests):
        monkeypatch.setattr(module, "decode_event", both)


def test_the_rerun_tests_are_collected() -> None:
    names = [n for n in globals() if n.startswith(("test_events__", "test_properties__",
                                                    "test_limits__"))]
    assert len(names) >= 80


# --- generated records ----------------------------------------------------------------

ID = st.from_regex(r"[A-Za-z0-9._:\-]{1,12}", fullmatch=True)
ODD_TEXT = st.sampled_from(["", " ", "a\n", "\nb", "é", "x" * 129, "o" * 65, "A", "a b",
                            "a/b", "\u2028", "\ud7ff", "😀", "a\\u0041", "1", "\t"])
TS = st.sampled_from([
    "2026-04-13T09:30:00Z", "2026-04-13T09:30:00.5Z", "2026-04-13T09:30:00.123456Z",
    "2026-04-13T09:30:00.1234567Z", "2026-04-13t09:30:00z", "2026-04-13T09:30:00+02:00",
    "2026-04-13T23:30:00-05:00", "2026-04-13T09:30:00-00:00", "1999-12-31T23:59:60Z",
    "2026-02-29T00:00:00Z", "2024-02-29T00:00:00Z", "2026-04-13T24:00:00Z",
    "2026-04-13 09:30:00Z", "2026-04-13T09:30Z", "2026-04-13T09:30:00", "0000-01-01T00:00:00Z",
    "0001-01-01T00:00:00Z", "0001-01-01T00:30:00+01:00", "9999-12-31T23:59:59-23:59",
    "2026-04-21T11:59:59Z", "2026-04-21T12:00:01Z", "2999-01-01T00:00:00Z", "2026-04-13T09:30:00.Z",
    "2026-13-01T00:00:00Z", "2026-04-13T09:60:00Z", "2026-04-13T09:30:00+0200",
    "１２３４-04-13T09:30:00Z", "1970-01-01T00:00:00Z", "1969-12-31T23:59:59.999999Z"])
TOKEN = st.sampled_from(["direct", "linkedin", "lms", "my_lms", "LMS", "a-b", "", "x" * 33,
                         "x" * 32, "é"])
SCALAR = st.none() | st.booleans() | st.integers(-3, 2**64 - 1) | st.floats(allow_nan=False,
                                                                       allow_infinity=False)
VALUE_OF: dict[str, st.SearchStrategy[Any]] = {
    "event_id": ID, "org_id": st.from_regex(r"[A-Za-z0-9._\-]{1,8}", fullmatch=True),
    "occurred_at": TS, "issuer_id": ID, "badge_id": ID, "award_id": ID, "recipient_id": ID,
    "name": st.text(min_size=1, max_size=5) | st.just("n" * 257) | st.just("n" * 256),
    "skills": st.lists(st.text(min_size=1, max_size=4), max_size=3)
    | st.just(["s"] * 101) | st.just(["", "a"]) | st.just(["k" * 129]),
    "visibility": st.sampled_from(["public", "private", "Public", ""]),
    "method": TOKEN, "channel": TOKEN, "source": TOKEN,
    "reason": st.text(max_size=5) | st.just("r" * 1025),
    "user_agent": st.text(max_size=8) | st.just("u" * 513) | st.just("u" * 512),
    "schema_version": st.sampled_from([1, 2, 0, -1, 2**63 - 1, 2**63, 2**64 - 1, True, 1.0]),
}
FIELDS = sorted(VALUE_OF)


@st.composite
def records(draw: st.DrawFn) -> bytes:
    """An event of some type with each field valid, odd, of another JSON type, null or left
    out; sometimes an extra field, a duplicate key, spacing, a `\\u` escape, a number or
    text orjson refuses in a field no type reads."""
    obj: dict[str, Any] = {"type": draw(st.sampled_from(sorted(EVENT_TYPES))
                                        | st.sampled_from(["award.exploded", "", "AWARD.VIEWED"]))}
    for f in FIELDS:
        c = draw(st.integers(0, 19))
        if c < 12 and f in ("event_id", "org_id", "occurred_at", "award_id", "issuer_id",
                            "badge_id", "method", "source", "channel", "name", "visibility"):
            obj[f] = draw(VALUE_OF[f])
        elif c < 14:
            obj[f] = draw(VALUE_OF[f])
        elif c == 14:
            obj[f] = draw(ODD_TEXT)
        elif c == 15:
            obj[f] = draw(SCALAR)
    if draw(st.integers(0, 9)) == 0:
        obj[draw(st.sampled_from(["extra", "ts", "day", "name"]))] = draw(SCALAR | ODD_TEXT)
    raw = orjson.dumps(obj)
    trick = draw(st.integers(0, 11))
    if trick == 0:
        raw = raw.replace(b'":', b'" : ', 1)
    elif trick == 1 and len(obj) > 1:
        raw = raw[:-1] + b',"type":"award.accepted"}'  # a second type key: the last counts
    elif trick == 2:
        raw = raw.replace(b'"acme', b'"\\u0061cme').replace(b'"aw-', b'"\\u0061w-')
    elif trick == 3:
        raw = raw[:-1] + b',"extra":1e999}'
    elif trick == 4:
        raw = raw[:-1] + b',"extra":"\xff"}'
    elif trick == 5:
        raw = raw[:-1] + b',"extra":"\\ud800"}'
    elif trick == 6:
        raw = raw[:-1] + b',"award_id":"aw-2"}'  # a duplicate key: the last counts
    elif trick == 7:
        raw = raw + b" "
    elif trick == 8:
        raw = raw[:-1] + b',"schema_version":100000000000000000000000}'  # past 64 bits
    return raw


@MANY
@given(st.lists(records(), min_size=1, max_size=12))
@example([VALID])
@example([b'{"event_id":"e","type":"award.viewed","occurred_at":"2026-04-13T09:30:00Z",'
          b'"org_id":"o","award_id":"a\\nb","source":"direct"}'])
@example([b'{"event_id":"e","type":"award.viewed","occurred_at":"2026-04-13T09:30:00Z\\n'
          b'2026-04-13T09:30:00Z","org_id":"o","award_id":"a","source":"direct"}'])
def test_generated_records_get_decode_events_verdict(raws: list[bytes]) -> None:
    check_batch(raws)


@MANY
@given(st.lists(records(), min_size=1, max_size=6),
       st.sampled_from([EventLimits(max_bytes=120, max_depth=8),
                        EventLimits(max_bytes=4096, max_depth=1),
                        EventLimits(max_bytes=4096, max_depth=2)]))
def test_generated_records_under_other_limits(raws: list[bytes], limits: EventLimits) -> None:
    check_batch(raws, NOW, limits)


def test_the_demo_mix_decodes_alike_and_all_of_it_the_fast_way(
        monkeypatch: pytest.MonkeyPatch) -> None:
    from badgepulse import demo

    later = 2_000_000_000_000_000  # 2033: the demo's events are not in the future
    raws = [value for _key, value in demo.events("org0", 3000, seed=3)]
    check_batch(raws, later)
    monkeypatch.setattr(fastevents, "_slow", None)  # not called
    assert all(isinstance(x, Event) for x in decode_events(raws, later))


def test_one_invalid_value_in_a_batch_sends_only_its_record_the_slow_way(
        monkeypatch: pytest.MonkeyPatch) -> None:
    slowed: list[bytes] = []
    real: Callable[..., Any] = fastevents._slow

    def counted(raw: bytes, now_us: int, limits: EventLimits) -> Any:
        slowed.append(raw)
        return real(raw, now_us, limits)

    monkeypatch.setattr(fastevents, "_slow", counted)
    bad = VALID.replace(b'"aw-1"', b'"aw 1"')
    out = decode_events([VALID, bad, VALID.replace(b"v-1", b"v-2")], NOW)
    assert slowed == [bad]
    assert isinstance(out[1], EventRejected)
    assert out[1].reason == "award_id: must be 1-128 characters of [A-Za-z0-9._:-]"
    assert [type(x) for x in out] == [Event, EventRejected, Event]


def test_a_rejected_record_leaves_no_reference_cycle() -> None:
    """A rejection handed back (not raised) must not keep its traceback: its frames reach
    decode_events' own frame (f_back), whose list of verdicts holds the rejection again, so
    every batch with one invalid record stayed in memory, its bytes, Structs and stamps
    included, until the cycle collector ran (the worker's collector runs rarely, and with
    the default thresholds this garbage aged into full collections)."""
    import gc

    invalid = [b"not json", b'{"event_id":"x 1"}', VALID.replace(b'"aw-1"', b'"aw 1"'),
               VALID[:-1] + b',"extra":1}', VALID.replace(b"2026-04-13", b"2099-04-13")]
    gc.collect()
    gc.disable()
    try:
        out = decode_events([VALID, *invalid, VALID], NOW)
        assert [type(x) for x in out] == [Event, EventRejected, EventRejected, EventRejected,
                                          Event, EventRejected, Event]
        del out
        assert gc.collect() == 0
    finally:
        gc.enable()
