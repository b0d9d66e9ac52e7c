"""How many examples the Hypothesis properties try: a quarter of each property's thorough
count by default (CI, `make test`), the whole count with BADGEPULSE_HYPOTHESIS=thorough
(before a release, or after touching the event decoders):

    BADGEPULSE_HYPOTHESIS=thorough .venv/bin/pytest -q tests/unit

The properties and their explicit @example cases are the same either way."""

from __future__ import annotations

import os

THOROUGH = os.environ.get("BADGEPULSE_HYPOTHESIS", "").lower() == "thorough"


def examples(thorough: int) -> int:
    """`thorough` when asked for, else a quarter of it (at least 25)."""
    return thorough if THOROUGH else max(25, thorough // 4)
