"""The consume loop's pipeline (streams/aggregator.py, Aggregator.pipeline): a partition's
batches are applied one after another while later polls are already fetched and folding.
A batch that fails must not be skipped over silently: the batches fetched behind it are not
applied, and the worker has to read them again from what Redis stored. The case that shows
it is a failure behind which the whole rest of the partition is already fetched: no later
poll brings records that would reveal the hole, so only the failure itself can.

The worker runs in this process so the failure can be injected into its own batch (the
broker and Redis are real); expected numbers: the brute-force count of tests/oracle.py."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import TopicPartition
from redis.exceptions import ConnectionError as RedisConnectionError

from core.settings import Settings
from streams.aggregator import PIPELINE_POLLS, Aggregator, Target
from streams.processor import Record
from tests.conftest import PUBLISHED, isolated_settings, publish
from tests.stream.conftest import expected_totals, in_process, totals, wait_exact
from tests.stream.test_correctness import oracle_of


@asynccontextmanager
async def failing_worker(settings: Settings, end: int) -> AsyncIterator[type[Aggregator]]:
    class Worker(Aggregator):
        failed_at: int | None = None  # the first offset of the batch that failed
        in_flight_behind = 0  # records of its partition fetched behind it then
        end = 0  # partition 0's log end

        async def apply_batch(self, tp: TopicPartition, tgt: Target,
                              recs: list[Record]) -> None:
            if tp.partition == 0 and Worker.failed_at is None:
                assert self.consumer is not None
                end = Worker.end
                fetched_to = await self.consumer.position(tp)
                if fetched_to == end and recs[-1].offset + 1 < end:
                    # Redis went away under this batch while the rest of the partition
                    # was already fetched behind it
                    Worker.failed_at = recs[0].offset
                    Worker.in_flight_behind = end - recs[-1].offset - 1
                    raise RedisConnectionError("injected: connection lost mid-batch")
            await super().apply_batch(tp, tgt, recs)

    Worker.end = end
    async with in_process(Worker, settings):
        yield Worker


async def test_a_batch_that_fails_with_later_ones_in_flight_is_read_again(infra, stream):
    assert PIPELINE_POLLS > 1, "no pipeline: nothing is in flight behind a batch"
    records, _ = stream
    oracle = oracle_of(records)
    # small polls, so a partition's records come in many batches, several in flight at once
    settings = isolated_settings(infra).model_copy(update={"batch_max": 150})
    await publish(settings, records)  # all of it before the worker starts: a catch-up
    end = PUBLISHED[(settings.kafka_bootstrap, settings.topic)][0]  # partition 0's, acked
    async with failing_worker(settings, end) as worker:
        status = await wait_exact(settings, oracle, timeout=120)
        assert worker.failed_at is not None, "the fault was never injected"
        assert worker.in_flight_behind > 0
    assert totals(status) == expected_totals(oracle), \
        f"the batch from offset {worker.failed_at} or the {worker.in_flight_behind} " \
        "records behind it were lost"


async def test_a_log_with_holes_loses_no_record_behind_a_re_read(infra, stream):
    # A compacted log (or one with transaction markers) has offsets without a record: a
    # batch that starts past the next offset is taken for a stale fetch the first time, the
    # consumer sent back, and only a second sighting of that hole from a fetch made after
    # the re-seek is taken as real. With polls in flight, one handed over before the re-seek
    # must not count as that second sighting: it would be applied over the records between.
    records, _ = stream
    settings = isolated_settings(infra).model_copy(update={"batch_max": 40})
    await publish(settings, records)
    end = PUBLISHED[(settings.kafka_bootstrap, settings.topic)][0]
    hidden = set(range(7, end - 1, 7))  # every 7th offset of partition 0, not the last
    applied: set[int] = set()

    class Worker(Aggregator):
        async def _start_kafka(self) -> None:
            await super()._start_kafka()
            consumer = self.consumer
            assert consumer is not None
            real = consumer.getmany
            tp0 = TopicPartition(settings.topic, 0)

            async def compacted(*tps: Any, timeout_ms: int = 0,
                                max_records: int | None = None) -> dict[Any, Any]:
                data = await real(*tps, timeout_ms=timeout_ms, max_records=max_records)
                if tp0 in data:
                    kept = [m for m in data[tp0] if m.offset not in hidden]
                    if kept:
                        data[tp0] = kept
                    else:
                        del data[tp0]
                return data

            consumer.getmany = compacted  # type: ignore[method-assign]

        async def _in_order(self, before: asyncio.Task[None] | None, *args: Any) -> None:
            # one more step of the event loop before a batch starts, as a busier loop has:
            # it lets a batch's re-seek fall between getmany handing records over and the
            # pipeline making their task (how the reviewer found it)
            if before is not None:
                await asyncio.wait((before,))
            await super()._in_order(before, *args)

        async def apply_batch(self, tp: TopicPartition, tgt: Target,
                              recs: list[Record]) -> None:
            await super().apply_batch(tp, tgt, recs)
            if tp.partition == 0 and tgt.next == recs[-1].offset + 1:
                applied.update(r.offset for r in recs)

    async with in_process(Worker, settings) as worker:
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            live = worker.live.get(0)
            if live is not None and live.next is not None and live.next >= end:
                break
            await asyncio.sleep(0.2)
    lost = sorted(set(range(end)) - hidden - applied)
    assert not lost, f"{len(lost)} records of partition 0 never applied, e.g. {lost[:20]}"
