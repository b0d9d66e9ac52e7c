"""The API's Kafka producer: started lazily, so the API runs (and says 503) without a broker.

`Publisher.publish` reports a verdict per record rather than one for the whole batch: which
records the broker acknowledged, and for the others whether sending them again can help.
So a client never sees "nothing accepted" while part of its batch is on the topic.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordListTooLargeError

from core.kafka import ensure_topics, make_producer
from core.settings import Settings

# How long one publish waits for the broker's acknowledgements, in all.
PUBLISH_TIMEOUT_S = 15.0
# Room above the largest event for the record's key, headers and batch framing.
RECORD_OVERHEAD = 64 * 1024

_BROKER_ERRORS = (KafkaError, OSError, TimeoutError)
_TOO_LARGE_ERRORS = (MessageSizeTooLargeError, RecordListTooLargeError)


class BrokerUnavailable(Exception):
    """The broker could not be reached; nothing was sent."""


@dataclass(frozen=True, slots=True)
class Failed:
    """Why one record was not acknowledged. `retryable`: the broker was unreachable or slow,
    so the record may or may not be on the topic and sending it again is the remedy (the
    worker ignores a repeated event_id); otherwise the broker refused it for good."""

    reason: str
    retryable: bool


def _why(err: BaseException) -> str:
    return str(err) or type(err).__name__


def _consume(fut: asyncio.Future[object]) -> None:
    if not fut.cancelled():
        fut.exception()


def _failure(err: BaseException, sent: bool = True) -> Failed:
    if isinstance(err, _TOO_LARGE_ERRORS):
        return Failed(f"too_large: the broker refused the event ({_why(err)})", False)
    if not sent:
        return Failed(f"broker: unavailable ({_why(err)}); not sent, send it again", True)
    return Failed(f"broker: not acknowledged ({_why(err)}); it may or may not be written, "
                  "send it again (a repeated event_id is ignored)", True)


class Publisher:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._producer: AIOKafkaProducer | None = None
        self._lock = asyncio.Lock()
        # producers being stopped in the background after a failure (close() waits for them)
        self._stopping: set[asyncio.Task[None]] = set()

    async def _get(self) -> AIOKafkaProducer:
        async with self._lock:
            if self._producer is None:
                max_request = max(1024 * 1024, self.settings.event_max_bytes + RECORD_OVERHEAD)
                producer = make_producer(self.settings, linger_ms=2, request_timeout_ms=5000,
                                         max_batch_size=1024 * 1024,
                                         max_request_size=max_request)
                try:
                    await asyncio.wait_for(producer.start(), 5)
                    await asyncio.wait_for(ensure_topics(self.settings), 5)
                except _BROKER_ERRORS as err:
                    with contextlib.suppress(Exception):
                        await asyncio.wait_for(producer.stop(), 5)
                    raise BrokerUnavailable(_why(err)) from err
                self._producer = producer
            return self._producer

    async def publish(self, items: list[tuple[bytes, bytes]]) -> list[Failed | None]:
        """Write (key, value) records; per record, None once the broker acknowledged it, else
        why not. Raises BrokerUnavailable (nothing sent) when no producer can be started."""
        producer = await self._get()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + PUBLISH_TIMEOUT_S
        outcomes: list[Failed | None] = [None] * len(items)
        sent: dict[int, asyncio.Future[object]] = {}
        for i, (key, value) in enumerate(items):
            try:
                # send() only buffers; it blocks when the buffer is full and the broker slow
                sent[i] = await asyncio.wait_for(
                    producer.send(self.settings.topic, value, key=key),
                    max(0.0, deadline - loop.time()))
            except _TOO_LARGE_ERRORS as err:
                outcomes[i] = _failure(err, sent=False)
            except _BROKER_ERRORS as err:
                # the broker is in trouble: do not offer it the rest of the batch
                failed = _failure(err, sent=False)
                for j in range(i, len(items)):
                    outcomes[j] = failed
                break
        if sent:
            await asyncio.wait(sent.values(), timeout=max(0.0, deadline - loop.time()))
        late = Failed(f"broker: not acknowledged within {PUBLISH_TIMEOUT_S:g}s; it may or "
                      "may not be written, send it again (a repeated event_id is ignored)",
                      True)
        for i, fut in sent.items():
            if not fut.done():
                outcomes[i] = late
                # it fails when the producer is stopped: retrieve that, nobody else will
                fut.add_done_callback(_consume)
            elif fut.cancelled():
                outcomes[i] = late
            elif (problem := fut.exception()) is not None:
                outcomes[i] = _failure(problem)
        if any(o is not None and o.retryable for o in outcomes):
            self._discard(producer)
        return outcomes

    def _discard(self, producer: AIOKafkaProducer) -> None:
        """Forget a producer that met a broker failure; the next publish starts afresh.
        It is stopped in the background: stopping waits for its in-flight requests, which
        against a stalled broker lasts its request timeout, and the answer should not."""
        if self._producer is producer:
            self._producer = None
            task = asyncio.get_running_loop().create_task(self._stop(producer))
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    @staticmethod
    async def _stop(producer: AIOKafkaProducer) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(producer.stop(), 10)

    async def reset(self) -> None:
        async with self._lock:
            if self._producer is not None:
                await self._stop(self._producer)
                self._producer = None

    async def ping(self) -> bool:
        try:
            producer = await self._get()
            await asyncio.wait_for(producer.client.fetch_all_metadata(), 3)
            return True
        except (BrokerUnavailable, *_BROKER_ERRORS):
            await self.reset()
            return False

    async def close(self) -> None:
        await self.reset()
        if self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)
