"""The formulas of metrics.md on hand-worked examples, including every null case."""

from __future__ import annotations

from datetime import date

import pytest

from schemas import metrics as m
from schemas.layout import period_buckets


def counts(**kw: int) -> dict[str, int]:
    base = dict.fromkeys(("badges_created", "badges_awarded", "accepted_awards",
                          "shared_awards", "public_awards", "shares", "views"), 0)
    return {**base, **kw}


def test_rates_and_scores_of_a_hand_worked_cohort():
    # 120 awards, 80 accepted, 30 shared, 50 public; 44 shares and 300 views
    out = m.derive(counts(badges_awarded=120, accepted_awards=80, shared_awards=30,
                          public_awards=50, shares=44, views=300))
    assert out["acceptance_rate"] == pytest.approx(80 / 120)
    assert out["share_rate"] == pytest.approx(0.25)
    assert out["public_visibility_rate"] == pytest.approx(50 / 120)
    # (0.6667 * 0.6 + 0.25 * 0.4) * 100 = 40 + 10 = 50
    assert out["learner_engagement_score"] == pytest.approx(50.0)
    assert out["external_impact_score"] == pytest.approx(300 / 44)


def test_zero_denominators_give_null_not_zero():
    out = m.derive(counts(views=12))
    for k in ("acceptance_rate", "share_rate", "public_visibility_rate",
              "learner_engagement_score", "external_impact_score"):
        assert out[k] is None, k
    assert out["views"] == 12


def test_a_perfect_cohort_scores_100_and_views_without_shares_are_null():
    out = m.derive(counts(badges_awarded=3, accepted_awards=3, shared_awards=3, views=5))
    assert out["learner_engagement_score"] == pytest.approx(100.0)
    assert out["external_impact_score"] is None


@pytest.mark.parametrize("cur, prev, change, pct, direction", [
    (12, 10, 2, 20.0, "up"),
    (5, 10, -5, -50.0, "down"),
    (7, 7, 0, 0.0, "flat"),
    (3, 0, 3, None, "up"),
    (None, 4, None, None, "flat"),
    (4, None, None, None, "flat"),
    (0.5, 0.25, 0.25, 100.0, "up"),
])
def test_trend(cur, prev, change, pct, direction):
    t = m.trend(cur, prev)
    assert t["current"] == cur and t["previous"] == prev
    assert t["change"] == (pytest.approx(change) if change is not None else None)
    assert t["change_pct"] == (pytest.approx(pct) if pct is not None else None)
    assert t["direction"] == direction


@pytest.mark.parametrize("hours, index", [
    (-3, 0), (0, 0), (1, 0), (1.0001, 1), (6, 1), (24, 2), (72, 3), (100, 4), (168, 4),
    (720, 5), (2160, 6), (2160.5, 7), (99999, 7)])
def test_time_to_accept_buckets_take_the_first_bound_at_or_above(hours, index):
    assert m.tta_bucket_index(hours) == index


def test_median_interpolates_inside_the_median_bucket():
    # 4 awards: 1 in (0,1], 3 in (1,6]. n/2 = 2 -> bucket (1,6], 1 before it:
    # 1 + (6 - 1) * (2 - 1) / 3 = 2.6667
    assert m.tta_median([1, 3, 0, 0, 0, 0, 0, 0]) == pytest.approx(1 + 5 / 3)
    # all in the +inf bucket interpolate towards 4320: 2160 + 2160 * (1/2) = 3240
    assert m.tta_median([0, 0, 0, 0, 0, 0, 0, 2]) == pytest.approx(3240)
    assert m.tta_median([0] * 8) is None
    # exactly half in the first bucket: the median is its upper bound
    assert m.tta_median([2, 2, 0, 0, 0, 0, 0, 0]) == pytest.approx(1.0)


def test_channel_entries_hide_zero_and_order_by_count_then_key():
    cur = {"url": 3, "linkedin": 5, "email": 3, "x": 0}
    prev = {"linkedin": 10, "email": 3}
    out = m.channel_entries(cur, prev)
    assert [e["key"] for e in out] == ["linkedin", "email", "url"]
    assert out[0]["pct"] == pytest.approx(100 * 5 / 11)
    assert out[0]["previous_count"] == 10 and out[0]["change_pct"] == pytest.approx(-50)
    assert out[2]["previous_count"] == 0 and out[2]["change_pct"] is None
    assert m.most_used(out) == "linkedin" and m.most_used([]) is None


def test_previous_period_has_the_same_length_and_ends_the_day_before():
    assert m.previous_period(date(2026, 3, 15), date(2026, 4, 13)) == (
        date(2026, 2, 13), date(2026, 3, 14))
    assert m.previous_period(date(2026, 1, 1), date(2026, 1, 1)) == (
        date(2025, 12, 31), date(2025, 12, 31))


def test_coverage_flags_metrics_whose_data_starts_late_or_never():
    first = {"award.accepted": "2025-09-01", "award.shared": "2025-01-05"}
    out = m.incomplete(m.ALL_METRICS, first, date(2025, 8, 1))
    assert "acceptance_rate" in out and "learner_engagement_score" in out
    assert "views" in out and "external_impact_score" in out  # never seen
    assert "share_rate" not in out and "badges_awarded" not in out


@pytest.mark.parametrize("start, end", [
    (date(2026, 3, 15), date(2026, 4, 13)), (date(2016, 1, 1), date(2025, 12, 31)),
    (date(2025, 12, 30), date(2026, 1, 2)), (date(2024, 2, 1), date(2024, 2, 29)),
    (date(2016, 3, 17), date(2026, 3, 13)), (date(2026, 4, 13), date(2026, 4, 13))])
def test_period_buckets_cover_each_day_exactly_once_with_few_keys(start, end):
    buckets = period_buckets(start, end)
    covered: list[date] = []
    for b in buckets:
        if b[0] == "d":
            covered.append(date(int(b[1:5]), int(b[5:7]), int(b[7:9])))
        elif b[0] == "m":
            y, mo = int(b[1:5]), int(b[5:7])
            d = date(y, mo, 1)
            while d.month == mo:
                covered.append(d)
                d = date.fromordinal(d.toordinal() + 1)
        else:
            d = date(int(b[1:5]), 1, 1)
            while d.year == int(b[1:5]):
                covered.append(d)
                d = date.fromordinal(d.toordinal() + 1)
    expected = [date.fromordinal(o) for o in range(start.toordinal(), end.toordinal() + 1)]
    assert sorted(covered) == expected
    assert len(buckets) <= 31 + 11 + 10 + 11 + 31
