"""Whole answers cached per process, keyed by what they depend on and checked on every request.

Many dashboard users of one org poll the same numbers, and between two of the worker's
commits those numbers cannot change. So an answer is cached under

    (read, serving generation, org, the caller's scope (role, issuers), period, filters,
     the read's own parameters)

together with the org's *stamp*: every field of the org's stats hash (``version``, which
each commit that changes anything of the org bumps, and the counts beside it), the org's
table `_gen` (a Redis that came back empty, or went back in time, is not the one the answer
was read from) and the org's coverage settings (set by `badgepulse coverage`, not by a
commit). Each request reads the stamp afresh, in one round trip with the global ``as_of``
(a non-transactional pipeline: the org's keys and one pipeline-wide key, never grouped in
one MULTI), and is served from the cache only if the stamp is the same. The stamp is read
*before* an answer is computed, so a cached answer is never older than its stamp: a commit
after the stamp makes the next request's stamp differ, and it reads afresh.

Requests that miss on the same key and stamp at once share one computation (a burst of
dashboards after a commit reads Redis once). Errors (404) are not cached. The cache is
bounded in bytes (least recently used out); 0 bytes turns it off (every read is cold).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from api.readers.scope import ReadQuery
from core.keys import ApiKey
from core.status import iso_us
from schemas.layout import Layout

Stamp = tuple[Hashable, ...]


@dataclass(frozen=True, slots=True)
class Fresh:
    """What one request reads before anything else: the org's stamp and the global as_of."""

    stamp: Stamp
    as_of: str | None


@dataclass(slots=True)
class _Entry:
    stamp: Stamp
    answer: dict[str, Any]
    body: bytes  # the answer rendered (summary: without as_of, added per request)


def render(answer: dict[str, Any]) -> bytes:
    return orjson.dumps(answer, option=orjson.OPT_NON_STR_KEYS)


async def read_fresh(redis: Redis, layout: Layout, org_id: str) -> Fresh:
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(layout.org_stats(org_id))
    pipe.hget(layout.table_versions(org_id), "_gen")
    pipe.hgetall(layout.coverage_config(org_id))
    pipe.hget(layout.stats(), "as_of_us")
    stats, gen, cov, as_of_us = await pipe.execute()
    stamp = (tuple(sorted(cast(dict[bytes, bytes], stats).items())), gen,
             tuple(sorted(cast(dict[bytes, bytes], cov).items())))
    return Fresh(stamp, iso_us(int(as_of_us)) if as_of_us is not None else None)


class AnswerCache:
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.hits = 0
        self.misses = 0
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._inflight: dict[tuple[Hashable, Stamp], asyncio.Future[_Entry]] = {}

    @property
    def enabled(self) -> bool:
        return self.max_bytes > 0

    @staticmethod
    def key(read: str, layout: Layout, caller: ApiKey, q: ReadQuery,
            params: tuple[Hashable, ...]) -> Hashable:
        # q names the org, the scope (issuer/badge), the period and the filters; the caller's
        # role and issuers are what the readers look at of the key (never its id).
        return (read, layout.data, caller.org_id, caller.role, caller.issuers, q, params)

    async def get(self, redis: Redis, layout: Layout, caller: ApiKey, q: ReadQuery, read: str,
                  params: tuple[Hashable, ...],
                  compute: Callable[[], Awaitable[dict[str, Any]]]) -> tuple[dict[str, Any],
                                                                          bytes]:
        """(answer, its JSON). For `summary`, `as_of` is the one read with the stamp."""
        summary = read == "summary"
        if not self.enabled:
            answer = await compute()
            return answer, render(answer)
        key = self.key(read, layout, caller, q, params)
        fresh = await read_fresh(redis, layout, q.org_id)
        entry = self._entries.get(key)
        if entry is not None and entry.stamp == fresh.stamp:
            self.hits += 1
            self._entries.move_to_end(key)
        else:
            self.misses += 1
            entry = await self._compute(key, fresh.stamp, compute, summary)
        if summary:
            answer = {**entry.answer, "as_of": fresh.as_of}
            return answer, entry.body[:-1] + b',"as_of":' + orjson.dumps(fresh.as_of) + b"}"
        return entry.answer, entry.body

    async def _compute(self, key: Hashable, stamp: Stamp,
                       compute: Callable[[], Awaitable[dict[str, Any]]],
                       summary: bool) -> _Entry:
        flight = (key, stamp)
        while (running := self._inflight.get(flight)) is not None:
            try:
                return await asyncio.shield(running)
            except asyncio.CancelledError:
                if not running.cancelled():
                    raise  # this request was cancelled, not the one computing
            # the request computing it went away (client gone): another waiter may have
            # taken over meanwhile; if none has, compute it here
        fut: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        self._inflight[flight] = fut
        try:
            answer = await compute()
            if summary:
                answer = {k: v for k, v in answer.items() if k != "as_of"}
            entry = _Entry(stamp, answer, render(answer))
            fut.set_result(entry)
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as err:
            fut.set_exception(err)
            fut.exception()  # retrieved: a flight nobody else joined logs nothing
            raise
        finally:
            if self._inflight.get(flight) is fut:
                del self._inflight[flight]
        self._store(key, entry)
        return entry

    def _store(self, key: Hashable, entry: _Entry) -> None:
        cost = len(entry.body) + 512
        if cost > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            self.size -= len(old.body) + 512
        self._entries[key] = entry
        self.size += cost
        while self.size > self.max_bytes:
            _k, gone = self._entries.popitem(last=False)
            self.size -= len(gone.body) + 512

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0
