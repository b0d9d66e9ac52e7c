"""One pub/sub subscription per API process, fanned out to every open live stream.

The worker PUBLISHes an org id on the changes channel after each batch that touched that
org (streams/processor.py, op `P`). A stream used to hold a pooled Redis connection for its
own subscription, so a few hundred streams of one key starved every tenant. Here one
connection listens for the whole process; each stream waits on its own event, set when its
org changed (many changes before it wakes count once), and then reads its summary through
the pool like any request.

The same subscription carries revocation notices (auth.revoke_key): the streams of a revoked
key end at once. Twice a second the hub also re-reads the records of the keys that have
open streams, in one round trip, which ends them within a second even if a notice was lost.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from dataclasses import dataclass, field

from redis.asyncio import Redis
from redis.backoff import ExponentialWithJitterBackoff
from redis.exceptions import RedisError

from api.faults import REDIS, Health, why
from api.limits import KeyGuard, TooManyRequests
from core.keys import ApiKey, is_live_record
from core.settings import Settings
from schemas.layout import Layout

LISTEN_POLL_S = 1.0  # how long one get_message waits (the loop also notices cancellation)
STREAM_RETRY_AFTER_S = 5  # a dashboard reconnecting a dropped stream waits about this long


@dataclass(eq=False)
class Subscription:
    """One open stream: woken when its org changed or when the hub ends it."""

    key_id: str
    org_id: str
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: str | None = None  # why the hub ended the stream

    def notify(self) -> None:
        self.wake.set()

    def close(self, reason: str) -> None:
        self.closed = reason
        self.wake.set()


class LiveHub:
    def __init__(self, redis: Redis, layout: Layout, settings: Settings, health: Health,
                 guard: KeyGuard) -> None:
        self.redis = redis
        self.layout = layout  # control keys: the channels and the API keys
        self.limit = settings.live_streams_per_key
        self.check_interval = settings.live_key_check_interval
        self.health = health
        self.guard = guard
        self._by_org: dict[str, set[Subscription]] = {}
        self._by_key: dict[str, set[Subscription]] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self.subscribed = asyncio.Event()  # set while the subscription is in place

    # --- streams -------------------------------------------------------------------------
    def admit(self, key_id: str) -> None:
        """Raise 429 when the key already has `limit` streams open in this process."""
        if len(self._by_key.get(key_id, ())) >= self.limit:
            raise TooManyRequests(
                f"live streams: this key has {self.limit} open on this API process, the "
                "most it may; close one first", retry_after=STREAM_RETRY_AFTER_S)

    def open(self, key: ApiKey, org_id: str) -> Subscription:
        """Register a stream (429 past the key's limit)."""
        self.admit(key.key_id)
        sub = Subscription(key.key_id, org_id)
        self._by_key.setdefault(key.key_id, set()).add(sub)
        self._by_org.setdefault(org_id, set()).add(sub)
        return sub

    def release(self, sub: Subscription) -> None:
        for index, name in ((self._by_key, sub.key_id), (self._by_org, sub.org_id)):
            subs = index.get(name)
            if subs is not None:
                subs.discard(sub)
                if not subs:
                    del index[name]

    def open_streams(self, key_id: str | None = None) -> int:
        if key_id is not None:
            return len(self._by_key.get(key_id, ()))
        return sum(len(s) for s in self._by_key.values())

    def _close_key(self, key_id: str, reason: str) -> None:
        self.guard.forget(key_id)
        for sub in list(self._by_key.get(key_id, ())):
            sub.close(reason)

    @staticmethod
    def _notify(subs: Iterable[Subscription]) -> None:
        for sub in list(subs):
            sub.notify()

    # --- lifetime ------------------------------------------------------------------------
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._listen(), name="live-hub-listen"),
                       loop.create_task(self._check_keys(), name="live-hub-keys")]

    def close_all(self, reason: str) -> None:
        """End every open stream (the server is stopping)."""
        for subs in list(self._by_key.values()):
            for sub in list(subs):
                sub.close(reason)

    async def stop(self) -> None:
        """End every stream and the hub's own tasks."""
        self.close_all("the server is shutting down")
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _listen(self) -> None:
        """Hold the one subscription; on a Redis failure, resubscribe with bounded backoff
        and wake every stream (a change may have been missed meanwhile)."""
        backoff = ExponentialWithJitterBackoff(base=0.1, cap=2.0)
        failures = 0
        changes = self.layout.changes_channel().encode()
        revoked = self.layout.key_revocations_channel().encode()
        while True:
            pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
            try:
                # a cluster client learns its slots on its first command, which a
                # subscription needs to pick a node (core/redisclient.py)
                await self.redis.ping()
                await pubsub.subscribe(changes, revoked)
                self.subscribed.set()
                if failures:
                    failures = 0
                    self._notify(s for subs in self._by_key.values() for s in subs)
                while True:
                    msg = await pubsub.get_message(timeout=LISTEN_POLL_S)
                    if msg is None:
                        continue
                    data = msg["data"]
                    name = data.decode() if isinstance(data, bytes) else str(data)
                    if msg["channel"] == changes:
                        self._notify(self._by_org.get(name, ()))
                    elif msg["channel"] == revoked:
                        self._close_key(name, "the key was revoked")
            except (RedisError, OSError) as err:
                self.subscribed.clear()
                failures += 1
                self.health.down(REDIS, why(err))
                await asyncio.sleep(backoff.compute(failures))
            finally:
                with contextlib.suppress(Exception):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # unannotated

    async def _check_keys(self) -> None:
        """Every check_interval, one HMGET of the records of keys with open streams."""
        while True:
            await asyncio.sleep(self.check_interval)
            key_ids = list(self._by_key)
            if not key_ids:
                continue
            try:
                records = await self.redis.hmget(self.layout.api_keys(), key_ids)
            except RedisError:
                continue  # the streams wait for Redis; the watcher logs the outage
            for key_id, raw in zip(key_ids, records, strict=True):
                if not is_live_record(raw):
                    self._close_key(key_id, "the key was revoked")
