"""Alerts in Redis: definitions, secrets, states and the delivery queue of each org.

Every key is the org's (schemas/layout.py puts them in the org's hash slot), so each step
below is one Lua script on one shard:

* ENQUEUE: the state change (``ok``/``resolved`` -> ``firing``, ``firing`` -> ``resolved``)
  and the delivery it sends, in one atomic step keyed on the alert. Two processes that
  both see the condition change make one delivery between them: the second finds the
  state already moved. A test delivery is enqueued without a state change.
* CLAIM: a due delivery is leased to one process (its score moves to now + lease), so a
  process killed mid-send leaves it to another once the lease runs out.
* FINISH: the outcome is written only by the lease holder of that attempt (a stale sender
  whose lease was taken over writes nothing).
* DELETE: the alert, its secret, its state and its deliveries, pending ones included.

A delivery record is JSON: delivery_id, alert_id, state, created_at (ms), attempts, status
(``pending`` | ``sending`` | ``delivered`` | ``failed``), next_retry_at, last_attempt_at,
delivered_at, http_status, error, body (the exact bytes sent, every attempt alike).
"""

from __future__ import annotations

import secrets
import time
from enum import IntEnum
from typing import Any, cast

import orjson
from redis.asyncio import Redis

from schemas.layout import Layout

KEEP_DELIVERIES = 100  # per alert, newest first (GET .../deliveries)

_ENQUEUE = """
-- KEYS: alerts, states, deliveries, log, due
-- ARGV: alert_id, mode ('state'|'test'), state, now_ms, delivery_id, body, keep,
--       the state the evaluation read ('' = any)
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return -1 end
local now = tonumber(ARGV[4])
if ARGV[2] == 'state' then
  local raw = redis.call('HGET', KEYS[2], ARGV[1])
  local cur = 'ok'
  if raw then cur = cjson.decode(raw)['state'] end
  -- moved since it was read: that evaluation's numbers are older than the move's
  if ARGV[8] ~= '' and cur ~= ARGV[8] then return 0 end
  if ARGV[3] == 'firing' then
    if cur == 'firing' then return 0 end
  elseif ARGV[3] == 'resolved' then
    if cur ~= 'firing' then return 0 end
  else
    return redis.error_reply('unknown state ' .. ARGV[3])
  end
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode({state = ARGV[3], since = now}))
end
local rec = {delivery_id = ARGV[5], alert_id = ARGV[1], state = ARGV[3], created_at = now,
             attempts = 0, status = 'pending', next_retry_at = now, body = ARGV[6]}
redis.call('HSET', KEYS[3], ARGV[5], cjson.encode(rec))
redis.call('ZADD', KEYS[5], now, ARGV[5])
redis.call('LPUSH', KEYS[4], ARGV[5])
local keep = tonumber(ARGV[7])
local old = redis.call('LRANGE', KEYS[4], keep, -1)
redis.call('LTRIM', KEYS[4], 0, keep - 1)
for _, id in ipairs(old) do
  -- a delivery still queued keeps its record until it finishes (FINISH drops it then)
  if not redis.call('ZSCORE', KEYS[5], id) then redis.call('HDEL', KEYS[3], id) end
end
return 1
"""

_CREATE = """
-- KEYS: alerts, secrets
-- ARGV: alert_id, definition, secret, most alerts of the org
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[4]) then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
return 1
"""

_CLAIM = """
-- KEYS: due, deliveries
-- ARGV: now_ms ('' = Redis's own clock), lease_ms, owner, limit, horizon_ms, [delivery_id ...]
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
else
  now = tonumber(ARGV[1])
end
local lease_until = now + tonumber(ARGV[2])
local horizon = tonumber(ARGV[5])
local cands
if #ARGV > 5 then
  cands = {}
  for i = 6, #ARGV do cands[#cands + 1] = ARGV[i] end
else
  cands = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[4]))
end
local out = {}
for _, id in ipairs(cands) do
  local score = redis.call('ZSCORE', KEYS[1], id)
  if score and tonumber(score) <= now then
    local raw = redis.call('HGET', KEYS[2], id)
    if not raw then
      redis.call('ZREM', KEYS[1], id)
    else
      local rec = cjson.decode(raw)
      if now > rec.created_at + horizon then
        -- past the horizon (its senders kept dying before they could say): given up
        rec.status = 'failed'
        rec.owner = nil
        rec.lease_until = nil
        rec.next_retry_at = nil
        redis.call('ZREM', KEYS[1], id)
        redis.call('HSET', KEYS[2], id, cjson.encode(rec))
      else
      rec.attempts = rec.attempts + 1
      rec.status = 'sending'
      rec.owner = ARGV[3]
      rec.lease_until = lease_until
      rec.last_attempt_at = now
      local enc = cjson.encode(rec)
      redis.call('HSET', KEYS[2], id, enc)
      redis.call('ZADD', KEYS[1], lease_until, id)
      out[#out + 1] = enc
      end
    end
  end
end
return out
"""

_FINISH = """
-- KEYS: due, deliveries, log
-- ARGV: delivery_id, owner, attempt, outcome, now_ms, next_ms, http_status, error
local raw = redis.call('HGET', KEYS[2], ARGV[1])
if not raw then return 0 end
local rec = cjson.decode(raw)
if rec.status ~= 'sending' or rec.owner ~= ARGV[2] or rec.attempts ~= tonumber(ARGV[3]) then
  return 0
end
rec.owner = nil
rec.lease_until = nil
if ARGV[7] ~= '' then rec.http_status = tonumber(ARGV[7]) else rec.http_status = nil end
if ARGV[8] ~= '' then rec.error = ARGV[8] else rec.error = nil end
if ARGV[4] == 'delivered' then
  rec.status = 'delivered'
  rec.delivered_at = tonumber(ARGV[5])
  rec.next_retry_at = nil
  redis.call('ZREM', KEYS[1], ARGV[1])
elseif ARGV[4] == 'retry' then
  rec.status = 'pending'
  rec.next_retry_at = tonumber(ARGV[6])
  redis.call('ZADD', KEYS[1], tonumber(ARGV[6]), ARGV[1])
else
  rec.status = 'failed'
  rec.next_retry_at = nil
  redis.call('ZREM', KEYS[1], ARGV[1])
end
if rec.status ~= 'pending' and not redis.call('LPOS', KEYS[3], ARGV[1]) then
  redis.call('HDEL', KEYS[2], ARGV[1])  -- trimmed out of the last KEEP while it was queued
else
  redis.call('HSET', KEYS[2], ARGV[1], cjson.encode(rec))
end
return 1
"""

_DELETE = """
-- KEYS: alerts, secrets, states, deliveries, log, due
-- ARGV: alert_id
if redis.call('HDEL', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('HDEL', KEYS[3], ARGV[1])
for _, id in ipairs(redis.call('LRANGE', KEYS[5], 0, -1)) do
  redis.call('HDEL', KEYS[4], id)
  redis.call('ZREM', KEYS[6], id)
end
redis.call('DEL', KEYS[5])
for _, id in ipairs(redis.call('ZRANGE', KEYS[6], 0, -1)) do
  local raw = redis.call('HGET', KEYS[4], id)
  if raw and cjson.decode(raw)['alert_id'] == ARGV[1] then
    redis.call('HDEL', KEYS[4], id)
    redis.call('ZREM', KEYS[6], id)
  end
end
return 1
"""


class Enqueued(IntEnum):
    """What ENQUEUE answers."""

    NO_ALERT = -1  # deleted meanwhile
    UNCHANGED = 0  # the state had already moved (another process, or no change)
    QUEUED = 1


class Outcome:
    DELIVERED = "delivered"
    RETRY = "retry"
    FAILED = "failed"


def new_alert_id() -> str:
    return f"al_{secrets.token_hex(8)}"


def new_delivery_id() -> str:
    return f"dl_{secrets.token_hex(12)}"


def new_secret() -> str:
    return f"whsec_{secrets.token_urlsafe(32)}"


def now_ms() -> int:
    return int(time.time() * 1000)


def _json(raw: bytes | str | None) -> dict[str, Any] | None:
    return None if raw is None else cast(dict[str, Any], orjson.loads(raw))


class AlertStore:
    """The alerts of every org, under one key layout's prefix (control keys: a rebuild of
    the aggregates keeps them)."""

    def __init__(self, redis: Redis, layout: Layout) -> None:
        self.redis = redis
        self.layout = layout
        self._create = redis.register_script(_CREATE)
        self._enqueue = redis.register_script(_ENQUEUE)
        self._claim = redis.register_script(_CLAIM)
        self._finish = redis.register_script(_FINISH)
        self._delete = redis.register_script(_DELETE)

    # --- definitions -------------------------------------------------------------------
    async def count(self, org: str) -> int:
        return int(await self.redis.hlen(self.layout.alerts(org)))

    async def create(self, org: str, alert: dict[str, Any], secret: str,
                     most: int = 1 << 62) -> bool:
        """Store the alert and its secret, unless the org has `most` alerts already (the
        count and the write in one step: requests made at once cannot pass the limit)."""
        lay = self.layout
        if not await self._create(keys=[lay.alerts(org), lay.alert_secrets(org)],
                                  args=[alert["alert_id"], orjson.dumps(alert), secret, most]):
            return False
        # the index of orgs to evaluate lives in another slot: written after, never removed
        await self.redis.sadd(lay.alert_orgs(), org)
        return True

    async def index_orgs(self, orgs: list[str]) -> None:
        await self.redis.sadd(self.layout.alert_orgs(), *orgs)

    async def orgs(self) -> list[str]:
        raw = cast(set[bytes], await self.redis.smembers(self.layout.alert_orgs()))
        return sorted(o.decode() for o in raw)

    async def alerts(self, org: str) -> list[dict[str, Any]]:
        """The org's alerts, each with its `state` and `state_since` (ms or None)."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(self.layout.alerts(org))
        pipe.hgetall(self.layout.alert_states(org))
        defs, states = await pipe.execute()
        out = []
        for alert_id, raw in defs.items():
            alert = cast(dict[str, Any], orjson.loads(raw))
            st = _json(states.get(alert_id))
            alert["state"] = st["state"] if st else "ok"
            alert["state_since"] = int(st["since"]) if st else None
            out.append(alert)
        out.sort(key=lambda a: (a["created_at"], a["alert_id"]))
        return out

    async def get(self, org: str, alert_id: str) -> dict[str, Any] | None:
        return _json(await self.redis.hget(self.layout.alerts(org), alert_id))

    async def secret(self, org: str, alert_id: str) -> str | None:
        raw = await self.redis.hget(self.layout.alert_secrets(org), alert_id)
        return None if raw is None else (raw.decode() if isinstance(raw, bytes) else str(raw))

    async def delete(self, org: str, alert_id: str) -> bool:
        lay = self.layout
        keys = [lay.alerts(org), lay.alert_secrets(org), lay.alert_states(org),
                lay.alert_deliveries(org), lay.alert_log(org, alert_id), lay.alert_due(org)]
        return bool(await self._delete(keys=keys, args=[alert_id]))

    # --- deliveries --------------------------------------------------------------------
    async def enqueue(self, org: str, alert_id: str, state: str, body: bytes, at_ms: int,
                      test: bool = False, read: str | None = None) -> tuple[Enqueued, str]:
        """Move the alert to `state` and queue its delivery, atomically (or, for a test,
        queue only); (what happened, the delivery id). With `read` (the state the
        evaluation started from), nothing moves if the state is no longer that one: a slow
        evaluation's older numbers cannot undo a newer one's change."""
        lay = self.layout
        delivery_id = new_delivery_id()
        keys = [lay.alerts(org), lay.alert_states(org), lay.alert_deliveries(org),
                lay.alert_log(org, alert_id), lay.alert_due(org)]
        res = await self._enqueue(keys=keys, args=[
            alert_id, "test" if test else "state", state, at_ms, delivery_id, body,
            KEEP_DELIVERIES, read or ""])
        return Enqueued(int(res)), delivery_id

    async def claim(self, org: str, owner: str, lease_ms: int, limit: int,
                    ids: list[str] | None = None, at_ms: int | None = None,
                    horizon_ms: int = 86_400_000) -> list[dict[str, Any]]:
        """Lease due deliveries (or the given ones, if due) to `owner`; one older than the
        horizon is marked failed instead. Leases are judged by Redis's clock (`at_ms` only
        for tests): a process whose clock runs ahead cannot take a delivery still leased."""
        lay = self.layout
        res = await self._claim(keys=[lay.alert_due(org), lay.alert_deliveries(org)],
                                args=[at_ms if at_ms is not None else "", lease_ms,
                                      owner, limit, horizon_ms, *(ids or ())])
        return [cast(dict[str, Any], orjson.loads(r)) for r in res]

    async def finish(self, org: str, rec: dict[str, Any], owner: str, outcome: str,
                     next_ms: int | None, http_status: int | None, error: str | None) -> bool:
        """Write an attempt's outcome; False when the lease was lost (nothing written)."""
        lay = self.layout
        keys = [lay.alert_due(org), lay.alert_deliveries(org),
                lay.alert_log(org, rec["alert_id"])]
        res = await self._finish(keys=keys, args=[
            rec["delivery_id"], owner, rec["attempts"], outcome, now_ms(),
            next_ms if next_ms is not None else "",
            http_status if http_status is not None else "", (error or "")[:300]])
        return bool(res)

    async def deliveries(self, org: str, alert_id: str) -> list[dict[str, Any]]:
        """The alert's last KEEP_DELIVERIES deliveries, newest first (bodies left out)."""
        lay = self.layout
        ids = await self.redis.lrange(lay.alert_log(org, alert_id), 0, KEEP_DELIVERIES - 1)
        if not ids:
            return []
        raws = await self.redis.hmget(lay.alert_deliveries(org), ids)
        out = []
        for raw in raws:
            rec = _json(raw)
            if rec is not None:
                rec.pop("body", None)
                out.append(rec)
        return out

    async def delivery(self, org: str, delivery_id: str) -> dict[str, Any] | None:
        return _json(await self.redis.hget(self.layout.alert_deliveries(org), delivery_id))

    async def take_tick(self, org: str, owner: str, interval_ms: int) -> bool:
        """Whether this process evaluates the org's alerts this interval (one process does;
        the ENQUEUE step keeps a second one harmless anyway)."""
        return bool(await self.redis.set(self.layout.alert_tick(org), owner, nx=True,
                                         px=max(1, interval_ms)))
