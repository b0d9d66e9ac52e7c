"""The seeded random stream shared by the correctness and fault tests."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest

from core.settings import Settings
from streams.aggregator import Aggregator
from tests.conftest import caught_up
from tests.streamgen import generate

ORGS = ["acme", "globex", "initech"]
N_EVENTS = 21_000


@pytest.fixture(scope="session")
def stream() -> tuple[list[tuple[bytes, bytes]], datetime]:
    now = datetime.now(UTC)
    return generate(20261128, N_EVENTS, ORGS, now=now), now


def record_figure(test: str, **figures: object) -> None:
    """Append what a fault test ended with to test-artifacts/reliability.jsonl (the figures
    RELIABILITY.md quotes), and print it for `pytest -s`."""
    import orjson

    from tests.conftest import ARTIFACTS

    ARTIFACTS.mkdir(exist_ok=True)
    line = orjson.dumps({"test": test, **figures})
    with open(ARTIFACTS / "reliability.jsonl", "ab") as f:
        f.write(line + b"\n")
    print(line.decode())


def totals(status: dict[str, Any]) -> tuple[Any, Any, Any]:
    """The pipeline totals a status reports, to compare with expected_totals(oracle)."""
    return status["applied"], status["rejected"], status["held"]


def expected_totals(oracle: Any) -> tuple[int, int, int]:
    return oracle.applied, oracle.rejected, oracle.held


async def wait_exact(settings: Settings, oracle: Any, timeout: float = 180) -> dict[str, Any]:
    """Caught up *and* the totals reached the oracle's: after a wipe the lag reads 0 for a
    moment before the replay has begun, so keep waiting until the counts arrive (or the
    timeout; the caller then asserts and shows the difference)."""
    deadline = time.monotonic() + timeout
    status: dict[str, Any] = {}
    while time.monotonic() < deadline:
        status = await caught_up(settings, timeout=timeout)
        if totals(status) == expected_totals(oracle):
            return status
        await asyncio.sleep(0.5)
    return status


W = TypeVar("W", bound=Aggregator)


@asynccontextmanager
async def in_process(worker_class: type[W], settings: Settings) -> AsyncIterator[W]:
    """A worker of this Aggregator subclass (which injects the test's faults) running in
    the test's own process; stopped at the end, with the collector settings it changed
    (streams/aggregator.py, GC_THRESHOLDS and gc.freeze) put back."""
    worker_class.settings = settings
    thresholds = gc.get_threshold()
    worker = worker_class()
    await worker.start()
    try:
        yield worker
    finally:
        await worker.stop()
        gc.set_threshold(*thresholds)
        gc.unfreeze()
