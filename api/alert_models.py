"""Request and response models of the alert routes (insights.md "Alerts")."""

from __future__ import annotations

import math
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from schemas.metrics import ALL_METRICS

AlertMetric = Literal[ALL_METRICS]  # type: ignore[valid-type]
AlertOp = Literal["below", "above", "drops_by_pct", "rises_by_pct"]
IDENT = r"^[A-Za-z0-9._:-]{1,128}$"  # events.md's identifiers


class AlertScope(BaseModel):
    """Empty: the whole org. Both: the badge of that issuer."""

    model_config = ConfigDict(extra="forbid")
    issuer_id: str | None = Field(None, pattern=IDENT)
    badge_id: str | None = Field(None, pattern=IDENT)


class AlertCondition(BaseModel):
    model_config = ConfigDict(extra="forbid")
    op: AlertOp = Field(description="`below` / `above`: the window's value, strictly; "
                                    "`drops_by_pct` / `rises_by_pct`: its change_pct against "
                                    "the window before, -value % or lower / +value % or higher")
    value: float = Field(description="The threshold (for the _pct ops, a positive percentage)")

    @field_validator("value")
    @classmethod
    def finite(cls, v: float) -> float:
        if not math.isfinite(v):
            raise ValueError("must be a finite number")
        return v

    @model_validator(mode="after")
    def positive_pct(self) -> AlertCondition:
        if self.op.endswith("_pct") and self.value <= 0:
            raise ValueError(f"`{self.op}` takes a positive percentage as value")
        return self


class AlertIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "metric": "acceptance_rate", "scope": {"issuer_id": "acme-eng"}, "window_days": 7,
        "condition": {"op": "below", "value": 0.5}, "min_awards": 20,
        "url": "https://hooks.example.com/badgepulse"}]})
    metric: AlertMetric = Field(description="Any metric of metrics.md's table")
    scope: AlertScope = Field(default_factory=AlertScope)
    window_days: int = Field(ge=1, le=90, description="The last N whole UTC days ending today")
    condition: AlertCondition
    min_awards: int = Field(20, ge=0, le=1_000_000_000,
                            description="Below this many cohort awards in the window the "
                                        "alert neither fires nor resolves")
    url: str = Field(max_length=2048, description="https only (hosts in "
                     "BADGEPULSE_ALERT_ALLOW_HOSTS excepted); never a private address")


class AlertOut(BaseModel):
    alert_id: str
    org_id: str
    metric: str
    scope: AlertScope
    window_days: int
    condition: AlertCondition
    min_awards: int
    url: str
    created_at: str
    state: Literal["ok", "firing", "resolved"] = Field(
        description="`ok` until it first fires; then `firing` / `resolved`")
    state_since: str | None = Field(description="When the state last changed")


class AlertCreatedOut(AlertOut):
    secret: str = Field(description="Signs every delivery (Badgepulse-Signature). Shown "
                                    "only in this answer")


class AlertsOut(BaseModel):
    items: list[AlertOut]


class DeliveryOut(BaseModel):
    delivery_id: str = Field(description="Also sent as the Badgepulse-Delivery header")
    alert_id: str
    time: str = Field(description="When the delivery was made (the state change, or the test)")
    state: Literal["firing", "resolved", "test"]
    status: Literal["pending", "sending", "delivered", "failed"]
    http_status: int | None = Field(description="The last attempt's answer (none: no answer)")
    attempts: int
    next_retry: str | None = Field(description="When the next attempt is due (pending only)")
    last_attempt_at: str | None
    delivered_at: str | None
    error: str | None = Field(description="What went wrong in the last attempt")


class DeliveriesOut(BaseModel):
    items: list[DeliveryOut] = Field(description="The last 100, newest first")
