"""The API's Kafka producer: started lazily, so the API runs (and says 503) without a broker."""

from __future__ import annotations

import asyncio
import contextlib

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from badgepulse.kafka import ensure_topics
from badgepulse.settings import Settings


class BrokerUnavailable(Exception):
    """The broker could not take the events; nothing was acknowledged."""


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()

    async def _get(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                producer = AIOKafkaProducer(
                    bootstrap_servers=self.settings.kafka_bootstrap, acks="all", linger_ms=2,
                    request_timeout_ms=5000, max_batch_size=1024 * 1024,
                )
                try:
                    await asyncio.wait_for(producer.start(), 5)
                    await asyncio.wait_for(ensure_topics(self.settings), 5)
                except (KafkaError, OSError, TimeoutError) as err:
                    with contextlib.suppress(Exception):
                        await producer.stop()
                    raise BrokerUnavailable(str(err) or type(err).__name__) from err
                self._producer = producer
            return self._producer

    async def publish(self, items: list[tuple[bytes, bytes]]) -> None:
        """Write (key, value) records and wait until the broker has acknowledged all of them."""
        producer = await self._get()
        try:
            futs = [await producer.send(self.settings.topic, v, key=k) for k, v in items]
            await asyncio.wait_for(asyncio.gather(*futs), 15)
        except (KafkaError, OSError, TimeoutError) as err:
            await self.reset()
            raise BrokerUnavailable(str(err) or type(err).__name__) from err

    async def reset(self) -> None:
        async with self._lock:
            if self._producer is not None:
                with contextlib.suppress(Exception):
                    await self._producer.stop()
                self._producer = None

    async def ping(self) -> bool:
        try:
            producer = await self._get()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 3)
            return True
        except (BrokerUnavailable, KafkaError, OSError, TimeoutError):
            await self.reset()
            return False

    async def close(self) -> None:
        await self.reset()
