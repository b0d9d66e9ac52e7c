"""The consume loop's pipeline (streams/aggregator.py, Aggregator.pipeline): a partition's
batches are applied one after another while later polls are already fetched and folding.
A batch that fails must not be skipped over silently: the batches fetched behind it are not
applied, and the worker has to read them again from what Redis stored. The case that shows
it is a failure behind which the whole rest of the partition is already fetched: no later
poll brings records that would reveal the hole, so only the failure itself can.

The worker runs in this process so the failure can be injected into its own batch (the
broker and Redis are real); expected numbers: the brute-force count of tests/oracle.py."""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from aiokafka import TopicPartition
from redis.exceptions import ConnectionError as RedisConnectionError

from core.settings import Settings
from streams.aggregator import PIPELINE_POLLS, Aggregator, Target
from streams.processor import Record
from tests.conftest import PUBLISHED, isolated_settings, publish
from tests.stream.conftest import expected_totals, totals, wait_exact
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

    Worker.settings = settings
    Worker.end = end
    thresholds = gc.get_threshold()
    worker = Worker()
    await worker.start()
    try:
        yield Worker
    finally:
        await worker.stop()
        gc.set_threshold(*thresholds)
        gc.unfreeze()


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
