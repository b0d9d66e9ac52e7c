"""create_app(settings) -> FastAPI; the lifespan opens Redis and the Kafka publisher."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline

from api import faults
from api.alerting.runner import AlertRunner
from api.alerting.urls import system_resolve
from api.faults import Health, make_redis, watch_redis
from api.limits import KeyGuard
from api.live_hub import LiveHub
from api.producer import Publisher
from api.readers.answers import AnswerCache
from api.readers.caches import ReadCaches
from api.readers.scope import NotFound
from api.responses import OrjsonResponse
from api.routes import alerts, exports, ingest, insights, live, ops, reads
from api.routes.fast import CachedReads, ReadMemo
from api.routes.ops import Metrics, MetricsMiddleware
from core.generations import GenerationCache
from core.settings import Settings, get_settings
from schemas.layout import Layout

DESCRIPTION = """Real-time badge analytics. Every `/v1` call needs `Authorization: Bearer <key>`
(keys come from `badgepulse keys create`). Numbers are defined in metrics.md; rates are
fractions in [0, 1] and are never rounded here."""


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.gc_gen0_threshold:
            # A 2,000-row badge table allocates tens of thousands of small objects; with
            # CPython's default (700) they trigger full collections that doubled the p99
            # (bench/README.md). Objects from start-up are frozen out of collection.
            gc.freeze()
            gc.set_threshold(settings.gc_gen0_threshold, 50, 100)
        app.state.redis = redis = make_redis(settings)
        # what the readers keep between requests: this app's own (api/readers/caches.py)
        app.state.read_caches = ReadCaches()
        app.state.publisher = Publisher(settings)
        app.state.live_hub = hub = LiveHub(redis, app.state.layout, settings,
                                           app.state.health, app.state.guard)
        hub.start()
        # alerts: evaluated and delivered by every API process, coordinated in Redis
        app.state.alert_runner = alerts_ = AlertRunner(
            redis, settings, lambda: app.state.generation.get(redis), app.state.alert_resolve)
        if settings.alerts_enabled:
            alerts_.start()
        watcher = asyncio.get_running_loop().create_task(
            watch_redis(redis, app.state.health, settings.redis_socket_timeout))
        try:
            yield
        finally:
            await hub.stop()
            await alerts_.stop()
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
            await app.state.publisher.close()
            await redis.aclose()

    # /docs and /redoc from assets in the fastapi-offline wheel: no CDN, so they work on a
    # machine without internet.
    app = FastAPIOffline(title="Badgepulse", version="0.1.0", description=DESCRIPTION,
                  lifespan=lifespan, default_response_class=OrjsonResponse)
    app.state.settings = settings
    app.state.layout = Layout(settings.redis_prefix)  # control keys (API keys, coverage)
    app.state.generation = GenerationCache(settings.redis_prefix)
    app.state.metrics = Metrics()
    app.state.alert_resolve = system_resolve  # webhook hosts' DNS (tests may swap it)
    app.state.health = Health()  # which dependencies are down (logged once per change)
    app.state.guard = KeyGuard(settings)  # per-key request rate, verified-key cache
    # whole answers per (read, generation, org, scope, period, filters), checked against the
    # org's data version on every request (api/readers/answers.py)
    app.state.answers = AnswerCache(settings.answer_cache_mb * 1024 * 1024)
    # remembered read URLs are served without solving FastAPI's dependencies again
    # (api/routes/fast.py); inside the metrics, which count and time them like the rest
    app.state.read_memo = ReadMemo()
    app.add_middleware(CachedReads, api=app)
    app.add_middleware(MetricsMiddleware, metrics=app.state.metrics)

    @app.exception_handler(HTTPException)
    async def http_error(_request: Request, exc: HTTPException) -> OrjsonResponse:
        return OrjsonResponse({"detail": exc.detail}, status_code=exc.status_code,
                              headers=exc.headers)

    @app.exception_handler(NotFound)
    async def not_found(_request: Request, _exc: NotFound) -> OrjsonResponse:
        """Anything outside the caller's reach or absent from its org: one 404, the same
        for both, so another tenant's existence never shows."""
        return OrjsonResponse({"detail": "not found"}, status_code=404)

    faults.install(app)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> OrjsonResponse:
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", ""),
                   "type": e.get("type", "")} for e in exc.errors()]
        return OrjsonResponse({"detail": errors}, status_code=422)

    dashboard = Path(__file__).parent / "dashboard"

    @app.get("/", include_in_schema=False)
    async def read_dashboard() -> FileResponse:
        return FileResponse(dashboard / "index.html")

    app.mount("/dashboard", StaticFiles(directory=dashboard), name="dashboard")
    app.include_router(ops.router)
    app.include_router(ingest.router)
    app.include_router(reads.router)
    app.include_router(insights.router)  # before exports: its downloads are insights'
    app.include_router(exports.router)
    app.include_router(live.router)
    app.include_router(alerts.router)
    return app
