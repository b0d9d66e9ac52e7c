"""`badgepulse rebuild`: recompute every aggregate from the topic without a gap for readers.

Starts a building generation (core/generations.py) and follows the workers filling it:
the bar counts the events of the topic the new generation has applied, against the topic's
end offsets read afresh each tick (ingest goes on during a rebuild). It ends when a worker
has switched readers over, which happens only once every partition has caught up.
"""

from __future__ import annotations

import asyncio
import contextlib

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from core.generations import read_generations, start_rebuild
from core.redisclient import connect
from core.settings import Settings
from core.upgrade import carry_over_names
from schemas.layout import Layout, tp_field


class RebuildRefused(Exception):
    """The rebuild would lose numbers; the message says why and what to do."""


async def topic_extent(settings: Settings) -> dict[str, tuple[int, int]]:
    """`topic:partition` -> (log start, log end) of the events topic."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                request_timeout_ms=5000)
    await asyncio.wait_for(consumer.start(), 10)
    try:
        parts = consumer.partitions_for_topic(settings.topic) or set()
        tps = [TopicPartition(settings.topic, p) for p in sorted(parts)]
        if not tps:
            return {}
        begins = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return {tp_field(tp.topic, tp.partition): (begins[tp], ends[tp]) for tp in tps}
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()


async def rebuild(settings: Settings, console: Console, force: bool = False) -> int:
    """Start (or follow) a rebuild and wait for the switch; returns the new generation."""
    base = Layout(settings.redis_prefix)
    async with connect(settings) as redis:
        if not settings.redis_cluster:
            await carry_over_names(redis, base)  # upgrading to hash-tagged names
        gaps = await redis.hgetall(base.history_gaps())
        if gaps and not force:
            first = min((orjson.loads(v) for v in gaps.values()),
                        key=lambda g: str(g.get("detected_at")))
            raise RebuildRefused(
                f"the topic no longer holds every event the numbers were built from "
                f"({first.get('reason')}, {first.get('detected_at')}, {len(gaps)} "
                f"partition(s)); a rebuild would drop those events from every number. "
                f"Run `badgepulse rebuild --force` to rebuild from what the topic holds.")
        extent = await topic_extent(settings)
        trimmed = sorted(f for f, (begin, _end) in extent.items() if begin > 0)
        if trimmed and not force:
            raise RebuildRefused(
                f"the topic's log no longer starts at offset 0 on {len(trimmed)} partition(s) "
                f"({trimmed[0]}, …): retention removed events the numbers include, and a "
                f"rebuild would drop them. Run `badgepulse rebuild --force` to rebuild from "
                f"what the topic holds.")
        gen, started = await start_rebuild(redis, base)
        console.print(f"{'started' if started else 'following'} rebuild: generation {gen} "
                      f"is built beside the serving one; readers switch when it catches up")
        building = base.at(gen)
        with Progress(TextColumn("rebuilding"), BarColumn(), MofNCompleteColumn(),
                      TextColumn("events"), TimeElapsedColumn(), console=console) as bar:
            task = bar.add_task("events", total=None)
            while True:
                gens = await read_generations(redis, base)
                if gens.serving == gen:
                    break
                if gens.building != gen:
                    if len(await redis.hgetall(base.history_gaps())) > len(gaps):
                        raise RebuildRefused(
                            f"generation {gen} was given up: the broker lost events while it "
                            "was being built (see `badgepulse` status notices); the serving "
                            "numbers keep them")
                    raise RebuildRefused(f"generation {gen} was dropped before it caught up "
                                         "(Redis lost its data?); run the rebuild again")
                extent = await topic_extent(settings)
                done = {(k.decode() if isinstance(k, bytes) else k): int(v)
                        for k, v in (await redis.hgetall(building.offsets())).items()}
                total = sum(end - begin for begin, end in extent.values())
                applied = sum(min(max(done.get(f, begin) - begin, 0), end - begin)
                              for f, (begin, end) in extent.items())
                bar.update(task, total=total, completed=applied)
                await asyncio.sleep(0.5)
            bar.update(task, completed=bar.tasks[0].total or 0)
        if force and gaps:
            # only the gaps this rebuild was told to drop; any found meanwhile stay
            await redis.hdel(base.history_gaps(), *gaps.keys())
        console.print(f"generation {gen} serves now; the previous one is dropped shortly")
        return gen
