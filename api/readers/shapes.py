"""The shapes of the readers' answers, as TypedDicts that mirror the response models of
api/models.py field for field (tests/unit/test_answer_shapes.py holds the two together).

The readers build their answers as these types, so mypy checks every key they write; the
answers stay plain dicts at run time (orjson writes them as they are: validating a
2,000-row table against the models cost more than reading it, bench/README.md). `plain`
hands a checked answer on to code that takes any JSON-like dict (the answer cache, the
exports), without a copy.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, TypedDict, cast

Number = int | float
Direction = Literal["up", "down", "flat"]


def plain(answer: Mapping[str, Any]) -> dict[str, Any]:
    """A checked answer as the plain dict it is at run time."""
    return cast(dict[str, Any], answer)


class ScopeAnswer(TypedDict):
    org_id: str
    issuer_id: str | None
    badge_id: str | None
    issuer_ids: list[str] | None


# `from` is a keyword: the functional form
PeriodAnswer = TypedDict("PeriodAnswer", {"from": str, "to": str})


class FiltersAnswer(TypedDict):
    issuer_id: list[str]
    badge_id: list[str]
    status: list[str]


class TrendAnswer(TypedDict):
    current: Number | None
    previous: Number | None
    change: Number | None
    change_pct: float | None
    direction: Direction


class TileAnswer(TrendAnswer):
    value: Number | None


class KpisAnswer(TypedDict):
    learner_engagement_score: TileAnswer
    external_impact_score: TileAnswer
    badges_created: TileAnswer
    badges_awarded: TileAnswer
    acceptance_rate: TileAnswer
    share_rate: TileAnswer
    public_visibility_rate: TileAnswer


class MetricsAnswer(TypedDict):
    badges_created: int
    badges_awarded: int
    accepted_awards: int
    shared_awards: int
    public_awards: int
    shares: int
    views: int
    acceptance_rate: float | None
    share_rate: float | None
    public_visibility_rate: float | None
    learner_engagement_score: float | None
    external_impact_score: float | None


class SummaryMetricsAnswer(MetricsAnswer):
    bot_views: int  # summary, time series and exports only: no badge-table column


class HighlightsAnswer(TypedDict):
    most_used_awarding_method: str | None
    most_used_sharing_method: str | None
    most_common_viewing_source: str | None


class BucketAnswer(TypedDict):
    le: float | None
    count: int


class TimeToAcceptAnswer(TypedDict):
    buckets: list[BucketAnswer]
    median_hours: float | None


class CoverageAnswer(TypedDict):
    first_day: dict[str, str]
    incomplete: list[str]


class SummaryAnswer(TypedDict):
    scope: ScopeAnswer
    period: PeriodAnswer
    previous_period: PeriodAnswer
    filters: FiltersAnswer
    kpis: KpisAnswer
    metrics: SummaryMetricsAnswer
    highlights: HighlightsAnswer
    time_to_accept: TimeToAcceptAnswer
    coverage: CoverageAnswer
    as_of: str | None


class ChannelEntryAnswer(TypedDict):
    key: str
    count: int
    pct: float
    previous_count: int
    change_pct: float | None


class ChannelsAnswer(TypedDict):
    period: PeriodAnswer
    previous_period: PeriodAnswer
    awarding: list[ChannelEntryAnswer]
    sharing: list[ChannelEntryAnswer]
    viewing: list[ChannelEntryAnswer]
    coverage: CoverageAnswer


class BadgeTrendsAnswer(TypedDict):
    badges_awarded: TrendAnswer
    learner_engagement_score: TrendAnswer


class BadgeRowAnswer(MetricsAnswer):
    rank: int
    badge_id: str
    name: str | None
    issuer_id: str | None
    skills: list[str]
    visibility: str | None
    overall_score: float
    trend: BadgeTrendsAnswer


class BadgesAnswer(TypedDict):
    period: PeriodAnswer
    previous_period: PeriodAnswer
    total: int
    items: list[BadgeRowAnswer]
    coverage: CoverageAnswer


class PointAnswer(TypedDict):
    start: str
    value: int


class TimeseriesAnswer(TypedDict):
    metric: str
    interval: Literal["day", "week", "month"]
    period: PeriodAnswer
    points: list[PointAnswer]
    coverage: CoverageAnswer


class IssuerItemAnswer(TypedDict):
    issuer_id: str
    name: str | None
    badges_created: int
    badges_awarded: TrendAnswer
    methods: dict[str, int]
    last_awarded_at: str | None


class IssuerActivityAnswer(TypedDict):
    period: PeriodAnswer
    previous_period: PeriodAnswer
    items: list[IssuerItemAnswer]


# --- insights (shared/spec/insights.md) -----------------------------------------------------
class InsightHeadAnswer(TypedDict):
    scope: ScopeAnswer
    period: PeriodAnswer
    previous_period: PeriodAnswer
    filters: FiltersAnswer


class ChannelPreviousAnswer(TypedDict):
    shares: int
    views: int
    views_per_share: float | None


class ChannelInsightAnswer(TypedDict):
    channel: str
    shares: int
    views: int
    views_per_share: float | None
    previous: ChannelPreviousAnswer
    change_pct: float | None


class InsightChannelsAnswer(InsightHeadAnswer):
    channels: list[ChannelInsightAnswer]
    unattributed_views: int


class MethodPreviousAnswer(TypedDict):
    badges_awarded: int
    acceptance_rate: float | None
    share_rate: float | None


class MethodInsightAnswer(TypedDict):
    method: str
    badges_awarded: int
    accepted_awards: int
    acceptance_rate: float | None
    shared_awards: int
    share_rate: float | None
    time_to_accept: TimeToAcceptAnswer
    previous: MethodPreviousAnswer


class InsightMethodsAnswer(InsightHeadAnswer):
    methods: list[MethodInsightAnswer]


class FunnelStepAnswer(TypedDict):
    step: Literal["issued", "accepted", "shared", "viewed"]
    count: int
    rate_from_previous: float | None
    rate_from_issued: float | None


class FunnelCountsAnswer(TypedDict):
    issued: int
    accepted: int
    shared: int
    viewed: int


class InsightFunnelAnswer(InsightHeadAnswer, FunnelCountsAnswer):
    steps: list[FunnelStepAnswer]
    previous: FunnelCountsAnswer


class BenchmarkAnswer(TypedDict):
    metric: Literal["acceptance_rate", "share_rate", "public_visibility_rate",
                    "learner_engagement_score", "external_impact_score"]
    value: float | None
    percentile: float | None
    peers: int


class InsightBenchmarksAnswer(InsightHeadAnswer):
    metrics: list[BenchmarkAnswer]
