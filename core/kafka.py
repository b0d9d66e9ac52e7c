"""Small Kafka helpers shared by the worker, the API and the CLI."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from core.settings import Settings


def make_producer(settings: Settings, **overrides: Any) -> AIOKafkaProducer:
    """The one producer configuration of the worker, the API and the CLI: every write
    acknowledged by all in-sync replicas (acks=all), small lingering to batch, and requests
    large enough for the biggest event the limits admit. `overrides` tune it per use (the
    API's shorter timeouts, the DLQ's larger requests)."""
    options: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap, "acks": "all", "linger_ms": 5,
        "max_batch_size": 512 * 1024,
        "max_request_size": max(1024 * 1024, settings.event_max_bytes + 64 * 1024),
    }
    options.update(overrides)
    return AIOKafkaProducer(**options)


async def ensure_topics(settings: Settings) -> None:
    """Create the events topic and its dead-letter topic if they are missing."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = [
            NewTopic(name, num_partitions=n, replication_factor=1)
            for name, n in ((settings.topic, settings.partitions), (settings.dlq_topic, 1))
            if name not in existing
        ]
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another process created it between our list and create
    finally:
        await admin.close()
