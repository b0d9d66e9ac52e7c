"""The seeded random stream shared by the correctness and fault tests."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tests.streamgen import generate

ORGS = ["acme", "globex", "initech"]
N_EVENTS = 21_000


@pytest.fixture(scope="session")
def stream() -> tuple[list[tuple[bytes, bytes]], datetime]:
    now = datetime.now(UTC)
    return generate(20261128, N_EVENTS, ORGS, now=now), now
