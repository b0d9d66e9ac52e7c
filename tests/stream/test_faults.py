"""The faults operators meet, injected into real processes: a rebuild under live ingest, a
Redis that restarts empty under a running worker, an embedded broker that comes back empty.
Each ends with every number equal to the brute-force count of tests/oracle.py."""

from __future__ import annotations

import asyncio
import contextlib
import io
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from redis.asyncio import Redis
from rich.console import Console

from badgepulse.embedded import (
    COMPACT_HASHES,
    Embedded,
    free_port,
    redis_binary,
    tansu_binary,
    wait_port,
)
from badgepulse.rebuild import RebuildRefused, rebuild
from core.generations import read_generations, serving_layout
from core.settings import Settings
from core.status import pipeline_stats
from schemas.layout import Layout
from tests.conftest import (
    WorkerProcs,
    asgi_client,
    caught_up,
    isolated_settings,
    make_key,
    publish,
)
from tests.stream.conftest import expected_totals, record_figure, totals, wait_exact
from tests.stream.test_correctness import compare_analytics, compare_everything, oracle_of


@dataclass
class Server:
    """A redis-server or Tansu of the test's own, restartable on the same port."""

    argv: list[str]
    port: int
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL, start_new_session=True)
        wait_port(self.port, proc=self.proc)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def own_redis(tmp_path) -> Iterator[Server]:
    port = free_port()
    srv = Server([redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                  "--appendonly", "no", "--dir", str(tmp_path), *COMPACT_HASHES], port)
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


@pytest.fixture
def own_broker() -> Iterator[Server]:
    port = free_port()
    url = f"tcp://127.0.0.1:{port}"
    srv = Server([tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url",
                  url], port)
    srv.start()
    try:
        yield srv
    finally:
        srv.kill()


@contextlib.contextmanager
def worker_procs(settings: Settings) -> Iterator[WorkerProcs]:
    w = WorkerProcs(settings)
    try:
        yield w
    finally:
        w.stop_all()


async def applied_total(settings: Settings) -> int:
    r = Redis.from_url(settings.redis_url)
    try:
        layout = await serving_layout(r, settings.redis_prefix)
        stats = await pipeline_stats(r, layout)
        return sum(stats.get(k, 0) for k in ("applied", "rejected", "duplicates"))
    finally:
        await r.aclose()


async def test_a_rebuild_under_live_ingest_ends_exact_and_readers_never_see_it_half_built(
        settings, workers, client, stream, redis):
    records, now = stream
    oracle = oracle_of(records)
    first = int(len(records) * 0.6)
    workers.start()
    workers.start()
    await publish(settings, records[:first])
    await caught_up(settings)
    token = await make_key(settings, "acme", "org_admin")
    since = (now.date().replace(year=now.year - 1)).isoformat()
    seen: list[tuple[int, int]] = []

    async def watch(stop: asyncio.Event) -> None:
        # Events only add awards and views, so a reader's all-time awards and its
        # year of views can only grow; a half-built generation would show a drop.
        while not stop.is_set():
            r = await client.get("/v1/orgs/acme/summary", params={"from": since},
                                 headers={"Authorization": f"Bearer {token}"})
            assert r.status_code == 200, r.text
            body = r.json()
            seen.append((body["kpis"]["badges_awarded"]["value"], body["metrics"]["views"]))
            await asyncio.sleep(0.05)

    async def ingest() -> None:
        rest = records[first:]
        for i in range(0, len(rest), 500):
            await publish(settings, rest[i:i + 500])
            await asyncio.sleep(0.05)

    stop = asyncio.Event()
    watcher = asyncio.create_task(watch(stop))
    console = Console(file=io.StringIO(), width=100)
    t0 = time.monotonic()
    gen, _ = await asyncio.gather(rebuild(settings, console), ingest())
    rebuild_s = time.monotonic() - t0
    assert gen == 2
    await wait_exact(settings, oracle)
    stop.set()
    await watcher
    assert len(seen) > 10
    drops = [(a, b) for a, b in zip(seen, seen[1:], strict=False)
             if b[0] < a[0] or b[1] < a[1]]
    assert not drops, f"readers saw numbers go down during the rebuild: {drops[:5]}"

    # a second rebuild, with nothing arriving, changes nothing either
    assert await rebuild(settings, console) == 3
    status = await wait_exact(settings, oracle)
    assert totals(status) == expected_totals(oracle)
    await compare_everything(client, oracle, settings, now, seed=4)
    await compare_analytics(client, oracle, settings, now, seed=4)
    # the key made before the rebuilds still works, and the old generations are gone
    r = await client.get("/v1/orgs/acme/summary",
                         headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 200
    base = Layout(settings.redis_prefix)
    deadline = time.monotonic() + 30
    left = -1
    while time.monotonic() < deadline:
        left = 0
        for g in (1, 2):
            async for _k in redis.scan_iter(match=base.at(g).generation_pattern()):
                left += 1
        if left == 0:
            break
        await asyncio.sleep(1)
    assert left == 0, f"{left} keys of retired generations were not dropped"
    assert (await read_generations(redis, base)).serving == 3
    record_figure("rebuild under live ingest", events=len(records),
                  published_during_rebuild=len(records) - first, workers=2,
                  rebuild_seconds=round(rebuild_s, 1), reader_samples=len(seen),
                  reader_drops=len(drops), rebuilds=2, equal_to_oracle=True)


async def test_a_record_without_a_value_is_dead_lettered_and_the_stream_goes_on(
        settings, workers, stream):
    records, _now = stream
    head = records[:300]
    oracle = oracle_of(head)
    workers.start()
    # a tombstone (no value at all) between ordinary events, as any producer may write
    from aiokafka import AIOKafkaProducer

    from core.kafka import ensure_topics
    await publish(settings, head[:150])
    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap)
    await producer.start()
    try:
        await producer.send_and_wait(settings.topic, None, key=b"tombstone")
    finally:
        await producer.stop()
    await publish(settings, head[150:])
    status = await caught_up(settings)
    assert workers.procs[0].poll() is None, "the worker died on a record without a value"
    assert totals(status) == (oracle.applied, oracle.rejected + 1, oracle.held)


@pytest.mark.parametrize("save", [False, True], ids=["restarted-empty", "restarted-with-data"])
async def test_a_redis_restart_mid_stream_is_waited_out_and_ends_exact(
        infra: Embedded, own_redis: Server, stream, save: bool):
    records, now = stream
    oracle = oracle_of(records)
    settings = isolated_settings(infra).model_copy(
        update={"redis_url": f"redis://127.0.0.1:{own_redis.port}/0"})
    half = len(records) // 2
    with worker_procs(settings) as workers:
        worker = workers.start()
        await publish(settings, records[:half])
        while await applied_total(settings) < len(records) // 4:
            await asyncio.sleep(0.02)
        r = Redis.from_url(settings.redis_url)
        try:
            with contextlib.suppress(Exception):
                await r.shutdown(save=save, nosave=not save)
        finally:
            await r.aclose()
        own_redis.proc.wait(timeout=10)  # type: ignore[union-attr]
        await asyncio.sleep(3)  # the worker meets a dead Redis for a while
        own_redis.start()
        t0 = time.monotonic()
        await publish(settings, records[half:])
        status = await wait_exact(settings, oracle)
        exact_s = time.monotonic() - t0
        assert worker.poll() is None, "the worker died instead of waiting Redis out"
        assert totals(status) == expected_totals(oracle)
        async for client in asgi_client(settings):
            await compare_everything(client, oracle, settings, now, seed=5)
        record_figure(f"Redis SHUTDOWN {'SAVE' if save else 'NOSAVE'} + restart mid-stream",
                      events=len(records), redis_down_seconds=3, worker_restarts=0,
                      seconds_to_exact_after_restart=round(exact_s, 1), equal_to_oracle=True)


async def test_an_embedded_broker_restarted_empty_keeps_the_numbers_and_applies_new_events(
        infra: Embedded, own_broker: Server, stream):
    records, now = stream
    oracle = oracle_of(records)
    settings = isolated_settings(infra).model_copy(
        update={"kafka_bootstrap": f"127.0.0.1:{own_broker.port}"})
    half = len(records) // 2
    with worker_procs(settings) as workers:
        worker = workers.start()
        await publish(settings, records[:half])
        await caught_up(settings)
        own_broker.kill()
        await asyncio.sleep(2)
        own_broker.start()  # memory only: every topic and offset is gone
        t0 = time.monotonic()
        await publish(settings, records[half:])
        status = await wait_exact(settings, oracle)
        exact_s = time.monotonic() - t0
        assert worker.poll() is None, "the worker died with the broker"
        assert totals(status) == expected_totals(oracle)
        async for client in asgi_client(settings):
            await compare_everything(client, oracle, settings, now, seed=6)
        # the loss of history is recorded, and a rebuild refuses to drop it silently
        r = Redis.from_url(settings.redis_url)
        try:
            gaps = await r.hgetall(Layout(settings.redis_prefix).history_gaps())
            assert gaps, "the broker's loss of history was not recorded"
        finally:
            await r.aclose()
        assert any("no longer holds" in n for n in status["notices"]), status  # type: ignore[attr-defined]
        with pytest.raises(RebuildRefused, match="--force"):
            await rebuild(settings, Console(file=io.StringIO()))
        record_figure("embedded broker restarted empty", events=len(records),
                      events_after_restart=len(records) - half, partitions_with_gap=len(gaps),
                      seconds_to_exact_after_restart=round(exact_s, 1), equal_to_oracle=True)
