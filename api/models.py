"""Response models: they shape the OpenAPI document; readers return plain dicts."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

Number = int | float


class ScopeOut(BaseModel):
    org_id: str
    issuer_id: str | None
    badge_id: str | None
    issuer_ids: list[str] | None = Field(
        description="For an issuer key: the issuers every number is restricted to")


class PeriodOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)
    from_: str = Field(alias="from", examples=["2026-03-15"])
    to: str = Field(examples=["2026-04-13"])


class FiltersOut(BaseModel):
    issuer_id: list[str]
    badge_id: list[str]
    status: list[str]


class TrendOut(BaseModel):
    current: Number | None
    previous: Number | None
    change: Number | None
    change_pct: float | None
    direction: Literal["up", "down", "flat"]


class TileOut(TrendOut):
    value: Number | None = Field(description="All time for the scope; ignores period and filters")


class KpisOut(BaseModel):
    learner_engagement_score: TileOut
    external_impact_score: TileOut
    badges_created: TileOut
    badges_awarded: TileOut
    acceptance_rate: TileOut
    share_rate: TileOut
    public_visibility_rate: TileOut


class MetricsOut(BaseModel):
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


class HighlightsOut(BaseModel):
    most_used_awarding_method: str | None
    most_used_sharing_method: str | None
    most_common_viewing_source: str | None


class BucketOut(BaseModel):
    le: float | None = Field(description="Upper bound in hours; null is +inf")
    count: int


class TimeToAcceptOut(BaseModel):
    buckets: list[BucketOut]
    median_hours: float | None


class CoverageOut(BaseModel):
    first_day: dict[str, str]
    incomplete: list[str]


class SummaryOut(BaseModel):
    model_config = ConfigDict(json_schema_extra={"example": {
        "scope": {"org_id": "acme", "issuer_id": None, "badge_id": None, "issuer_ids": None},
        "period": {"from": "2026-03-15", "to": "2026-04-13"},
    }})
    scope: ScopeOut
    period: PeriodOut
    previous_period: PeriodOut
    filters: FiltersOut
    kpis: KpisOut
    metrics: MetricsOut
    highlights: HighlightsOut
    time_to_accept: TimeToAcceptOut
    coverage: CoverageOut
    as_of: str | None


class StatusOut(BaseModel):
    as_of: str | None = Field(description="occurred_at of the newest applied event")
    lag: int | None = Field(description="Events published but not yet applied; null if unknown")
    applied: int
    rejected: int
    held: int


class RejectedOut(BaseModel):
    index: int
    event_id: str | None
    reason: str


class IngestOut(BaseModel):
    accepted: int
    rejected: list[RejectedOut]


class ChannelEntryOut(BaseModel):
    key: str
    count: int
    pct: float
    previous_count: int
    change_pct: float | None


class ChannelsOut(BaseModel):
    period: PeriodOut
    previous_period: PeriodOut
    awarding: list[ChannelEntryOut]
    sharing: list[ChannelEntryOut]
    viewing: list[ChannelEntryOut]
    coverage: CoverageOut


class BadgeTrendsOut(BaseModel):
    badges_awarded: TrendOut
    learner_engagement_score: TrendOut


class BadgeRowOut(MetricsOut):
    rank: int = Field(description="Position in the ranking (overall_score order)")
    badge_id: str
    name: str | None
    issuer_id: str | None
    skills: list[str]
    visibility: str | None
    overall_score: float
    trend: BadgeTrendsOut


class BadgesOut(BaseModel):
    period: PeriodOut
    previous_period: PeriodOut
    total: int = Field(description="Badges in the ranked set (before limit/offset)")
    items: list[BadgeRowOut]
    coverage: CoverageOut


class PointOut(BaseModel):
    start: str
    value: int


class TimeseriesOut(BaseModel):
    metric: str
    interval: Literal["day", "week", "month"]
    period: PeriodOut
    points: list[PointOut]
    coverage: CoverageOut


class IssuerItemOut(BaseModel):
    issuer_id: str
    name: str | None
    badges_created: int
    badges_awarded: TrendOut
    methods: dict[str, int]
    last_awarded_at: str | None


class IssuerActivityOut(BaseModel):
    period: PeriodOut
    previous_period: PeriodOut
    items: list[IssuerItemOut]
