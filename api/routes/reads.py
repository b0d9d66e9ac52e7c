"""Read routes: parse a query, call a reader, return its answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException

from api.deps import LayoutDep, PeriodDep, ReaderDep, RedisDep
from api.models import SummaryOut
from api.readers.scope import NotFound, Query
from api.readers.summary import read_summary

router = APIRouter(prefix="/v1/orgs/{org_id}", tags=["analytics"])


def scoped(q: Query, issuer_id: str | None = None, badge_id: str | None = None) -> Query:
    return Query(q.org_id, q.start, q.end, issuer_id, badge_id,
                 q.issuer_filter, q.badge_filter, q.status_filter)


async def _summary(redis: Any, layout: Any, caller: Any, q: Query) -> dict[str, Any]:
    try:
        return await read_summary(redis, layout, caller, q)
    except NotFound as err:
        raise HTTPException(404, "not found") from err


@router.get("/summary", response_model=SummaryOut, summary="Organization summary")
async def read_org_summary(caller: ReaderDep, q: PeriodDep, redis: RedisDep,
                           layout: LayoutDep) -> dict[str, Any]:
    return await _summary(redis, layout, caller, q)


@router.get("/issuers/{scope_issuer_id}/summary", response_model=SummaryOut,
            summary="Issuer summary")
async def read_issuer_summary(scope_issuer_id: str, caller: ReaderDep, q: PeriodDep,
                              redis: RedisDep, layout: LayoutDep) -> dict[str, Any]:
    return await _summary(redis, layout, caller, scoped(q, issuer_id=scope_issuer_id))


@router.get("/badges/{scope_badge_id}/summary", response_model=SummaryOut, summary="Badge summary")
async def read_badge_summary(scope_badge_id: str, caller: ReaderDep, q: PeriodDep,
                             redis: RedisDep, layout: LayoutDep) -> dict[str, Any]:
    return await _summary(redis, layout, caller, scoped(q, badge_id=scope_badge_id))
