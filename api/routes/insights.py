"""Insight routes (shared/spec/insights.md): views per share by channel, acceptance by
awarding method and the funnel for each scope of api.md, the org among its peers for the
org; and a download of each (CSV, XLSX, a chart as PNG/JPEG/SVG), like the other components.

Same rules as the other reads: the same period and filter parameters, answers cached per
org data version (api/readers/answers.py), another org or an issuer/badge outside the key a
404. Benchmarks: an org_admin key only (403 otherwise), `from`/`to` only (a filter is a 422
naming it), cached also by the deployment's running totals since every org counts.
"""

from collections.abc import Awaitable, Callable
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import BeforeValidator

from api.deps import (
    DAY_SCHEMA,
    LayoutDep,
    ReadCachesDep,
    ReaderDep,
    RedisDep,
    period_query,
    strict_day,
    unprocessable,
)
from api.models import (
    ERROR_RESPONSES,
    InsightBenchmarksOut,
    InsightChannelsOut,
    InsightFunnelOut,
    InsightMethodsOut,
)
from api.readers.insights import (
    deployment_version,
    peer_orgs,
    read_insight_benchmarks,
    read_insight_channels,
    read_insight_funnel,
    read_insight_methods,
)
from api.readers.scope import ReadQuery
from api.routes.exports import AnyFormat, check_format, deliver, docs
from api.routes.reads import SCOPES, respond
from core.keys import ApiKey

router = APIRouter(prefix="/v1/orgs/{org_id}", tags=["insights"], responses=ERROR_RESPONSES)

Reader = Callable[..., Awaitable[dict[str, Any]]]
SCOPED: dict[str, tuple[str, Reader, type, str]] = {
    # name -> (export component, reader, response model, summary)
    "channels": ("insights-channels", read_insight_channels, InsightChannelsOut,
                 "Views per share by share channel, and views no channel brought"),
    "methods": ("insights-methods", read_insight_methods, InsightMethodsOut,
                "Acceptance, sharing and time to accept by awarding method"),
    "funnel": ("insights-funnel", read_insight_funnel, InsightFunnelOut,
               "The cohort from issued to accepted, shared and viewed"),
}
NOT_HERE = ("issuer_id", "badge_id", "status")  # benchmarks compare whole orgs


async def require_org_admin_reader(caller: ReaderDep) -> ApiKey:
    """Benchmarks rank the whole org among its peers: an issuer key sees only its issuers,
    so only an org_admin key may read them (403); another org stays a 404 (ReaderDep)."""
    if caller.role != "org_admin":
        raise HTTPException(403, "benchmarks compare the whole org with its peers: only an "
                                 "org_admin key may read them")
    return caller


OrgAdminReaderDep = Annotated[ApiKey, Depends(require_org_admin_reader)]


async def benchmarks_query(
    request: Request, org_id: str,
    from_: Annotated[date | None, BeforeValidator(strict_day), DAY_SCHEMA,
                     Query(alias="from", description="First day (UTC), inclusive, YYYY-MM-DD",
                           examples=["2026-03-15"])] = None,
    to: Annotated[date | None, BeforeValidator(strict_day), DAY_SCHEMA,
                  Query(description="Last day (UTC), inclusive, YYYY-MM-DD",
                        examples=["2026-04-13"])] = None,
) -> ReadQuery:
    """`from` and `to` as for every read; the filters of the other reads are refused."""
    for name in NOT_HERE:
        if name in request.query_params:
            raise unprocessable(name, "benchmarks compare whole orgs over a period: only "
                                      "`from` and `to` are accepted")
    return await period_query(org_id, from_, to)


BenchmarksQ = Annotated[ReadQuery, Depends(benchmarks_query)]


def add_scope(kind: str) -> None:
    prefix, dep = SCOPES[kind]
    ScopedQ = Annotated[ReadQuery, Depends(dep)]  # noqa: N806 - a type alias
    for name, (component, reader, model, summary) in SCOPED.items():
        add_read(kind, prefix, ScopedQ, name, reader, model, summary)
        add_export(kind, prefix, ScopedQ, component, reader)


def add_read(kind: str, prefix: str, scoped_q: Any, name: str, reader: Reader, model: type,
             summary: str) -> None:
    @router.get(f"{prefix}/insights/{name}", response_model=model,
                summary=f"{summary} ({kind})", name=f"read_insight_{name}_{kind}")
    async def read_insight(request: Request, caller: ReaderDep, q: scoped_q) -> Any:
        return await respond(request, f"insights/{name}", caller, q, (),
                             lambda redis, layout, caches, caller: reader(
                                 redis, layout, caller, q, caches=caches))


def add_export(kind: str, prefix: str, scoped_q: Any, component: str,
               reader: Reader) -> None:
    @router.get(f"{prefix}/export/{component}.{{format}}",
                summary=f"Download {component}, as a table or a chart ({kind})",
                name=f"export_{component}_{kind}", **docs(component, f"insights/{component[9:]}"))
    async def export_insight(caller: ReaderDep, q: scoped_q, redis: RedisDep,
                             layout: LayoutDep, caches: ReadCachesDep,
                             format: AnyFormat) -> Response:
        check_format(component, format)
        return await deliver(kind, component, format, q,
                             reader(redis, layout, caller, q, caches=caches))


for _kind in SCOPES:
    add_scope(_kind)


@router.get("/insights/benchmarks", response_model=InsightBenchmarksOut,
            summary="The org's percentile among the deployment's orgs (org_admin only)")
async def read_insight_benchmarks_route(request: Request, caller: OrgAdminReaderDep,
                                        q: BenchmarksQ) -> Any:
    redis = request.app.state.redis
    layout = await request.app.state.generation.get(redis)
    orgs = await peer_orgs(redis, layout, q.org_id)
    version = await deployment_version(redis, layout, orgs)
    # its answer depends on the peer orgs read here, not on the URL alone: never memoized
    return await respond(request, "insights/benchmarks", caller, q, version,
                         lambda redis, layout, caches, caller: read_insight_benchmarks(
                             redis, layout, caller, q, caches=caches, orgs=orgs),
                         memo=False)


@router.get("/export/insights-benchmarks.{format}",
            summary="Download the org among its peers, as a table or a chart (org_admin only)",
            **docs("insights-benchmarks", "insights/benchmarks"))
async def export_insight_benchmarks(caller: OrgAdminReaderDep, q: BenchmarksQ,
                                    redis: RedisDep, layout: LayoutDep, caches: ReadCachesDep,
                                    format: AnyFormat) -> Response:
    check_format("insights-benchmarks", format)
    return await deliver("org", "insights-benchmarks", format, q,
                         read_insight_benchmarks(redis, layout, caller, q, caches=caches))
