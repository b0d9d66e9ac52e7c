"""Every rejection text the validator and the worker produce maps to one reason code."""

from __future__ import annotations

import pytest

from schemas.events import EventRejected, decode_event
from schemas.limits import DEFAULT_LIMITS, size_problem, too_deep
from schemas.reasons import DropReason, classify

NOW = 1_780_000_000_000_000


def reason_of(raw: bytes) -> str:
    with pytest.raises(EventRejected) as err:
        decode_event(raw, NOW)
    return err.value.reason


@pytest.mark.parametrize(("raw", "code"), [
    (b"[1, 2]", DropReason.NOT_JSON),
    (b"\xff\xfe", DropReason.NOT_JSON),
    (b'{"event_id":"e","type":"x.y","occurred_at":"2026-01-01T00:00:00Z","org_id":"o"}',
     DropReason.UNKNOWN_TYPE),
    (b'{"event_id":"e","type":"award.viewed","org_id":"o","award_id":"a"}',
     DropReason.MISSING_FIELD),
    (b'{"event_id":"e","type":"award.viewed","occurred_at":"yesterday","org_id":"o",'
     b'"award_id":"a"}', DropReason.INVALID_FIELD),
    (b'{"event_id":"e","type":"award.viewed","occurred_at":"2999-01-01T00:00:00Z",'
     b'"org_id":"o","award_id":"a"}', DropReason.FUTURE),
    (b'{"event_id":"' + b"e" * 200 + b'","type":"award.viewed"}', DropReason.INVALID_FIELD),
    (b"[" * 40 + b"]" * 40, DropReason.TOO_DEEP),
])
def test_validator_rejections_have_their_code(raw: bytes, code: DropReason) -> None:
    assert classify(reason_of(raw)) is code


def test_limits_and_worker_verdicts_have_their_code() -> None:
    assert classify(str(size_problem(10**7, DEFAULT_LIMITS))) is DropReason.TOO_LARGE
    assert classify(too_deep(DEFAULT_LIMITS, "skills")) is DropReason.TOO_DEEP
    assert classify("issuer_id: does not match the award") is DropReason.MISMATCH
    assert classify("badge_id: does not match the award") is DropReason.MISMATCH
    for code in ("award_already_issued", "badge_already_created", "unknown_award"):
        assert classify(code) is DropReason(code)
