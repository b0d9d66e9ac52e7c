"""The pure parts of alerts: when one fires, when a delivery is retried, how it is signed."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, date, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import orjson

from schemas.metrics import previous_period, trend

Op = Literal["below", "above", "drops_by_pct", "rises_by_pct"]
OPS: tuple[Op, ...] = ("below", "above", "drops_by_pct", "rises_by_pct")
State = Literal["ok", "firing", "resolved"]
SIGNATURE_HEADER = "Badgepulse-Signature"
DELIVERY_HEADER = "Badgepulse-Delivery"


def window(today: date, window_days: int) -> tuple[date, date]:
    """The last `window_days` whole UTC days ending today (both ends included)."""
    return today - timedelta(days=window_days - 1), today


def previous_window(today: date, window_days: int) -> tuple[date, date]:
    return previous_period(*window(today, window_days))


def condition_holds(op: Op, threshold: float, value: float | None,
                    previous: float | None) -> bool | None:
    """Whether the condition holds; None when it cannot be told (a null metric, or a null
    change for the percentage ops: metrics.md's change_pct is null when previous is 0).

    `below` / `above` are strict; `drops_by_pct` X holds when the change is -X % or lower,
    `rises_by_pct` X when it is +X % or higher (a drop *by* 20 % includes exactly 20 %)."""
    if op in ("below", "above"):
        if value is None:
            return None
        return value < threshold if op == "below" else value > threshold
    change_pct: float | None = trend(value, previous)["change_pct"]
    if change_pct is None:
        return None
    return change_pct <= -threshold if op == "drops_by_pct" else change_pct >= threshold


def next_state(current: State, holds: bool | None, cohort_awards: int,
               min_awards: int) -> State | None:
    """The state to move to, or None to stay. Below `min_awards` cohort awards in the window,
    or when the condition cannot be told, the alert neither fires nor resolves."""
    if cohort_awards < min_awards or holds is None:
        return None
    if holds and current != "firing":
        return "firing"
    if not holds and current == "firing":
        return "resolved"
    return None


def retry_delay_s(attempts: int, base_s: float, cap_s: float) -> float:
    """Exponential backoff after the `attempts`-th failed attempt: base, 2 base, 4 base, …,
    never more than cap (insights.md: from 1 minute to 6 hours)."""
    if attempts < 1:
        raise ValueError("attempts counts from 1")
    return min(cap_s, base_s * 2.0 ** min(attempts - 1, 64))


def next_attempt_ms(created_ms: int, now_ms: int, attempts: int, retry_after_s: float | None,
                    base_s: float, cap_s: float, horizon_s: float) -> int | None:
    """When to try again after a failed attempt, or None once past the horizon (24 h from
    the delivery's creation). A Retry-After asking for longer than the backoff is honoured."""
    delay = retry_delay_s(attempts, base_s, cap_s)
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    at = now_ms + int(delay * 1000)
    return at if at <= created_ms + int(horizon_s * 1000) else None


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds asked by a Retry-After header (delta-seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit alone takes "²" and "٣"
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The Badgepulse-Signature header value: `t=<unix>,v1=<hex HMAC-SHA256(secret,
    "<t>.<body>")>`."""
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256)
    return f"t={timestamp},v1={mac.hexdigest()}"


def verify(secret: str, header: str, body: bytes, now: int, tolerance_s: int = 300) -> bool:
    """What a receiver does (the README shows the same): recompute, compare in constant
    time, refuse a timestamp older than the tolerance (a replayed request)."""
    parts = dict(p.split("=", 1) for p in header.split(",") if "=" in p)
    try:
        t = int(parts["t"])
    except (KeyError, ValueError):
        return False
    if abs(now - t) > tolerance_s:
        return False
    expected = sign(secret, t, body).split(",v1=", 1)[1]
    return hmac.compare_digest(expected, parts.get("v1", ""))


def iso_ms(ts_ms: int | None) -> str | None:
    if ts_ms is None:
        return None
    dt = datetime.fromtimestamp(ts_ms / 1000, UTC)
    return dt.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def payload(alert: dict[str, Any], start: date, end: date, value: float | None,
            previous: float | None, state: str, at_ms: int) -> bytes:
    """The delivery body of insights.md, exactly those fields."""
    return orjson.dumps({
        "alert_id": alert["alert_id"],
        "org_id": alert["org_id"],
        "metric": alert["metric"],
        "scope": alert["scope"],
        "window": {"from": start.isoformat(), "to": end.isoformat()},
        "value": value,
        "previous": previous,
        "condition": alert["condition"],
        "state": state,
        "at": iso_ms(at_ms),
    })
