"""Operations: liveness, readiness, Prometheus metrics, and the pipeline's status."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

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
from api.responses import OrjsonResponse
from core.status import read_status
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
