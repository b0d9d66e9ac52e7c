"""POST /v1/events: formats, per-event rejections, limits, durability, broker down."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schemas.events import EventRejected, decode_event, encode_event
from schemas.limits import EventLimits
from tests.conftest import asgi_client, isolated_settings, make_key
from tests.unit.test_events_properties import near_events


def event(i: int, org: str = "acme", **kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "event_id": f"e-{i}", "type": "award.issued",
        "occurred_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"), "org_id": org,
        "issuer_id": "eng", "badge_id": "py", "award_id": f"a-{i}", "method": "lms"}
    base.update(kw)
    return base


async def topic_values(settings, n: int, timeout: float = 15) -> list[bytes]:
    c = AIOKafkaConsumer(settings.topic, bootstrap_servers=settings.kafka_bootstrap,
                         auto_offset_reset="earliest", group_id=None)
    await c.start()
    out: list[bytes] = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            for msgs in (await c.getmany(timeout_ms=200)).values():
                out += [m.value for m in msgs]
    finally:
        await c.stop()
    return out


async def test_an_array_is_accepted_with_per_event_rejections(settings, client):
    key = await make_key(settings, "acme", "publisher")
    body = [event(1), event(2, method="Bad Method"), event(3, org="globex"), {"type": "x"},
            event(4)]
    r = await client.post("/v1/events", json=body, headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 202, r.text
    out = r.json()
    assert out["accepted"] == 2
    rejected = {x["index"]: x for x in out["rejected"]}
    assert set(rejected) == {1, 2, 3}
    assert rejected[1]["reason"].startswith("method") and rejected[1]["event_id"] == "e-2"
    assert rejected[2]["reason"].startswith("org_id")
    # 202 means written: both accepted events are on the topic, keyed for their award
    values = await topic_values(settings, 2)
    assert sorted(orjson.loads(v)["event_id"] for v in values) == ["e-1", "e-4"]


async def test_a_single_object_and_ndjson_are_accepted(settings, client):
    key = await make_key(settings, "acme", "publisher")
    h = {"Authorization": f"Bearer {key}"}
    r = await client.post("/v1/events", json=event(10), headers=h)
    assert r.status_code == 202 and r.json()["accepted"] == 1
    nd = b"\n".join([orjson.dumps(event(11)), b"{not json", orjson.dumps(event(12)), b""])
    r = await client.post("/v1/events", content=nd,
                          headers={**h, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text
    assert r.json()["accepted"] == 2
    assert [x["index"] for x in r.json()["rejected"]] == [1]


async def test_too_many_events_or_bytes_is_413_and_bad_json_400(settings, client):
    key = await make_key(settings, "acme", "publisher")
    h = {"Authorization": f"Bearer {key}"}
    r = await client.post("/v1/events", json=[event(i) for i in range(10_001)], headers=h)
    assert r.status_code == 413 and "10000" in r.text
    big = b"[" + b" " * (5 * 1024 * 1024) + b"]"
    r = await client.post("/v1/events", content=big,
                          headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 413
    r = await client.post("/v1/events", content=b"{oops",
                          headers={**h, "Content-Type": "application/json"})
    assert r.status_code == 400 and "body" in r.text


async def test_a_dead_broker_is_503_with_retry_after(settings, infra):
    import httpx

    from api.main import create_app
    from badgepulse.embedded import free_port

    dead = settings.model_copy(update={"kafka_bootstrap": f"127.0.0.1:{free_port()}"})
    key = await make_key(settings, "acme", "publisher")
    app = create_app(dead)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                     base_url="http://t") as c:
            r = await c.post("/v1/events", json=[event(1)],
                             headers={"Authorization": f"Bearer {key}"})
            assert r.status_code == 503
            assert r.headers["retry-after"]
            ready = await c.get("/readyz")
            assert ready.status_code == 503 and ready.json() == {"redis": True, "kafka": False}


# ------------------------------------------------------- one verdict per event, both ways in


async def topic_events(settings, expected: int, quiet: float = 1.0) -> list[str]:
    """The event_ids on the events topic: read until `expected` arrived, then `quiet` seconds
    more, so that anything beyond them shows up too."""
    values = await topic_values(settings, expected)
    c = AIOKafkaConsumer(settings.topic, bootstrap_servers=settings.kafka_bootstrap,
                         auto_offset_reset="earliest", group_id=None)
    await c.start()
    out: list[bytes] = []
    try:
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            got = [m.value for msgs in (await c.getmany(timeout_ms=int(quiet * 1000))).values()
                   for m in msgs]
            out += got
            if not got and len(out) >= len(values):
                break
    finally:
        await c.stop()
    return sorted(orjson.loads(v)["event_id"] for v in out)


def nested(levels: int) -> object:
    value: object = 0
    for i in range(levels):
        value = [value] if i % 2 else {"k": value}
    return value


async def test_an_oversize_event_is_rejected_too_large_and_the_rest_of_the_batch_written(
    settings, client
):
    key = await make_key(settings, "acme", "publisher")
    big = event(5, note="x" * (1100 * 1024))  # over the producer's 1 MiB message size too
    r = await client.post("/v1/events", json=[event(i) for i in range(5)] + [big],
                          headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 202, r.text[:300]
    out = r.json()
    assert out["accepted"] == 5
    (rej,) = out["rejected"]
    assert (rej["index"], rej["event_id"], rej["retryable"]) == (5, "e-5", False)
    assert rej["reason"].startswith("too_large: the event is 11")
    assert "over the limit of 921600 bytes per event" in rej["reason"]
    # what the answer says is what is on the topic: the five, and nothing else
    assert await topic_events(settings, 5) == [f"e-{i}" for i in range(5)]


async def test_a_body_of_exactly_5_mib_of_small_events_is_accepted_whole(settings, client):
    key = await make_key(settings, "acme", "publisher")
    n = 9000
    body = orjson.dumps([event(i, note="y" * 400) for i in range(n)])
    limit = 5 * 1024 * 1024
    assert len(body) < limit
    body = body[:-1] + b" " * (limit - len(body)) + b"]"  # pad to the limit exactly
    assert len(body) == limit
    r = await client.post("/v1/events", content=body, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert r.status_code == 202, r.text[:300]
    assert r.json() == {"accepted": n, "rejected": []}
    assert len(await topic_events(settings, n, quiet=0.3)) == n


async def test_deep_nesting_is_rejected_too_deep_per_event_in_arrays_and_ndjson(settings, client):
    key = await make_key(settings, "acme", "publisher")
    h = {"Authorization": f"Bearer {key}"}
    # the event object is level 1: an extra field may hold 31 levels
    batch = [event(1), event(2, extra=nested(300)), event(3, extra=nested(32)),
             event(4, extra=nested(31)), event(5, extra=nested(253))]
    r = await client.post("/v1/events", json=batch, headers=h)
    assert r.status_code == 202, r.text[:300]
    too_deep = "too_deep: objects/arrays nested more than 32 levels (in field 'extra')"
    assert r.json() == {"accepted": 2, "rejected": [
        {"index": i, "event_id": f"e-{i + 1}", "reason": too_deep, "retryable": False,
         "line": None} for i in (1, 2, 4)]}
    # NDJSON lines go to the topic as they are, so any depth gets its verdict
    lines = [orjson.dumps(event(6)),
             b'{"event_id":"e-7","org_id":"acme","x":' + b"[" * 2000 + b"]" * 2000 + b"}",
             orjson.dumps(event(8, extra=nested(40)))]
    r = await client.post("/v1/events", content=b"\n".join(lines),
                          headers={**h, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text[:300]
    out = r.json()
    assert out["accepted"] == 1
    assert [(x["index"], x["line"], x["reason"]) for x in out["rejected"]] == [
        (1, 2, "too_deep: objects/arrays nested more than 32 levels"), (2, 3, too_deep)]
    assert await topic_events(settings, 3) == ["e-1", "e-4", "e-6"]


async def test_a_json_body_nested_past_what_json_parsers_take_is_a_400_naming_it(
    settings, client
):
    key = await make_key(settings, "acme", "publisher")
    body = b'[{"event_id":"e-1","x":' + b"[" * 1100 + b"]" * 1100 + b"}]"
    r = await client.post("/v1/events", content=body, headers={
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["detail"].startswith("body: not valid JSON (depth limit exceeded")


# ------------------------------------------- the HTTP path and the topic path agree (property)

PROPERTY_ORG = "acme"


@pytest.fixture(scope="module")
def small_limits_settings(infra):
    """A 4 KiB event limit, so generated events reach it."""
    return isolated_settings(infra).model_copy(update={"event_max_bytes": 4096})


@pytest.fixture(scope="module")
async def property_client(small_limits_settings):
    async for c in asgi_client(small_limits_settings):
        yield c


@pytest.fixture(scope="module")
async def property_key(small_limits_settings):
    return await make_key(small_limits_settings, PROPERTY_ORG, "publisher")


def topic_verdict(raw: bytes, limits: EventLimits) -> str:
    """What the worker does with `raw` on the topic (decode_event), and then the key's org
    check of the HTTP path: "accepted" or the rejection reason."""
    try:
        ev = decode_event(raw, time.time_ns() // 1000, limits)
    except EventRejected as err:
        return err.reason
    if ev.org_id != PROPERTY_ORG:
        return "org_id: not the organization of this key"
    return "accepted"


def http_verdicts(out: dict[str, object], n: int) -> list[str]:
    reasons = {r["index"]: r["reason"] for r in out["rejected"]}  # type: ignore[attr-defined,index]
    assert out["accepted"] == n - len(reasons)
    return [reasons.get(i, "accepted") for i in range(n)]


single_line = st.binary(min_size=1, max_size=300).filter(
    lambda b: b"\n" not in b and b"\r" not in b and b.strip() != b"")


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
@given(st.lists(near_events().map(lambda o: {**o, "org_id": PROPERTY_ORG}) | near_events(),
                min_size=1, max_size=8),
       st.lists(single_line, max_size=3))
async def test_the_ingest_route_and_the_worker_give_every_event_the_same_verdict(
    property_client, property_key, small_limits_settings, objects, junk_lines
):
    limits = small_limits_settings.event_limits
    h = {"Authorization": f"Bearer {property_key}"}
    # NDJSON: each line goes to the topic as it is, so its verdict is decode_event's on it
    lines = [orjson.dumps(o) for o in objects if depth_of(o) < 250] + junk_lines
    r = await property_client.post("/v1/events", content=b"\n".join(lines),
                                   headers={**h, "Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text[:300]
    sent = [line.strip() for line in lines]
    assert http_verdicts(r.json(), len(sent)) == [topic_verdict(s, limits) for s in sent]
    # A JSON array: each element goes to the topic as orjson encodes it
    r = await property_client.post("/v1/events", json=objects, headers=h)
    assert r.status_code == 202, r.text[:300]
    expected = []
    for o in objects:
        try:
            expected.append(topic_verdict(encode_event(o, limits), limits))
        except EventRejected as err:  # nested too deep to encode: no bytes to produce
            expected.append(err.reason)
    assert http_verdicts(r.json(), len(objects)) == expected


def depth_of(value: object) -> int:
    deepest, stack = 0, [(value, 1)]
    while stack:
        v, d = stack.pop()
        if isinstance(v, dict | list):
            deepest = max(deepest, d)
            stack.extend((c, d + 1) for c in (v.values() if isinstance(v, dict) else v))
    return deepest
