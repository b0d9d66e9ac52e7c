"""The parameters of each read, declared once: the read route and its export take the same
dependency, so a download always has the read's parameters, names, defaults and limits.
(Scope, period and filters are one dependency too: api/routes/reads.py's SCOPES over
api/deps.py's period_query.)"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any, Literal

from fastapi import Depends, Query
from pydantic import WithJsonSchema

from api.readers.series import Interval
from schemas.metrics import BADGE_NUMERIC_COLUMNS, COUNT_METRICS

SortColumn = Literal[BADGE_NUMERIC_COLUMNS]  # type: ignore[valid-type]
CountMetric = Literal[COUNT_METRICS]  # type: ignore[valid-type]

Limit = Annotated[int, Query(ge=1, le=1000, description="Rows to return")]
Offset = Annotated[int, Query(ge=0, description="Rows to skip")]
MinAwards = Annotated[int | None, WithJsonSchema({"type": "integer", "minimum": 0}),
                      Query(ge=0, description="Keep badges with at least this many awards "
                                              "in the period")]


class Params:
    """A read's own parameters (beside scope, period and filters)."""

    def key(self) -> tuple[Any, ...]:
        """Part of the answer cache's key (api/readers/answers.py)."""
        return tuple(vars(self).values())

    def shown(self) -> dict[str, Any]:
        """As the XLSX `about` sheet lists them."""
        return dict(vars(self))


@dataclass(frozen=True)
class BadgesParams(Params):
    sort: str
    order: str
    limit: int
    offset: int
    min_awards: int | None

    @property
    def descending(self) -> bool:
        return self.order == "desc"


async def badges_params(
    sort: Annotated[SortColumn, Query(description="Any numeric column")] = "overall_score",
    order: Annotated[Literal["desc", "asc"], Query()] = "desc",
    limit: Limit = 50, offset: Offset = 0, min_awards: MinAwards = None,
) -> BadgesParams:
    return BadgesParams(sort, order, limit, offset, min_awards)


@dataclass(frozen=True)
class TopBadgesParams(Params):
    limit: int
    min_awards: int | None


async def top_badges_params(limit: Limit = 5, min_awards: MinAwards = None) -> TopBadgesParams:
    return TopBadgesParams(limit, min_awards)


@dataclass(frozen=True)
class TimeseriesParams(Params):
    metric: str
    interval: Interval


async def timeseries_params(
    metric: Annotated[CountMetric, Query(description="A count metric")] = "badges_awarded",
    interval: Annotated[Interval, Query()] = "day",
) -> TimeseriesParams:
    return TimeseriesParams(metric, interval)


BadgesDep = Annotated[BadgesParams, Depends(badges_params)]
TopBadgesDep = Annotated[TopBadgesParams, Depends(top_badges_params)]
TimeseriesDep = Annotated[TimeseriesParams, Depends(timeseries_params)]
