"""A batch decoder of events that is only an accelerator of schemas.events.decode_event.

`decode_events` gives, for each raw record, exactly what decode_event gives (the same Event,
field by field, or an EventRejected with the same reason, event_id and org_id): it decodes
and checks the common well-formed event in C with msgspec (one Struct per type, tagged by
`type`, the identifier/token rules and lengths as constraints) and hands anything that path
refuses or cannot decide to decode_event itself. So decode_event stays the one definition
of validity; this path may only ever say "valid, and here is the same Event" for a record
decode_event accepts. tests/unit/test_fastevents.py holds the two against each other over
generated valid and invalid events and every case of the event tests.

What the fast path leaves to decode_event (besides everything msgspec refuses):

- records over the size limit (what the Structs accept nests two levels at most, so the
  depth limit can refuse none of it unless it is below 2: then everything goes the slow
  way);
- any field the type does not read (forbid_unknown_fields): msgspec skips the value of a
  field it does not know without the checks orjson makes everywhere (an invalid UTF-8
  byte, a number like 1e999), so nothing is skipped here. Every string is then decoded by
  msgspec, which refuses invalid UTF-8 and lone surrogates as orjson does, so all text is
  valid Unicode (decode_event's "not valid Unicode text" cannot happen on this path);
- a `schema_version` beyond 2**63 - 1 (orjson decodes larger integers as floats, which
  decode_event refuses);
- an `occurred_at` that events._parse_ts refuses, or after now + 24 h.

Per event the fast path costs about a third of decode_event (bench/README.md): msgspec's
decode into a Struct is cheaper than orjson's into a dict, the common fields are checked by
one regex call per batch, and the common form of occurred_at is parsed by numpy per batch.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
from msgspec import Meta, Struct

from schemas.events import (
    _TS_CACHE,
    AWARD_ACCEPTED,
    AWARD_DECLINED,
    AWARD_ISSUED,
    AWARD_REVOKED,
    AWARD_SHARED,
    AWARD_VIEWED,
    AWARD_VISIBILITY_CHANGED,
    BADGE_CREATED,
    BADGE_UPDATED,
    ISSUER_CREATED,
    MAX_FUTURE_US,
    MAX_NAME_CHARS,
    MAX_REASON_CHARS,
    MAX_SKILL_CHARS,
    MAX_SKILLS,
    MAX_USER_AGENT_CHARS,
    Event,
    EventRejected,
    _parse_ts,
    decode_event,
    new_event,
)
from schemas.limits import DEFAULT_LIMITS, EventLimits

__all__ = ["decode_events"]

# The rules of schemas/events.py as msgspec constraints, for the fields of the rarer events.
# msgspec applies a pattern with re.search, hence the anchors; \Z, not $ (which also
# matches before a final newline). A pattern costs a Python regex call per value (about a
# third of a microsecond): the fields every event has (event_id, org_id; award_id, source,
# channel) are checked a batch at a time instead (_batch_bad), one regex over all of them.
Id = Annotated[str, Meta(pattern=r"^[A-Za-z0-9._:\-]{1,128}\Z")]
Token = Annotated[str, Meta(pattern=r"^[a-z0-9_]{1,32}\Z")]
Name = Annotated[str, Meta(min_length=1, max_length=MAX_NAME_CHARS)]
Skill = Annotated[str, Meta(min_length=1, max_length=MAX_SKILL_CHARS)]
Skills = Annotated[list[Skill], Meta(max_length=MAX_SKILLS)]
Reason = Annotated[str, Meta(max_length=MAX_REASON_CHARS)]
Agent = Annotated[str, Meta(max_length=MAX_USER_AGENT_CHARS)]
Version = Annotated[int, Meta(ge=1, le=2**63 - 1)]
Visibility = Literal["public", "private"]


class _Envelope(Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True, gc=False):
    event_id: str  # _batch_bad
    occurred_at: str  # _timestamps
    org_id: str  # _batch_bad
    schema_version: Version | None = None


class _IssuerCreated(_Envelope, tag="issuer.created", kw_only=True):
    issuer_id: Id
    name: Name


class _BadgeCreated(_Envelope, tag="badge.created", kw_only=True):
    issuer_id: Id
    badge_id: Id
    name: Name
    skills: Skills | None = None
    visibility: Visibility | None = None


class _BadgeUpdated(_Envelope, tag="badge.updated", kw_only=True):
    badge_id: Id
    name: Name | None = None
    skills: Skills | None = None
    visibility: Visibility | None = None


class _AwardIssued(_Envelope, tag="award.issued", kw_only=True):
    issuer_id: Id
    badge_id: Id
    award_id: str  # _batch_bad
    method: Token
    visibility: Visibility | None = None
    recipient_id: Id | None = None


class _Followup(_Envelope, kw_only=True):
    award_id: str  # _batch_bad
    issuer_id: Id | None = None
    badge_id: Id | None = None


class _AwardAccepted(_Followup, tag="award.accepted", kw_only=True):
    pass


class _AwardDeclined(_Followup, tag="award.declined", kw_only=True):
    pass


class _AwardRevoked(_Followup, tag="award.revoked", kw_only=True):
    reason: Reason | None = None


class _AwardShared(_Followup, tag="award.shared", kw_only=True):
    channel: str  # _batch_bad


class _AwardViewed(_Followup, tag="award.viewed", kw_only=True):
    source: str  # _batch_bad
    user_agent: Agent | None = None


class _AwardVisibilityChanged(_Followup, tag="award.visibility_changed", kw_only=True):
    visibility: Visibility


_Any = (_IssuerCreated | _BadgeCreated | _BadgeUpdated | _AwardIssued | _AwardAccepted
        | _AwardDeclined | _AwardRevoked | _AwardShared | _AwardViewed
        | _AwardVisibilityChanged)
_decode = msgspec.json.Decoder(_Any).decode
# ValidationError is a DecodeError; bad UTF-8 a ValueError; deep nesting (looking for the
# tag) a RecursionError
_Invalid = (msgspec.DecodeError, ValueError, RecursionError)

# One builder per Struct: the Event decode_event builds for the same object
# (schemas.events.new_event, then the type's own fields). Shares and views, most of the
# traffic, fill a bare instance's slots in one go instead (one call less per event).
_new_event = object.__new__


def _envelope(s: Any, etype: str, ts: int, day: str) -> Event:
    sv = s.schema_version
    return new_event(s.event_id, etype, s.org_id, ts, day, 1 if sv is None else sv)


def _issuer_created(s: Any, ts: int, day: str) -> Event:
    ev = _envelope(s, ISSUER_CREATED, ts, day)
    ev.issuer_id = s.issuer_id
    ev.name = s.name
    return ev


def _badge_created(s: Any, ts: int, day: str) -> Event:
    ev = _envelope(s, BADGE_CREATED, ts, day)
    ev.issuer_id = s.issuer_id
    ev.badge_id = s.badge_id
    ev.name = s.name
    ev.skills = s.skills
    ev.visibility = s.visibility
    return ev


def _badge_updated(s: Any, ts: int, day: str) -> Event:
    ev = _envelope(s, BADGE_UPDATED, ts, day)
    ev.badge_id = s.badge_id
    ev.name = s.name
    ev.skills = s.skills
    ev.visibility = s.visibility
    return ev


def _award_issued(s: Any, ts: int, day: str) -> Event:
    ev = _envelope(s, AWARD_ISSUED, ts, day)
    ev.issuer_id = s.issuer_id
    ev.badge_id = s.badge_id
    ev.award_id = s.award_id
    ev.method = s.method
    ev.visibility = s.visibility
    ev.recipient_id = s.recipient_id
    return ev


def _followup(etype: str) -> Callable[[Any, int, str], Event]:
    def build(s: Any, ts: int, day: str) -> Event:
        ev = _envelope(s, etype, ts, day)
        ev.issuer_id = s.issuer_id
        ev.badge_id = s.badge_id
        ev.award_id = s.award_id
        return ev
    return build


def _award_revoked(s: Any, ts: int, day: str) -> Event:
    ev = _envelope(s, AWARD_REVOKED, ts, day)
    ev.issuer_id = s.issuer_id
    ev.badge_id = s.badge_id
    ev.award_id = s.award_id
    ev.reason = s.reason
    return ev


def _award_shared(s: Any, ts: int, day: str) -> Event:
    ev: Event = _new_event(Event)
    ev.event_id = s.event_id
    ev.type = AWARD_SHARED
    ev.org_id = s.org_id
    ev.ts = ts
    ev.day = day
    sv = s.schema_version
    ev.schema_version = 1 if sv is None else sv
    ev.issuer_id = s.issuer_id
    ev.badge_id = s.badge_id
    ev.award_id = s.award_id
    ev.name = None
    ev.skills = None
    ev.visibility = None
    ev.method = None
    ev.channel = s.channel
    ev.source = None
    ev.recipient_id = None
    ev.reason = None
    ev.user_agent = None
    return ev


def _award_viewed(s: Any, ts: int, day: str) -> Event:  # the bulk of the traffic
    ev: Event = _new_event(Event)
    ev.event_id = s.event_id
    ev.type = AWARD_VIEWED
    ev.org_id = s.org_id
    ev.ts = ts
    ev.day = day
    sv = s.schema_version
    ev.schema_version = 1 if sv is None else sv
    ev.issuer_id = s.issuer_id
    ev.badge_id = s.badge_id
    ev.award_id = s.award_id
    ev.name = None
    ev.skills = None
    ev.visibility = None
    ev.method = None
    ev.channel = None
    ev.source = s.source
    ev.recipient_id = None
    ev.reason = None
    ev.user_agent = s.user_agent
    return ev


def _award_visibility_changed(s: Any, ts: int, day: str) -> Event:
    ev = _envelope(s, AWARD_VISIBILITY_CHANGED, ts, day)
    ev.issuer_id = s.issuer_id
    ev.badge_id = s.badge_id
    ev.award_id = s.award_id
    ev.visibility = s.visibility
    return ev


_BUILD: dict[type, Callable[[Any, int, str], Event]] = {
    _IssuerCreated: _issuer_created,
    _BadgeCreated: _badge_created,
    _BadgeUpdated: _badge_updated,
    _AwardIssued: _award_issued,
    _AwardAccepted: _followup(AWARD_ACCEPTED),
    _AwardDeclined: _followup(AWARD_DECLINED),
    _AwardRevoked: _award_revoked,
    _AwardShared: _award_shared,
    _AwardViewed: _award_viewed,
    _AwardVisibilityChanged: _award_visibility_changed,
}


def _slow(raw: bytes, now_us: int, limits: EventLimits) -> Event | EventRejected:
    try:
        return decode_event(raw, now_us, limits)
    except EventRejected as err:
        # Handed back, not raised: without its traceback and context (a JSONDecodeError
        # and its frames), which reach decode_events' frame (f_back) and its list of
        # verdicts holding `err`, a cycle that kept the whole batch alive for the collector.
        err.__traceback__ = None
        err.__context__ = None
        return err


def _all_match(values: list[str], all_match: Callable[[str], object]) -> bool:
    """Whether every value matches a rule, in one regex call: `all_match` fullmatches the
    values joined by newlines (a character no rule allows), counted so that a value holding
    a newline cannot pass as two."""
    if not values:
        return True
    joined = "\n".join(values)
    return joined.count("\n") == len(values) - 1 and all_match(joined) is not None


def _joined(rule: str) -> Callable[[str], object]:
    return re.compile(f"(?:{rule}\n)*{rule}").fullmatch


_ID_RULE = r"[A-Za-z0-9._:\-]{1,128}"
_IDS = _joined(_ID_RULE)
_ORGS = _joined(r"[A-Za-z0-9._\-]{1,64}")
_TOKENS = _joined(r"[a-z0-9_]{1,32}")
_ID_MATCH = re.compile(_ID_RULE).fullmatch
_ORG_MATCH = re.compile(r"[A-Za-z0-9._\-]{1,64}").fullmatch
_TOKEN_MATCH = re.compile(r"[a-z0-9_]{1,32}").fullmatch
_WITH_AWARD = frozenset({_AwardIssued, _AwardAccepted, _AwardDeclined, _AwardRevoked,
                         _AwardShared, _AwardViewed, _AwardVisibilityChanged})


def _batch_bad(ss: list[Any]) -> set[int]:
    """Positions in `ss` of the Structs whose event_id, org_id, award_id, source or channel
    breaks its rule (events.py: identifiers, org ids, tokens), checked a batch at a time;
    only a batch holding such a value is looked at one by one."""
    bad: set[int] = set()
    if not _all_match([s.event_id for s in ss], _IDS):
        bad.update(j for j, s in enumerate(ss) if not _ID_MATCH(s.event_id))
    if not _all_match(list({s.org_id for s in ss}), _ORGS):
        bad.update(j for j, s in enumerate(ss) if not _ORG_MATCH(s.org_id))
    with_award = _WITH_AWARD
    if not _all_match([s.award_id for s in ss if type(s) in with_award], _IDS):
        bad.update(j for j, s in enumerate(ss)
                   if type(s) in with_award and not _ID_MATCH(s.award_id))
    tokens = {s.source for s in ss if type(s) is _AwardViewed}
    tokens.update(s.channel for s in ss if type(s) is _AwardShared)
    if not _all_match(list(tokens), _TOKENS):
        bad.update(j for j, s in enumerate(ss)
                   if (type(s) is _AwardViewed and not _TOKEN_MATCH(s.source))
                   or (type(s) is _AwardShared and not _TOKEN_MATCH(s.channel)))
    return bad


# occurred_at in the form almost every producer writes (UTC, `T` and `Z`, at most 6
# fractional digits): the shape of a whole batch is checked by one regex and the values
# parsed by numpy in C. Its day is then the string's own date. Anything else, a batch
# numpy refuses (a day or hour out of range, a leap second), and instants before
# 0001-01-01, go through events._parse_ts one by one.
_UTC_RULE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]{1,6})?Z"
_UTC = _joined(_UTC_RULE)
_MIN_US = -62_135_596_800_000_000  # 0001-01-01T00:00:00Z


def _timestamps(tss: list[str], latest: int) -> list[tuple[int, str] | None]:
    """(epoch microseconds, UTC day) of each occurred_at as events._parse_ts gives it, or
    None where it gives None or the instant is after `latest` (decode_event refuses both)."""
    if _all_match(tss, _UTC):
        try:
            us = np.array([t[:-1] for t in tss], dtype="datetime64[us]").astype(np.int64)
        except (ValueError, OverflowError):  # a day or hour out of range, a leap second
            pass
        else:
            fine = ((us >= _MIN_US) & (us <= latest)).tolist()
            return [(v, t[:10]) if ok else None
                    for v, t, ok in zip(us.tolist(), tss, fine, strict=True)]
    out: list[tuple[int, str] | None] = []
    for t in tss:
        parsed = _TS_CACHE.get(t)
        if parsed is None:
            parsed = _parse_ts(t)
        out.append(parsed if parsed is not None and parsed[0] <= latest else None)
    return out


def decode_events(raws: Sequence[bytes], now_us: int,
                  limits: EventLimits = DEFAULT_LIMITS) -> list[Event | EventRejected]:
    """decode_event's verdict on each of `raws`, in order: the Event, or the EventRejected
    it would raise."""
    out: list[Event | EventRejected | None] = [None] * len(raws)
    # What the Structs accept nests 2 levels at most (an object holding `skills`).
    max_bytes = limits.max_bytes if limits.max_depth >= 2 else -1
    at: list[int] = []  # positions in raws of the Structs in ss
    ss: list[Any] = []
    for i, raw in enumerate(raws):
        if len(raw) <= max_bytes:
            try:
                ss.append(_decode(raw))
            except _Invalid:
                pass
            else:
                at.append(i)
                continue
        out[i] = _slow(raw, now_us, limits)
    if ss:
        bad = _batch_bad(ss)
        build = _BUILD
        stamps = _timestamps([s.occurred_at for s in ss], now_us + MAX_FUTURE_US)
        for j, (i, s, stamp) in enumerate(zip(at, ss, stamps, strict=True)):
            if stamp is None or (bad and j in bad):
                out[i] = _slow(raws[i], now_us, limits)
            else:
                out[i] = build[type(s)](s, stamp[0], stamp[1])
    return out  # type: ignore[return-value]  # every position is filled
