"""The aggregator: consume `badge-events` in batches, fold each partition's batch into one
atomic Redis commit together with the partition's next offset.

Why a mode.Service around aiokafka consumers rather than a Faust stream: a Faust stream
costs ~200 us per event on these machines (bench/README.md: 4.6k events/s with
`stream.take`), and the exactly-once pattern needs the consumer positioned at the offsets
stored *in Redis* on every assignment, which Faust's streams do not let us do. The service
runs inside the Faust worker (lifecycle, signals, logging) like any agent.

Each owned partition has one *target* per generation it writes (core/generations.py):
the serving generation, fed by the group consumer; during a rebuild, the building generation,
fed first by a second consumer reading from the start of the topic (`behind`), then, once it
has reached the serving offsets, by the group consumer beside the serving one (`joined`).
Every target has its own fencing epoch and stored offset, so each is exactly once on its own.
Any doubt (Redis or Kafka errors, a wipe, a generation switch) marks the claims dirty: the
next step re-reads the generations and claims every partition again from Redis's offsets.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import gc
import itertools
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal, assert_never, cast

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, ConsumerRebalanceListener, TopicPartition
from aiokafka.conn import CloseReason
from aiokafka.errors import IllegalStateError, NoOffsetForPartitionError, OffsetOutOfRangeError
from mode import Service
from redis.asyncio import Redis

from core.generations import (
    Generations,
    abandon_rebuild,
    drop_retired,
    read_generations,
    try_switch,
)
from core.kafka import ensure_topics, make_producer
from core.redisclient import connect
from core.settings import Settings
from core.upgrade import carry_over_names
from schemas.events import EventRejected, decode_event
from schemas.layout import Layout, split_held_member, tp_field
from schemas.reasons import DropReason
from streams.outage import TRANSIENT, Outage
from streams.processor import (
    AwardRef,
    Commit,
    PartitionBatch,
    Record,
    Rejection,
    dedup_places,
)
from streams.protocol import UNCHECKED, ApplyResult
from streams.sink import Positions, Sink
from streams.state import AwardState

log = logging.getLogger("badgepulse.worker")

SUMMARY_EVERY = 30.0  # seconds between the INFO throughput lines
TOPICS_EVERY = 10.0  # seconds between checks that the topics exist
PROBE_WITHIN = 3.0  # seconds a suspected short log has to hand over one record
PROBE_TRIES = 3  # checks a suspected short log may leave unanswered before it is taken as short
PIPELINE_POLLS = 3  # polls in flight in the consume loop (bench/README.md)
BUSY_RUN = 3.0  # seconds a run of polls that keep bringing records lasts (bench/README.md)
ORGS_EVERY = 2.0  # seconds between checks that every org holding a position still does
# CPython runs its cycle collector after every 700 net allocations by default, and each run
# walks the young objects: the records, events and award states of the polls in flight
# included (three polls of 20,000 records are a few hundred thousand objects), none of them
# in a reference cycle (freed by reference counts). A young collection only once a million
# more objects live than before: at 100,000 it still took 2.9-3.3 µs a event (the worker's
# `gc` phase), at a million none ran in 400,000 events (bench/README.md). What grows for
# good, the award cache (`award_cache` states), is walked by a collection about once per
# million objects it adds.
GC_THRESHOLDS = (1_000_000, 10, 100)
CLAIM_AFRESH_BECAUSE = {
    ApplyResult.STALE: "batch already applied",
    ApplyResult.WIPED: "lost its aggregates (replaying from the start)",
    ApplyResult.RETIRED: "is no longer served",
    ApplyResult.COLLISION: "found two pairs of one org with one digest (written again with ids)",
}


@dataclass
class Target:
    """One generation's hold on one partition: fencing epoch, next offset, award cache."""

    sink: Sink
    epoch: int
    next: int | None
    cache: dict[AwardRef, AwardState] = field(default_factory=dict)
    verify: str | None = None  # fingerprint the record before `next` must have
    incarnation: int = 0  # of the partition's log (committing org by org: Sink.positions)
    rewound: int = 0  # records of no org below it are counted already (Layout.rewound)
    gap_at: int | None = None  # the offset a gap was last seen at (see records_for)
    past_end: int = 0  # checks in a row that found `next` past the log's end
    unanswered: int = 0  # of them, probes of the log the broker did not answer

    @property
    def layout(self) -> Layout:
        return self.sink.layout


def caught_up(building: int | None, serving: int | None) -> bool:
    """A building target may be fed by the group consumer once it is at or past serving."""
    if serving is None:
        return True
    return building is not None and building >= serving


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, agg: Aggregator) -> None:
        self.agg = agg

    async def on_partitions_revoked(self, revoked: Iterable[TopicPartition]) -> None:
        await self.agg.release([tp.partition for tp in revoked])

    async def on_partitions_assigned(self, assigned: Iterable[TopicPartition]) -> None:
        await self.agg.acquire([tp.partition for tp in assigned])


class Aggregator(Service):
    """Consumes the events topic and keeps the Redis aggregates exact."""

    settings: Settings  # set by streams.app.create_app on a bound subclass

    def __post_init__(self) -> None:
        s = self.settings
        self.base = Layout(s.redis_prefix)
        self.gens = Generations()
        self.assigned: set[int] = set()
        self.live: dict[int, Target] = {}
        self.joined: dict[int, Target] = {}
        self.behind: dict[int, Target] = {}
        self.dirty = True
        self.builder_stale = False
        self.broker_lost = False
        self.claims = 0  # bumped by every reclaim: data fetched before it is dropped
        self.unclaimed: set[int] = set()  # assigned, not held, at the last check
        self.dropping: asyncio.Task[list[int]] | None = None
        self.topics_checked = 0.0
        self.sinks: dict[int, Sink] = {}
        # seeks by (rebuild consumer?, partition) in a run of polls (pipeline)
        self.seeks: collections.Counter[tuple[bool, TopicPartition]] = collections.Counter()
        self.lock = WantedLock()
        self.redis: Redis | None = None
        self.consumer: AIOKafkaConsumer | None = None
        self.builder: AIOKafkaConsumer | None = None
        self.producer: AIOKafkaProducer | None = None
        self.timings: dict[str, float] = {"decode": 0.0, "fetch": 0.0, "fold": 0.0,
                                          "dlq": 0.0, "apply": 0.0, "gc": 0.0}
        self.events_seen = 0
        self._gc_started = 0.0
        self.gc_runs, self.gc_longest = 0, 0.0  # the cycle collector's runs, longest pause
        self.outage = Outage(log, "worker")

    # --- lifecycle ---------------------------------------------------------------------
    async def on_start(self) -> None:
        s = self.settings
        gc.freeze()  # what the start-up imported stays for good: never walked again
        gc.set_threshold(*GC_THRESHOLDS)
        gc.callbacks.append(self._time_gc)
        # Redis calls fail fast when it is down (the loops wait it out); a stopped Redis
        # times out instead of hanging the worker.
        self.redis = connect(s, socket_connect_timeout=2, socket_timeout=30,
                             health_check_interval=10)
        self.by_org = s.redis_cluster or s.commit_by_org  # docs/cluster.md
        self.orgs_checked = 0.0
        self.names_carried = s.redis_cluster  # the old names never ran on a cluster
        outage = Outage(log, "worker start")
        while True:
            try:
                await asyncio.wait_for(ensure_topics(s), 10)
                await asyncio.wait_for(self._start_kafka(), 30)
                break
            except TRANSIENT as err:
                outage.failed(err)
                await self._stop_kafka()
                await asyncio.sleep(outage.delay())
        outage.ok()

    async def _start_kafka(self) -> None:
        s = self.settings
        common: dict[str, Any] = {
            "bootstrap_servers": s.kafka_bootstrap, "enable_auto_commit": False,
            # Positions come from Redis. "none" makes a position beyond the log's end (a
            # broker that came back empty) an error we handle, instead of a silent rewind
            # whose records the offset filter would then throw away.
            "auto_offset_reset": "none",
            "max_partition_fetch_bytes": 4 * 1024 * 1024, "fetch_max_bytes": 32 * 1024 * 1024,
            # A topic that disappears with the broker is seen again within seconds when it
            # is re-created, not after the default five minutes.
            "metadata_max_age_ms": 5000,
        }
        # A rejected event goes to the DLQ whole (events.md), and a `too_large` one is as big
        # as the topic let it be: aiokafka's default 1 MiB request limit would refuse it, and
        # the worker would wait that refusal out for ever.
        self.producer = make_producer(s, max_request_size=64 * 1024 * 1024)
        await self.producer.start()
        self.kafka_common = common
        self.consumer = AIOKafkaConsumer(
            group_id=s.consumer_group,
            session_timeout_ms=int(s.broker_session_timeout * 1000),
            rebalance_timeout_ms=int(s.broker_rebalance_timeout * 1000),
            heartbeat_interval_ms=int(s.broker_heartbeat_interval * 1000),
            **common,
        )
        self._watch_connections(self.consumer)
        await self.consumer.start()
        self.consumer.subscribe([s.topic], listener=_Listener(self))
        self.builder = AIOKafkaConsumer(group_id=None, **common)
        self._watch_connections(self.builder)
        await self.builder.start()

    def _watch_connections(self, consumer: AIOKafkaConsumer) -> None:
        """Note every broken broker connection. A consumer carries on fetching from its
        positions after a reconnect, and a memory-only broker that restarted and was sent
        new events may by then hold *other* records at those offsets (seen with Tansu:
        records applied within 0.1 s of the restart). A broken connection therefore sends
        the worker through a claim, whose fingerprint check (records_for) tells the two
        logs apart. aiokafka has no public hook for this; the client reads
        `_on_connection_closed` from the instance for every connection it opens (pinned
        aiokafka; tests/stream/test_faults.py fails if that changes)."""
        client = consumer._client
        original = client._on_connection_closed

        def closed(conn: Any, reason: Any) -> None:
            if reason in (CloseReason.CONNECTION_BROKEN, CloseReason.CONNECTION_TIMEOUT):
                self.broker_lost = True
            original(conn, reason)

        client._on_connection_closed = closed

    async def _stop_kafka(self) -> None:
        for c in (self.consumer, self.builder, self.producer):
            if c is not None:
                try:
                    await c.stop()
                except Exception:  # noqa: BLE001 - stopping a half-started client
                    log.debug("stopping a Kafka client failed", exc_info=True)
        self.consumer = self.builder = None
        self.producer = None

    def _time_gc(self, phase: str, info: dict[str, int]) -> None:
        """Count the cycle collector's pauses into the phases (bench/bench_worker.py)."""
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            took = time.perf_counter() - self._gc_started
            self.timings["gc"] += took
            self.gc_runs += 1
            self.gc_longest = max(self.gc_longest, took)

    async def on_stop(self) -> None:
        # Where the batches' time went, over the worker's life (bench/bench_worker.py reads
        # this line): wall-clock seconds by phase, the partitions' batches overlapping.
        log.info("phases: %s", orjson.dumps({"events": self.events_seen, **{
            k: round(v, 3) for k, v in self.timings.items()}}).decode())
        log.info("cycle collector: %d runs, the longest %.0f ms", self.gc_runs,
                 self.gc_longest * 1000)
        with contextlib.suppress(ValueError):
            gc.callbacks.remove(self._time_gc)
        await self._stop_kafka()
        if self.redis is not None:
            await self.redis.aclose()

    # --- claims ------------------------------------------------------------------------
    def sink(self, gen: int) -> Sink:
        sink = self.sinks.get(gen)
        if sink is None:
            assert self.redis is not None
            sink = self.sinks[gen] = Sink(self.redis, self.base.at(gen), self.by_org)
        return sink

    async def release(self, partitions: list[int]) -> None:
        async with self.lock:
            for p in partitions:
                self.assigned.discard(p)
                for d in (self.live, self.joined, self.behind):
                    d.pop(p, None)
            self._assign_builder()

    async def acquire(self, partitions: list[int]) -> None:
        async with self.lock:
            self.assigned.update(partitions)
            if self.dirty:
                return  # the next step claims everything
            try:
                await self._claim(partitions)
            except TRANSIENT as err:
                self.outage.failed(err)
                self.dirty = True

    async def reclaim(self) -> None:
        """Re-read the generations and claim every assigned partition afresh."""
        assert self.redis is not None
        async with self.lock:
            if not self.names_carried:
                moved = await carry_over_names(self.redis, self.base)
                self.names_carried = True
                if moved:
                    log.warning("moved %s to their hash-tagged names; run `badgepulse "
                                "rebuild` to drop the aggregates kept under the old ones",
                                moved)
            self.gens = await read_generations(self.redis, self.base)
            self.live, self.joined, self.behind = {}, {}, {}
            self.dirty = False
            self.claims += 1
            await self._claim(sorted(self.assigned))

    async def _claim(self, partitions: Sequence[int]) -> None:
        assert self.consumer is not None
        topic, gens = self.settings.topic, self.gens
        for p in partitions:
            serving = await self.sink(gens.serving).claim(topic, p)
            building = None
            if gens.building is not None:
                building = await self.sink(gens.building).claim(topic, p)
            if serving is None or (gens.building is not None and building is None):
                self.dirty = True  # the generations moved meanwhile: claim them anew
                return
            live = self.live[p] = Target(self.sink(gens.serving), serving.epoch, serving.next,
                                         verify=serving.fingerprint,
                                         incarnation=serving.incarnation,
                                         rewound=serving.rewound)
            tp = TopicPartition(topic, p)
            try:
                if live.next is None:
                    await self.consumer.seek_to_beginning(tp)
                else:
                    # From the record before: it must be the one applied last (records_for).
                    self.consumer.seek(tp, live.next - (1 if live.verify else 0))
                self._moved(self.consumer, tp)
            except IllegalStateError:
                self.dirty = True  # not ours any more (a rebalance is under way)
                return
            if building is not None and gens.building is not None:
                tgt = Target(self.sink(gens.building), building.epoch, building.next,
                             verify=building.fingerprint, incarnation=building.incarnation,
                             rewound=building.rewound)
                if caught_up(tgt.next, live.next):
                    tgt.verify = None  # the serving target checks the log for both
                    self.joined[p] = tgt
                else:
                    self.behind[p] = tgt
            log.info("claimed %s: generation %d epoch %d from offset %s%s", tp, gens.serving,
                     live.epoch, live.next,
                     "" if building is None else
                     f"; building {gens.building} from {building.next}")
        self._assign_builder()

    def _moved(self, consumer: AIOKafkaConsumer, tp: TopicPartition) -> None:
        """The consumer was sent elsewhere on `tp`: what it fetched there before is not
        applied (pipeline), it hands the records over again from the new position."""
        self.seeks[consumer is self.builder, tp] += 1

    def _assign_builder(self) -> None:
        """The rebuild consumer must read exactly the partitions still catching up: mark it
        for re-assignment (done by the rebuild loop, which owns that consumer)."""
        self.builder_stale = True

    async def _reassign_builder(self) -> None:
        assert self.builder is not None
        self.builder_stale = False
        behind = dict(self.behind)
        tps = [TopicPartition(self.settings.topic, p) for p in sorted(behind)]
        self.builder.assign(tps)
        for tp in tps:
            nxt = behind[tp.partition].next
            if nxt is None:
                await self.builder.seek_to_beginning(tp)
            else:
                self.builder.seek(tp, nxt - (1 if behind[tp.partition].verify else 0))
            self._moved(self.builder, tp)

    # --- the loops ---------------------------------------------------------------------
    @Service.task
    async def _consume(self) -> None:
        last_check = 0.0
        while not self.should_stop:
            try:
                if self.dirty:
                    await self.reclaim()
                    continue
                assert self.consumer is not None
                # The first poll outside the lock: an idle worker waits for records without
                # holding up the rebuild loop.
                try:
                    first = await self._getmany(self.consumer)
                except OffsetOutOfRangeError as err:
                    await self.out_of_range(cast(dict[TopicPartition, int], err.args[0]))
                    continue
                except NoOffsetForPartitionError:
                    self.dirty = True
                    continue
                if first[0] or self.broker_lost:
                    async with self.lock:
                        # a run of polls that keep bringing records goes on until
                        # housekeeping is due, or BUSY_RUN past it (each run ends in a drain)
                        out_of_range = await self.pipeline(self.consumer, first,
                                                           last_check + BUSY_RUN)
                    if out_of_range:
                        await self.out_of_range(out_of_range)
                        continue
                now = time.monotonic()
                if now - last_check >= 1.0:
                    last_check = now
                    await self.housekeeping()
                self.outage.ok()
            except TRANSIENT as err:
                await self.wait_out(err)

    async def pipeline(self, consumer: AIOKafkaConsumer, first: Polled,
                       until: float) -> dict[TopicPartition, int] | None:
        """Apply the poll `first`, then poll and apply until a poll brings nothing, `until`,
        the claims are to be taken afresh, or someone waits for the lock; out-of-range
        positions (partitions not found replaced meanwhile) are handed back. Called with
        the lock held.

        A partition's batches apply in poll order, each once the one before has finished;
        batches of other partitions, and the next poll's decoding and folding, go on
        meanwhile, so the worker is not idle while Redis runs the last batches of a poll.
        At most PIPELINE_POLLS polls are in flight. A batch does not run if one before it on
        its partition failed, the claims are to be taken afresh, or the consumer was sent
        elsewhere on its partition after its records were fetched (`seeks`, as they stood
        when getmany handed the records over: `_getmany`). Every batch has finished when
        this returns; the first error is raised then.

        `consumer` is the group consumer (the live and joined targets) or the rebuild
        consumer (the targets still catching up, never past the serving one's position)."""
        building = consumer is self.builder
        tails: dict[TopicPartition, asyncio.Task[None]] = {}
        polls: collections.deque[list[asyncio.Task[None]]] = collections.deque()
        started: list[asyncio.Task[None]] = []
        replaced: list[tuple[TopicPartition, Target]] = []
        out_of_range: dict[TopicPartition, int] | None = None
        polled: Polled | None = first
        try:
            while True:
                if polled is None:
                    try:
                        polled = await self._poll(consumer)
                    except OffsetOutOfRangeError as err:
                        out_of_range = cast(dict[TopicPartition, int], err.args[0])
                        break
                    except NoOffsetForPartitionError:
                        self.dirty = True
                        break
                    if polled is None:
                        break  # someone waits for the lock
                (data, seeks), polled = polled, None
                if self.broker_lost:
                    # What was fetched may come from a broker that lost our log meanwhile:
                    # claim again, which checks the record before each stored offset.
                    self.broker_lost = False
                    self.dirty = True
                    break
                tasks = []
                for tp, msgs in data.items():
                    task = asyncio.create_task(self._in_order(
                        tails.get(tp), tp, msgs, consumer, seeks[tp], replaced))
                    tails[tp] = task
                    tasks.append(task)
                if tasks:
                    polls.append(tasks)
                    started.extend(tasks)
                while len(polls) >= PIPELINE_POLLS or (polls and not data):
                    await asyncio.wait(polls.popleft())
                if (not data or self.dirty or replaced or time.monotonic() >= until
                        or (building and self.builder_stale)
                        or _first_error(started) is not None):
                    break
        finally:
            pending = [t for t in started if not t.done()]
            if pending:
                try:
                    await asyncio.wait(pending)
                except BaseException:
                    for t in pending:
                        t.cancel()
                    await asyncio.gather(*pending, return_exceptions=True)
                    raise
        error = _first_error(started)
        if error is not None:
            raise error
        for tp, tgt in replaced:
            await self.log_replaced(tp, "the broker came back with another log under the "
                                    "same offsets", tgt.next or 0)
        if out_of_range:  # handled already (log_replaced) for the replaced ones
            out_of_range = {tp: n for tp, n in out_of_range.items()
                            if all(tp != t for t, _ in replaced)}
        return out_of_range

    async def _getmany(self, consumer: AIOKafkaConsumer) -> Polled:
        """One poll's records with each partition's seek count as getmany handed them
        over: taken in the same step as getmany returns, so a seek made after it (even
        before the batch's task is made) keeps them from being applied."""
        data = await consumer.getmany(timeout_ms=self.settings.batch_within_ms,
                                      max_records=self.settings.batch_max)
        building = consumer is self.builder
        return data, {tp: self.seeks[building, tp] for tp in data}

    async def _poll(self, consumer: AIOKafkaConsumer) -> Polled | None:
        """One getmany, or None if someone asks for the lock first: a rebalance waits for it
        (release/acquire) and getmany waits for the rebalance."""
        poll = asyncio.ensure_future(self._getmany(consumer))
        wanted = asyncio.ensure_future(self.lock.wanted.wait())
        try:
            await asyncio.wait((poll, wanted), return_when=asyncio.FIRST_COMPLETED)
        finally:
            wanted.cancel()
            if not poll.done():
                poll.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await poll
        if poll.cancelled():
            return None
        return poll.result()

    async def _in_order(self, before: asyncio.Task[None] | None, tp: TopicPartition,
                        msgs: list[Any], consumer: AIOKafkaConsumer, seeks: int,
                        replaced: list[tuple[TopicPartition, Target]]) -> None:
        """One poll's records of one partition, applied once the partition's batch `before`
        has: nothing is applied after a failed one (see pipeline)."""
        if before is not None:
            await asyncio.wait((before,))
            if before.cancelled() or before.exception() is not None:
                return
        building = consumer is self.builder
        if (self.dirty or self.seeks[building, tp] != seeks
                or any(t == tp for t, _ in replaced)):
            return
        p = tp.partition
        if not building:
            targets = [t for t in (self.live.get(p), self.joined.get(p)) if t]
        elif (tgt := self.behind.get(p)) is None:
            return  # it joined the live targets, or its claim is gone
        else:
            targets = [tgt]
            live = self.live.get(p)
            if live is not None and live.next is not None:
                # Never past the serving generation's position: the join then happens at
                # equality, and what lies beyond (its rejections included) comes through
                # the group consumer like live events.
                msgs = [m for m in msgs if m.offset < live.next]
        work = []
        for tgt in targets:
            recs = self.records_for(tgt, msgs, consumer, tp)
            if recs is None:
                replaced.append((tp, tgt))  # handled once the run has drained (pipeline)
                break
            if recs:
                work.append(self.apply_batch(tp, tgt, recs))
        await gather_all(work)

    @Service.task
    async def _rebuild(self) -> None:
        """Feed the building generation from the start of the topic until it catches up."""
        while not self.should_stop:
            if self.dirty or self.builder is None:
                await asyncio.sleep(0.1)
                continue
            try:
                if self.builder_stale:
                    await self._reassign_builder()
                if self.broker_lost:
                    await asyncio.sleep(0.05)  # the group loop claims afresh first
                    continue
                if not self.behind:
                    await asyncio.sleep(0.1)
                    continue
                claims = self.claims
                try:
                    first = await self._getmany(self.builder)
                except OffsetOutOfRangeError as err:
                    await self.out_of_range(cast(dict[TopicPartition, int], err.args[0]))
                    continue
                async with self.lock:
                    if (claims != self.claims or self.dirty or self.broker_lost
                            or self.builder_stale):
                        continue  # fetched for claims that are gone: re-read from the new ones
                    try:
                        out_of_range = await self.pipeline(self.builder, first,
                                                           time.monotonic() + BUSY_RUN)
                    finally:
                        self._join_caught_up()
                if out_of_range:
                    await self.out_of_range(out_of_range)
            except TRANSIENT as err:
                await self.wait_out(err)

    async def wait_out(self, err: BaseException) -> None:
        """A dependency failed mid-step: claims are in doubt, so take them afresh after a
        backoff."""
        self.dirty = True
        self.outage.failed(err)
        await asyncio.sleep(self.outage.delay())

    def _join_caught_up(self) -> None:
        joined = False
        for p, tgt in list(self.behind.items()):
            live = self.live.get(p)
            if live is not None and caught_up(tgt.next, live.next):
                tgt.verify = None
                self.joined[p] = self.behind.pop(p)
                joined = True
                log.info("partition %d: generation %d caught up at offset %s", p,
                         tgt.layout.gen, tgt.next)
        if joined:
            self._assign_builder()

    def records_for(self, tgt: Target, msgs: list[Any], consumer: AIOKafkaConsumer | None,
                    tp: TopicPartition) -> list[Record] | None:
        """The records this target has not applied yet; None if the record before them is
        not the one applied last (the log was replaced: see log_replaced).

        A batch starting past the target's next offset (records fetched before a re-seek)
        is dropped and the consumer sent back; a gap seen twice at the same offset is taken
        as real (a compacted log)."""
        start = tgt.next
        if start is None:
            return [_record(m) for m in msgs]
        low = start - 1 if tgt.verify is not None else start
        recs = [_record(m) for m in msgs if m.offset >= low]
        if tgt.verify is not None and recs:
            if recs[0].offset == start - 1:
                if recs[0].fingerprint() != tgt.verify:
                    return None
                recs = recs[1:]
            tgt.verify = None  # checked, or the record is gone (retention): carry on
        if recs and recs[0].offset > start and tgt.gap_at != start:
            tgt.gap_at = start
            log.warning("%s: records from %d while %d is next; re-reading from %d", tp,
                        recs[0].offset, start, start)
            if consumer is not None:
                consumer.seek(tp, start)
                self._moved(consumer, tp)
            return []
        return recs

    async def apply_batch(self, tp: TopicPartition, tgt: Target, recs: list[Record]) -> None:
        s = self.settings
        held = len(self.live) + len(self.joined) + len(self.behind)
        trim_cache(tgt.cache, s.award_cache // max(1, held))
        t = self.timings
        t0 = time.perf_counter()
        hold_index = tgt.layout.held_index(tp.topic, tp.partition)
        batch = PartitionBatch(tgt.layout, recs, now_us(), tgt.cache, hold_index,
                               (s.dedup_days + 1) * 86400, s.event_limits)
        positions: Positions | None = None
        t1 = time.perf_counter()
        try:
            if self.by_org:
                skipped = await self.positioned(tp, tgt, batch, recs)
                if skipped is None:
                    return  # an org lost its keys: the partition is replayed
                batch, positions = skipped
            batch.load(await tgt.sink.fetch(batch.lookups(), hold_index))
            t2 = time.perf_counter()
            commit = batch.fold()
            t3 = time.perf_counter()
            if tgt.layout.gen != self.gens.building:
                # A rebuild re-reads rejections the serving generation dead-lettered already.
                await self.dead_letter(commit.dlq, tp)
            t4 = time.perf_counter()
            if positions is None:
                res = await tgt.sink.apply(commit, tp.topic, tp.partition, tgt.epoch,
                                           recs[0].offset, recs[-1].offset + 1, tgt.next,
                                           recs[-1].fingerprint())
            else:
                res = await self.apply_by_org(tp, tgt, commit, positions, recs[0].offset,
                                              recs[-1].offset + 1, recs[-1].fingerprint())
        except BaseException:
            tgt.cache.clear()  # the fold may have moved it past what Redis holds
            raise
        t5 = time.perf_counter()
        t["decode"] += t1 - t0
        t["fetch"] += t2 - t1
        t["fold"] += t3 - t2
        t["dlq"] += t4 - t3
        t["apply"] += t5 - t4
        self.events_seen += len(recs)
        self.settle(tp, tgt, res, recs[-1].offset + 1)

    async def positioned(self, tp: TopicPartition, tgt: Target, batch: PartitionBatch,
                         recs: list[Record]) -> tuple[PartitionBatch, Positions] | None:
        """Committing org by org: each org's position on the partition, and the batch
        without the records of orgs that committed them already (a stop between two org
        commits); None when an org lost its keys (its slot came back empty): the partition
        is then replayed from the log's start, the other orgs skipping what they hold."""
        orgs = {ev.org_id for _rec, ev in batch.events} | {o for o, _n in batch.commit.per_org}
        positions = await tgt.sink.positions(orgs, tp.topic, tp.partition)
        if positions.lost:
            await self.rewind(tp, tgt, positions.lost)
            return None
        skip = {org: n for org, pos in positions.of.items()
                if (n := pos.skips(tgt.incarnation)) > recs[0].offset}
        if tgt.rewound > recs[0].offset:
            skip[""] = tgt.rewound  # records of no org, counted before a rewind
        if not skip:
            return batch, positions
        s = self.settings
        kept = [rec for rec in recs if rec.offset >= skip.get(_org_of(rec, s) or "", 0)]
        log.info("%s: %d records of %s committed before; skipping them", tp,
                 len(recs) - len(kept), sorted(skip))
        again = PartitionBatch(tgt.layout, kept, batch.now_us, tgt.cache, batch.hold_index,
                               batch.dedup_ttl, batch.limits)
        # the newest applied event of a skipped org counts toward the pipeline's as_of
        for org in skip:
            as_of = positions.of[org].as_of_us if org in positions.of else None
            if as_of is not None:
                again.commit.max_(tgt.layout.stats(), "as_of_us", as_of)
        return again, positions

    async def apply_by_org(self, tp: TopicPartition, tgt: Target, commit: Commit,
                           positions: Positions, first: int, nxt: int,
                           fingerprint: str) -> ApplyResult:
        missing = {o for o, _n in commit.per_org} | commit.publish
        missing -= set(positions.of)
        if missing:  # an org the fold reached that the batch's events did not name
            more = await tgt.sink.positions(missing, tp.topic, tp.partition)
            positions.of.update(more.of)
        return await tgt.sink.apply_by_org(commit, tp.topic, tp.partition, tgt.epoch, first,
                                           nxt, tgt.next if first != UNCHECKED else None,
                                           fingerprint, tgt.incarnation, positions)

    async def rewind(self, tp: TopicPartition, tgt: Target, lost: set[str]) -> None:
        log.warning("%s: Redis lost the keys of org(s) %s (a node restarted empty?): "
                    "replaying the partition from the log's start", tp, sorted(lost))
        res = await tgt.sink.rewind(tp.topic, tp.partition, tgt.epoch, lost)
        tgt.cache.clear()
        if res is ApplyResult.OK:
            self.dirty = True
        else:
            self.settle(tp, tgt, res, UNCHECKED)

    def settle(self, tp: TopicPartition, tgt: Target, res: ApplyResult, nxt: int) -> None:
        if res is ApplyResult.OK:
            if nxt != UNCHECKED:
                tgt.next = nxt
            return
        tgt.cache.clear()
        current = any(d.get(tp.partition) is tgt for d in (self.live, self.joined, self.behind))
        if not current:
            return  # a target replaced by a newer claim meanwhile: nothing to do
        match res:
            case ApplyResult.FENCED:
                log.warning("%s: generation %d fenced by a newer owner; dropping it", tp,
                            tgt.layout.gen)
                for d in (self.live, self.joined, self.behind):
                    if d.get(tp.partition) is tgt:
                        del d[tp.partition]
                self._assign_builder()
            case (ApplyResult.STALE | ApplyResult.WIPED | ApplyResult.RETIRED
                  | ApplyResult.COLLISION):
                log.warning("%s: generation %d %s; claiming afresh", tp, tgt.layout.gen,
                            CLAIM_AFRESH_BECAUSE[res])
                self.dirty = True
            case _:
                assert_never(res)

    async def dead_letter(self, rejections: list[Rejection], tp: TopicPartition) -> None:
        """Send rejections to the DLQ before the batch is committed (at least once)."""
        if not rejections:
            return
        assert self.producer is not None
        futs = []
        for rej in rejections:
            headers = [("reason", rej.reason.encode()), ("reason_code", rej.code.encode()),
                       # not key syntax: the DLQ message's header (topic:partition:offset)
                       ("source", f"{tp.topic}:{tp.partition}:{rej.offset}".encode())]
            futs.append(await self.producer.send(self.settings.dlq_topic, rej.value,
                                                 key=rej.key, headers=headers))
        await asyncio.gather(*futs)

    # --- the broker lost the log ---------------------------------------------------------
    async def out_of_range(self, offsets: dict[TopicPartition, int]) -> None:
        """A fetch position outside the partition's log. At or past the log's start, it was
        past the end when fetched: the log is shorter than what we applied, so it is not the
        one the aggregates were built from (see log_replaced; by now it may have grown
        again, so its end proves nothing). Before the start: retention removed records; if
        every stored position is still inside the log only the check of the record before
        it was lost, so carry on from the stored positions."""
        assert self.consumer is not None
        async with self.lock:
            for tp, offset in offsets.items():
                begin = (await self.consumer.beginning_offsets([tp]))[tp]
                if offset >= begin:
                    await self.log_replaced(
                        tp, "the broker came back without the partition's events", offset)
                    continue
                targets = self.targets_of(tp.partition)
                if all(t.next is None or t.next >= begin for t in targets):
                    for t in targets:
                        t.verify = None
                    self._seek_all(tp)
                    continue
                await self.log_replaced(tp, "retention removed events before they were "
                                        "applied", offset)

    async def log_replaced(self, tp: TopicPartition, why: str, offset: int) -> None:
        """The partition's log is not the one the aggregates were built from: the broker
        came back empty (Tansu keeps everything in memory) and the log may even have grown
        past the stored offsets again, or retention removed unread events. What the
        aggregates hold is kept; the gap is recorded (shown by /v1/status, and `rebuild`
        refuses to drop it silently); every generation continues exactly from the log's
        start. Called with the lock held."""
        assert self.consumer is not None and self.redis is not None
        begin = (await self.consumer.beginning_offsets([tp]))[tp]
        log.warning("%s: %s (stored position %d); the numbers keep what was applied, new "
                    "events are applied from offset %d", tp, why, offset, begin)
        gap = {"detected_at": datetime.now(UTC).isoformat(timespec="seconds"),
               "applied_before": offset, "log_start": begin, "reason": why}
        await self.redis.hset(self.base.history_gaps(), tp_field(tp.topic, tp.partition),
                              orjson.dumps(gap))
        for tgt in self.targets_of(tp.partition):
            tgt.verify = None
            res = await tgt.sink.reset_offset(tp.topic, tp.partition, tgt.epoch, begin)
            if res is ApplyResult.OK:
                tgt.incarnation += 1  # the reset bumped it (apply.lua, FORCED)
                tgt.rewound = 0
            self.settle(tp, tgt, res, begin)
        self._seek_all(tp)
        if self.gens.building is not None and await abandon_rebuild(
                self.redis, self.base, self.gens.building):
            log.warning("rebuild of generation %d given up: the topic lost events it would "
                        "have dropped from every number", self.gens.building)
            self.dirty = True

    async def check_log_ends(self) -> None:
        """A stored offset past the log's end means the log is not the one we applied (a
        fetch there returns nothing on Tansu, not an error, so this is how it shows).

        Only targets whose claim check is still pending are looked at: a broker restart
        always breaks the connection, which leads to a claim, which sets the check; a
        target whose record before `next` has been seen is on the right log. Positions are
        taken before the ends are asked for: a log only grows, so an end below a position
        applied earlier is a short log, if the end is true. Tansu's reported end can trail
        what a fetch already returned (under load, for seconds), so an end below `next` at
        two checks in a row is only a suspicion, settled by reading the log itself
        (probe_logs): the record before `next` found with the fingerprint the target
        expects (or a later one first: retention) clears it; another record there, or the
        log read to its end before that offset, is a replaced log; no answer at all keeps
        the suspicion for PROBE_TRIES checks (a slow broker), then it is taken as short (an
        empty log answers nothing)."""
        assert self.consumer is not None
        before = {p: [(t, t.next) for t in self.targets_of(p)
                      if t.next is not None and t.verify is not None]
                  for p in sorted(self.live)}
        before = {p: ts for p, ts in before.items() if ts}
        if not before:
            return
        tps = [TopicPartition(self.settings.topic, p) for p in before]
        ends = await asyncio.wait_for(self.consumer.end_offsets(tps), 10)
        suspects: dict[TopicPartition, list[tuple[Target, int]]] = {}
        for tp, end in ends.items():
            for t, n in before[tp.partition]:
                t.past_end = t.past_end + 1 if n > end else 0
                if n <= end:
                    t.unanswered = 0  # the end caught up: a later suspicion starts afresh
                if t.past_end >= 2:
                    suspects.setdefault(tp, []).append((t, n))
        if not suspects:
            return
        found = await self.probe_logs({(tp, n): ends[tp] for tp, ts in suspects.items()
                                       for _t, n in ts})
        async with self.lock:
            for tp, ts in suspects.items():
                short = []
                for t, n in ts:
                    if t not in self.targets_of(tp.partition) or t.verify is None \
                            or t.next != n:
                        continue  # claimed again, or checked by a fetch, meanwhile
                    got = found.get((tp, n), UNANSWERED)
                    if isinstance(got, Record) and (got.offset != n - 1
                                                    or got.fingerprint() == t.verify):
                        log.warning("%s: the broker reported its log ends at %d, below the "
                                    "stored position %d, but holds the record applied last: "
                                    "carrying on", tp, ends[tp], n)
                        t.verify = None
                        t.past_end = t.unanswered = 0
                    elif not isinstance(got, Record) and t.unanswered + 1 < PROBE_TRIES:
                        # nothing at n - 1 (UNANSWERED, or SHORT: the read ended, or stalled,
                        # before it): a slow broker reads like a short log, so ask again;
                        # only another record at n - 1 is proof at once
                        t.unanswered += 1
                    else:
                        short.append(n)  # another record there, or still nothing there
                if short:
                    await self.log_replaced(
                        tp, "the broker came back without the partition's events", max(short))

    async def probe_logs(self, asked: dict[tuple[TopicPartition, int], int],
                         ) -> dict[tuple[TopicPartition, int], Record | object]:
        """For each (partition, stored position n) with the end the broker reported: the
        first record at or after n - 1 (a Record), SHORT if the log read from just before
        the reported end ends before n - 1, UNANSWERED if the broker handed nothing over
        in time. One consumer of its own for all of them (the group consumer's position
        and buffers are not touched), PROBE_WITHIN seconds for each of the two reads."""
        out: dict[tuple[TopicPartition, int], Record | object] = {}
        probe = AIOKafkaConsumer(group_id=None, **self.kafka_common)
        try:
            await asyncio.wait_for(probe.start(), PROBE_WITHIN)
            # positions of one partition are probed one after another (rare: two
            # generations claimed at different offsets)
            rounds: list[dict[TopicPartition, tuple[int, int]]] = []
            for (tp, n), end in sorted(asked.items(), key=lambda kv: kv[0][1]):
                free = next((r for r in rounds if tp not in r), None)
                if free is None:
                    free = {}
                    rounds.append(free)
                free[tp] = (n, end)
            for r in rounds:
                probe.assign(list(r))
                for tp, (n, _end) in r.items():
                    probe.seek(tp, n - 1)
                first = await _first_records(probe, set(r))
                silent = {}
                for tp, (n, end) in r.items():
                    if tp in first:
                        out[(tp, n)] = first[tp]
                    elif end > 0:
                        silent[tp] = (n, end)
                    else:
                        out[(tp, n)] = UNANSWERED
                if silent:
                    probe.assign(list(silent))
                    for tp, (_n, end) in silent.items():
                        probe.seek(tp, end - 1)
                    read = await _read_to(probe, {tp: n - 1 for tp, (n, _e) in silent.items()})
                    for tp, (n, _end) in silent.items():
                        out[(tp, n)] = read.get(tp, UNANSWERED)
        except TRANSIENT:
            pass  # what was not answered stays UNANSWERED
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(probe.stop(), PROBE_WITHIN)
        return out

    def targets_of(self, p: int) -> list[Target]:
        return [t for d in (self.live, self.joined, self.behind) if (t := d.get(p))]

    def _seek_all(self, tp: TopicPartition) -> None:
        """Send the group consumer back to the partition's lowest next offset; the rebuild
        consumer is re-seeked from the targets by _reassign_builder."""
        assert self.consumer is not None
        nexts = [t.next for d in (self.live, self.joined) if (t := d.get(tp.partition))
                 and t.next is not None]
        if nexts and tp in self.consumer.assignment():
            self.consumer.seek(tp, min(nexts))
            self._moved(self.consumer, tp)
        self._assign_builder()

    # --- once a second -------------------------------------------------------------------
    async def housekeeping(self) -> None:
        assert self.redis is not None
        gens = await read_generations(self.redis, self.base)
        if (gens.serving, gens.building) != (self.gens.serving, self.gens.building):
            log.warning("generations now serving %d, building %s: claiming afresh",
                        gens.serving, gens.building)
            self.dirty = True
            return
        if self.live:
            # Redis flushed or restarted empty while we were idle: our epochs are gone.
            ours = next(iter(self.live.values()))
            parts = sorted(self.live)
            stored = await self.redis.hmget(ours.layout.epochs(),
                                            [tp_field(self.settings.topic, p) for p in parts])
            if any(v is None for v in stored):
                log.warning("Redis lost the aggregates of generation %d: replaying the topic",
                            gens.serving)
                self.dirty = True
                return
        if self.by_org and time.monotonic() - self.orgs_checked >= ORGS_EVERY:
            # An org's slot may come back empty while none of its events arrive.
            self.orgs_checked = time.monotonic()
            async with self.lock:
                for p, tgt in sorted(self.live.items()):
                    lost = await tgt.sink.lost_orgs(self.settings.topic, p)
                    if lost:
                        await self.rewind(TopicPartition(self.settings.topic, p), tgt, lost)
                        return
        # Partitions still assigned to us but held by nobody here (fenced by a member that
        # was evicted meanwhile): claim them again if they stay so for a whole check.
        unclaimed = self.assigned - set(self.live)
        again = sorted(unclaimed & self.unclaimed)
        self.unclaimed = unclaimed
        if again:
            log.warning("partitions %s are ours but unclaimed; claiming them again", again)
            async with self.lock:
                await self._claim(again)
        await self.check_log_ends()
        if gens.building is not None and not self.behind:
            if await try_switch(self.redis, self.base, gens):
                log.warning("rebuild done: generation %d now serves (was %d)",
                            gens.building, gens.serving)
                self.dirty = True
                return
        if gens.retired and (self.dropping is None or self.dropping.done()):
            # In its own task: a SCAN of a large keyspace must not hold up the live loop.
            self.dropping = asyncio.create_task(drop_retired(self.redis, self.base, gens))
            self.dropping.add_done_callback(_log_dropped)
        await self.sweep_held()
        if time.monotonic() - self.topics_checked > TOPICS_EVERY:
            # A broker that came back empty has no topics; the API's ingest needs them too.
            self.topics_checked = time.monotonic()
            # Bounded: the admin client waits for a broker forever by itself.
            await asyncio.wait_for(ensure_topics(self.settings), 10)
        self._log_progress()

    def _log_progress(self) -> None:
        now = time.monotonic()
        last = getattr(self, "_logged_at", 0.0)
        log.debug("events %d, seconds by phase %s", self.events_seen,
                  {k: round(v, 2) for k, v in self.timings.items()})
        if now - last >= SUMMARY_EVERY and self.events_seen != getattr(self, "_logged_n", 0):
            n0 = getattr(self, "_logged_n", 0)
            rate = (self.events_seen - n0) / (now - last) if last else 0.0
            log.info("applied %d events in all (%.0f/s lately); partitions %s%s",
                     self.events_seen, rate, sorted(self.live),
                     f"; rebuilding {sorted(self.behind)}" if self.behind else "")
            self._logged_at, self._logged_n = now, self.events_seen

    async def sweep_held(self) -> None:
        """Dead-letter award events whose award.issued has not come within hold_seconds."""
        assert self.redis is not None
        cutoff = time.time() - self.settings.hold_seconds
        async with self.lock:
            targets = [(p, t) for d in (self.live, self.joined, self.behind)
                       for p, t in d.items()]
            for p, tgt in targets:
                await self._sweep(p, tgt, cutoff)

    async def _sweep(self, p: int, tgt: Target, cutoff: float) -> None:
        assert self.redis is not None
        layout = tgt.layout
        index = layout.held_index(self.settings.topic, p)
        members = cast(list[bytes], await self.redis.zrangebyscore(index, "-inf", cutoff,
                                                                     start=0, num=500))
        if not members:
            return
        commit = Commit()
        for member in members:
            org, award = split_held_member(member.decode())
            key = layout.held(org, award)
            for raw in cast(list[bytes], await self.redis.lrange(key, 0, -1)):
                commit.reject(org, Rejection(award.encode(), raw, DropReason.UNKNOWN_AWARD))
                with contextlib.suppress(EventRejected):  # it was valid when held
                    ev = decode_event(raw, now_us(), self.settings.event_limits)
                    # dead-lettered: its id is no longer reserved (semantics.md)
                    commit.dedup_unmarks.extend(dedup_places(layout, org, ev.day,
                                                             ev.event_id))
                commit.stat(org, "held", -1)
            commit.dels.append(key)
            commit.zrem.append((index, member.decode()))
        tp = TopicPartition(self.settings.topic, p)
        if layout.gen != self.gens.building:
            await self.dead_letter(commit.dlq, tp)
        if self.by_org:
            positions = await tgt.sink.positions({o for o, _n in commit.per_org}, tp.topic, p)
            res = await self.apply_by_org(tp, tgt, commit, positions, UNCHECKED, UNCHECKED, "")
        else:
            res = await tgt.sink.apply(commit, tp.topic, p, tgt.epoch, UNCHECKED, UNCHECKED,
                                       tgt.next)
        self.settle(tp, tgt, res, UNCHECKED)


def _record(m: Any) -> Record:
    """A fetched Kafka message as the fold reads it (a record with no value, a tombstone,
    is b"": rejected as invalid JSON)."""
    return Record(m.offset, m.key, m.value or b"", m.timestamp)


UNANSWERED = object()  # probe_logs: the broker handed nothing over in time
SHORT = object()  # probe_logs: the log was read to its end before the offset asked for


async def _first_records(probe: AIOKafkaConsumer, tps: set[TopicPartition],
                         ) -> dict[TopicPartition, Record | object]:
    """The first record fetched of each partition within PROBE_WITHIN seconds (SHORT where
    the broker says the offset is past the log's end: Apache Kafka does, Tansu answers
    nothing)."""
    first: dict[TopicPartition, Record | object] = {}
    deadline = time.monotonic() + PROBE_WITHIN
    while len(first) < len(tps) and (left := deadline - time.monotonic()) > 0:
        try:
            data = await probe.getmany(*(tp for tp in tps if tp not in first),
                                       timeout_ms=int(left * 1000), max_records=len(tps) * 8)
        except OffsetOutOfRangeError as err:
            for tp in err.args[0]:
                first[tp] = SHORT
            continue
        for tp, msgs in data.items():
            if tp in tps and tp not in first and msgs:
                first[tp] = _record(msgs[0])
    return first


async def _read_to(probe: AIOKafkaConsumer, wanted: dict[TopicPartition, int],
                   ) -> dict[TopicPartition, Record | object]:
    """Read each partition forward (from where the probe was sent) until the record at or
    after its wanted offset (a Record), or until it has handed records over and then none
    for a second: its log ends before that offset (SHORT). A partition that hands over
    nothing within PROBE_WITHIN seconds is left out (unanswered)."""
    out: dict[TopicPartition, Record | object] = {}
    last: dict[TopicPartition, float] = {}  # when each last handed a record over
    start = time.monotonic()
    while len(out) < len(wanted):
        now = time.monotonic()
        for tp in wanted:
            if tp not in out and tp in last and now - last[tp] >= 1.0:
                out[tp] = SHORT
        waiting = [tp for tp in wanted if tp not in out]
        if not waiting or now - start >= 4 * PROBE_WITHIN or (
                not any(tp in last for tp in waiting) and now - start >= PROBE_WITHIN):
            break  # (a partition still being read after 4 x PROBE_WITHIN: unanswered)
        try:
            data = await probe.getmany(*waiting, timeout_ms=200, max_records=10_000)
        except OffsetOutOfRangeError as err:
            for tp in err.args[0]:
                out[tp] = SHORT
            continue
        for tp, msgs in data.items():
            if tp in out or not msgs:
                continue
            last[tp] = time.monotonic()
            for m in msgs:
                if m.offset >= wanted[tp]:
                    out[tp] = _record(m)
                    break
    return out


def _log_dropped(task: asyncio.Task[list[int]]) -> None:
    if task.cancelled():
        return
    err = task.exception()
    if err is not None:
        log.warning("dropping retired generations failed (retried in a second): %s", err)
    elif task.result():
        log.info("dropped the keys of retired generation(s) %s", task.result())


# A poll's records by partition, and each partition's seek count when they were handed over.
Polled = tuple[dict[TopicPartition, list[Any]], dict[TopicPartition, int]]


def _first_error(tasks: list[asyncio.Task[None]]) -> BaseException | None:
    """The error of the first of these tasks (in order) that failed, among those done."""
    for t in tasks:
        if t.done() and not t.cancelled() and t.exception() is not None:
            return t.exception()
    return None


class WantedLock(asyncio.Lock):
    """An asyncio.Lock whose holder can tell that someone waits for it (`wanted`)."""

    def __init__(self) -> None:
        super().__init__()
        self.wanted = asyncio.Event()
        self.waiting = 0

    async def acquire(self) -> Literal[True]:
        self.waiting += 1
        self.wanted.set()
        try:
            return await super().acquire()
        finally:
            self.waiting -= 1
            if not self.waiting:
                self.wanted.clear()


async def gather_all(work: list[Any]) -> None:
    """Run a partition's batches of its targets (live and joined) concurrently; let every
    one finish before raising the first error, so no batch is still writing when the claims
    are taken afresh."""
    results = await asyncio.gather(*work, return_exceptions=True)
    for r in results:
        if isinstance(r, BaseException):
            raise r


def trim_cache(cache: dict[AwardRef, AwardState], most: int) -> None:
    """Keep a partition's award cache under `most` entries by dropping the oldest half
    (insertion order): what is dropped is read back from Redis when next needed."""
    if len(cache) > most:
        for ref in list(itertools.islice(cache, len(cache) - most // 2)):
            del cache[ref]


def _org_of(rec: Record, s: Settings) -> str | None:
    """The org a record names, valid or not (None: none)."""
    try:
        return decode_event(rec.value, now_us(), s.event_limits).org_id
    except EventRejected as err:
        return err.org_id


def now_us() -> int:
    return time.time_ns() // 1000

