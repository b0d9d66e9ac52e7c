"""Generations of the aggregates: which one readers see, and the rebuild that makes the next.

Every aggregate lives under ``{prefix}:g{n}`` (schemas/layout.py). Readers use the
*serving* generation. `badgepulse rebuild` starts a *building* one (n+1); workers fill it
from the start of the topic beside the serving one, which keeps taking live events, and
once every partition of the new generation has reached the serving one's offsets a worker
switches readers over in one atomic step (SWITCH_LUA). The old generation is dropped a
little later (readers cache the pointer for at most GENERATION_TTL). API keys and coverage
settings are not per generation, so a rebuild carries them over by construction.

A Redis that lost everything has no pointer: generation 1 serves, and the workers, finding
no offsets there, replay the topic into it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis

from schemas.layout import Layout, retired_field, retired_generation

DEFAULT_GENERATION = 1
GENERATION_TTL = 0.5  # seconds a reader may keep using the pointer it read
RETIRE_GRACE = 10.0  # seconds between a switch and dropping the old generation's keys


@dataclass(frozen=True)
class Generations:
    serving: int = DEFAULT_GENERATION
    building: int | None = None
    last: int = DEFAULT_GENERATION
    retired: dict[int, float] = field(default_factory=dict)  # generation -> unix time


def parse_generations(raw: Mapping[bytes | str, bytes | str]) -> Generations:
    d = {_text(k): _text(v) for k, v in raw.items()}
    serving = int(d.get("serving", DEFAULT_GENERATION))
    building = int(d["building"]) if "building" in d else None
    retired = {g: float(v) for k, v in d.items() if (g := retired_generation(k)) is not None}
    return Generations(serving, building, int(d.get("last", serving)), retired)


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


async def read_generations(redis: Redis, layout: Layout) -> Generations:
    return parse_generations(await redis.hgetall(layout.generations()))


async def serving_layout(redis: Redis, prefix: str) -> Layout:
    """The layout readers use now."""
    base = Layout(prefix)
    return base.at((await read_generations(redis, base)).serving)


class GenerationCache:
    """The serving generation as one process sees it, re-read at most every GENERATION_TTL.

    Held by the API app (app.state), so a request costs no round trip for it; a switch is
    seen within GENERATION_TTL, well inside RETIRE_GRACE."""

    def __init__(self, prefix: str) -> None:
        self.base = Layout(prefix)
        self.layout = self.base
        self.read_at = float("-inf")

    async def get(self, redis: Redis) -> Layout:
        now = time.monotonic()
        if now - self.read_at >= GENERATION_TTL:
            raw = await redis.hget(self.base.generations(), "serving")
            self.layout = self.base.at(int(raw) if raw else DEFAULT_GENERATION)
            self.read_at = now
        return self.layout


# Start a rebuild: ARGV[1] = the serving default. Returns the building generation (a new
# one, or the one already under way) and whether it was started now.
START_LUA = """
local key = KEYS[1]
local building = redis.call('HGET', key, 'building')
if building then return {tonumber(building), 0} end
local serving = tonumber(redis.call('HGET', key, 'serving') or ARGV[1])
local last = tonumber(redis.call('HGET', key, 'last') or serving)
local nxt = math.max(serving, last) + 1
redis.call('HSET', key, 'serving', serving, 'building', nxt, 'last', nxt)
return {nxt, 1}
"""

# Switch readers to the building generation if it has caught up: every partition the serving
# generation has an offset for must have at least that offset in the building one.
# KEYS: generations, serving offsets, building offsets. ARGV: serving, building, now, the
# serving one's retired field (schemas/layout.py: retired_field).
SWITCH_LUA = """
local g = redis.call('HMGET', KEYS[1], 'serving', 'building')
if (g[1] or '1') ~= ARGV[1] or g[2] ~= ARGV[2] then return 'moved' end
local serving = redis.call('HGETALL', KEYS[2])
for i = 1, #serving, 2 do
  local b = redis.call('HGET', KEYS[3], serving[i])
  if (not b) or tonumber(b) < tonumber(serving[i + 1]) then return 'behind' end
end
redis.call('HSET', KEYS[1], 'serving', ARGV[2], ARGV[4], ARGV[3])
redis.call('HDEL', KEYS[1], 'building')
return 'switched'
"""


# Give up a rebuild (ARGV[1]) if it is still the one under way; its keys are dropped later.
# ARGV: the generation, now, its retired field.
ABANDON_LUA = """
if redis.call('HGET', KEYS[1], 'building') ~= ARGV[1] then return 0 end
redis.call('HDEL', KEYS[1], 'building')
redis.call('HSET', KEYS[1], ARGV[3], ARGV[2])
return 1
"""


async def abandon_rebuild(redis: Redis, layout: Layout, gen: int) -> bool:
    """The topic lost events while generation `gen` was being built from it: switching to it
    would drop them from every number, so it is given up (the serving one keeps them)."""
    res = await redis.eval(ABANDON_LUA, 1, layout.generations(), gen, time.time(),
                           retired_field(gen))
    return bool(int(res))


async def start_rebuild(redis: Redis, layout: Layout) -> tuple[int, bool]:
    res: Any = await redis.eval(START_LUA, 1, layout.generations(), DEFAULT_GENERATION)
    return int(res[0]), bool(int(res[1]))


async def try_switch(redis: Redis, layout: Layout, gens: Generations) -> bool:
    if gens.building is None:
        return False
    serving, building = layout.at(gens.serving), layout.at(gens.building)
    res = await redis.eval(SWITCH_LUA, 3, layout.generations(), serving.offsets(),
                           building.offsets(), gens.serving, gens.building, time.time(),
                           retired_field(gens.serving))
    return (res.decode() if isinstance(res, bytes) else str(res)) == "switched"


async def drop_retired(redis: Redis, layout: Layout, gens: Generations) -> list[int]:
    """Delete the keys of generations retired more than RETIRE_GRACE ago (one process at a
    time: a short lock), then forget them. Returns the generations dropped."""
    due = [g for g, at in gens.retired.items()
           if time.time() - at >= RETIRE_GRACE and g not in (gens.serving, gens.building)]
    if not due:
        return []
    lock = layout.drop_lock()
    token = uuid.uuid4().hex
    if not await redis.set(lock, token, nx=True, ex=600):
        return []
    try:
        for g in due:
            batch: list[bytes] = []
            async for key in redis.scan_iter(match=layout.at(g).generation_pattern(),
                                             count=2000):
                batch.append(key)
                if len(batch) >= 1000:
                    await redis.unlink(*batch)
                    batch = []
            if batch:
                await redis.unlink(*batch)
            await redis.hdel(layout.generations(), retired_field(g))
        return due
    finally:
        # only our own lock: one that expired and was taken by another worker stays
        await redis.eval(UNLOCK_LUA, 1, lock, token)


UNLOCK_LUA = """
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
"""
