"""The Faust application of the worker: create_app(settings) -> faust.App."""

from __future__ import annotations

from typing import Any

import faust

from core.settings import Settings, get_settings
from streams.aggregator import Aggregator


def create_app(settings: Settings) -> faust.App:
    app = faust.App(
        f"{settings.consumer_group}-host",
        broker=[f"kafka://{hp}" for hp in settings.kafka_bootstrap.split(",")],
        web_enabled=settings.worker_web_port > 0,
        web_port=settings.worker_web_port or 6066,
        broker_session_timeout=settings.broker_session_timeout,
        broker_rebalance_timeout=settings.broker_rebalance_timeout,
        broker_heartbeat_interval=settings.broker_heartbeat_interval,
        topic_allow_declare=False,
        autodiscover=False,
        datadir="/tmp/badgepulse-faust",
    )

    # The aggregator owns the only consumer group; Faust itself needs no consumer (a second
    # group would only add a rebalance to every start), so it runs in producer-only mode.
    app.producer_only = True
    bound: dict[str, Any] = {"settings": settings}
    app.service(type("BoundAggregator", (Aggregator,), bound))
    return app


def main() -> None:
    """Run the worker in the foreground (what `badgepulse worker` calls)."""
    from faust.worker import Worker

    app = create_app(get_settings())
    Worker(app, loglevel="info", quiet=True).execute_from_commandline()
