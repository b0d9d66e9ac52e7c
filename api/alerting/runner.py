"""The alert loops every API process runs (started by api/main.py's lifespan).

* Evaluation, every `alert_eval_interval` seconds: for each org with alerts, one process
  (whichever takes the org's tick in Redis first) computes each alert's metric over its
  window from the counter hashes, as the summary read does (never raw events), and moves
  its state through ENQUEUE (api/alerting/store.py), which queues the delivery in the same
  atomic step.
* Delivery, every `alert_poll_interval` seconds (and at once after a local enqueue):
  due deliveries are leased to this process and POSTed, signed; the outcome is written
  back by the lease holder only. A process killed mid-send leaves its delivery leased
  until `alert_lease` runs out; then another process sends it again (the one window in
  which a receiver may see a delivery twice: the first send may have arrived before the
  kill; the `Badgepulse-Delivery` header lets a receiver drop the repeat).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from typing import Any

import httpx
from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from api.alerting import rules
from api.alerting.store import AlertStore, Enqueued, Outcome, now_ms
from api.alerting.urls import (
    Resolve,
    Target,
    UrlRefused,
    check_url,
    parse_allow_hosts,
    system_resolve,
)
from api.readers.caches import PairCache
from api.readers.counters import CounterReader, fold
from api.readers.scope import NotFound, ReadQuery, resolve
from core.keys import ApiKey
from core.settings import Settings
from schemas.layout import STATUS_CODES, Layout
from schemas.metrics import derive, previous_period

log = logging.getLogger("badgepulse.alerts")
ALL_STATUSES = frozenset(STATUS_CODES.values())
CLAIM_BATCH = 20
RESOLVE_TIMEOUT_S = 5.0  # check_url's own bound on the lookup before each attempt
STOP_GRACE_S = 3.0  # what a stopping process gives its sends under way
# Redis or the network gone: the whole round stops (every org would fail alike); any other
# error is one org's (a record it cannot read, a script error on its keys) and stops only it
OUTAGE = (RedisConnectionError, RedisTimeoutError, OSError)


def today_utc() -> date:
    return datetime.now(UTC).date()


async def org_window_metrics(redis: Redis, data: Layout, org: str,
                             alerts: list[dict[str, Any]], today: date
                             ) -> list[tuple[dict[str, Any], date, date, dict[str, Any],
                                             dict[str, Any]]]:
    """(alert, window start, end, every metric of metrics.md over the window, the same over
    the window before) for each alert whose scope still resolves: the same counter hashes
    and fold as `summary` (no filters), each scope resolved once and every window read in
    one round trip."""
    reader = CounterReader(redis)
    admin = ApiKey("alerts", org, "org_admin")
    memo = PairCache()  # each pair member split once this round, whatever the scopes
    scopes: dict[tuple[str | None, str | None], tuple[str, ...] | None] = {}
    wants = []
    for alert in alerts:
        key = (alert["scope"].get("issuer_id"), alert["scope"].get("badge_id"))
        if key not in scopes:
            try:
                res = await resolve(redis, data, admin, ReadQuery(org, today, today, *key),
                                    memo)
                scopes[key] = res.bases
            except NotFound:
                scopes[key] = None  # its issuer or badge is gone from the aggregates
        bases = scopes[key]
        if bases is None:
            continue
        start, end = rules.window(today, alert["window_days"])
        pstart, pend = previous_period(start, end)
        wants.append((alert, start, end, reader.want(bases, start, end),
                      reader.want(bases, pstart, pend)))
    hashes = await reader.run()
    return [(alert, start, end, derive(fold(hashes[i], ALL_STATUSES).as_dict()),
             derive(fold(hashes[j], ALL_STATUSES).as_dict()))
            for alert, start, end, i, j in wants]


async def post_to(client: httpx.AsyncClient, target: Target, body: bytes,
                  headers: dict[str, str]) -> httpx.Response:
    """POST to the checked address, telling the server (Host) and TLS (server name, and so
    the certificate check) the name of the URL. Only the status and headers are read: the
    receiver's body is never downloaded (it could be any size)."""
    ext = {"sni_hostname": target.sni_hostname} if target.sni_hostname else {}
    request = client.build_request("POST", target.connect_url, content=body,
                                   headers={**headers, "Host": target.host_header},
                                   extensions=ext)
    response = await client.send(request, stream=True)
    await response.aclose()
    return response


class AlertRunner:
    def __init__(self, redis: Redis, settings: Settings,
                 data_layout: Callable[[], Awaitable[Layout]],
                 resolve_host: Resolve = system_resolve) -> None:
        self.redis = redis
        self.settings = settings
        self.store = AlertStore(redis, Layout(settings.redis_prefix))
        self.data_layout = data_layout
        self.resolve_host = resolve_host
        self.allowed = parse_allow_hosts(settings.alert_allow_hosts)
        self.owner = f"{os.getpid()}-{secrets.token_hex(4)}"
        self.wake = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._sends: set[asyncio.Task[None]] = set()
        self._client: httpx.AsyncClient | None = None
        self._closing = False
        self._troubles: dict[str, str | None] = {}
        self._orgs_seen: set[str] = set()

    # --- lifetime ----------------------------------------------------------------------
    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._tasks = [loop.create_task(self._evaluate_loop(), name="alerts-evaluate"),
                       loop.create_task(self._deliver_loop(), name="alerts-deliver")]

    async def stop(self) -> None:
        # the flag too: on 3.11 a cancel that meets an expiring asyncio.timeout can come
        # out as TimeoutError, which the loops swallow, so they look at the flag as well
        self._closing = True
        self.wake.set()
        for t in self._tasks:
            t.cancel()
        # sends under way get a moment to finish, so their outcome is written and nobody
        # sends them again after the lease (what is left is retaken then)
        if self._sends:
            await asyncio.wait(set(self._sends), timeout=min(STOP_GRACE_S,
                                                            self.settings.alert_send_timeout))
        for t in [*self._tasks, *self._sends]:
            t.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        if self._client is not None:
            await self._client.aclose()

    @property
    def lease_ms(self) -> int:
        """How long a claim holds a delivery: never shorter than one attempt can take (the
        lookup, the send timeout, writing the outcome), whatever ALERT_LEASE says, or a
        second process would send a delivery whose first send is still under way."""
        s = self.settings
        return int(max(s.alert_lease, RESOLVE_TIMEOUT_S + s.alert_send_timeout + 5.0) * 1000)

    async def orgs(self) -> list[str]:
        """The orgs with alerts. The index lives in the control slot, on a cluster another
        master than the orgs' own: one restarted empty would leave every org unevaluated
        and undelivered until its next new alert, so what this process has seen is put
        back (the index is never shrunk anyway; an org without alerts costs one read)."""
        listed = await self.store.orgs()
        self._orgs_seen.update(listed)
        missing = self._orgs_seen.difference(listed)
        if missing:
            await self.store.index_orgs(sorted(missing))
            log.warning("alert index lacked %d org(s) this process knew; put back",
                        len(missing))
        return sorted(self._orgs_seen)

    @property
    def horizon_ms(self) -> int:
        return int(self.settings.alert_retry_horizon * 1000)

    def client(self) -> httpx.AsyncClient:
        if self._client is None:
            # redirects are not followed (a 3xx is a failed attempt); the checked address
            # is the one connected to (api/alerting/urls.py); no proxy from the environment;
            # no connection kept for another delivery: the pool is keyed by address and
            # port, so a second name on one address would skip its certificate check
            self._client = httpx.AsyncClient(
                follow_redirects=False, timeout=self.settings.alert_send_timeout,
                trust_env=False, limits=httpx.Limits(max_keepalive_connections=0))
        return self._client

    def _trouble(self, what: str, err: BaseException | None) -> None:
        """Log a loop's trouble once when it starts and once when it ends (a Redis outage
        would otherwise log every poll); an unexpected error with its traceback."""
        text = None if err is None else f"{type(err).__name__}: {err}"
        if text == self._troubles.get(what):
            return
        self._troubles[what] = text
        if err is None:
            log.info("alert %s running again", what)
        elif isinstance(err, RedisError | OSError):
            log.warning("alert %s paused: %s", what, text)
        else:
            log.error("alert %s failed", what, exc_info=err)

    @contextlib.asynccontextmanager
    async def _org_trouble(self, what: str, org: str) -> AsyncIterator[None]:
        """One org's error ends its part of the round only (logged once, as `_trouble`);
        an outage ends the round."""
        key = f"{what} of org {org}"
        try:
            yield
        except OUTAGE:
            raise
        except Exception as err:
            self._trouble(key, err)
        else:
            if self._troubles.get(key) is not None:
                self._trouble(key, None)

    async def _evaluate_loop(self) -> None:
        while not self._closing:
            try:
                await self.evaluate_all()
                self._trouble("evaluation", None)
            except Exception as err:  # logged; the loop must outlive one bad round
                self._trouble("evaluation", err)
            await asyncio.sleep(self.settings.alert_eval_interval)

    async def _deliver_loop(self) -> None:
        while not self._closing:
            try:
                await self.deliver_due()
                self._trouble("delivery", None)
            except Exception as err:  # logged; the loop must outlive one bad round
                self._trouble("delivery", err)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.settings.alert_poll_interval):
                    await self.wake.wait()
            self.wake.clear()

    # --- evaluation --------------------------------------------------------------------
    async def evaluate_all(self, force: bool = False) -> int:
        """Evaluate every org whose tick this process takes (all of them with `force`);
        the number of state changes queued."""
        interval_ms = int(self.settings.alert_eval_interval * 1000)
        changes = 0
        for org in await self.orgs():
            async with self._org_trouble("evaluation", org):
                if force or await self.store.take_tick(org, self.owner, interval_ms):
                    changes += await self.evaluate_org(org)
        if changes:
            self.wake.set()
        return changes

    async def evaluate_org(self, org: str) -> int:
        alerts = await self.store.alerts(org)
        if not alerts:
            return 0
        data = await self.data_layout()
        changes = 0
        for alert, start, end, cur, prev in await org_window_metrics(
                self.redis, data, org, alerts, today_utc()):
            metric = alert["metric"]
            cond = alert["condition"]
            holds = rules.condition_holds(cond["op"], cond["value"], cur.get(metric),
                                          prev.get(metric))
            state = rules.next_state(alert["state"], holds, int(cur["badges_awarded"]),
                                     alert["min_awards"])
            if state is None:
                continue
            at = now_ms()
            body = rules.payload(alert, start, end, cur.get(metric), prev.get(metric), state,
                                 at)
            done, delivery_id = await self.store.enqueue(org, alert["alert_id"], state, body,
                                                         at, read=alert["state"])
            if done is Enqueued.QUEUED:
                changes += 1
                log.info("alert %s of %s: %s (delivery %s)", alert["alert_id"], org, state,
                         delivery_id)
        return changes

    async def test_body(self, alert: dict[str, Any]) -> tuple[bytes, int]:
        """A `test` delivery's body, with the alert's numbers as they stand now."""
        today = today_utc()
        start, end = rules.window(today, alert["window_days"])
        value = previous = None
        for _a, _s, _e, cur, prev in await org_window_metrics(
                self.redis, await self.data_layout(), alert["org_id"], [alert], today):
            value, previous = cur.get(alert["metric"]), prev.get(alert["metric"])
        at = now_ms()
        return rules.payload(alert, start, end, value, previous, "test", at), at

    # --- delivery ----------------------------------------------------------------------
    async def deliver_due(self) -> int:
        """Lease and send what is due in every org; the number of attempts started."""
        lease_ms = self.lease_ms
        started = 0
        for org in await self.orgs():
            async with self._org_trouble("delivery", org):
                recs = await self.store.claim(org, self.owner, lease_ms, CLAIM_BATCH,
                                              horizon_ms=self.horizon_ms)
                for rec in recs:
                    task = asyncio.get_running_loop().create_task(
                        self._send_logged(org, rec))
                    self._sends.add(task)
                    task.add_done_callback(self._sends.discard)
                    started += 1
        return started

    async def _send_logged(self, org: str, rec: dict[str, Any]) -> None:
        try:
            await self.send(org, rec)
        except Exception as err:  # Redis gone mid-send: the lease runs out, another retries
            self._trouble("delivery", err)

    async def send_now(self, org: str, delivery_id: str) -> dict[str, Any] | None:
        """Send one queued delivery from this process now (POST .../test); its record
        after the attempt."""
        lease_ms = self.lease_ms
        for rec in await self.store.claim(org, self.owner, lease_ms, 1, ids=[delivery_id],
                                          horizon_ms=self.horizon_ms):
            await self.send(org, rec)
        return await self.store.delivery(org, delivery_id)

    async def send(self, org: str, rec: dict[str, Any]) -> None:
        """One attempt of a leased delivery, and its outcome written back."""
        s = self.settings
        status: int | None = None
        error: str | None = None
        retry_after: float | None = None
        alert = await self.store.get(org, rec["alert_id"])
        secret = await self.store.secret(org, rec["alert_id"])
        if alert is None or secret is None:
            return  # deleted meanwhile: DELETE dropped the record too
        body = rec["body"].encode()
        try:
            # checked again now: the name may resolve elsewhere than when it was made
            target = await check_url(alert["url"], self.allowed, self.resolve_host)
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "Badgepulse-Alerts/1",
                rules.SIGNATURE_HEADER: rules.sign(secret, int(time.time()), body),
                rules.DELIVERY_HEADER: rec["delivery_id"],
            }
            async with asyncio.timeout(s.alert_send_timeout):
                resp = await post_to(self.client(), target, body, headers)
            status = resp.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
                retry_after = rules.parse_retry_after(resp.headers.get("retry-after"),
                                                      datetime.now(UTC))
        except UrlRefused as err:
            error = f"refused: {err}"
        except TimeoutError:
            error = f"no answer in {s.alert_send_timeout:g} s"
        except (httpx.HTTPError, OSError, ValueError) as err:
            error = f"{type(err).__name__}: {err}"[:300]
        if error is None:
            outcome, next_ms = Outcome.DELIVERED, None
        else:
            next_ms = rules.next_attempt_ms(
                int(rec["created_at"]), now_ms(), int(rec["attempts"]), retry_after,
                s.alert_backoff_base, s.alert_backoff_cap, s.alert_retry_horizon)
            outcome = Outcome.RETRY if next_ms is not None else Outcome.FAILED
        if not await self.store.finish(org, rec, self.owner, outcome, next_ms, status, error):
            if await self.store.delivery(org, rec["delivery_id"]) is None:
                log.info("delivery %s: its alert was deleted while it was sent (%s)",
                         rec["delivery_id"], outcome)
            else:
                log.warning("delivery %s: the lease ran out before the answer came (%s)",
                            rec["delivery_id"], outcome)
