"""Operations: liveness, readiness, Prometheus metrics, and the pipeline's status."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition
from fastapi import APIRouter, Request, Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.deps import CallerDep, LayoutDep, OrgAdminDep, RedisDep, SettingsDep, get_layout
from api.faults import KAFKA, REDIS, Health
from api.models import ERROR_RESPONSES, HealthOut, MeOut, ReadyOut, StatusOut
from api.readers.summary import iso_us
from api.responses import OrjsonResponse
from badgepulse.generations import Generations, parse_generations
from badgepulse.settings import Settings
from schemas.layout import REJECTED_PREFIX, Layout
from schemas.reasons import DropReason

router = APIRouter(tags=["operations"])


class Metrics:
    """The API's own Prometheus registry (one per app, so tests do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter("badgepulse_http_requests_total", "HTTP requests",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("badgepulse_http_request_seconds", "HTTP request latency",
                                 ["method", "route"], registry=self.registry,
                                 buckets=(.002, .005, .01, .02, .05, .1, .25, .5, 1, 2.5, 5))
        self.worker = Gauge("badgepulse_worker_events", "Worker event totals (from Redis)",
                            ["kind"], registry=self.registry)
        self.lag = Gauge("badgepulse_consumer_lag", "Events published but not yet applied",
                         registry=self.registry)
        self.rejected = Gauge("badgepulse_worker_rejected_events",
                              "Events the worker rejected, by reason (from Redis)", ["reason"],
                              registry=self.registry)



class MetricsMiddleware:
    """Pure ASGI middleware counting requests and timing them by route template (cheaper
    than Starlette's BaseHTTPMiddleware, and it does not buffer streaming responses)."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            path = getattr(scope.get("route"), "path", "unmatched")
            method = scope.get("method", "")
            self.metrics.requests.labels(method, path, str(status)).inc()
            self.metrics.latency.labels(method, path).observe(time.perf_counter() - start)


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
        return sum(max(0, ends[tp] - applied.get(f"{tp.topic}:{tp.partition}", 0))
                   for tp in tps)
    except Exception:  # noqa: BLE001 - any broker trouble means "unknown", which is null
        return None
    finally:
        with contextlib.suppress(Exception):
            await consumer.stop()


async def read_status(settings: Settings, redis: Any, layout: Layout,
                      org_id: str | None = None) -> dict[str, Any]:
    """Pipeline status: for one org (what its keys see), or for the whole pipeline."""
    # Lag first, totals after: when the lag reads 0, the totals include every event.
    lag = await read_lag(settings, redis, layout)
    key = layout.stats() if org_id is None else layout.org_stats(org_id)
    pipe = redis.pipeline(transaction=False)
    pipe.hgetall(key)
    pipe.hgetall(layout.generations())
    pipe.hgetall(layout.history_gaps())
    raw_stats, raw_gens, gaps = await pipe.execute()
    stats = {k.decode(): int(v) for k, v in raw_stats.items()}
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


@router.get("/healthz", summary="The process is alive", response_model=HealthOut)
async def read_health() -> OrjsonResponse:
    return OrjsonResponse({"status": "ok"})


@router.get("/readyz", summary="Redis and Kafka are reachable", response_model=ReadyOut,
            responses={503: {"model": ReadyOut, "description": "Redis or Kafka unreachable"}})
async def read_ready(request: Request, redis: RedisDep, settings: SettingsDep) -> OrjsonResponse:
    """`false` names the dependency that is down; a 503 carries Retry-After."""
    health: Health = request.app.state.health
    redis_ok = False
    with contextlib.suppress(RedisError, OSError, TimeoutError):
        redis_ok = bool(await asyncio.wait_for(redis.ping(), 2))
    kafka_ok = await request.app.state.publisher.ping()
    for dep, ok in ((REDIS, redis_ok), (KAFKA, kafka_ok)):
        if ok:
            health.up(dep)
        else:
            health.down(dep, "no answer to /readyz")
    body = {"redis": redis_ok, "kafka": kafka_ok}
    if redis_ok and kafka_ok:
        return OrjsonResponse(body)
    return OrjsonResponse(body, status_code=503,
                          headers={"Retry-After": str(settings.retry_after)})


@router.get("/metrics", summary="Prometheus metrics", response_class=Response,
            responses={200: {"description": "Prometheus text exposition format",
                             "content": {"text/plain": {"schema": {"type": "string"}}}}})
async def read_metrics(request: Request, settings: SettingsDep, redis: RedisDep) -> Response:
    metrics: Metrics = request.app.state.metrics
    # Without Redis the worker's gauges keep their last values; the request metrics (this
    # process's own) are served all the same.
    with contextlib.suppress(RedisError, OSError):
        layout = await get_layout(request, redis)
        status = await read_status(settings, redis, layout)
        for kind in ("applied", "rejected", "held"):
            metrics.worker.labels(kind).set(status[kind])
        for code in DropReason:
            metrics.rejected.labels(code.value).set(status["rejected_by_reason"].get(code, 0))
        if status["lag"] is not None:
            metrics.lag.set(status["lag"])
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


@router.get("/v1/me", summary="The caller's key: org, role and issuers", response_model=MeOut,
            responses=ERROR_RESPONSES,
            description="Any valid key, a publisher's too: it names only the key itself, no "
                        "analytics (the dashboard uses it to tell a publisher key apart).")
async def read_me(caller: CallerDep) -> OrjsonResponse:
    return OrjsonResponse({"org_id": caller.org_id, "role": caller.role,
                           "issuer_ids": list(caller.issuers), "key_id": caller.key_id})


@router.get("/v1/status", response_model=StatusOut, summary="Pipeline status",
            responses=ERROR_RESPONSES,
            description="`as_of`, `applied`, `rejected` and `held` are the caller's org's "
                        "(nothing of another tenant is visible); `lag` is the pipeline's. "
                        "org_admin keys only: the totals are org-wide, so an issuer key (and "
                        "a publisher key, which has no reads) gets 403.")
async def read_pipeline_status(caller: OrgAdminDep, settings: SettingsDep, redis: RedisDep,
                               layout: LayoutDep) -> dict[str, Any]:
    return await read_status(settings, redis, layout, caller.org_id)
