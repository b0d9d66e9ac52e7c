"""The test session starts a real Tansu broker and a real Redis on free ports.

Every test gets its own topic, consumer group and Redis key prefix, so tests never see
each other's data.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from redis.asyncio import Redis

from badgepulse.embedded import Embedded
from core.redisclient import connect
from core.settings import Settings
from tests import containers

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"


def pytest_addoption(parser: pytest.Parser) -> None:
    containers.add_option(parser)  # --containers (tests/containers.py)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    containers.keep_container_tests(config, items)


@pytest.fixture(scope="session")
def infra(request: pytest.FixtureRequest) -> Iterator[Embedded]:
    if containers.wanted(request.config):
        with containers.container_servers() as servers:
            yield servers  # type: ignore[misc]  # duck-typed: what the tests read of Embedded
        return
    emb = Embedded()
    try:
        emb.start_kafka()
        emb.start_redis()
        yield emb
    finally:
        emb.stop()


def isolated_settings(infra: Embedded) -> Settings:
    """Settings with a topic, group and key prefix of their own, quick group joins, and no
    practical per-key request rate."""
    tag = uuid.uuid4().hex[:8]
    return Settings(
        kafka_bootstrap=infra.kafka_bootstrap, redis_url=infra.redis_url,
        redis_prefix=f"t{tag}", topic=f"ev-{tag}", dlq_topic=f"dlq-{tag}",
        consumer_group=f"g-{tag}", partitions=4, batch_max=2000, batch_within_ms=20,
        # Tansu holds a group's first join for about half the session timeout: 2 s at 3 s
        # instead of 3 s at the default's 6 (measured), on every worker a test starts (the
        # heartbeat keeps its ratio)
        broker_session_timeout=3, broker_rebalance_timeout=3, broker_heartbeat_interval=0.5,
        # tests send one key's requests back to back, far faster than a person: lift the
        # per-key rate (tests of the limit set their own, tests/api/test_faults.py)
        key_rate=1e6, key_burst=1_000_000,
        # tests read right after the worker caught up and expect that commit: exact answers
        # (the bounded staleness of the default is tested in tests/api/test_answer_cache.py)
        answer_stale_ms=0,
    )


@pytest.fixture
def settings(infra: Embedded) -> Settings:
    return isolated_settings(infra)


async def asgi_client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client on the app itself, with its lifespan (Redis, publisher) running."""
    from api.main import create_app

    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as c:
            yield c


def settings_env(s: Settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BADGEPULSE_")}
    for name, value in s.model_dump().items():
        env[f"BADGEPULSE_{name.upper()}"] = str(value)
    return env


@dataclass
class WorkerProcs:
    """`badgepulse worker` processes, started and killed as a user would."""

    settings: Settings
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> subprocess.Popen[bytes]:
        log = open(ARTIFACTS / f"worker-{self.settings.redis_prefix}.log", "ab")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "badgepulse.cli", "worker"],
                                env=settings_env(self.settings), stdout=log, stderr=log,
                                cwd=ROOT)
        self.procs.append(proc)
        return proc

    def kill(self, proc: subprocess.Popen[bytes]) -> None:
        proc.send_signal(signal.SIGKILL)
        proc.wait()

    def stop_all(self) -> None:
        """At the end of a test: killed outright. A graceful stop costs a second each
        (Faust's), and nothing is left to hand over: the topic, group and keys are the
        test's own. The tests of stopping stop their workers themselves."""
        for p in self.procs:
            if p.poll() is None:
                p.kill()
        for p in self.procs:
            p.wait()


@pytest.fixture
def workers(settings: Settings) -> Iterator[WorkerProcs]:
    ARTIFACTS.mkdir(exist_ok=True)
    w = WorkerProcs(settings)
    try:
        yield w
    finally:
        w.stop_all()


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    r = connect(settings)
    try:
        yield r
    finally:
        await r.aclose()


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async for c in asgi_client(settings):
        yield c


async def publish(settings: Settings, records: Iterable[tuple[bytes | None, bytes]]) -> int:
    from core.kafka import ensure_topics

    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                linger_ms=5, max_batch_size=512 * 1024)
    await producer.start()
    n = 0
    try:
        futs = []
        for key, value in records:
            futs.append(await producer.send(settings.topic, value, key=key))
            n += 1
        acked = await asyncio.gather(*futs)
    finally:
        await producer.stop()
    call: dict[int, int] = {}
    for md in acked:
        call[md.partition] = max(call.get(md.partition, 0), md.offset + 1)
    where = (settings.kafka_bootstrap, settings.topic)
    ends = PUBLISHED.get(where, {})
    if any(end < ends.get(p, 0) for p, end in call.items()):
        ends = {}  # offsets went back: the broker came back with a new log, the old ones are void
    PUBLISHED[where] = {p: max(ends.get(p, 0), call.get(p, 0)) for p in ends.keys() | call.keys()}
    return n


# The next offset of each partition after the records publish() had acknowledged, per
# (broker, topic): caught_up waits for the worker to have applied up to there. The broker's
# own end offsets are not enough: Tansu's can trail records it has acknowledged for a moment,
# so a lag of 0 could be read before the last batch was applied.
PUBLISHED: dict[tuple[str, str], dict[int, int]] = {}


def event_key(e: dict[str, Any]) -> bytes:
    """The record key events.md asks producers for: the award, else the badge, else the
    issuer (so an award's events share a partition)."""
    return str(e.get("award_id") or e.get("badge_id") or e.get("issuer_id")).encode()


async def publish_events(settings: Settings, events: Iterable[dict[str, Any]]) -> int:
    """Publish event objects as a platform would: JSON values, keyed by event_key."""
    import orjson

    return await publish(settings, [(event_key(e), orjson.dumps(e)) for e in events])


async def caught_up(settings: Settings, timeout: float = 120.0) -> dict[str, Any]:
    """Wait until every published event is applied; return the pipeline status."""
    from core.generations import serving_layout
    from core.status import read_status

    r = connect(settings)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            layout = await serving_layout(r, settings.redis_prefix)
            status = await read_status(settings, r, layout)
            if status["lag"] == 0 and await _applied_all_published(settings, r, layout):
                return status
            await asyncio.sleep(0.2)
        raise TimeoutError(f"worker not caught up after {timeout}s: {status}")
    finally:
        await r.aclose()


async def _applied_all_published(settings: Settings, r: Any, layout: Any) -> bool:
    from schemas.layout import tp_field

    want = PUBLISHED.get((settings.kafka_bootstrap, settings.topic), {})
    if not want:
        return True
    stored = await r.hgetall(layout.offsets())
    done = {k.decode(): int(v) for k, v in stored.items()}
    return all(done.get(tp_field(settings.topic, p), 0) >= end for p, end in want.items())


async def make_key(settings: Settings, org: str, role: str, issuers: tuple[str, ...] = ()) -> str:
    from core.keys import create_key
    from schemas.layout import Layout

    r = connect(settings)
    try:
        _k, token = await create_key(r, Layout(settings.redis_prefix), org, role,  # type: ignore[arg-type]
                                     issuers)
        return token
    finally:
        await r.aclose()


@contextlib.contextmanager
def api_server(settings: Settings) -> Iterator[str]:
    """`badgepulse api` as a real uvicorn process on a free port; yields its base URL."""
    from badgepulse.embedded import free_port, wait_port

    port = free_port()
    ARTIFACTS.mkdir(exist_ok=True)
    with open(ARTIFACTS / f"api-{settings.redis_prefix}.log", "wb") as log:
        api = subprocess.Popen([sys.executable, "-m", "badgepulse.cli", "api", "--port",
                                str(port)], env=settings_env(settings), cwd=ROOT, stdout=log,
                               stderr=log)
        try:
            wait_port(port, 30, api)
            yield f"http://127.0.0.1:{port}"
        finally:
            api.terminate()
            api.wait(timeout=10)
