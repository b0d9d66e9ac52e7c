"""schemas.events: the validation of published events (shared/spec/events.md)."""

from __future__ import annotations

import dataclasses
import pickle
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest

from schemas.events import (
    AWARD_FOLLOWUP_TYPES,
    EVENT_TYPES,
    Event,
    EventRejected,
    decode_event,
    parse_event,
    partition_key,
    to_json,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NOW_DT = datetime(2026, 4, 20, 12, 0, 0, tzinfo=UTC)
HOUR_US = 3_600_000_000


def us(dt: datetime) -> int:
    return (dt - EPOCH) // timedelta(microseconds=1)


NOW = us(NOW_DT)

ENVELOPE = {
    "event_id": "e-1001",
    "occurred_at": "2026-04-13T09:30:00Z",
    "org_id": "acme",
}

# type -> the required fields besides the envelope
MINIMAL: dict[str, dict[str, Any]] = {
    "issuer.created": {"issuer_id": "acme-eng", "name": "Acme Engineering"},
    "badge.created": {"issuer_id": "acme-eng", "badge_id": "py-101", "name": "Python 101"},
    "badge.updated": {"badge_id": "py-101"},
    "award.issued": {
        "issuer_id": "acme-eng",
        "badge_id": "py-101",
        "award_id": "aw-77",
        "method": "lms",
    },
    "award.accepted": {"award_id": "aw-77"},
    "award.declined": {"award_id": "aw-77"},
    "award.revoked": {"award_id": "aw-77"},
    "award.shared": {"award_id": "aw-77", "channel": "linkedin"},
    "award.viewed": {"award_id": "aw-77", "source": "linkedin"},
    "award.visibility_changed": {"award_id": "aw-77", "visibility": "public"},
}

# type -> the optional fields of the type (and, for follow-ups, issuer_id/badge_id)
OPTIONAL: dict[str, dict[str, Any]] = {
    "issuer.created": {},
    "badge.created": {"skills": ["python", "testing"], "visibility": "private"},
    "badge.updated": {"name": "Python 102", "skills": [], "visibility": "public"},
    "award.issued": {"visibility": "public", "recipient_id": "learner:42"},
    "award.accepted": {"issuer_id": "acme-eng", "badge_id": "py-101"},
    "award.declined": {"issuer_id": "acme-eng", "badge_id": "py-101"},
    "award.revoked": {"reason": "issued by mistake", "issuer_id": "acme-eng"},
    "award.shared": {"badge_id": "py-101"},
    "award.viewed": {"issuer_id": "acme-eng", "badge_id": "py-101",
                     "user_agent": "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)"},
    "award.visibility_changed": {"issuer_id": "acme-eng", "badge_id": "py-101"},
}

ALL_TYPES = sorted(MINIMAL)
DATA_FIELDS = (
    "issuer_id",
    "badge_id",
    "award_id",
    "name",
    "skills",
    "visibility",
    "method",
    "channel",
    "source",
    "recipient_id",
    "reason",
    "user_agent",
)


def event(etype: str, **changes: Any) -> dict[str, Any]:
    """A valid minimal event object of `etype`; `changes` set fields, `...` deletes one."""
    obj: dict[str, Any] = {**ENVELOPE, "type": etype, **MINIMAL[etype]}
    for k, v in changes.items():
        if v is ...:
            obj.pop(k, None)
        else:
            obj[k] = v
    return obj


def full_event(etype: str, **changes: Any) -> dict[str, Any]:
    """event() with every optional field of the type and an explicit schema_version."""
    return event(etype, **{**OPTIONAL[etype], "schema_version": 1, **changes})


def parse(obj: object) -> Event:
    return parse_event(obj, NOW)


def rejection(obj: object) -> str:
    with pytest.raises(EventRejected) as info:
        parse_event(obj, NOW)
    assert str(info.value) == info.value.reason
    return info.value.reason


# ------------------------------------------------------------------------------------ types


def test_there_are_exactly_the_ten_types_of_events_md() -> None:
    assert EVENT_TYPES == set(MINIMAL)
    assert len(EVENT_TYPES) == 10


def test_award_follow_up_types_are_the_award_types_other_than_issued() -> None:
    assert AWARD_FOLLOWUP_TYPES == {
        "award.accepted",
        "award.declined",
        "award.revoked",
        "award.shared",
        "award.viewed",
        "award.visibility_changed",
    }


@pytest.mark.parametrize("etype", ALL_TYPES)
def test_every_type_is_accepted_in_its_minimal_form(etype: str) -> None:
    ev = parse(event(etype))
    assert ev.event_id == "e-1001"
    assert ev.type == etype
    assert ev.org_id == "acme"
    assert ev.ts == us(datetime(2026, 4, 13, 9, 30, tzinfo=UTC))
    assert ev.day == "2026-04-13"
    assert ev.schema_version == 1
    for name in DATA_FIELDS:
        assert getattr(ev, name) == MINIMAL[etype].get(name), name


@pytest.mark.parametrize("etype", ALL_TYPES)
def test_a_parsed_event_has_every_field_set_like_one_built_with_its_constructor(
    etype: str,
) -> None:
    ev = parse(full_event(etype))
    values = dataclasses.asdict(ev)  # raises if a slot was left unset
    assert Event(**values) == ev
    assert set(values) == {f.name for f in dataclasses.fields(Event)}


@pytest.mark.parametrize("etype", ALL_TYPES)
def test_every_type_is_accepted_in_its_full_form(etype: str) -> None:
    ev = parse(full_event(etype))
    expected = {**MINIMAL[etype], **OPTIONAL[etype]}
    for name in DATA_FIELDS:
        assert getattr(ev, name) == expected.get(name), name


def test_the_example_events_of_events_md_are_accepted() -> None:
    lines = [
        b'{"event_id":"e-1001","type":"award.issued","occurred_at":"2026-04-13T09:30:00Z",'
        b'"org_id":"acme","issuer_id":"acme-eng","badge_id":"py-101","award_id":"aw-77",'
        b'"method":"lms","visibility":"private"}',
        b'{"event_id":"e-1002","type":"award.accepted","occurred_at":"2026-04-14T11:02:00Z",'
        b'"org_id":"acme","award_id":"aw-77"}',
        b'{"event_id":"e-1003","type":"award.shared","occurred_at":"2026-04-14T11:05:00Z",'
        b'"org_id":"acme","award_id":"aw-77","channel":"linkedin"}',
        b'{"event_id":"e-1004","type":"award.viewed","occurred_at":"2026-04-15T08:00:00Z",'
        b'"org_id":"acme","award_id":"aw-77","source":"linkedin"}',
    ]
    evs = [decode_event(raw, NOW) for raw in lines]
    assert [e.type for e in evs] == ["award.issued", "award.accepted", "award.shared",
                                     "award.viewed"]
    assert [e.day for e in evs] == ["2026-04-13", "2026-04-14", "2026-04-14", "2026-04-15"]
    assert evs[0].method == "lms" and evs[0].visibility == "private"


def test_an_unknown_type_is_rejected_with_its_name_in_the_reason() -> None:
    assert rejection(event("award.viewed", type="foo")) == "type: unknown 'foo'"


@pytest.mark.parametrize("value", ["AWARD.VIEWED", "award.exploded", "badge.deleted", ""])
def test_type_names_are_exact_and_case_sensitive(value: str) -> None:
    assert rejection(event("award.viewed", type=value)).startswith("type: unknown ")


def test_a_very_long_unknown_type_is_shortened_in_the_reason() -> None:
    reason = rejection(event("award.viewed", type="x" * 10_000))
    assert reason.startswith("type: unknown 'xxx") and len(reason) < 100


# ------------------------------------------------------------------------- required fields

REQUIRED_CASES = [
    (etype, name)
    for etype in ALL_TYPES
    for name in ["event_id", "type", "occurred_at", "org_id", *MINIMAL[etype]]
]


@pytest.mark.parametrize(("etype", "name"), REQUIRED_CASES)
def test_every_missing_required_field_is_rejected_with_a_reason_naming_it(
    etype: str, name: str
) -> None:
    assert rejection(event(etype, **{name: ...})) == f"{name}: missing"


@pytest.mark.parametrize(("etype", "name"), REQUIRED_CASES)
def test_every_required_field_given_as_null_is_rejected_as_a_wrong_type(
    etype: str, name: str
) -> None:
    reason = rejection(event(etype, **{name: None}))
    assert reason.startswith(f"{name}: ") and reason.endswith("got null")


def test_issuer_created_without_a_name_is_rejected() -> None:
    assert rejection(event("issuer.created", name=...)) == "name: missing"


# ---------------------------------------------------------------------------- wrong types


@pytest.mark.parametrize(
    ("etype", "name", "value", "reason"),
    [
        ("award.viewed", "event_id", 1001, "event_id: must be a string, got number"),
        ("award.viewed", "type", ["award.viewed"], "type: must be a string, got array"),
        ("award.viewed", "occurred_at", 1776072600, "occurred_at: must be a string, got number"),
        ("award.viewed", "org_id", {"id": "acme"}, "org_id: must be a string, got object"),
        ("award.viewed", "award_id", 12345, "award_id: must be a string, got number"),
        ("award.viewed", "source", ["linkedin"], "source: must be a string, got array"),
        ("award.shared", "channel", True, "channel: must be a string, got boolean"),
        ("award.issued", "method", 1.5, "method: must be a string, got number"),
        ("award.issued", "issuer_id", False, "issuer_id: must be a string, got boolean"),
        ("award.issued", "recipient_id", 42, "recipient_id: must be a string, got number"),
        ("award.issued", "visibility", True, "visibility: must be a string, got boolean"),
        ("badge.created", "name", 7, "name: must be a string, got number"),
        ("badge.created", "skills", "python", "skills: must be an array, got string"),
        ("badge.created", "skills", {"a": 1}, "skills: must be an array, got object"),
        ("badge.updated", "skills", ["ok", 3], "skills[1]: must be a string, got number"),
        ("badge.updated", "name", ["x"], "name: must be a string, got array"),
        ("award.revoked", "reason", 5, "reason: must be a string, got number"),
        ("award.visibility_changed", "visibility", 1, "visibility: must be a string, got number"),
        ("award.viewed", "schema_version", "1", "schema_version: must be an integer, got string"),
    ],
)
def test_a_field_of_the_wrong_type_is_rejected_with_a_reason_naming_it(
    etype: str, name: str, value: object, reason: str
) -> None:
    assert rejection(event(etype, **{name: value})) == reason


@pytest.mark.parametrize("body", [[], ["a"], "event", 42, None, True])
def test_a_value_that_is_not_an_object_is_rejected(body: object) -> None:
    assert rejection(body) == "body: not a JSON object"


# ---------------------------------------------------------------------------- identifiers

ID_FIELDS = [
    ("award.viewed", "event_id"),
    ("award.issued", "issuer_id"),
    ("award.issued", "badge_id"),
    ("award.issued", "award_id"),
    ("award.issued", "recipient_id"),
    ("badge.updated", "badge_id"),
    ("issuer.created", "issuer_id"),
    ("award.viewed", "award_id"),
]
BAD_IDS = ["", "x" * 129, "ev 1", "ev/1", "ümlaut", "a\n", "\na", "tab\t", "a,b", "é"]


@pytest.mark.parametrize(("etype", "name"), ID_FIELDS)
@pytest.mark.parametrize("value", BAD_IDS)
def test_a_bad_identifier_is_rejected(etype: str, name: str, value: str) -> None:
    assert rejection(event(etype, **{name: value})) == (
        f"{name}: must be 1-128 characters of [A-Za-z0-9._:-]"
    )


@pytest.mark.parametrize(("etype", "name"), ID_FIELDS)
@pytest.mark.parametrize("value", ["a", "x" * 128, "urn:acme:aw.77_b-1", "0", "A.B:C-D_E"])
def test_identifiers_of_1_to_128_allowed_characters_are_accepted(
    etype: str, name: str, value: str
) -> None:
    assert getattr(parse(event(etype, **{name: value})), name) == value


@pytest.mark.parametrize("value", ["", "o" * 65, "acme corp", "acme:eng", "ümlaut", "a/b", "a\n"])
def test_a_bad_org_id_is_rejected(value: str) -> None:
    assert rejection(event("award.viewed", org_id=value)) == (
        "org_id: must be 1-64 characters of [A-Za-z0-9._-]"
    )


@pytest.mark.parametrize("value", ["a", "o" * 64, "acme.corp_eu-1", "ACME"])
def test_org_ids_of_1_to_64_allowed_characters_are_accepted(value: str) -> None:
    assert parse(event("award.viewed", org_id=value)).org_id == value


def test_a_value_rejected_once_is_rejected_again_and_a_valid_one_stays_valid() -> None:
    # the validated-value caches must never change an outcome
    for _ in range(3):
        assert rejection(event("award.viewed", award_id="aw 1")).startswith("award_id: ")
        assert parse(event("award.viewed", award_id="aw-1")).award_id == "aw-1"
        assert rejection(event("award.viewed", source="Direct")).startswith("source: ")


# -------------------------------------------------------------------- vocabulary tokens

TOKEN_FIELDS = [("award.issued", "method"), ("award.shared", "channel"), ("award.viewed", "source")]


@pytest.mark.parametrize(("etype", "name"), TOKEN_FIELDS)
@pytest.mark.parametrize("value", ["LMS", "bulk upload", "api-v2", "", "m" * 33, "é", "a.b", "x\n"])
def test_a_bad_vocabulary_token_is_rejected(etype: str, name: str, value: str) -> None:
    assert rejection(event(etype, **{name: value})) == f"{name}: must match [a-z0-9_]{{1,32}}"


@pytest.mark.parametrize(("etype", "name"), TOKEN_FIELDS)
@pytest.mark.parametrize("value", ["x", "linkedin_profile", "m" * 32, "web3", "0", "my_new_lms"])
def test_open_vocabulary_tokens_outside_the_well_known_values_are_accepted(
    etype: str, name: str, value: str
) -> None:
    assert getattr(parse(event(etype, **{name: value})), name) == value


# ----------------------------------------------------------------------------- visibility

VIS_TYPES = ["badge.created", "badge.updated", "award.issued", "award.visibility_changed"]


@pytest.mark.parametrize("etype", VIS_TYPES)
@pytest.mark.parametrize("value", ["public", "private"])
def test_visibility_public_and_private_are_accepted(etype: str, value: str) -> None:
    assert parse(event(etype, visibility=value)).visibility == value


@pytest.mark.parametrize("etype", VIS_TYPES)
@pytest.mark.parametrize("value", ["Public", "PRIVATE", "friends", "", "hidden"])
def test_any_other_visibility_is_rejected(etype: str, value: str) -> None:
    assert rejection(event(etype, visibility=value)) == (
        "visibility: must be 'public' or 'private'"
    )


@pytest.mark.parametrize("etype", ["badge.created", "badge.updated", "award.issued"])
def test_an_absent_visibility_is_left_none_for_consumers_to_default(etype: str) -> None:
    assert parse(event(etype)).visibility is None
    assert parse(event(etype, visibility=None)).visibility is None


def test_visibility_changed_requires_a_visibility() -> None:
    assert rejection(event("award.visibility_changed", visibility=...)) == "visibility: missing"


# ------------------------------------------------------------------ names, skills, reason


def test_a_name_of_256_characters_is_accepted_and_257_rejected() -> None:
    assert parse(event("badge.created", name="n" * 256)).name == "n" * 256
    assert rejection(event("badge.created", name="n" * 257)) == (
        "name: longer than 256 characters"
    )


@pytest.mark.parametrize("etype", ["issuer.created", "badge.created", "badge.updated"])
def test_an_empty_name_is_rejected(etype: str) -> None:
    assert rejection(event(etype, name="")) == "name: must not be empty"


def test_names_may_hold_any_unicode_text() -> None:
    assert parse(event("issuer.created", name="Ünïcødé ✓ 学校")).name == "Ünïcødé ✓ 学校"


def test_a_name_with_a_lone_surrogate_is_rejected() -> None:
    assert rejection(event("issuer.created", name="bad \ud800")).startswith("name: ")


def test_skills_are_copied_from_the_input_list() -> None:
    skills = ["python"]
    ev = parse(event("badge.created", skills=skills))
    skills.append("rust")
    assert ev.skills == ["python"]


def test_up_to_100_skills_are_accepted_and_101_rejected() -> None:
    many = [f"s{i}" for i in range(100)]
    assert parse(event("badge.created", skills=many)).skills == many
    assert rejection(event("badge.created", skills=[*many, "x"])) == "skills: more than 100 items"


@pytest.mark.parametrize(
    ("skills", "reason"),
    [
        ([""], "skills[0]: must not be empty"),
        (["ok", "s" * 129], "skills[1]: longer than 128 characters"),
        ([None], "skills[0]: must be a string, got null"),
        (["ok", ["nested"]], "skills[1]: must be a string, got array"),
    ],
)
def test_bad_skills_are_rejected_naming_the_item(skills: list[Any], reason: str) -> None:
    assert rejection(event("badge.updated", skills=skills)) == reason


def test_a_skill_of_128_characters_and_an_empty_skill_list_are_accepted() -> None:
    assert parse(event("badge.updated", skills=["s" * 128])).skills == ["s" * 128]
    assert parse(event("badge.updated", skills=[])).skills == []


def test_a_revoke_reason_of_1024_characters_is_accepted_and_1025_rejected() -> None:
    assert parse(event("award.revoked", reason="r" * 1024)).reason == "r" * 1024
    assert rejection(event("award.revoked", reason="r" * 1025)) == (
        "reason: longer than 1024 characters"
    )


def test_a_view_user_agent_of_512_characters_is_accepted_and_513_rejected_naming_it() -> None:
    assert parse(event("award.viewed", user_agent="u" * 512)).user_agent == "u" * 512
    assert rejection(event("award.viewed", user_agent="u" * 513)) == (
        "user_agent: longer than 512 characters"
    )
    assert rejection(event("award.viewed", user_agent=42)) == (
        "user_agent: must be a string, got number"
    )


def test_a_view_without_a_user_agent_has_none_and_other_types_ignore_one() -> None:
    assert parse(event("award.viewed")).user_agent is None
    assert parse(event("award.viewed", user_agent=None)).user_agent is None
    # a field of another type is ignored (events.md: unknown extra fields are ignored)
    assert parse(event("award.shared", user_agent="u" * 600)).user_agent is None


def test_an_empty_revoke_reason_is_kept() -> None:
    assert parse(event("award.revoked", reason="")).reason == ""


# ------------------------------------------------------------------------------ occurred_at


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-04-13T09:30:00Z", datetime(2026, 4, 13, 9, 30, tzinfo=UTC)),
        ("2026-04-13t09:30:00z", datetime(2026, 4, 13, 9, 30, tzinfo=UTC)),
        ("2026-04-13T09:30:00+02:00", datetime(2026, 4, 13, 7, 30, tzinfo=UTC)),
        ("2026-04-13T09:30:00-05:30", datetime(2026, 4, 13, 15, 0, tzinfo=UTC)),
        ("2026-04-13T09:30:00+00:00", datetime(2026, 4, 13, 9, 30, tzinfo=UTC)),
        ("2026-04-13T09:30:00-00:00", datetime(2026, 4, 13, 9, 30, tzinfo=UTC)),
        ("2026-04-13T09:30:00+23:59", datetime(2026, 4, 12, 9, 31, tzinfo=UTC)),
        ("2026-04-13T09:30:00.5Z", datetime(2026, 4, 13, 9, 30, 0, 500000, tzinfo=UTC)),
        ("2026-04-13T09:30:00.000001Z", datetime(2026, 4, 13, 9, 30, 0, 1, tzinfo=UTC)),
        ("2026-04-13T09:30:00.123456789Z", datetime(2026, 4, 13, 9, 30, 0, 123456, tzinfo=UTC)),
        ("2026-04-13T09:30:00.999999999+01:00", datetime(2026, 4, 13, 8, 30, 0, 999999,
                                                          tzinfo=UTC)),
        ("2024-02-29T12:00:00Z", datetime(2024, 2, 29, 12, tzinfo=UTC)),
        ("2000-02-29T00:00:00Z", datetime(2000, 2, 29, tzinfo=UTC)),
        ("2026-04-13T23:59:59Z", datetime(2026, 4, 13, 23, 59, 59, tzinfo=UTC)),
    ],
)
def test_rfc3339_timestamps_with_an_offset_are_accepted(text: str, expected: datetime) -> None:
    ev = parse(event("award.viewed", occurred_at=text))
    assert ev.ts == us(expected)
    assert ev.day == expected.date().isoformat()


@pytest.mark.parametrize(
    "text",
    [
        "2026-04-13",  # a date without a time
        "2026-04-13T09:30:00",  # no offset
        "2026-04-13T09:30:00.5",  # no offset
        "2026-04-13 09:30:00Z",  # space separator
        "2026-04-13T09:30Z",  # no seconds
        "2026-04-13T09Z",
        "20260413T093000Z",  # ISO 8601 basic format
        "2026-W16-1T09:30:00Z",  # ISO week date
        "2026-103T09:30:00Z",  # ISO ordinal date
        "2026-04-13T09:30:00+0200",  # offset without a colon
        "2026-04-13T09:30:00+02",  # offset without minutes
        "2026-04-13T09:30:00UTC",
        "2026-04-13T09:30:00 Z",
        "2026-04-13T09:30:00,5Z",  # comma decimal separator
        "2026-04-13T09:30:00.Z",  # empty fraction
        "2026-04-13T9:30:00Z",  # one-digit hour
        "26-04-13T09:30:00Z",  # two-digit year
        "+2026-04-13T09:30:00Z",  # expanded year
        "2026-04-13T09:30:00Z ",
        " 2026-04-13T09:30:00Z",
        "2026-04-13T09:30:00Z\n",
        "2026-04-13T24:00:00Z",  # hour 24
        "2026-04-13T09:60:00Z",  # minute 60
        "2026-04-13T09:30:61Z",  # second 61
        "2026-04-13T09:30:00+24:00",  # offset hour 24
        "2026-04-13T09:30:00+02:60",  # offset minute 60
        "2026-02-30T10:00:00Z",  # no such day
        "2025-02-29T10:00:00Z",  # not a leap year
        "1900-02-29T10:00:00Z",  # not a leap year either
        "2026-13-01T10:00:00Z",  # month 13
        "2026-00-10T10:00:00Z",  # month 0
        "2026-04-00T10:00:00Z",  # day 0
        "2026-04-31T10:00:00Z",
        "0000-01-01T00:00:00Z",  # before year 1
        "0001-01-01T00:30:00+01:00",  # UTC instant before year 1
        "9999-12-31T23:59:59-23:59",  # UTC instant in year 10000 (it crashed the parse)
        "\u0662\u0660\u0662\u0666-04-13T09:30:00Z",  # Arabic-Indic digits
        "2026-04-13T09:30:00\uff3a",  # fullwidth Z
        "yesterday",
        "",
    ],
)
def test_timestamps_that_are_not_rfc3339_with_an_offset_are_rejected(text: str) -> None:
    assert rejection(event("award.viewed", occurred_at=text)) == (
        "occurred_at: not RFC 3339 with an offset"
    )


def test_a_fraction_of_any_length_is_accepted_and_truncated_to_the_microsecond() -> None:
    ev = parse(event("award.viewed", occurred_at="2026-04-13T09:30:00." + "9" * 100 + "Z"))
    assert ev.ts == us(datetime(2026, 4, 13, 9, 30, 0, 999999, tzinfo=UTC))


def test_a_leap_second_is_accepted_and_counts_as_the_next_second() -> None:
    ev = parse(event("award.viewed", occurred_at="2016-12-31T23:59:60Z"))
    assert ev.ts == us(datetime(2017, 1, 1, tzinfo=UTC))
    assert ev.day == "2017-01-01"


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2026-04-13T01:00:00+02:00", "2026-04-12"),  # 23:00 UTC the day before
        ("2026-04-13T02:00:00+02:00", "2026-04-13"),  # 00:00 UTC exactly
        ("2026-04-13T01:59:59.999999+02:00", "2026-04-12"),
        ("2026-04-13T23:30:00-05:00", "2026-04-14"),  # 04:30 UTC the day after
        ("2026-04-13T18:59:59-05:00", "2026-04-13"),
        ("2026-04-13T19:00:00-05:00", "2026-04-14"),
        ("2026-01-01T00:30:00+01:00", "2025-12-31"),  # across a year
        ("2025-12-31T23:30:00-01:00", "2026-01-01"),
        ("2024-03-01T00:30:00+01:00", "2024-02-29"),  # into a leap day
        ("2026-03-01T00:30:00+01:00", "2026-02-28"),
        ("2026-04-14T09:00:00+14:00", "2026-04-13"),
        ("2026-04-13T00:00:00Z", "2026-04-13"),
        ("2026-04-13T23:59:59.999999Z", "2026-04-13"),
    ],
)
def test_events_are_bucketed_by_their_utc_day_whatever_the_offset(text: str, day: str) -> None:
    assert parse(event("award.viewed", occurred_at=text)).day == day


def test_the_same_instant_in_different_offsets_gives_the_same_ts_and_day() -> None:
    texts = ["2026-04-13T07:30:00Z", "2026-04-13T09:30:00+02:00", "2026-04-13T02:30:00-05:00"]
    evs = [parse(event("award.viewed", occurred_at=t)) for t in texts]
    assert {(e.ts, e.day) for e in evs} == {(us(datetime(2026, 4, 13, 7, 30, tzinfo=UTC)),
                                            "2026-04-13")}


def rfc(dt: datetime) -> str:
    return dt.isoformat(timespec="microseconds").replace("+00:00", "Z")


def test_an_event_23_hours_in_the_future_is_accepted() -> None:
    assert parse(event("award.viewed", occurred_at=rfc(NOW_DT + timedelta(hours=23))))


def test_an_event_exactly_24_hours_in_the_future_is_accepted() -> None:
    ev = parse(event("award.viewed", occurred_at=rfc(NOW_DT + timedelta(hours=24))))
    assert ev.ts == NOW + 24 * HOUR_US


@pytest.mark.parametrize(
    "ahead", [timedelta(hours=24, microseconds=1), timedelta(hours=25), timedelta(days=3)]
)
def test_an_event_more_than_24_hours_in_the_future_is_rejected(ahead: timedelta) -> None:
    assert rejection(event("award.viewed", occurred_at=rfc(NOW_DT + ahead))) == (
        "occurred_at: more than 24h in the future"
    )


def test_the_future_limit_compares_instants_not_local_times() -> None:
    # 23 h ahead in UTC, written in a +05:00 offset (28 h ahead on the wall clock)
    local = (NOW_DT + timedelta(hours=23)).astimezone(timezone(timedelta(hours=5)))
    assert parse(event("award.viewed", occurred_at=local.isoformat()))


def test_the_future_limit_follows_the_given_clock() -> None:
    obj = event("award.viewed", occurred_at="2026-04-13T09:30:00Z")
    ts = us(datetime(2026, 4, 13, 9, 30, tzinfo=UTC))
    assert parse_event(obj, ts - 24 * HOUR_US).ts == ts
    with pytest.raises(EventRejected):
        parse_event(obj, ts - 24 * HOUR_US - 1)


@pytest.mark.parametrize(
    ("text", "day"),
    [
        ("2019-06-01T10:00:00Z", "2019-06-01"),
        ("1970-01-01T00:00:00Z", "1970-01-01"),
        ("1969-12-31T23:59:59.999999Z", "1969-12-31"),
        ("1900-01-01T00:00:00Z", "1900-01-01"),
        ("0001-01-01T00:00:00Z", "0001-01-01"),
    ],
)
def test_old_events_of_any_age_are_accepted_on_their_own_day(text: str, day: str) -> None:
    ev = parse(event("award.viewed", occurred_at=text))
    assert ev.day == day
    assert ev.ts == us(datetime.fromisoformat(text.replace("Z", "+00:00")))


# ------------------------------------------------------------------ extra and null fields


def test_unknown_extra_fields_are_ignored() -> None:
    ev = parse(event("award.viewed", x_platform={"v": 2}, extra=[1, None], ts="whatever"))
    assert ev == parse(event("award.viewed"))


@pytest.mark.parametrize(
    ("etype", "extra"),
    [
        ("award.viewed", {"channel": 5, "method": "BAD", "name": "", "reason": 1, "skills": 2}),
        ("award.accepted", {"visibility": "friends", "recipient_id": "bad id", "source": []}),
        ("issuer.created", {"badge_id": "bad id", "award_id": 7, "visibility": "x"}),
        ("badge.updated", {"issuer_id": "bad id", "award_id": None, "method": 1}),
        ("award.issued", {"channel": "LinkedIn", "reason": 3, "name": 4}),
    ],
)
def test_fields_that_belong_to_other_types_are_ignored_and_not_carried(
    etype: str, extra: dict[str, Any]
) -> None:
    ev = parse(event(etype, **extra))
    assert ev == parse(event(etype))


@pytest.mark.parametrize("etype", sorted(AWARD_FOLLOWUP_TYPES))
@pytest.mark.parametrize("name", ["issuer_id", "badge_id"])
def test_issuer_and_badge_ids_on_award_follow_ups_are_validated(etype: str, name: str) -> None:
    assert rejection(event(etype, **{name: "bad id"})) == (
        f"{name}: must be 1-128 characters of [A-Za-z0-9._:-]"
    )
    assert rejection(event(etype, **{name: 5})) == f"{name}: must be a string, got number"


@pytest.mark.parametrize("etype", sorted(AWARD_FOLLOWUP_TYPES))
def test_issuer_and_badge_ids_on_award_follow_ups_are_kept_for_the_match_check(
    etype: str,
) -> None:
    ev = parse(event(etype, issuer_id="acme-eng", badge_id="py-101"))
    assert (ev.issuer_id, ev.badge_id) == ("acme-eng", "py-101")
    ev = parse(event(etype, badge_id="py-101"))
    assert (ev.issuer_id, ev.badge_id) == (None, "py-101")


@pytest.mark.parametrize("etype", ALL_TYPES)
def test_optional_fields_given_as_null_count_as_absent(etype: str) -> None:
    nulls = dict.fromkeys(OPTIONAL[etype])
    assert parse(event(etype, schema_version=None, **nulls)) == parse(event(etype))


# ------------------------------------------------------------------------- schema_version


def test_schema_version_defaults_to_1() -> None:
    assert parse(event("award.viewed")).schema_version == 1
    assert parse(event("award.viewed", schema_version=None)).schema_version == 1


@pytest.mark.parametrize("value", [1, 2, 37])
def test_schema_versions_from_1_up_are_accepted(value: int) -> None:
    assert parse(event("award.viewed", schema_version=value)).schema_version == value


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (0, "schema_version: must be >= 1"),
        (-1, "schema_version: must be >= 1"),
        (True, "schema_version: must be an integer, got boolean"),
        (1.0, "schema_version: must be an integer, got number"),
        ("1", "schema_version: must be an integer, got string"),
        ([1], "schema_version: must be an integer, got array"),
    ],
)
def test_schema_versions_that_are_not_positive_integers_are_rejected(
    value: object, reason: str
) -> None:
    assert rejection(event("award.viewed", schema_version=value)) == reason


# ------------------------------------------------------------------------ EventRejected


def test_a_rejection_carries_the_event_id_and_org_id_when_they_are_valid() -> None:
    with pytest.raises(EventRejected) as info:
        parse(event("award.viewed", source="BAD"))
    assert (info.value.event_id, info.value.org_id) == ("e-1001", "acme")


def test_a_rejection_carries_none_for_an_event_id_or_org_id_that_is_not_valid() -> None:
    with pytest.raises(EventRejected) as info:
        parse(event("award.viewed", event_id="bad id", org_id=42))
    assert info.value.reason.startswith("event_id: ")
    assert (info.value.event_id, info.value.org_id) == (None, None)
    with pytest.raises(EventRejected) as info:
        parse(event("award.viewed", org_id="bad org"))
    assert (info.value.event_id, info.value.org_id) == ("e-1001", None)
    with pytest.raises(EventRejected) as info:
        parse(event("award.viewed", event_id=..., type="nope"))
    assert (info.value.event_id, info.value.org_id) == (None, "acme")


def test_a_rejection_survives_pickling() -> None:
    exc = EventRejected("award_id: missing", "e-1", "acme")
    copy = pickle.loads(pickle.dumps(exc))
    assert (copy.reason, copy.event_id, copy.org_id) == ("award_id: missing", "e-1", "acme")
    assert str(copy) == "award_id: missing"


# ----------------------------------------------------------------------------- partition key


@pytest.mark.parametrize(
    ("etype", "key"),
    [
        ("issuer.created", b"acme-eng"),
        ("badge.created", b"py-101"),
        ("badge.updated", b"py-101"),
        ("award.issued", b"aw-77"),
        ("award.accepted", b"aw-77"),
        ("award.declined", b"aw-77"),
        ("award.revoked", b"aw-77"),
        ("award.shared", b"aw-77"),
        ("award.viewed", b"aw-77"),
        ("award.visibility_changed", b"aw-77"),
    ],
)
def test_the_partition_key_is_the_award_badge_or_issuer_id_by_type(
    etype: str, key: bytes
) -> None:
    assert partition_key(parse(full_event(etype))) == key


def test_partition_keys_of_award_follow_ups_are_the_award_even_with_a_badge_id() -> None:
    assert partition_key(parse(event("award.viewed", badge_id="py-101"))) == b"aw-77"


# ----------------------------------------------------------------------------- decode_event


def test_decode_event_accepts_utf8_json_bytes() -> None:
    raw = orjson.dumps(event("issuer.created", name="École ✓"))
    assert decode_event(raw, NOW) == parse(event("issuer.created", name="École ✓"))


@pytest.mark.parametrize(
    "raw",
    [
        b'{"event_id":"ev-broken","type":"award.viewed","occurred_at":',
        b"not json at all",
        b"",
        b"{'event_id': 'single quotes'}",
        b'{"a":1} trailing',
        b"\xff\xfe\x00garbage",
        b'{"event_id":"e-\xff","type":"award.viewed"}',  # not UTF-8 inside a string
        b'{"name":"\\ud800"}',  # a lone surrogate escape
        b'{"a":NaN}',
    ],
)
def test_decode_event_rejects_bytes_that_are_not_valid_json(raw: bytes) -> None:
    with pytest.raises(EventRejected) as info:
        decode_event(raw, NOW)
    assert info.value.reason == "body: not valid JSON"
    assert (info.value.event_id, info.value.org_id) == (None, None)


@pytest.mark.parametrize("raw", [b"[]", b'[{"event_id":"e-1"}]', b"null", b"42", b'"text"'])
def test_decode_event_rejects_json_that_is_not_an_object(raw: bytes) -> None:
    with pytest.raises(EventRejected) as info:
        decode_event(raw, NOW)
    assert info.value.reason == "body: not a JSON object"


def test_decode_event_reports_field_errors_like_parse_event() -> None:
    with pytest.raises(EventRejected) as info:
        decode_event(orjson.dumps(event("award.viewed", source=...)), NOW)
    assert (info.value.reason, info.value.event_id, info.value.org_id) == (
        "source: missing",
        "e-1001",
        "acme",
    )


# ---------------------------------------------------------------------------------- to_json


@pytest.mark.parametrize("etype", ALL_TYPES)
@pytest.mark.parametrize("full", [False, True])
def test_to_json_round_trips_through_decode_event_to_an_equal_event(
    etype: str, full: bool
) -> None:
    make = full_event if full else event
    ev = parse(make(etype, occurred_at="2026-04-13T01:02:03.000450+02:00"))
    again = decode_event(to_json(ev), NOW)
    assert again == ev
    assert to_json(again) == to_json(ev)


@pytest.mark.parametrize(
    "text",
    [
        "2026-04-13T09:30:00Z",
        "2026-04-13T09:30:00.1-03:00",
        "1969-12-31T23:59:59.999999Z",
        "0001-01-01T00:00:00Z",
        "2016-12-31T23:59:60Z",
    ],
)
def test_to_json_round_trips_any_timestamp(text: str) -> None:
    ev = parse(event("award.viewed", occurred_at=text))
    assert decode_event(to_json(ev), NOW) == ev


def test_to_json_writes_only_the_fields_that_are_set_with_utc_occurred_at() -> None:
    ev = parse(event("award.viewed", occurred_at="2026-04-13T01:00:00+02:00", extra="x"))
    assert orjson.loads(to_json(ev)) == {
        "event_id": "e-1001",
        "type": "award.viewed",
        "occurred_at": "2026-04-12T23:00:00Z",
        "org_id": "acme",
        "schema_version": 1,
        "award_id": "aw-77",
        "source": "linkedin",
    }


def test_to_json_writes_microseconds_when_they_are_not_zero() -> None:
    ev = parse(event("award.viewed", occurred_at="2026-04-13T09:30:00.5Z"))
    assert orjson.loads(to_json(ev))["occurred_at"] == "2026-04-13T09:30:00.500000Z"


def test_to_json_keeps_the_schema_version_and_the_full_badge_fields() -> None:
    ev = parse(full_event("badge.created", schema_version=3))
    out = orjson.loads(to_json(ev))
    assert out["schema_version"] == 3
    assert out["skills"] == ["python", "testing"]
    assert out["visibility"] == "private"
    assert out["name"] == "Python 101"


def test_an_event_built_directly_equals_the_parsed_one() -> None:
    ev = Event(
        event_id="e-1001",
        type="award.viewed",
        org_id="acme",
        ts=us(datetime(2026, 4, 13, 9, 30, tzinfo=UTC)),
        day="2026-04-13",
        schema_version=1,
        award_id="aw-77",
        source="linkedin",
    )
    assert ev == parse(event("award.viewed"))
    assert decode_event(to_json(ev), NOW) == ev


def test_a_user_agent_of_another_type_is_rejected_naming_it_also_after_valid_ones() -> None:
    assert parse(event("award.viewed", user_agent="Twitterbot/1.0")).user_agent == "Twitterbot/1.0"
    assert rejection(event("award.viewed", user_agent=["Twitterbot/1.0"])) == (
        "user_agent: must be a string, got array")
    assert rejection(event("award.viewed", user_agent="\ud800")) == (
        "user_agent: not valid Unicode text")
