"""Read routes: parse a query, call a reader, return its answer. Each read exists for the
three scopes of api.md: the org, an issuer in it, a badge in it."""


from collections.abc import Awaitable, Callable, Hashable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response

from api.deps import PeriodDep, ReaderDep
from api.models import (
    ERROR_RESPONSES,
    BadgesOut,
    ChannelsOut,
    IssuerActivityOut,
    SummaryOut,
    TimeseriesOut,
)
from api.readers.scope import ReadQuery
from api.readers.series import read_channels, read_timeseries
from api.readers.summary import read_summary
from api.readers.table import read_badges, read_issuer_activity
from api.responses import JsonBytes
from api.routes.fast import Compute, ReadMemo, serve
from api.routes.params import BadgesDep, TimeseriesDep, TopBadgesDep
from core.keys import ApiKey

router = APIRouter(prefix="/v1/orgs/{org_id}", tags=["analytics"], responses=ERROR_RESPONSES)


def scoped(q: ReadQuery, issuer_id: str | None = None,
           badge_id: str | None = None) -> ReadQuery:
    return ReadQuery(q.org_id, q.start, q.end, issuer_id, badge_id,
                     q.issuer_filter, q.badge_filter, q.status_filter)


async def org_scope(q: PeriodDep) -> ReadQuery:
    return q


# The path parameter has the name api.md gives it; the repeatable `issuer_id` / `badge_id`
# filters are query parameters of the same name (OpenAPI tells them apart by `in`).
async def issuer_scope(issuer_id: Annotated[str, Path(description="The issuer in scope")],
                 q: PeriodDep) -> ReadQuery:
    return scoped(q, issuer_id=issuer_id)


async def badge_scope(badge_id: Annotated[str, Path(description="The badge in scope")],
                q: PeriodDep) -> ReadQuery:
    return scoped(q, badge_id=badge_id)


SCOPES: dict[str, tuple[str, Callable[..., Awaitable[ReadQuery]]]] = {
    "org": ("", org_scope),
    "issuer": ("/issuers/{issuer_id}", issuer_scope),
    "badge": ("/badges/{badge_id}", badge_scope),
}


async def answer(call: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """The reader's answer (NotFound, for anything outside the caller's reach, is answered
    404 by the app's handler, api/main.py)."""
    return await call


async def respond(request: Request, read: str, caller: ApiKey, q: ReadQuery,
                  params: tuple[Hashable, ...], compute: Compute, *,
                  memo: bool = True) -> Response:
    """The reader's answer as JSON, through the process's answer cache (api/routes/fast.py
    `serve`). The response models document the shape in the OpenAPI; the answer goes out
    through orjson as it is (validating a 2,000-row table against the model cost more than
    reading it). With `memo` (the answer is a function of the URL's query and parameters
    and of the caller's scope alone), what the URL resolved to is remembered, and the next
    request for it is served without solving the dependencies again (api/routes/fast.py)."""
    body = await serve(request.app.state, read, caller, q, params, compute)
    if memo:
        read_memo: ReadMemo = request.app.state.read_memo
        read_memo.remember(request.scope, read, q, params, compute)
    return JsonBytes(body)


def add_scope(kind: str) -> None:
    prefix, dep = SCOPES[kind]
    ScopedQ = Annotated[ReadQuery, Depends(dep)]  # noqa: N806 - a type alias

    @router.get(f"{prefix}/summary", response_model=SummaryOut,
                summary=f"KPI tiles, metrics, highlights, time to accept ({kind})")
    async def read_summary_route(request: Request, caller: ReaderDep, q: ScopedQ) -> Any:
        return await respond(request, "summary", caller, q, (),
                             lambda redis, layout, caches, caller: read_summary(
                                 redis, layout, caller, q, caches=caches))

    @router.get(f"{prefix}/channels", response_model=ChannelsOut,
                summary=f"Awarding methods, sharing methods, viewing sources ({kind})")
    async def read_channels_route(request: Request, caller: ReaderDep, q: ScopedQ) -> Any:
        return await respond(request, "channels", caller, q, (),
                             lambda redis, layout, caches, caller: read_channels(
                                 redis, layout, caller, q, caches=caches))

    @router.get(f"{prefix}/badges", response_model=BadgesOut,
                summary=f"The badge table, ranked by overall score ({kind})")
    async def read_badges_route(request: Request, caller: ReaderDep, q: ScopedQ,
                                p: BadgesDep) -> Any:
        return await respond(
            request, "badges", caller, q, p.key(),
            lambda redis, layout, caches, caller: read_badges(
                redis, layout, caller, q, caches=caches, sort=p.sort, descending=p.descending,
                limit=p.limit, offset=p.offset, min_awards=p.min_awards))

    @router.get(f"{prefix}/top-badges", response_model=BadgesOut,
                summary=f"The first badges of the ranking ({kind})")
    async def read_top_badges_route(request: Request, caller: ReaderDep, q: ScopedQ,
                                    p: TopBadgesDep) -> Any:
        return await respond(
            request, "top-badges", caller, q, p.key(),
            lambda redis, layout, caches, caller: read_badges(
                redis, layout, caller, q, caches=caches, limit=p.limit,
                min_awards=p.min_awards))

    @router.get(f"{prefix}/timeseries", response_model=TimeseriesOut,
                summary=f"A count metric per day, ISO week or month ({kind})")
    async def read_timeseries_route(request: Request, caller: ReaderDep, q: ScopedQ,
                                    p: TimeseriesDep) -> Any:
        return await respond(
            request, "timeseries", caller, q, p.key(),
            lambda redis, layout, caches, caller: read_timeseries(
                redis, layout, caller, q, p.metric, p.interval, caches=caches))

    if kind != "badge":
        @router.get(f"{prefix}/issuer-activity", response_model=IssuerActivityOut,
                    summary=f"Issuer awarding performance ({kind})")
        async def read_issuer_activity_route(request: Request, caller: ReaderDep,
                                             q: ScopedQ) -> Any:
            return await respond(
                request, "issuer-activity", caller, q, (),
                lambda redis, layout, caches, caller: read_issuer_activity(
                    redis, layout, caller, q, caches=caches))


for _kind in SCOPES:
    add_scope(_kind)
