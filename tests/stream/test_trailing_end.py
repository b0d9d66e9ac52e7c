"""A broker whose reported log end trails the records it holds (Tansu does, for seconds,
under load) while the worker's own fetches are slow must not be taken for a broker that
came back empty: that mistake replays every partition from offset 0, records a history gap
that never happened, and counts every rejected event again (seen under load in the SIGKILL
tests: 530-850 rejected where 447 were published).

The worker runs in this process so the two faults can be injected into its real consumer
(the broker and Redis are real): ListOffsets answers 0 for every partition, and the group
consumer's fetches return nothing for the first seconds after the restart, so the check of
the record before each stored offset is still pending at several of the worker's checks of
the log's end. Expected numbers: the brute-force count of tests/oracle.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from aiokafka import TopicPartition
from redis.asyncio import Redis

from core.settings import Settings
from schemas.layout import Layout
from streams.aggregator import PROBE_WITHIN, Aggregator
from tests.conftest import caught_up, isolated_settings, publish
from tests.stream.conftest import expected_totals, in_process, totals, wait_exact
from tests.stream.test_correctness import oracle_of

STALLED_FOR = 4.0  # seconds the restarted worker's fetches return nothing (from its claim)


@asynccontextmanager
async def in_process_worker(settings: Settings, faulty: bool,
                            silent_probes: int = 0) -> AsyncIterator[Aggregator]:
    class Worker(Aggregator):
        probes = 0

        async def probe_logs(self, asked: dict[Any, int]) -> dict[Any, Any]:
            # the broker too slow to answer the first probes (they time out): unanswered
            Worker.probes += 1
            if Worker.probes <= silent_probes:
                await asyncio.sleep(PROBE_WITHIN)
                return {}
            return await super().probe_logs(asked)

        async def _start_kafka(self) -> None:
            await super()._start_kafka()
            if not faulty:
                return
            consumer = self.consumer
            assert consumer is not None
            fetch = consumer.getmany
            claimed: list[float] = []  # when the partitions were first claimed

            async def trailing_ends(tps: list[TopicPartition]) -> dict[TopicPartition, int]:
                return dict.fromkeys(tps, 0)

            async def slow_fetch(*tps: TopicPartition, timeout_ms: int = 0,
                                 max_records: int | None = None) -> dict[Any, Any]:
                if self.live and not claimed:
                    claimed.append(time.monotonic())
                if not claimed or time.monotonic() - claimed[0] < STALLED_FOR:
                    await asyncio.sleep(timeout_ms / 1000)
                    return {}
                return await fetch(*tps, timeout_ms=timeout_ms, max_records=max_records)

            consumer.end_offsets = trailing_ends  # type: ignore[method-assign]
            consumer.getmany = slow_fetch  # type: ignore[method-assign]

    async with in_process(Worker, settings) as worker:
        yield worker


@pytest.mark.parametrize("silent_probes", [0, 1],
                         ids=["probe-answered", "probe-unanswered-at-first"])
async def test_a_trailing_log_end_with_slow_fetches_is_not_a_lost_log(infra, stream,
                                                                      silent_probes):
    records, _ = stream
    oracle = oracle_of(records)
    settings = isolated_settings(infra)
    half = len(records) // 2
    async with in_process_worker(settings, faulty=False):
        await publish(settings, records[:half])
        await caught_up(settings)
    async with in_process_worker(settings, faulty=True, silent_probes=silent_probes) as worker:
        while not worker.live:
            await asyncio.sleep(0.1)
        # every check of the log's end has run twice (and the silent probes have timed out)
        await asyncio.sleep(STALLED_FOR + 1 + silent_probes * PROBE_WITHIN)
        await publish(settings, records[half:])
        status = await wait_exact(settings, oracle, timeout=120)
        assert totals(status) == expected_totals(oracle), \
            "events were counted again: the worker took a trailing end for a lost log"
    r = Redis.from_url(settings.redis_url)
    try:
        gaps = await r.hgetall(Layout(settings.redis_prefix).history_gaps())
    finally:
        await r.aclose()
    assert not gaps, f"a history gap was recorded though no event was lost: {gaps}"
