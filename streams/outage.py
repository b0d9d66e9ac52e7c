"""Waiting out a dependency: one log line per change of state, capped exponential backoff."""

from __future__ import annotations

import logging
import random
import time

from aiokafka.errors import KafkaError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

# What "the dependency is down or restarting" looks like. Anything else is a bug and is
# left to crash loudly. (BusyLoadingError, Redis replaying its AOF, is a ConnectionError.)
TRANSIENT: tuple[type[BaseException], ...] = (
    RedisConnectionError, RedisTimeoutError, KafkaError, OSError, TimeoutError)


class Outage:
    """The state of one loop's dependencies as seen by its last step.

    A loop calls `failed(err)` when a step raised one of TRANSIENT and sleeps `delay()`;
    it calls `ok()` after a step went through. Only changes of state are logged, so an
    outage of an hour writes two lines, not thousands. (A retry library would retry one
    call; here the whole step is redone from state re-read from Redis, so the loop owns it.)
    """

    def __init__(self, log: logging.Logger, what: str, first: float = 0.2,
                 cap: float = 5.0) -> None:
        self.log, self.what, self.first, self.cap = log, what, first, cap
        self.since: float | None = None
        self.failures = 0

    @property
    def down(self) -> bool:
        return self.since is not None

    def failed(self, err: BaseException) -> None:
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            self.log.warning("%s: %s unavailable (%s: %s); waiting it out", self.what,
                             _which(err), type(err).__name__, err)

    def ok(self) -> None:
        if self.since is not None:
            self.log.warning("%s: dependencies back after %.1f s (%d failed attempts)",
                             self.what, time.monotonic() - self.since, self.failures)
            self.since = None
            self.failures = 0

    def delay(self) -> float:
        """Full-jitter exponential backoff, capped."""
        step = min(self.cap, self.first * 2 ** min(self.failures, 10))
        return random.uniform(step / 2, step)


def _which(err: BaseException) -> str:
    if isinstance(err, KafkaError):
        return "Kafka"
    if isinstance(err, RedisConnectionError | RedisTimeoutError):
        return "Redis"
    return "a dependency"
