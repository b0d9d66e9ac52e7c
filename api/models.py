"""Response models: they shape the OpenAPI document; readers return plain dicts."""

from __future__ import annotations

from typing import Any, Literal

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


class SummaryMetricsOut(MetricsOut):
    bot_views: int = Field(description="Views by crawlers and link-preview fetchers (by the "
                                       "view's user_agent); not in views, the impact score, "
                                       "viewing sources or any insight")


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
    metrics: SummaryMetricsOut
    highlights: HighlightsOut
    time_to_accept: TimeToAcceptOut
    coverage: CoverageOut
    as_of: str | None


class StatusOut(BaseModel):
    as_of: str | None = Field(description="occurred_at of the newest applied event")
    lag: int | None = Field(description="Events published but not yet applied; null if unknown")
    applied: int
    rejected: int
    rejected_by_reason: dict[str, int] = Field(
        default_factory=dict,
        description="`rejected` by reason code (schemas/reasons.py: not_json, too_large, "
                    "too_deep, unknown_type, missing_field, invalid_field, future, mismatch, "
                    "award_already_issued, badge_already_created, unknown_award); codes with "
                    "none are left out")
    held: int
    notices: list[str] = Field(
        default_factory=list,
        description="What an operator should know: a rebuild under way; events the numbers "
                    "hold that the topic lost (a memory-only broker restarted)")


class HealthOut(BaseModel):
    status: Literal["ok"]


class ReadyOut(BaseModel):
    redis: bool = Field(description="Redis answered a PING")
    kafka: bool = Field(description="The broker answered a metadata request")


class MeOut(BaseModel):
    org_id: str
    role: Literal["org_admin", "issuer", "publisher"]
    issuer_ids: list[str] = Field(description="The issuers an issuer key is restricted to")
    key_id: str


class RejectedOut(BaseModel):
    index: int = Field(description="Position of the event in the body (0-based)")
    event_id: str | None = Field(description="The event's event_id, when it is a valid one")
    reason: str = Field(description="Names the field or the limit first, e.g. "
                                    "`method: must match [a-z0-9_]{1,32}`, `too_large: ...`")
    retryable: bool = Field(
        description="The broker did not acknowledge this event: send it again (a repeated "
                    "event_id is ignored). False: sending it unchanged is rejected again")
    line: int | None = Field(description="1-based line of an NDJSON body; null otherwise")


class IngestOut(BaseModel):
    accepted: int = Field(description="Events written to the topic: every index not rejected")
    rejected: list[RejectedOut]


class ValidationIssueOut(BaseModel):
    loc: list[str | int] = Field(description="Where: e.g. [\"query\", \"from\"]")
    msg: str
    type: str


class ErrorOut(BaseModel):
    """Every error answer: a message, or (422) the list of parameters at fault."""

    detail: str | list[ValidationIssueOut]


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorOut, "description": description}


# The errors any /v1 route can answer, for `responses=` of the routes.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    401: _error("No key, or an unknown or revoked key"),
    403: _error("The key's role may not do this"),
    404: _error("Not found, or outside the key's org or issuers"),
    422: _error("A bad parameter; `detail[].loc` names it"),
    429: _error("Too many requests; see Retry-After"),
    503: _error("A dependency (Redis or the broker) is unavailable; see Retry-After"),
}

_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object", "additionalProperties": True,
    "description": "An event of events.md (anything else is rejected in the 202, by index)",
    "example": {"event_id": "e-1001", "type": "award.issued",
                "occurred_at": "2026-04-13T09:30:00Z", "org_id": "acme",
                "issuer_id": "acme-eng", "badge_id": "py-101", "award_id": "aw-77",
                "method": "lms"},
}

# POST /v1/events reads its body itself (three formats, per-event verdicts), so the request
# body is documented here rather than by a model FastAPI would validate.
INGEST_BODY: dict[str, Any] = {
    "required": True,
    "content": {
        "application/json": {"schema": {"anyOf": [
            _EVENT_SCHEMA,
            # at most 10,000 items, but that is a 413 (api.md), not the 4xx of a bad schema
            {"type": "array", "items": {
                "description": "An event; an element that is not a valid event is rejected "
                               "in the 202 by its index"}},
        ]}},
        # any text is an NDJSON body (each non-blank line gets its own verdict), so the
        # schema constrains nothing a client could get wrong at this level
        "application/x-ndjson": {"schema": {
            "description": "UTF-8 text, one event object per line"}},
    },
}


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


# --- insights (shared/spec/insights.md) -----------------------------------------------------


class InsightHeadOut(BaseModel):
    scope: ScopeOut
    period: PeriodOut
    previous_period: PeriodOut
    filters: FiltersOut


class ChannelPreviousOut(BaseModel):
    shares: int
    views: int
    views_per_share: float | None


class ChannelInsightOut(BaseModel):
    channel: str = Field(description="A share channel token with at least one share in P")
    shares: int
    views: int = Field(description="Human views in P whose source token is this channel's")
    views_per_share: float | None
    previous: ChannelPreviousOut
    change_pct: float | None = Field(description="Change of views_per_share against P'")


class InsightChannelsOut(InsightHeadOut):
    model_config = ConfigDict(json_schema_extra={"example": {
        "channels": [{"channel": "linkedin", "shares": 40, "views": 180, "views_per_share": 4.5,
                      "previous": {"shares": 30, "views": 120, "views_per_share": 4.0},
                      "change_pct": 12.5}],
        "unattributed_views": 95}})
    channels: list[ChannelInsightOut] = Field(
        description="views_per_share descending (null last), then channel")
    unattributed_views: int = Field(
        description="Views in P whose source matches no channel with a share in P")


class MethodPreviousOut(BaseModel):
    badges_awarded: int
    acceptance_rate: float | None
    share_rate: float | None


class MethodInsightOut(BaseModel):
    method: str
    badges_awarded: int
    accepted_awards: int
    acceptance_rate: float | None
    shared_awards: int
    share_rate: float | None
    time_to_accept: TimeToAcceptOut
    previous: MethodPreviousOut


class InsightMethodsOut(InsightHeadOut):
    methods: list[MethodInsightOut] = Field(
        description="Awarding methods with a cohort award in P: badges_awarded descending, "
                    "then method")


class FunnelStepOut(BaseModel):
    step: Literal["issued", "accepted", "shared", "viewed"]
    count: int
    rate_from_previous: float | None = Field(description="count / the step before's; null "
                                                         "for issued or a 0 denominator")
    rate_from_issued: float | None


class FunnelCountsOut(BaseModel):
    issued: int
    accepted: int
    shared: int
    viewed: int


class InsightFunnelOut(InsightHeadOut, FunnelCountsOut):
    steps: list[FunnelStepOut]
    previous: FunnelCountsOut = Field(description="The same counts for the cohort of P'")


class BenchmarkOut(BaseModel):
    metric: Literal["acceptance_rate", "share_rate", "public_visibility_rate",
                    "learner_engagement_score", "external_impact_score"]
    value: float | None = Field(description="This org, over P")
    percentile: float | None = Field(
        description="100 x (peers below + 0.5 x peers equal, this org excluded) / (peers - 1); "
                    "null unless this org is a peer and there are at least 5")
    peers: int = Field(description="Orgs of this deployment with >= 50 cohort awards in P "
                                   "(>= 50 shares for external_impact_score), this org "
                                   "included if it is one")


class InsightBenchmarksOut(InsightHeadOut):
    metrics: list[BenchmarkOut] = Field(description="No other org's id or value, ever")
