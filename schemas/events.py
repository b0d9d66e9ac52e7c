"""Badge events: validation of the published JSON objects (shared/spec/events.md).

Pure functions, no I/O. `parse_event` turns an already-decoded JSON value into an `Event` or
raises `EventRejected` with a reason that names the offending field first. It runs in the
worker's hot loop, so it is plain Python with precompiled regexes and small bounded caches
(of parsed `occurred_at` strings and their parts, and of identifiers and tokens that already
passed their regex); validity is a pure function of a string, so the caches never change an
outcome.

Choices where events.md leaves room (see also docs/semantics.md):

- Optional fields given as `null` are treated as absent; a required field given as `null` is a
  wrong type.
- Fields that belong to other types are ignored and not carried on the `Event`, except
  `issuer_id` / `badge_id` on award follow-up events, which are validated as identifiers and
  kept (the worker compares them with the award's `award.issued`).
- `occurred_at` follows the RFC 3339 `date-time` grammar: `T`/`t` separator, `Z`/`z` or a
  `+hh:mm`/`-hh:mm` offset (`-00:00` is UTC), optional fractional seconds (truncated to the
  microsecond). A leap second (`:60`) is accepted and counted as POSIX time does, i.e. it
  equals the first second of the next minute. Instants before 0001-01-01T00:00:00Z or
  after 9999-12-31T23:59:59.999999Z (a late time of that day with a negative offset) are
  rejected: they have no day to land on.
- `EventRejected.event_id` / `.org_id` are set only when the object carries a *valid* value
  for them.
- `decode_event` (bytes in) also applies the size and nesting limits of `schemas/limits.py`
  (`too_large`, `too_deep`), first, so both ways in refuse the same events.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import orjson

from schemas.limits import DEFAULT_LIMITS, EventLimits, depth_problem, size_problem, too_deep

__all__ = [
    "AWARD_FOLLOWUP_TYPES",
    "EVENT_TYPES",
    "Event",
    "EventRejected",
    "decode_event",
    "encode_event",
    "parse_event",
    "partition_key",
    "to_json",
]

ISSUER_CREATED = "issuer.created"
BADGE_CREATED = "badge.created"
BADGE_UPDATED = "badge.updated"
AWARD_ISSUED = "award.issued"
AWARD_ACCEPTED = "award.accepted"
AWARD_DECLINED = "award.declined"
AWARD_REVOKED = "award.revoked"
AWARD_SHARED = "award.shared"
AWARD_VIEWED = "award.viewed"
AWARD_VISIBILITY_CHANGED = "award.visibility_changed"

EVENT_TYPES: frozenset[str] = frozenset(
    {
        ISSUER_CREATED,
        BADGE_CREATED,
        BADGE_UPDATED,
        AWARD_ISSUED,
        AWARD_ACCEPTED,
        AWARD_DECLINED,
        AWARD_REVOKED,
        AWARD_SHARED,
        AWARD_VIEWED,
        AWARD_VISIBILITY_CHANGED,
    }
)
AWARD_FOLLOWUP_TYPES: frozenset[str] = frozenset(
    t for t in EVENT_TYPES if t.startswith("award.") and t != AWARD_ISSUED
)

MAX_FUTURE_US = 24 * 3600 * 1_000_000
MAX_NAME_CHARS = 256
MAX_SKILLS = 100
MAX_SKILL_CHARS = 128
MAX_REASON_CHARS = 1024
MAX_USER_AGENT_CHARS = 512  # insights.md: award.viewed's user_agent

_US_PER_DAY = 86_400_000_000
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()  # 719163
_MIN_DAYS = 1 - _EPOCH_ORDINAL  # 0001-01-01 relative to the epoch
_MAX_DAYS = date.max.toordinal() - _EPOCH_ORDINAL  # 9999-12-31

_ID_MATCH = re.compile(r"[A-Za-z0-9._:\-]{1,128}").fullmatch
_ORG_MATCH = re.compile(r"[A-Za-z0-9._\-]{1,64}").fullmatch
_TOKEN_MATCH = re.compile(r"[a-z0-9_]{1,32}").fullmatch
# RFC 3339 date-time: the shape only (ranges are checked in code). ASCII digits, no `$`.
_RFC3339_MATCH = re.compile(
    r"([0-9]{4}-[0-9]{2}-[0-9]{2})[Tt]([0-9]{2}:[0-9]{2}:[0-9]{2})(?:\.([0-9]+))?"
    r"([Zz]|[+-][0-9]{2}:[0-9]{2})"
).fullmatch

_ID_RULE = "must be 1-128 characters of [A-Za-z0-9._:-]"
_ORG_RULE = "must be 1-64 characters of [A-Za-z0-9._-]"
_TOKEN_RULE = "must match [a-z0-9_]{1,32}"
_TS_RULE = "not RFC 3339 with an offset"


class EventRejected(Exception):
    """An event that does not follow events.md. `reason` names the field first."""

    reason: str
    event_id: str | None
    org_id: str | None

    def __init__(self, reason: str, event_id: str | None = None, org_id: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.event_id = event_id
        self.org_id = org_id

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.reason, self.event_id, self.org_id))


@dataclass(slots=True)
class Event:
    """A valid event. Only the fields of its type are set (follow-ups may carry issuer_id and
    badge_id); the others are None. `skills` and `visibility` are None when absent: defaults
    (award.issued -> "private", badge.created -> "public") are applied by consumers."""

    event_id: str
    type: str
    org_id: str
    ts: int  # occurred_at in integer microseconds since the Unix epoch (UTC)
    day: str  # UTC day of occurred_at, "YYYY-MM-DD"
    schema_version: int
    issuer_id: str | None = None
    badge_id: str | None = None
    award_id: str | None = None
    name: str | None = None
    skills: list[str] | None = None
    visibility: str | None = None
    method: str | None = None
    channel: str | None = None
    source: str | None = None
    recipient_id: str | None = None
    reason: str | None = None
    user_agent: str | None = None  # award.viewed only: who fetched the badge page


# --------------------------------------------------------------------------------------------
# occurred_at


# The parts of occurred_at repeat even when whole strings do not (a replay of old data has
# few distinct dates, times of day and offsets), so each part's value is remembered too. Only
# valid parts are remembered; every cache is a dict emptied when it reaches _PART_CACHE_MAX.
_PART_CACHE_MAX = 131072
_DATE_DAYS: dict[str, int] = {}  # "YYYY-MM-DD" -> days since the epoch
_TIME_SECS: dict[str, int] = {}  # "HH:MM:SS" -> seconds into the day (60 for a leap second)
_OFFSET_SECS: dict[str, int] = {}  # "Z", "+02:00" -> seconds to subtract to get UTC
_DAY_NAMES: dict[int, str] = {}  # days since the epoch -> "YYYY-MM-DD"


def _remember(cache: dict[Any, Any], key: object, value: object) -> None:
    if len(cache) >= _PART_CACHE_MAX:
        cache.clear()
    cache[key] = value


def _date_days(d: str) -> int | None:
    """Days since the epoch of a "YYYY-MM-DD" of 4-2-2 ASCII digits; None if no such day."""
    try:
        days = date(int(d[:4]), int(d[5:7]), int(d[8:])).toordinal() - _EPOCH_ORDINAL
    except ValueError:  # month or day out of range, year 0000
        return None
    _remember(_DATE_DAYS, d, days)
    return days


def _time_secs(t: str) -> int | None:
    """Seconds into the day of an "HH:MM:SS" of ASCII digits; None if out of range."""
    h, m, sec = int(t[:2]), int(t[3:5]), int(t[6:])
    if h > 23 or m > 59 or sec > 60:
        return None
    secs = h * 3600 + m * 60 + sec
    _remember(_TIME_SECS, t, secs)
    return secs


def _offset_secs(off: str) -> int | None:
    """Seconds east of UTC of "Z"/"z"/"+hh:mm"/"-hh:mm"; None if out of range."""
    if off == "Z" or off == "z":
        secs = 0
    else:
        h, m = int(off[1:3]), int(off[4:])
        if h > 23 or m > 59:
            return None
        secs = h * 3600 + m * 60
        if off[0] == "-":
            secs = -secs
    _remember(_OFFSET_SECS, off, secs)
    return secs


def _day_name(days: int) -> str:
    name = _DAY_NAMES.get(days)
    if name is None:
        name = date.fromordinal(days + _EPOCH_ORDINAL).isoformat()
        _remember(_DAY_NAMES, days, name)
    return name


def _parse_ts_uncached(s: str) -> tuple[int, str] | None:
    """(epoch microseconds, UTC day) of an RFC 3339 date-time, or None if it is not one.

    Fractions beyond the microsecond are truncated. A leap second (:60) counts as POSIX time
    does (it equals the next minute's :00). Instants before 0001-01-01T00:00:00Z or past
    9999-12-31 in UTC: None.
    """
    m = _RFC3339_MATCH(s)
    if m is None:
        return None
    d, t, frac, off = m.groups()
    days = _DATE_DAYS.get(d)
    if days is None and (days := _date_days(d)) is None:
        return None
    secs = _TIME_SECS.get(t)
    if secs is None and (secs := _time_secs(t)) is None:
        return None
    off_s = _OFFSET_SECS.get(off)
    if off_s is None and (off_s := _offset_secs(off)) is None:
        return None
    local_s = secs - off_s
    us = 0 if frac is None else int(frac[:6] if len(frac) >= 6 else frac.ljust(6, "0"))
    ts = (days * 86_400 + local_s) * 1_000_000 + us
    if 0 <= local_s < 86_400:
        return ts, d  # same day in UTC
    utc_days = ts // _US_PER_DAY
    if utc_days < _MIN_DAYS or utc_days > _MAX_DAYS:
        return None
    return ts, _day_name(utc_days)


# Many events share an occurred_at string: remember the parsed valid ones. A plain dict,
# emptied when full, is cheaper per hit than functools.lru_cache and just as bounded.
_TS_CACHE: dict[str, tuple[int, str]] = {}
_TS_CACHE_MAX = 65536
_TS_CACHE_MAX_LEN = 40  # longer strings (absurd fractions) are not remembered


def _parse_ts(s: str) -> tuple[int, str] | None:
    """_parse_ts_uncached, through _TS_CACHE."""
    parsed = _TS_CACHE.get(s)
    if parsed is None:
        parsed = _parse_ts_uncached(s)
        if parsed is not None and len(s) <= _TS_CACHE_MAX_LEN:
            if len(_TS_CACHE) >= _TS_CACHE_MAX:
                _TS_CACHE.clear()
            _TS_CACHE[s] = parsed
    return parsed


def _render_ts(ts: int) -> str:
    days, rem = divmod(ts, _US_PER_DAY)
    secs, us = divmod(rem, 1_000_000)
    hh, secs = divmod(secs, 3600)
    mm, ss = divmod(secs, 60)
    d = date.fromordinal(days + _EPOCH_ORDINAL).isoformat()
    if us:
        return f"{d}T{hh:02d}:{mm:02d}:{ss:02d}.{us:06d}Z"
    return f"{d}T{hh:02d}:{mm:02d}:{ss:02d}Z"


# --------------------------------------------------------------------------------------------
# rejection helpers (off the hot path)


def _json_type(v: object) -> str:
    t = type(v)
    if v is None:
        return "null"
    if t is bool:
        return "boolean"
    if t is int or t is float:
        return "number"
    if t is str:
        return "string"
    if t is list:
        return "array"
    if t is dict:
        return "object"
    return t.__name__


def _rejected(obj: dict[Any, Any], reason: str) -> EventRejected:
    event_id = obj.get("event_id")
    if not (type(event_id) is str and _ID_MATCH(event_id)):
        event_id = None
    org_id = obj.get("org_id")
    if not (type(org_id) is str and _ORG_MATCH(org_id)):
        org_id = None
    return EventRejected(reason, event_id, org_id)


def _bad(
    obj: dict[Any, Any], field: str, value: object, rule: str, expected: str = "string"
) -> EventRejected:
    """The rejection for `value` of `field`: missing, of the wrong JSON type, or breaking `rule`."""
    if value is None and field not in obj:
        return _rejected(obj, f"{field}: missing")
    got = _json_type(value)
    if got != expected:
        article = "an" if expected[0] in "aeiou" else "a"
        return _rejected(obj, f"{field}: must be {article} {expected}, got {got}")
    return _rejected(obj, f"{field}: {rule}")


def _valid_text(s: str) -> bool:
    """True if `s` can be encoded as UTF-8 (no lone surrogates)."""
    if s.isascii():
        return True
    try:
        s.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --------------------------------------------------------------------------------------------
# field readers
#
# Identifiers and tokens repeat a lot (org_id, issuer_id, badge_id, award_id, method, channel,
# source), so the strings that passed their regex are remembered in bounded sets: a set lookup
# is several times cheaper than a regex match. Validity is a pure function of the string, so
# the sets never change an outcome. event_id is unique per event and always matched.

_KNOWN_MAX = 65536
_KNOWN_IDS: set[str] = set()
_KNOWN_ORGS: set[str] = set()
_KNOWN_TOKENS: set[str] = set()


def _learn(known: set[str], match: Callable[[str], object], v: str) -> bool:
    """True if `v` matches; then remember it in `known` (cleared when full)."""
    if match(v) is None:
        return False
    if len(known) >= _KNOWN_MAX:
        known.clear()
    known.add(v)
    return True


def _req_id(obj: dict[Any, Any], field: str) -> str:
    v = obj.get(field)
    if type(v) is str and (v in _KNOWN_IDS or _learn(_KNOWN_IDS, _ID_MATCH, v)):
        return v
    raise _bad(obj, field, v, _ID_RULE)


def _opt_id(obj: dict[Any, Any], field: str) -> str | None:
    v = obj.get(field)
    if v is None or (type(v) is str and (v in _KNOWN_IDS or _learn(_KNOWN_IDS, _ID_MATCH, v))):
        return v
    raise _bad(obj, field, v, _ID_RULE)


def _req_token(obj: dict[Any, Any], field: str) -> str:
    v = obj.get(field)
    if type(v) is str and (v in _KNOWN_TOKENS or _learn(_KNOWN_TOKENS, _TOKEN_MATCH, v)):
        return v
    raise _bad(obj, field, v, _TOKEN_RULE)


_VISIBILITY_RULE = "must be 'public' or 'private'"


def _opt_visibility(obj: dict[Any, Any]) -> str | None:
    v = obj.get("visibility")
    if v is None:
        return None
    if v == "public":
        return "public"
    if v == "private":
        return "private"
    raise _bad(obj, "visibility", v, _VISIBILITY_RULE)


def _req_visibility(obj: dict[Any, Any]) -> str:
    v = obj.get("visibility")
    if v == "public":
        return "public"
    if v == "private":
        return "private"
    raise _bad(obj, "visibility", v, _VISIBILITY_RULE)


def _opt_name(obj: dict[Any, Any]) -> str | None:
    v = obj.get("name")
    if v is None:
        return None
    if type(v) is not str:
        raise _bad(obj, "name", v, "")
    if not v:
        raise _rejected(obj, "name: must not be empty")
    if len(v) > MAX_NAME_CHARS:
        raise _rejected(obj, f"name: longer than {MAX_NAME_CHARS} characters")
    if not _valid_text(v):
        raise _rejected(obj, "name: not valid Unicode text")
    return v


def _req_name(obj: dict[Any, Any]) -> str:
    v = _opt_name(obj)
    if v is None:
        raise _bad(obj, "name", None, "")
    return v


def _opt_skills(obj: dict[Any, Any]) -> list[str] | None:
    v = obj.get("skills")
    if v is None:
        return None
    if type(v) is not list:
        raise _bad(obj, "skills", v, "", expected="array")
    if len(v) > MAX_SKILLS:
        raise _rejected(obj, f"skills: more than {MAX_SKILLS} items")
    for i, s in enumerate(v):
        if type(s) is not str:
            raise _rejected(obj, f"skills[{i}]: must be a string, got {_json_type(s)}")
        if not s:
            raise _rejected(obj, f"skills[{i}]: must not be empty")
        if len(s) > MAX_SKILL_CHARS:
            raise _rejected(obj, f"skills[{i}]: longer than {MAX_SKILL_CHARS} characters")
        if not _valid_text(s):
            raise _rejected(obj, f"skills[{i}]: not valid Unicode text")
    return list(v)


def _opt_reason(obj: dict[Any, Any]) -> str | None:
    v = obj.get("reason")
    if v is None:
        return None
    if type(v) is not str:
        raise _bad(obj, "reason", v, "")
    if len(v) > MAX_REASON_CHARS:
        raise _rejected(obj, f"reason: longer than {MAX_REASON_CHARS} characters")
    if not _valid_text(v):
        raise _rejected(obj, "reason: not valid Unicode text")
    return v


_KNOWN_AGENTS: set[str] = set()  # user agents already found valid (a few make most views)


def _opt_user_agent(obj: dict[Any, Any]) -> str | None:
    v = obj.get("user_agent")
    if v is None:
        return None
    if type(v) is not str:
        raise _bad(obj, "user_agent", v, "")
    if v in _KNOWN_AGENTS:
        return v
    if len(v) > MAX_USER_AGENT_CHARS:
        raise _rejected(obj, f"user_agent: longer than {MAX_USER_AGENT_CHARS} characters")
    if not _valid_text(v):
        raise _rejected(obj, "user_agent: not valid Unicode text")
    if len(_KNOWN_AGENTS) >= _KNOWN_MAX:
        _KNOWN_AGENTS.clear()
    _KNOWN_AGENTS.add(v)
    return v


# --------------------------------------------------------------------------------------------
# per-type field setters: fill the type's fields of `ev` (whose other fields are None) from `o`

_Setter = Callable[[dict[Any, Any], Event], None]


def _set_issuer_created(o: dict[Any, Any], ev: Event) -> None:
    ev.issuer_id = _req_id(o, "issuer_id")
    ev.name = _req_name(o)


def _set_badge_created(o: dict[Any, Any], ev: Event) -> None:
    ev.issuer_id = _req_id(o, "issuer_id")
    ev.badge_id = _req_id(o, "badge_id")
    ev.name = _req_name(o)
    ev.skills = _opt_skills(o)
    ev.visibility = _opt_visibility(o)


def _set_badge_updated(o: dict[Any, Any], ev: Event) -> None:
    ev.badge_id = _req_id(o, "badge_id")
    ev.name = _opt_name(o)
    ev.skills = _opt_skills(o)
    ev.visibility = _opt_visibility(o)


def _set_award_issued(o: dict[Any, Any], ev: Event) -> None:
    ev.issuer_id = _req_id(o, "issuer_id")
    ev.badge_id = _req_id(o, "badge_id")
    ev.award_id = _req_id(o, "award_id")
    ev.method = _req_token(o, "method")
    ev.visibility = _opt_visibility(o)
    ev.recipient_id = _opt_id(o, "recipient_id")


def _set_parent_ids(o: dict[Any, Any], ev: Event) -> None:
    """issuer_id / badge_id of an award follow-up, when given (the worker checks they match)."""
    ev.issuer_id = _opt_id(o, "issuer_id")
    ev.badge_id = _opt_id(o, "badge_id")


# The follow-up setters are written out (no shared helper call) because they are the bulk of
# the traffic.


def _set_award_followup(o: dict[Any, Any], ev: Event) -> None:
    get = o.get
    v = get("award_id")
    if not (type(v) is str and (v in _KNOWN_IDS or _learn(_KNOWN_IDS, _ID_MATCH, v))):
        raise _bad(o, "award_id", v, _ID_RULE)
    ev.award_id = v
    if get("issuer_id") is not None or get("badge_id") is not None:
        _set_parent_ids(o, ev)


def _set_award_revoked(o: dict[Any, Any], ev: Event) -> None:
    _set_award_followup(o, ev)
    ev.reason = _opt_reason(o)


def _set_award_shared(o: dict[Any, Any], ev: Event) -> None:
    get = o.get
    v = get("award_id")
    if not (type(v) is str and (v in _KNOWN_IDS or _learn(_KNOWN_IDS, _ID_MATCH, v))):
        raise _bad(o, "award_id", v, _ID_RULE)
    ev.award_id = v
    v = get("channel")
    if not (type(v) is str and (v in _KNOWN_TOKENS or _learn(_KNOWN_TOKENS, _TOKEN_MATCH, v))):
        raise _bad(o, "channel", v, _TOKEN_RULE)
    ev.channel = v
    if get("issuer_id") is not None or get("badge_id") is not None:
        _set_parent_ids(o, ev)


def _set_award_viewed(o: dict[Any, Any], ev: Event) -> None:
    get = o.get
    v = get("award_id")
    if not (type(v) is str and (v in _KNOWN_IDS or _learn(_KNOWN_IDS, _ID_MATCH, v))):
        raise _bad(o, "award_id", v, _ID_RULE)
    ev.award_id = v
    v = get("source")
    if not (type(v) is str and (v in _KNOWN_TOKENS or _learn(_KNOWN_TOKENS, _TOKEN_MATCH, v))):
        raise _bad(o, "source", v, _TOKEN_RULE)
    ev.source = v
    if get("user_agent") is not None:
        ev.user_agent = _opt_user_agent(o)
    if get("issuer_id") is not None or get("badge_id") is not None:
        _set_parent_ids(o, ev)


def _set_award_visibility_changed(o: dict[Any, Any], ev: Event) -> None:
    _set_award_followup(o, ev)
    ev.visibility = _req_visibility(o)


# type name (the interned constant) and its setter, by type
_TYPES: dict[str, tuple[str, _Setter]] = {
    t: (t, setter)
    for t, setter in (
        (ISSUER_CREATED, _set_issuer_created),
        (BADGE_CREATED, _set_badge_created),
        (BADGE_UPDATED, _set_badge_updated),
        (AWARD_ISSUED, _set_award_issued),
        (AWARD_ACCEPTED, _set_award_followup),
        (AWARD_DECLINED, _set_award_followup),
        (AWARD_REVOKED, _set_award_revoked),
        (AWARD_SHARED, _set_award_shared),
        (AWARD_VIEWED, _set_award_viewed),
        (AWARD_VISIBILITY_CHANGED, _set_award_visibility_changed),
    )
}
assert frozenset(_TYPES) == EVENT_TYPES

_new_object = object.__new__


def new_event(event_id: str, etype: str, org_id: str, ts: int, day: str,
              schema_version: int) -> Event:
    """An Event with its envelope set and every type's own field None, for a setter to fill.
    Event(...) through the dataclass __init__ costs about twice as much as filling the slots
    of a bare instance; both decoders (parse_event, schemas/fastevents.py) build it here."""
    ev: Event = _new_object(Event)
    ev.event_id = event_id
    ev.type = etype
    ev.org_id = org_id
    ev.ts = ts
    ev.day = day
    ev.schema_version = schema_version
    ev.issuer_id = None
    ev.badge_id = None
    ev.award_id = None
    ev.name = None
    ev.skills = None
    ev.visibility = None
    ev.method = None
    ev.channel = None
    ev.source = None
    ev.recipient_id = None
    ev.reason = None
    ev.user_agent = None
    return ev


# --------------------------------------------------------------------------------------------
# public API


def parse_event(obj: object, now_us: int) -> Event:
    """Validate a decoded JSON value as an event; raise EventRejected if it is not one.

    `now_us` is the current time in epoch microseconds: an `occurred_at` more than 24 h after
    it is rejected.
    """
    if not isinstance(obj, dict):
        raise EventRejected("body: not a JSON object")
    get = obj.get

    event_id = get("event_id")
    if type(event_id) is not str or _ID_MATCH(event_id) is None:
        raise _bad(obj, "event_id", event_id, _ID_RULE)

    etype = get("type")
    entry = _TYPES.get(etype) if type(etype) is str else None
    if entry is None:
        if type(etype) is str:
            shown = etype if len(etype) <= 64 else etype[:64] + "..."
            raise _rejected(obj, f"type: unknown {shown!r}")
        raise _bad(obj, "type", etype, "")

    occurred_at = get("occurred_at")
    if type(occurred_at) is not str:
        raise _bad(obj, "occurred_at", occurred_at, _TS_RULE)
    parsed = _TS_CACHE.get(occurred_at)
    if parsed is None:
        parsed = _parse_ts(occurred_at)
    if parsed is None:
        raise _rejected(obj, f"occurred_at: {_TS_RULE}")
    if parsed[0] > now_us + MAX_FUTURE_US:
        raise _rejected(obj, "occurred_at: more than 24h in the future")

    org_id = get("org_id")
    if not (
        type(org_id) is str
        and (org_id in _KNOWN_ORGS or _learn(_KNOWN_ORGS, _ORG_MATCH, org_id))
    ):
        raise _bad(obj, "org_id", org_id, _ORG_RULE)

    sv = get("schema_version")
    if sv is None:
        sv = 1
    elif type(sv) is not int:
        raise _bad(obj, "schema_version", sv, "", expected="integer")
    elif sv < 1:
        raise _rejected(obj, "schema_version: must be >= 1")

    etype, setter = entry
    ev = new_event(event_id, etype, org_id, parsed[0], parsed[1], sv)
    setter(obj, ev)
    return ev


def decode_event(raw: bytes, now_us: int, limits: EventLimits = DEFAULT_LIMITS) -> Event:
    """Check `raw` against the size and nesting limits, orjson-decode it (UTF-8 JSON) and
    validate it with parse_event. This is the one verdict of both ways in: the worker calls
    it on what is on the topic, the API on the exact bytes it is about to produce."""
    if len(raw) > limits.max_bytes:
        raise _rejected_raw(raw, str(size_problem(len(raw), limits)))
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError as err:
        # orjson refuses more than 1024 levels; that is a depth verdict, not bad JSON
        if "depth limit" in str(err):
            raise EventRejected(too_deep(limits)) from None
        raise EventRejected("body: not valid JSON") from None
    # An object cannot nest deeper than it has brackets: counting them (in C) spares the
    # walk for every ordinary event, whose count is 1 or 2.
    if raw.count(b"{") + raw.count(b"[") > limits.max_depth:
        deep = depth_problem(obj, limits)
        if deep is not None:
            raise _rejected(obj, deep) if type(obj) is dict else EventRejected(deep)
    return parse_event(obj, now_us)


def _rejected_raw(raw: bytes, reason: str) -> EventRejected:
    """The rejection of bytes refused before decoding, with their event_id and org_id when
    they decode (so the worker still counts the rejection for its org)."""
    try:
        obj = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return EventRejected(reason)
    return _rejected(obj, reason) if type(obj) is dict else EventRejected(reason)


def encode_event(obj: object, limits: EventLimits = DEFAULT_LIMITS) -> bytes:
    """The bytes to produce for an already-decoded event (an element of a JSON array posted
    to the API); decode_event on them gives the verdict. orjson cannot encode past 254
    levels: such a value is refused here with decode_event's too_deep reason."""
    try:
        return orjson.dumps(obj)
    except orjson.JSONEncodeError as err:
        deep = depth_problem(obj, limits)
        if deep is not None:
            raise _rejected(obj, deep) if type(obj) is dict else EventRejected(deep) from None
        # orjson.loads never yields such a value; a caller's own value can
        raise EventRejected(f"body: not encodable as JSON ({err})") from None


def partition_key(ev: Event) -> bytes:
    """The Kafka key of an event: award_id (award.*), badge_id (badge.*), issuer_id."""
    t = ev.type
    if t.startswith("award."):
        key = ev.award_id
    elif t.startswith("badge."):
        key = ev.badge_id
    else:
        key = ev.issuer_id
    if key is None:
        raise ValueError(f"event {ev.event_id!r} of type {t!r} has no partition key")
    return key.encode()


_OPTIONAL_FIELDS = (
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


def to_json(ev: Event) -> bytes:
    """The canonical JSON of an event: envelope first, then only the fields that are set.

    `occurred_at` is rendered in UTC (`Z`), with 6 fractional digits when the microseconds are
    not zero. decode_event(to_json(ev)) == ev.
    """
    out: dict[str, object] = {
        "event_id": ev.event_id,
        "type": ev.type,
        "occurred_at": _render_ts(ev.ts),
        "org_id": ev.org_id,
        "schema_version": ev.schema_version,
    }
    for field in _OPTIONAL_FIELDS:
        v = getattr(ev, field)
        if v is not None:
            out[field] = v
    return orjson.dumps(out)
