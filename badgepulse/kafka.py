"""Small Kafka helpers shared by the worker, the API and the CLI."""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from badgepulse.settings import Settings


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
