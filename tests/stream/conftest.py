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
