"""The seeded random stream shared by the correctness and fault tests."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from typing import Any

import pytest

from core.settings import Settings
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
