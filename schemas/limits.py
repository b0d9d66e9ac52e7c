"""The size and nesting limits of one event, shared by both ways in (events.md: the HTTP
path and the topic path accept exactly the same objects).

`schemas.events.decode_event` applies them to the bytes of an event, so the worker (which
decodes what is on the topic) and `POST /v1/events` (which decodes the very bytes it is about
to produce) reject the same events with the same reason text. Pure functions, no I/O.

Why these limits:

- **Bytes** (`BADGEPULSE_EVENT_MAX_BYTES`, default 900 KiB): a Kafka broker refuses a record
  batch over its `message.max.bytes` (1 MiB by default, and aiokafka's `max_request_size`
  likewise), so an event must stay below that with room for the record's key and headers.
  Over the limit an event is rejected `too_large`, a verdict that retrying cannot change.
- **Nesting** (`MAX_EVENT_DEPTH` = 32 levels of objects/arrays, the event object being
  level 1): no field of events.md nests deeper than 2, and extra fields are only carried
  along; past orjson's limits (254 levels to encode, 1024 to decode) an event could be taken
  by one path and not by the other. 32 leaves room for any reasonable extra field.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_LIMITS",
    "MAX_EVENT_BYTES",
    "MAX_EVENT_DEPTH",
    "EventLimits",
    "depth_problem",
    "size_problem",
    "too_deep",
]

MAX_EVENT_BYTES = 900 * 1024
MAX_EVENT_DEPTH = 32


@dataclass(frozen=True, slots=True)
class EventLimits:
    """The limits one process applies; built from the settings (`Settings.event_limits`)."""

    max_bytes: int = MAX_EVENT_BYTES
    max_depth: int = MAX_EVENT_DEPTH


DEFAULT_LIMITS = EventLimits()


def size_problem(size: int, limits: EventLimits) -> str | None:
    """The rejection reason of an event of `size` bytes, or None if it is within the limit."""
    if size <= limits.max_bytes:
        return None
    return (f"too_large: the event is {size} bytes, over the limit of {limits.max_bytes} "
            "bytes per event")


def too_deep(limits: EventLimits, field: str | None = None) -> str:
    """The rejection reason of an event nested deeper than the limit (in `field` if known)."""
    if field is None:
        where = ""
    else:
        shown = field if len(field) <= 64 else field[:64] + "..."
        where = f" (in field {shown!r})"
    return (f"too_deep: objects/arrays nested more than {limits.max_depth} levels"
            f"{where}")


def _depth_exceeds(value: object, budget: int) -> bool:
    """True if `value` nests objects/arrays more than `budget` levels deep. Iterative, so a
    hostile value cannot exhaust Python's recursion limit."""
    stack: list[tuple[object, int]] = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if type(v) is dict:
            children: list[object] | tuple[object, ...] = list(v.values())
        elif type(v) is list:
            children = v
        else:
            continue
        if depth > budget:
            return True
        stack.extend((c, depth + 1) for c in children if type(c) is dict or type(c) is list)
    return False


def depth_problem(obj: object, limits: EventLimits) -> str | None:
    """The rejection reason of a decoded event nesting deeper than the limit, or None.

    The event object is level 1; the reason names the top-level field that goes too deep.
    """
    if type(obj) is not dict:
        return too_deep(limits) if _depth_exceeds(obj, limits.max_depth) else None
    for key, value in obj.items():
        if _depth_exceeds(value, limits.max_depth - 1):
            return too_deep(limits, str(key))
    return None
