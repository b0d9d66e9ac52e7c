"""Why an event was dropped: a closed set, counted per reason (worker stats, /v1/status,
/metrics, the dead-letter topic's `reason_code` header). The human detail (which field,
what was wrong) travels apart, in the `reason` text."""

from __future__ import annotations

from enum import StrEnum


class DropReason(StrEnum):
    NOT_JSON = "not_json"  # not UTF-8 JSON, or not a JSON object
    TOO_LARGE = "too_large"  # over the size limit (schemas/limits.py)
    TOO_DEEP = "too_deep"  # nested deeper than the limit
    UNKNOWN_TYPE = "unknown_type"  # `type` not one of events.md
    MISSING_FIELD = "missing_field"  # a field its type requires is absent
    INVALID_FIELD = "invalid_field"  # a field present but not as events.md says
    FUTURE = "future"  # occurred_at more than 24 h ahead
    MISMATCH = "mismatch"  # issuer_id / badge_id differ from the award's
    AWARD_ALREADY_ISSUED = "award_already_issued"  # a second award.issued (another id)
    BADGE_ALREADY_CREATED = "badge_already_created"  # a second badge.created
    UNKNOWN_AWARD = "unknown_award"  # held 7 days, its award.issued never came
    NOT_YOUR_ORG = "not_your_org"  # POST /v1/events: org_id other than the key's


_EXACT = {r.value: r for r in DropReason}


def classify(reason: str) -> DropReason:
    """The code of a rejection's reason text (the text names the field first, events.md
    wording: ``occurred_at: more than 24h in the future``, ``award_id: missing`` ...)."""
    exact = _EXACT.get(reason)
    if exact is not None:
        return exact
    head, _, rest = reason.partition(":")
    if head in (DropReason.TOO_LARGE, DropReason.TOO_DEEP):
        return DropReason(head)
    if head == "body":
        return DropReason.NOT_JSON
    rest = rest.strip()
    if rest == "missing":
        return DropReason.MISSING_FIELD
    if head == "type" and rest.startswith("unknown"):
        return DropReason.UNKNOWN_TYPE
    if head == "occurred_at" and "future" in rest:
        return DropReason.FUTURE
    if rest == "does not match the award":
        return DropReason.MISMATCH
    if head == "org_id" and rest.startswith("not the organization"):
        return DropReason.NOT_YOUR_ORG
    return DropReason.INVALID_FIELD
