"""POST /v1/events while the broker stalls: a broker of the test's own gets SIGSTOP for 15 s
in the middle of HTTP ingest, then SIGCONT. A client that does what the API tells it (wait
Retry-After on a 503, send again the events a 202 marks retryable) ends with every event
applied exactly once, and the numbers equal a brute-force count."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from redis.asyncio import Redis

from badgepulse.embedded import Embedded
from core.generations import serving_layout
from core.kafka import ensure_topics
from core.settings import Settings
from core.status import read_status
from tests.conftest import WorkerProcs, api_server, isolated_settings, make_key
from tests.stream.conftest import record_figure

ORG = "acme"
CLIENTS = 2
BATCHES = 30  # per client
BATCH = 40  # events per batch
STALL_AFTER_S = 2.0
STALL_S = 15.0


def client_events(client: int, day: datetime) -> list[list[dict[str, Any]]]:
    """One client's batches: its awards issued, then every third of them accepted (after the
    issue was acknowledged, so nothing is held). Awards are the client's own."""
    issued_at = (day + timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M:%SZ")
    accepted_at = (day + timedelta(hours=13)).strftime("%Y-%m-%dT%H:%M:%SZ")
    awards = [f"c{client}-a{i}" for i in range(BATCHES * BATCH * 3 // 4)]
    events: list[dict[str, Any]] = [
        {"event_id": f"i-{aw}", "type": "award.issued", "occurred_at": issued_at,
         "org_id": ORG, "issuer_id": "eng", "badge_id": f"b{i % 7}", "award_id": aw,
         "method": "lms"} for i, aw in enumerate(awards)]
    events += [{"event_id": f"x-{aw}", "type": "award.accepted", "occurred_at": accepted_at,
                "org_id": ORG, "award_id": aw} for aw in awards[::3]]
    events = events[:BATCHES * BATCH]
    return [events[i:i + BATCH] for i in range(0, len(events), BATCH)]


class Tally:
    """What the client met on its way."""

    def __init__(self) -> None:
        self.unavailable = 0  # 503 answers
        self.retryable = 0  # events a 202 marked retryable
        self.transport_errors = 0  # the request itself failed (timeout)


async def send_until_accepted(c: httpx.AsyncClient, key: str, batch: list[dict[str, Any]],
                              tally: Tally) -> None:
    """Post a batch until every event of it is accepted, as the API's answers say."""
    pending = batch
    deadline = time.monotonic() + 120
    while pending:
        assert time.monotonic() < deadline, f"{len(pending)} events never accepted"
        try:
            r = await c.post("/v1/events", json=pending, headers={"Authorization": f"Bearer {key}"})
        except httpx.TransportError:
            tally.transport_errors += 1  # no answer: nothing is known, send them again
            await asyncio.sleep(1)
            continue
        if r.status_code == 503:
            tally.unavailable += 1
            await asyncio.sleep(float(r.headers["retry-after"]))
            continue
        assert r.status_code == 202, r.text[:300]
        out = r.json()
        assert all(x["retryable"] for x in out["rejected"]), out["rejected"][:3]
        again = [pending[x["index"]] for x in out["rejected"]]
        assert out["accepted"] == len(pending) - len(again)
        tally.retryable += len(again)
        pending = again
        if pending:
            await asyncio.sleep(1)


async def org_status(settings: Settings) -> dict[str, Any]:
    r = Redis.from_url(settings.redis_url)
    try:
        layout = await serving_layout(r, settings.redis_prefix)
        return await read_status(settings, r, layout, ORG)
    finally:
        await r.aclose()


async def wait_applied(settings: Settings, want: int, timeout: float = 120) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    status = await org_status(settings)
    while status["applied"] < want and time.monotonic() < deadline:
        await asyncio.sleep(0.5)
        status = await org_status(settings)
    return status


async def test_a_broker_stalled_15s_mid_ingest_loses_and_doubles_nothing(infra: Embedded) -> None:
    broker = Embedded()  # a broker of this test's own: the session's is never stopped
    broker.start_kafka()
    settings = isolated_settings(infra).model_copy(
        update={"kafka_bootstrap": broker.kafka_bootstrap})
    workers = WorkerProcs(settings)
    started = time.monotonic()
    try:
        workers.start()
        publisher = await make_key(settings, ORG, "publisher")
        admin = await make_key(settings, ORG, "org_admin")
        day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) \
            - timedelta(days=1)
        plans = [client_events(n, day) for n in range(CLIENTS)]
        every = [e for plan in plans for batch in plan for e in batch]
        tally = Tally()
        tansu = broker.procs[0]

        async def stall() -> None:
            await asyncio.sleep(STALL_AFTER_S)
            os.kill(tansu.pid, signal.SIGSTOP)
            try:
                await asyncio.sleep(STALL_S)
            finally:
                os.kill(tansu.pid, signal.SIGCONT)

        with api_server(settings) as url:
            async with httpx.AsyncClient(base_url=url, timeout=40) as c:

                async def client(plan: list[list[dict[str, Any]]]) -> None:
                    for batch in plan:
                        await send_until_accepted(c, publisher, batch, tally)
                        await asyncio.sleep(0.3)

                await asyncio.gather(stall(), *(client(plan) for plan in plans))
                status = await wait_applied(settings, len(every))
                await asyncio.sleep(2)  # anything applied twice would show by now
                status = await org_status(settings)

                # exactly once: every event applied, none twice, none rejected or held
                assert (status["applied"], status["rejected"], status["held"]) == (
                    len(every), 0, 0), status
                # the fault was felt, and answered with 503s and/or retryable rejections
                assert tally.unavailable + tally.retryable + tally.transport_errors > 0

                # the numbers a user reads equal a brute-force count of what was sent
                d = day.date().isoformat()
                r = await c.get(f"/v1/orgs/{ORG}/summary?from={d}&to={d}",
                                headers={"Authorization": f"Bearer {admin}"})
                assert r.status_code == 200, r.text[:300]
                metrics = r.json()["metrics"]
                issued = {e["award_id"] for e in every if e["type"] == "award.issued"}
                accepted = {e["award_id"] for e in every if e["type"] == "award.accepted"}
                assert accepted <= issued
                assert (metrics["badges_awarded"], metrics["accepted_awards"]) == (
                    len(issued), len(accepted))
        record_figure("ingest_broker_sigstop", events=len(every), stall_s=STALL_S,
                      answers_503=tally.unavailable, retryable_events=tally.retryable,
                      transport_errors=tally.transport_errors,
                      seconds=round(time.monotonic() - started, 1))
    finally:
        workers.stop_all()
        broker.stop()


# ------------------------------------------------- both ways in, through the real worker


def both_ways_events(prefix: str, day: datetime) -> list[bytes]:
    """The same events for each way in (ids start with `prefix`, of one length)."""
    at = (day + timedelta(hours=9)).strftime("%Y-%m-%dT%H:%M:%SZ")

    def ev(n: int, **kw: Any) -> dict[str, Any]:
        return {"event_id": f"{prefix}-{n}", "occurred_at": at, "org_id": ORG, **kw}

    issued = {"type": "award.issued", "issuer_id": "eng", "badge_id": "py",
              "award_id": f"{prefix}-a1", "method": "lms"}
    deep: Any = 0
    for _ in range(40):
        deep = {"k": [deep]}
    return [orjson.dumps(o) for o in (
        ev(1, **issued),
        ev(2, type="award.accepted", award_id=f"{prefix}-a1"),
        ev(3, **issued, note="x" * (850 * 1024)),  # over the setting, under the default
        ev(4, **issued, note="x" * (950 * 1024)),  # over 900 KiB, under the broker's 1 MiB
        ev(5, **issued, note="x" * (1500 * 1024)),  # over 1 MiB: only a producer of its own
        ev(6, **issued, extra=deep),
        ev(7, **{**issued, "method": "Bad Method"}),
    )] + [b'{"event_id": "' + prefix.encode() + b'-8", oops']


async def dlq_reasons(settings: Settings, n: int, timeout: float = 30) -> list[str]:
    c = AIOKafkaConsumer(settings.dlq_topic, bootstrap_servers=settings.kafka_bootstrap,
                         auto_offset_reset="earliest", group_id=None)
    await c.start()
    out: list[str] = []
    try:
        deadline = time.monotonic() + timeout
        while len(out) < n and time.monotonic() < deadline:
            for msgs in (await c.getmany(timeout_ms=200)).values():
                out += [dict(m.headers)["reason"].decode() for m in msgs]
    finally:
        await c.stop()
    return out


@pytest.fixture
def settings(infra: Embedded) -> Settings:
    """Overrides conftest's: an event limit below the default, set for the API and the
    worker alike, so the test sees both honour the setting."""
    return isolated_settings(infra).model_copy(update={"event_max_bytes": 800 * 1024})


async def test_the_worker_rejects_what_the_api_rejects_with_the_same_reasons(
    settings: Settings, client: httpx.AsyncClient, workers: WorkerProcs
) -> None:
    day = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) \
        - timedelta(days=1)
    key = await make_key(settings, ORG, "publisher")
    # over HTTP
    r = await client.post("/v1/events", content=b"\n".join(both_ways_events("h", day)),
                          headers={"Authorization": f"Bearer {key}",
                                   "Content-Type": "application/x-ndjson"})
    assert r.status_code == 202, r.text[:300]
    out = r.json()
    assert out["accepted"] == 2
    api_reasons = sorted(x["reason"] for x in out["rejected"])
    assert [x["index"] for x in out["rejected"]] == [2, 3, 4, 5, 6, 7]
    assert out["rejected"][0]["reason"].endswith("over the limit of 819200 bytes per event")
    # straight to the topic, by a producer that allows records larger than 1 MiB
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                max_request_size=4 * 1024 * 1024)
    await producer.start()
    try:
        for raw in both_ways_events("k", day):
            await (await producer.send(settings.topic, raw, key=b"k-a1"))
    finally:
        await producer.stop()

    workers.start()
    # both ways: the two valid events each, and the topic's six others rejected (none
    # stuck: the 1.5 MiB one goes to the dead-letter topic whole)
    reasons = sorted(await dlq_reasons(settings, 6))
    status = await wait_applied(settings, 4)
    deadline = time.monotonic() + 15  # the dead letters go out just before their commit
    while status["rejected"] < 5 and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        status = await org_status(settings)
    assert (status["applied"], status["held"]) == (4, 0), status
    # "{... oops" names no org: it counts in the pipeline's totals, not the org's
    assert status["rejected"] == 5, status
    # the worker's reasons (dead-letter headers) are the API's, word for word
    assert reasons == api_reasons
