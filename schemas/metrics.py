"""The formulas of metrics.md as pure functions. Readers and tests both call these."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

# Upper bounds (hours) of the time-to-accept buckets; None is +inf.
TTA_BOUNDS: tuple[float | None, ...] = (1, 6, 24, 72, 168, 720, 2160, None)
TTA_INF_AS = 4320.0

COHORT_COUNTS = ("badges_awarded", "accepted_awards", "shared_awards", "public_awards")
ACTIVITY_COUNTS = ("badges_created", "shares", "views", "bot_views")
# The counts of a badge-table row: bot views are a metric of summary, time series and
# exports (insights.md), not a column of the badge table.
BADGE_COUNT_METRICS = ("badges_created", *COHORT_COUNTS[:], "shares", "views")
COUNT_METRICS = (*BADGE_COUNT_METRICS, "bot_views")
RATE_METRICS = ("acceptance_rate", "share_rate", "public_visibility_rate")
SCORE_METRICS = ("learner_engagement_score", "external_impact_score")
ALL_METRICS = (*COUNT_METRICS, *RATE_METRICS, *SCORE_METRICS)
KPI_TILES = (
    "learner_engagement_score",
    "external_impact_score",
    "badges_created",
    "badges_awarded",
    "acceptance_rate",
    "share_rate",
    "public_visibility_rate",
)

# Which event type each metric depends on, for coverage flags.
DEPENDS_ON: dict[str, str] = {
    "accepted_awards": "award.accepted",
    "acceptance_rate": "award.accepted",
    "learner_engagement_score": "award.accepted",
    "time_to_accept": "award.accepted",
    "views": "award.viewed",
    "bot_views": "award.viewed",
    "external_impact_score": "award.viewed",
    "shares": "award.shared",
    "shared_awards": "award.shared",
    "share_rate": "award.shared",
}


def ratio(num: float, den: float) -> float | None:
    """num / den, or None when the denominator is 0."""
    return None if den == 0 else num / den


def learner_engagement_score(
    acceptance_rate: float | None, share_rate: float | None
) -> float | None:
    if acceptance_rate is None or share_rate is None:
        return None
    return (acceptance_rate * 0.60 + share_rate * 0.40) * 100


def derive(counts: Mapping[str, int]) -> dict[str, int | float | None]:
    """Every metric of metrics.md from the counts (`bot_views` where given: a badge-table
    row has none)."""
    awarded = counts["badges_awarded"]
    acc = ratio(counts["accepted_awards"], awarded)
    shr = ratio(counts["shared_awards"], awarded)
    out: dict[str, int | float | None] = {k: counts[k] for k in COUNT_METRICS if k in counts}
    out["acceptance_rate"] = acc
    out["share_rate"] = shr
    out["public_visibility_rate"] = ratio(counts["public_awards"], awarded)
    out["learner_engagement_score"] = learner_engagement_score(acc, shr)
    out["external_impact_score"] = ratio(counts["views"], counts["shares"])
    return out


def trend(current: float | None, previous: float | None) -> dict[str, Any]:
    """The current/previous/change/change_pct/direction object of metrics.md."""
    if current is None or previous is None:
        change = None
        direction = "flat"
    else:
        change = current - previous
        direction = "up" if change > 0 else "down" if change < 0 else "flat"
    change_pct = (
        None
        if current is None or previous is None or previous == 0
        else 100 * (current - previous) / previous
    )
    return {
        "current": current,
        "previous": previous,
        "change": change,
        "change_pct": change_pct,
        "direction": direction,
    }


def tta_bucket_index(hours: float) -> int:
    """Index of the first bucket whose bound is >= hours (negatives count as 0)."""
    hours = max(hours, 0.0)
    for i, bound in enumerate(TTA_BOUNDS):
        if bound is None or hours <= bound:
            return i
    raise AssertionError("unreachable: the last bucket is +inf")


def tta_median(counts: Sequence[int]) -> float | None:
    """Median hours by linear interpolation inside the median's bucket."""
    n = sum(counts)
    if n == 0:
        return None
    target = n / 2
    cum = 0
    lower = 0.0
    for bound, count in zip(TTA_BOUNDS, counts, strict=True):
        upper = TTA_INF_AS if bound is None else float(bound)
        if count and cum + count >= target:
            return lower + (upper - lower) * (target - cum) / count
        cum += count
        lower = upper
    raise AssertionError("unreachable: counts sum to n")


def time_to_accept(counts: Sequence[int]) -> dict[str, Any]:
    return {
        "buckets": [{"le": b, "count": c} for b, c in zip(TTA_BOUNDS, counts, strict=True)],
        "median_hours": tta_median(counts),
    }


def channel_entries(
    current: Mapping[str, int], previous: Mapping[str, int]
) -> list[dict[str, Any]]:
    """One chart of metrics.md: zero entries hidden, count desc then key asc."""
    total = sum(current.values())
    entries: list[dict[str, Any]] = []
    for key, count in current.items():
        if count <= 0:
            continue
        prev = previous.get(key, 0)
        entries.append(
            {
                "key": key,
                "count": count,
                "pct": 100 * count / total,
                "previous_count": prev,
                "change_pct": None if prev == 0 else 100 * (count - prev) / prev,
            }
        )
    entries.sort(key=lambda e: (-e["count"], e["key"]))
    return entries


def most_used(entries: Sequence[Mapping[str, Any]]) -> str | None:
    return str(entries[0]["key"]) if entries else None


def previous_period(start: date, end: date) -> tuple[date, date]:
    days = (end - start).days + 1
    prev_end = start - timedelta(days=1)
    return prev_end - timedelta(days=days - 1), prev_end


def incomplete(
    metrics: Iterable[str], first_day: Mapping[str, str], earliest: date
) -> list[str]:
    """Metrics whose data source starts after `earliest` (or never started)."""
    out = []
    for m in metrics:
        dep = DEPENDS_ON.get(m)
        if dep is None:
            continue
        first = first_day.get(dep)
        if first is None or date.fromisoformat(first) > earliest:
            out.append(m)
    return sorted(out)


DEPENDS_ON.update({
    "sharing_methods": "award.shared",
    "viewing_sources": "award.viewed",
})

BADGE_METRICS = (*BADGE_COUNT_METRICS, *RATE_METRICS, *SCORE_METRICS)  # a table row's
BADGE_NUMERIC_COLUMNS = (
    "rank", *BADGE_COUNT_METRICS, *RATE_METRICS, *SCORE_METRICS, "overall_score",
)


def rank_badges(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Overall score and order of metrics.md for a ranked set; sets `overall_score`, `rank`.

    Each row needs `badge_id`, `badges_awarded`, `learner_engagement_score` and
    `external_impact_score`.
    """
    eis = [r["external_impact_score"] or 0 for r in rows]
    top = max(eis, default=0)
    for r, e in zip(rows, eis, strict=True):
        norm = 100 * e / top if top else 0.0
        r["overall_score"] = 0.65 * (r["learner_engagement_score"] or 0) + 0.35 * norm
    rows.sort(key=lambda r: (-r["overall_score"], -r["badges_awarded"], r["badge_id"]))
    for i, r in enumerate(rows, 1):
        r["rank"] = i
    return rows


def sort_rows(rows: list[dict[str, Any]], column: str, descending: bool) -> list[dict[str, Any]]:
    """Sort by a numeric column; nulls last in either order; ties keep the ranking order."""
    present = [r for r in rows if r[column] is not None]
    missing = [r for r in rows if r[column] is None]
    present.sort(key=lambda r: r["rank"])
    present.sort(key=lambda r: r[column], reverse=descending)
    return present + sorted(missing, key=lambda r: r["rank"])
