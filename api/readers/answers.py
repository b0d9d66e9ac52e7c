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

**Bounded staleness** (``max_stale``, `BADGEPULSE_ANSWER_STALE_MS`, 250 ms by default). An
org that ingests commits many times a second would otherwise have every answer computed
again after each commit, and the requests arriving just then wait for it. So each entry
also keeps *when* it was last known current: the moment just before a stamp read that
showed the entry's stamp (when it was computed, or a later hit). A request whose stamp
differs is still answered from the entry if that moment is at most ``max_stale`` before its
own stamp read, and one background computation per key (not per request; the process's
background computations queue, one at a time; each reads the stamp again when its turn
comes) brings the entry up to date once it is `REFRESH_AT` of the bound old (3/4: fewer
refreshes than at 1/2, measured over HTTP). Requests with a bound share a stamp read of
their org started at most an eighth of the bound before they came (`_stamp`). So a
response includes every commit applied more than ``max_stale`` before the request came,
and once ingest stops, every request from ``max_stale`` after the last commit on is exact
again. A request past the bound waits for a
computation that started within the bound (or starts one; one still queued it takes over
and runs at once). ``max_stale=0`` is the exact
mode: the stamp must be the same (the `/live` streams read that way, so an update is never
held back by a stale answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from api.readers.scope import ReadQuery
from core.keys import ApiKey
from core.status import iso_us
from schemas.layout import VERSIONS_GEN, Layout

Stamp = tuple[Hashable, ...]
# A stale entry's background refresh starts once it is this fraction of the bound old.
# bench_http same-org ingest (250 ms bound), alternating trees, 14:05-14:20 UTC: 1/2 gave
# 1,472-1,599 requests/s at p99 128-152 ms, 3/4 gave 1,850 at p99 112 (bench/README).
REFRESH_AT = 0.75


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
    checked: float  # monotonic time just before a stamp read that showed `stamp`
    as_of: str | None  # the global as_of read with that stamp


@dataclass(slots=True)
class _Flight:
    """One computation of a key's answer, from the stamp read at `checked`. A background
    refresh is `queued` until it runs; a request that must wait for it takes it over."""

    fresh: Fresh
    checked: float
    future: asyncio.Future[_Entry]
    queued: bool = False


def _retrieved(task: asyncio.Task[Fresh]) -> None:
    """A shared stamp read's error is its sharers' to meet; if none is left, it is dropped
    here rather than logged as never retrieved."""
    if not task.cancelled():
        task.exception()


def render(answer: dict[str, Any]) -> bytes:
    return orjson.dumps(answer, option=orjson.OPT_NON_STR_KEYS)


async def read_fresh(redis: Redis, layout: Layout, org_id: str) -> Fresh:
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(layout.org_stats(org_id))
    pipe.hget(layout.table_versions(org_id), VERSIONS_GEN)
    pipe.hgetall(layout.coverage_config(org_id))
    pipe.hget(layout.stats(), "as_of_us")
    stats, gen, cov, as_of_us = await pipe.execute()
    stamp = (tuple(sorted(cast(dict[bytes, bytes], stats).items())), gen,
             tuple(sorted(cast(dict[bytes, bytes], cov).items())))
    return Fresh(stamp, iso_us(int(as_of_us)) if as_of_us is not None else None)


ENTRY_BASE = 512  # bytes charged for an entry's objects besides its body and its key's text
STR_OVERHEAD = 56  # CPython's str object header, plus its slot in the tuple holding it


def entry_overhead(key: Hashable) -> int:
    """What an entry costs besides its body: a fixed part plus the text its key holds. A
    caller may name many unknown issuer/badge ids in filters (each distinct set is an answer
    of its own), so the key can outweigh the answer: charged, the byte bound holds."""
    n = ENTRY_BASE
    stack: list[object] = [key]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            n += len(item) + STR_OVERHEAD
        elif isinstance(item, (tuple, frozenset)):
            stack.extend(item)
        elif isinstance(item, ReadQuery):
            stack.extend((item.org_id, item.issuer_id, item.badge_id, item.issuer_filter,
                          item.badge_filter, item.status_filter))
    return n


class AnswerCache:
    def __init__(self, max_bytes: int, max_stale: float = 0.0) -> None:
        self.max_bytes = max_bytes
        self.max_stale = max_stale  # seconds an answer may lag its org (module doc)
        self.size = 0
        self.hits = 0
        self.misses = 0
        self.stale = 0  # answered from an entry whose stamp had moved on, within the bound
        self.refreshes = 0  # background computations started by stale answers
        self._entries: OrderedDict[Hashable, _Entry] = OrderedDict()
        self._inflight: dict[Hashable, _Flight] = {}  # the newest computation per key
        self._stamps: dict[Hashable, tuple[float, asyncio.Task[Fresh]]] = {}  # reads under way
        self.shared_stamps = 0  # requests that shared another's stamp read
        self._background: set[asyncio.Task[None]] = set()
        # background refreshes run one at a time: each then finishes in its own CPU time
        # instead of all of them interleaving until past the bound (bench/README.md)
        self._refresh_slot = asyncio.Semaphore(1)

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
                  compute: Callable[[], Awaitable[dict[str, Any]]], *,
                  max_stale: float | None = None) -> tuple[dict[str, Any], bytes]:
        """(answer, its JSON). `max_stale` (seconds; default the cache's own) bounds how long
        ago the answer may last have been current (module doc); 0: exactly the stamp read
        now. For `summary`, `as_of` is the one read with the stamp the answer is from."""
        summary = read == "summary"
        if not self.enabled:
            answer = await compute()
            return answer, render(answer)
        bound = self.max_stale if max_stale is None else max_stale
        key = self.key(read, layout, caller, q, params)
        now = time.monotonic()  # when the request came
        # read_at: just before the stamp read (this request's, or one it shares): what is
        # served is current as of then
        read_at, fresh = await self._stamp(redis, layout, q.org_id, now, bound)
        entry = self._entries.get(key)
        if entry is not None and entry.stamp == fresh.stamp:
            self.hits += 1
            entry.checked = max(entry.checked, read_at)
            entry.as_of = fresh.as_of
            self._entries.move_to_end(key)
        elif entry is not None and now - entry.checked <= bound:
            self.stale += 1
            self._entries.move_to_end(key)
            if now - entry.checked >= bound * REFRESH_AT:
                self._refresh(key, fresh, read_at, compute, summary, redis, layout, q.org_id)
        else:
            self.misses += 1
            entry = await self._join_or_compute(key, fresh, now, read_at, bound, compute,
                                                summary)
        if summary:
            answer = {**entry.answer, "as_of": entry.as_of}
            return answer, entry.body[:-1] + b',"as_of":' + orjson.dumps(entry.as_of) + b"}"
        return entry.answer, entry.body

    def _refresh(self, key: Hashable, fresh: Fresh, now: float,
                 compute: Callable[[], Awaitable[dict[str, Any]]], summary: bool,
                 redis: Redis, layout: Layout, org_id: str) -> None:
        """One background computation per key at a time, and one at a time in all (queued);
        a stale answer is served meanwhile. Its errors are the next request's to meet (past
        the bound it computes itself).

        When its turn comes it reads the stamp again: what it computes is current as of
        then, not as of when it was queued, so the entry starts its bound afresh. A request
        that must wait for a queued refresh takes it over (`_join_or_compute`), so no
        request waits behind other keys' refreshes."""
        running = self._inflight.get(key)
        if running is not None and not running.future.done():
            return
        flight = self._start(key, fresh, now)  # registered now: the next request sees it
        flight.queued = True

        async def run() -> None:
            with contextlib.suppress(Exception):
                async with self._refresh_slot:
                    if not flight.queued:
                        return  # a request took it over, or it was abandoned
                    flight.queued = False
                    if self._inflight.get(key) is not flight:
                        self._drop(key, flight)  # another computation replaced it
                        return
                    started = time.monotonic()
                    try:
                        again = await read_fresh(redis, layout, org_id)
                    except BaseException:
                        self._drop(key, flight)
                        raise
                    flight.fresh, flight.checked = again, started
                    await self._run(key, flight, compute, summary)

        self.refreshes += 1
        task = asyncio.get_running_loop().create_task(run())
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def _stamp(self, redis: Redis, layout: Layout, org_id: str, now: float,
                     bound: float) -> tuple[float, Fresh]:
        """(read_at, the org's stamp). With a bound, a request shares a stamp read of the
        same org that another request started at most an eighth of the bound before it
        came (50 dashboards polling one org need not each read it): its answer is then
        current as of that read, still well within the bound. An exact read (no bound)
        reads its own, after it came."""
        if bound <= 0:
            return now, await read_fresh(redis, layout, org_id)
        k = (id(redis), layout.data, org_id)
        pending = self._stamps.get(k)
        if pending is not None and now - pending[0] <= bound / 8:
            self.shared_stamps += 1
            return pending[0], await asyncio.shield(pending[1])
        task = asyncio.get_running_loop().create_task(read_fresh(redis, layout, org_id))
        task.add_done_callback(_retrieved)
        mine = self._stamps[k] = (now, task)
        try:
            return now, await asyncio.shield(task)
        finally:
            if self._stamps.get(k) is mine:
                del self._stamps[k]

    async def _join_or_compute(self, key: Hashable, fresh: Fresh, now: float, read_at: float,
                               bound: float, compute: Callable[[], Awaitable[dict[str, Any]]],
                               summary: bool) -> _Entry:
        while (running := self._inflight.get(key)) is not None and (
                running.fresh.stamp == fresh.stamp or now - running.checked <= bound):
            if running.queued:
                # a background refresh still waiting for its turn: computed here and now
                # from this request's stamp (newer), for everyone who waits on it
                running.queued = False
                running.fresh, running.checked = fresh, read_at
                return await self._run(key, running, compute, summary)
            # a computation whose answer is as new as this request needs: wait for it
            try:
                return await asyncio.shield(running.future)
            except asyncio.CancelledError:
                if not running.future.cancelled():
                    raise  # this request was cancelled, not the one computing
            # the request computing it went away (client gone): another waiter may have
            # taken over meanwhile; if none has, compute it here
            if self._inflight.get(key) is running:
                del self._inflight[key]
        return await self._run(key, self._start(key, fresh, read_at), compute, summary)

    def _drop(self, key: Hashable, flight: _Flight) -> None:
        """End a flight without computing: its waiters compute for themselves."""
        if self._inflight.get(key) is flight:
            del self._inflight[key]
        if not flight.future.done():
            flight.future.cancel()

    def _start(self, key: Hashable, fresh: Fresh, now: float) -> _Flight:
        fut: asyncio.Future[_Entry] = asyncio.get_running_loop().create_future()
        flight = self._inflight[key] = _Flight(fresh, now, fut)
        return flight

    async def _run(self, key: Hashable, flight: _Flight,
                   compute: Callable[[], Awaitable[dict[str, Any]]], summary: bool) -> _Entry:
        fut = flight.future
        try:
            answer = await compute()
            if summary:
                answer = {k: v for k, v in answer.items() if k != "as_of"}
            entry = _Entry(flight.fresh.stamp, answer, render(answer), flight.checked,
                           flight.fresh.as_of)
            fut.set_result(entry)
        except asyncio.CancelledError:
            fut.cancel()
            raise
        except Exception as err:
            fut.set_exception(err)
            fut.exception()  # retrieved: a flight nobody else joined logs nothing
            raise
        finally:
            if self._inflight.get(key) is flight:
                del self._inflight[key]
        self._store(key, entry)
        return entry

    def _store(self, key: Hashable, entry: _Entry) -> None:
        cost = len(entry.body) + entry_overhead(key)
        if cost > self.max_bytes:
            return
        old = self._entries.pop(key, None)
        if old is not None:
            if old.checked > entry.checked:  # a newer answer landed first: keep it
                self._entries[key] = old
                return
            self.size -= len(old.body) + entry_overhead(key)
        self._entries[key] = entry
        self.size += cost
        while self.size > self.max_bytes:
            k, gone = self._entries.popitem(last=False)
            self.size -= len(gone.body) + entry_overhead(k)

    def clear(self) -> None:
        self._entries.clear()
        self.size = 0
