"""The aggregator: consume `badge-events` in batches, fold each partition's batch into one
atomic Redis commit together with the partition's next offset.

Why a mode.Service around an aiokafka consumer rather than a Faust stream: a Faust stream
costs ~200 us per event on these machines (bench/README.md: 4.6k events/s with
`stream.take`), and the exactly-once pattern needs the consumer positioned at the offsets
stored *in Redis* on every assignment, which Faust's streams do not let us do. The service
runs inside the Faust worker (lifecycle, signals, logging, timers) like any agent.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import cast

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from mode import Service
from redis.asyncio import Redis

from badgepulse.kafka import ensure_topics
from badgepulse.settings import Settings
from schemas.layout import Layout
from streams.processor import AwardRef, Commit, PartitionBatch, Record, Rejection
from streams.sink import Sink
from streams.state import AwardState

log = logging.getLogger("badgepulse.worker")


@dataclass
class Owned:
    """A partition this worker holds: its fencing epoch, next offset and award cache."""

    epoch: int
    next: int | None
    cache: dict[AwardRef, AwardState] = field(default_factory=dict)


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, agg: Aggregator) -> None:
        self.agg = agg

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        for tp in revoked:
            self.agg.owned.pop(tp.partition, None)

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        for tp in assigned:
            await self.agg.claim(tp)


class Aggregator(Service):
    """Consumes the events topic and keeps the Redis aggregates exact."""

    settings: Settings  # set by streams.app.create_app on a bound subclass

    def __post_init__(self) -> None:
        s = self.settings
        self.layout = Layout(s.redis_prefix)
        self.owned: dict[int, Owned] = {}
        self.lock = asyncio.Lock()
        self.redis: Redis | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.timings: dict[str, float] = {"decode": 0.0, "fetch": 0.0, "fold": 0.0,
                                          "dlq": 0.0, "apply": 0.0}
        self.events_seen = 0

    async def on_start(self) -> None:
        s = self.settings
        await ensure_topics(s)
        self.redis = Redis.from_url(s.redis_url)
        self.sink = Sink(self.redis, self.layout)
        self.producer = AIOKafkaProducer(bootstrap_servers=s.kafka_bootstrap, acks="all",
                                         linger_ms=5)
        await self.producer.start()
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=s.kafka_bootstrap,
            group_id=s.consumer_group,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=int(s.broker_session_timeout * 1000),
            rebalance_timeout_ms=int(s.broker_rebalance_timeout * 1000),
            heartbeat_interval_ms=int(s.broker_heartbeat_interval * 1000),
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=32 * 1024 * 1024,
        )
        await self.consumer.start()
        self.consumer.subscribe([s.topic], listener=_Listener(self))

    async def on_stop(self) -> None:
        if self.consumer is not None:
            await self.consumer.stop()
        if self.producer is not None:
            await self.producer.stop()
        if self.redis is not None:
            await self.redis.aclose()

    async def claim(self, tp: TopicPartition) -> None:
        assert self.consumer is not None
        epoch, stored = await self.sink.claim(tp.topic, tp.partition)
        self.owned[tp.partition] = Owned(epoch, stored)
        if stored is None:
            await self.consumer.seek_to_beginning(tp)
        else:
            self.consumer.seek(tp, stored)
        log.info("claimed %s epoch %d from offset %s", tp, epoch, stored)

    @Service.task
    async def _consume(self) -> None:
        assert self.consumer is not None
        s = self.settings
        last_sweep = 0.0
        logged = 0
        while not self.should_stop:
            data = await self.consumer.getmany(timeout_ms=s.batch_within_ms,
                                               max_records=s.batch_max)
            async with self.lock:
                work = []
                for tp, msgs in data.items():
                    owned = self.owned.get(tp.partition)
                    if owned is None or not msgs:
                        continue
                    start = owned.next
                    recs = [Record(m.offset, m.key, m.value) for m in msgs
                            if start is None or m.offset >= start]
                    if recs:
                        work.append(self.apply_batch(tp, owned, recs))
                # Partitions are independent: while one waits on Redis, another folds.
                await asyncio.gather(*work)
                now = time.monotonic()
                if now - last_sweep >= 1.0:
                    last_sweep = now
                    if self.events_seen != logged:
                        logged = self.events_seen
                        log.info("events %d, seconds by phase %s", self.events_seen,
                                 {k: round(v, 2) for k, v in self.timings.items()})
                    await self.check_wiped()
                    await self.sweep_held()

    async def apply_batch(self, tp: TopicPartition, owned: Owned, recs: list[Record]) -> None:
        s, sink = self.settings, self.sink
        if len(owned.cache) > 500_000:
            owned.cache.clear()
        t = self.timings
        t0 = time.perf_counter()
        hold_index = self.layout.held_index(tp.topic, tp.partition)
        batch = PartitionBatch(self.layout, recs, now_us(), owned.cache, hold_index,
                               (s.dedup_days + 1) * 86400)
        t1 = time.perf_counter()
        fetched = await sink.fetch(batch.lookups(), hold_index)
        logs = await sink.fetch_logs(batch.load(fetched))
        t2 = time.perf_counter()
        commit = batch.fold(logs)
        t3 = time.perf_counter()
        await self.dead_letter(commit.dlq, tp)
        t4 = time.perf_counter()
        res = await sink.apply(commit, tp.topic, tp.partition, owned.epoch, recs[0].offset,
                               recs[-1].offset + 1, owned.next)
        t5 = time.perf_counter()
        t["decode"] += t1 - t0
        t["fetch"] += t2 - t1
        t["fold"] += t3 - t2
        t["dlq"] += t4 - t3
        t["apply"] += t5 - t4
        self.events_seen += len(recs)
        await self.settle(tp, owned, res, recs[-1].offset + 1, commit)

    async def settle(self, tp: TopicPartition, owned: Owned, res: str, nxt: int,
                     commit: Commit) -> None:
        if res == "ok":
            if nxt >= 0:
                owned.next = nxt
            return
        owned.cache.clear()
        if res == "fenced":
            log.warning("%s: fenced by a newer owner; dropping it", tp)
            self.owned.pop(tp.partition, None)
        elif res == "stale":
            log.warning("%s: batch already applied; re-reading the stored offset", tp)
            await self.claim(tp)
        elif res == "wiped":
            log.warning("%s: Redis lost its aggregates; replaying from the start", tp)
            await self.claim(tp)
        else:
            raise RuntimeError(f"unexpected apply result {res!r}")

    async def dead_letter(self, rejections: list[Rejection], tp: TopicPartition) -> None:
        """Send rejections to the DLQ before the batch is committed (at least once)."""
        if not rejections:
            return
        assert self.producer is not None
        futs = []
        for rej in rejections:
            headers = [("reason", rej.reason.encode()),
                       ("source", f"{tp.topic}:{tp.partition}:{rej.offset}".encode())]
            futs.append(await self.producer.send(self.settings.dlq_topic, rej.value,
                                                 key=rej.key, headers=headers))
        await asyncio.gather(*futs)

    async def check_wiped(self) -> None:
        """Notice a Redis that lost our epochs (flushed, or `badgepulse rebuild`) while idle."""
        assert self.redis is not None
        if not self.owned:
            return
        topic = self.settings.topic
        parts = sorted(self.owned)
        stored = await self.redis.hmget(self.layout.epochs(), [f"{topic}:{p}" for p in parts])
        if any(v is None for v in stored):
            log.warning("Redis lost its aggregates: replaying every owned partition")
            for p in parts:
                await self.claim(TopicPartition(topic, p))

    async def sweep_held(self) -> None:
        """Dead-letter award events whose award.issued has not come within hold_seconds."""
        assert self.redis is not None
        cutoff = time.time() - self.settings.hold_seconds
        for p, owned in list(self.owned.items()):
            index = self.layout.held_index(self.settings.topic, p)
            members = cast(list[bytes], await self.redis.zrangebyscore(index, "-inf", cutoff,
                                                                         start=0, num=500))
            if not members:
                continue
            commit = Commit()
            for member in members:
                org, award = member.decode().split("|", 1)
                key = self.layout.held(org, award)
                for raw in cast(list[bytes], await self.redis.lrange(key, 0, -1)):
                    commit.dlq.append(Rejection(award.encode(), raw, "unknown_award"))
                    commit.stat(org, "rejected")
                    commit.stat(org, "held", -1)
                commit.dels.append(key)
                commit.zrem.append((index, member.decode()))
            tp = TopicPartition(self.settings.topic, p)
            await self.dead_letter(commit.dlq, tp)
            res = await self.sink.apply(commit, tp.topic, p, owned.epoch, -1, -1, owned.next)
            await self.settle(tp, owned, res, -1, commit)


def now_us() -> int:
    return time.time_ns() // 1000


