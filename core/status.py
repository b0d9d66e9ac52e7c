"""The pipeline's status as the worker left it in Redis, with the broker's lag: what
`/v1/status` and `/metrics` serve (and what the tests wait on)."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from core.generations import Generations, parse_generations
from core.settings import Settings
from schemas.layout import REJECTED_PREFIX, Layout, tp_field


def iso_us(ts_us: int | None) -> str | None:
    """A time in microseconds since the epoch as api.md writes times (UTC, milliseconds, Z)."""
    if ts_us is None:
        return None
    dt = datetime.fromtimestamp(ts_us / 1_000_000, UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def read_lag(settings: Settings, redis: Any, layout: Layout) -> int | None:
    """End offsets of the events topic minus the offsets applied to Redis."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap,
                                request_timeout_ms=3000)
    try:
        await asyncio.wait_for(consumer.start(), 3)
        parts = consumer.partitions_for_topic(settings.topic) or set()
        if not parts:
            return None
        tps = [TopicPartition(settings.topic, p) for p in sorted(parts)]
        ends: dict[TopicPartition, int] = await asyncio.wait_for(consumer.end_offsets(tps), 3)
        stored = await redis.hgetall(layout.offsets())
        applied = {k.decode(): int(v) for k, v in stored.items()}
        return sum(max(0, ends[tp] - applied.get(tp_field(tp.topic, tp.partition), 0))
                   for tp in tps)
    except Exception:  # noqa: BLE001 - any broker trouble means "unknown", which is null
        return None
    finally:
        with contextlib.suppress(Exception):  # bounded: a half-started client may not stop
            await asyncio.wait_for(consumer.stop(), 3)


async def read_status(settings: Settings, redis: Any, layout: Layout,
                      org_id: str | None = None) -> dict[str, Any]:
    """Pipeline status: for one org (what its keys see), or for the whole pipeline."""
    # Lag first, totals after: when the lag reads 0, the totals include every event.
    lag = await read_lag(settings, redis, layout)
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(layout.generations())
    pipe.hgetall(layout.history_gaps())
    raw_gens, gaps = await pipe.execute()
    if org_id is None:
        stats = await pipeline_stats(redis, layout)
    else:
        stats = _ints(await redis.hgetall(layout.org_stats(org_id)))
    by_reason = {name.removeprefix(REJECTED_PREFIX): n for name, n in sorted(stats.items())
                 if name.startswith(REJECTED_PREFIX) and n}
    return {
        "as_of": iso_us(stats.get("as_of_us")),
        "lag": lag,
        "applied": stats.get("applied", 0),
        "rejected": stats.get("rejected", 0),
        "rejected_by_reason": by_reason,
        "held": stats.get("held", 0),
        "notices": pipeline_notices(parse_generations(raw_gens), gaps),
    }


def _ints(raw: dict[bytes, bytes]) -> dict[str, int]:
    return {k.decode(): int(v) for k, v in raw.items()}


async def pipeline_stats(redis: Any, layout: Layout) -> dict[str, int]:
    """Pipeline-wide outcome counts: those of events of no known org (layout.stats) plus
    every registered org's. Kept as a sum rather than a hash of their own because a worker
    committing org by org (docs/cluster.md) moves each org's counts with that org's writes;
    ``as_of_us`` is the pipeline's own."""
    orgs = sorted(m.decode() for m in await redis.smembers(layout.orgs()))
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(layout.stats())
    for org in orgs:
        pipe.hgetall(layout.org_stats(org))
    own, *per_org = await pipe.execute()
    total = _ints(own)
    for raw in per_org:
        for name, n in _ints(raw).items():
            if name not in ("as_of_us", "version"):
                total[name] = total.get(name, 0) + n
    return total


def pipeline_notices(gens: Generations, gaps: dict[bytes, bytes]) -> list[str]:
    """What an operator should know about the numbers: a rebuild under way, and events the
    numbers hold that the topic lost (so a rebuild would drop them)."""
    out = []
    if gens.building is not None:
        out.append(f"rebuild under way: generation {gens.building} is being built beside "
                   f"the serving generation {gens.serving}; numbers stay live meanwhile")
    if gaps:
        first = min((orjson.loads(v) for v in gaps.values()),
                    key=lambda g: str(g.get("detected_at")))
        out.append(f"the topic no longer holds every event these numbers include "
                   f"({first.get('reason')}, detected {first.get('detected_at')}, "
                   f"{len(gaps)} partition(s)); the numbers keep them, but "
                   "`badgepulse rebuild` would drop them")
    return out
