"""POST /v1/events: formats, per-event rejections, limits, durability, broker down."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import orjson
from aiokafka import AIOKafkaConsumer

from tests.conftest import make_key


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
