"""Export routes: `GET {S}/export/{component}.{format}` for the three scopes of api.md.

Each export has the same dependencies (key, scope, period, filters) and the same parameters
as its read, calls the same reader, and renders that JSON answer, so a download carries
exactly the JSON's numbers. An unknown component, `issuer-activity` under a badge, or a
format a component does not offer is a 404 whose message names what is offered.
"""

import re
from collections.abc import Awaitable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Path
from fastapi.responses import Response
from starlette.concurrency import run_in_threadpool

from api.deps import LayoutDep, ReadCachesDep, ReaderDep, RedisDep
from api.exports import (
    CHANNEL_LISTS,
    CHART_FORMATS,
    COMPONENTS,
    MEDIA_TYPES,
    ORG_ONLY,
    TABLE_FORMATS,
    TITLES,
    ExportContext,
    formats_text,
    render,
)
from api.models import ERROR_RESPONSES, ErrorOut
from api.readers.scope import ReadQuery
from api.readers.series import read_channels, read_timeseries
from api.readers.summary import read_summary
from api.readers.table import read_badges, read_issuer_activity
from api.routes.params import BadgesDep, TimeseriesDep, TopBadgesDep
from api.routes.reads import SCOPES, answer

router = APIRouter(prefix="/v1/orgs/{org_id}", tags=["exports"], responses=ERROR_RESPONSES)

TableFormat = Annotated[str, Path(
    description="`csv` or `xlsx` (anything else: 404 naming these)",
    json_schema_extra={"enum": list(TABLE_FORMATS)})]
AnyFormat = Annotated[str, Path(
    description="`csv`, `xlsx`, `png`, `jpeg` or `svg` (anything else: 404 naming these)",
    json_schema_extra={"enum": list(TABLE_FORMATS + CHART_FORMATS)})]

DESCRIPTION = """A download of the `{read}` read with the same parameters and numbers, as an
attachment named `{{org}}_{{component}}_{{from}}_{{to}}.{{format}}` (issuer and badge scopes add
`issuer-{{id}}` / `badge-{{id}}` after the org).

CSV: UTF-8, header on line 1, numbers unrounded, empty cell for null. XLSX: sheet
`{component}` has the header in row 1 (bold, frozen) and typed cells (numbers, dates; times
in UTC); sheet `about` names the org, scope, period and parameters.{charts}

404 also when the format is not one of {formats}, and for an unknown component or
`issuer-activity` under a badge scope; the message names the exports and formats offered."""
CHART_NOTE = """ PNG (scale 2), JPEG,
SVG: a 640x360 chart titled with the component and period, with axis titles and a label on
every bar; an empty chart says "No data"."""

MEDIA_OPENAPI = {"csv": "text/csv", **{f: t for f, t in MEDIA_TYPES.items() if f != "csv"}}
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def docs(component: str, read: str) -> dict[str, Any]:
    """OpenAPI summary, description and responses of one export route."""
    fmts = COMPONENTS[component]
    charts = CHART_NOTE if set(fmts) & set(CHART_FORMATS) else ""
    return {
        "description": DESCRIPTION.format(read=read, component=component, charts=charts,
                                          formats=", ".join(f"`{f}`" for f in fmts)),
        "response_class": Response,
        "responses": {
            200: {"description": f"{TITLES[component]} as a file",
                  "content": {MEDIA_OPENAPI[f]: {"schema": {"type": "string",
                                                            "format": "binary"}}
                              for f in fmts}},
            404: {"model": ErrorOut,
                  "description": "Another org, an issuer or badge outside the key, or a "
                                 "format this component does not offer (the message names "
                                 "the formats offered)"},
        },
    }


def check_format(component: str, fmt: str) -> None:
    if fmt not in COMPONENTS[component]:
        raise HTTPException(404, f"no {fmt!r} export of {component}: {component} exports as "
                                 f"{formats_text(component)}")


def file_name(ctx: ExportContext, fmt: str) -> str:
    parts = [ctx.org_id]
    if ctx.scope_id is not None:
        parts.append(f"{ctx.scope_kind}-{ctx.scope_id}")
    parts += [ctx.component, ctx.period_from, ctx.period_to]
    return "_".join(_UNSAFE.sub("-", p) for p in parts) + f".{fmt}"


def query_params(q: ReadQuery, **extra: Any) -> dict[str, str]:
    """The filters and component parameters in effect, for the XLSX `about` sheet."""
    out = {name: ", ".join(values) for name, values in (
        ("issuer_id", q.issuer_filter), ("badge_id", q.badge_filter),
        ("status", q.status_filter)) if values}
    out.update({k: str(v) for k, v in extra.items() if v is not None})
    return out


async def deliver(kind: str, component: str, fmt: str, q: ReadQuery,
                  call: Awaitable[dict[str, Any]], **params: Any) -> Response:
    data = await answer(call)
    scope_id = q.issuer_id if kind == "issuer" else q.badge_id if kind == "badge" else None
    ctx = ExportContext(org_id=q.org_id, component=component, period_from=q.start.isoformat(),
                        period_to=q.end.isoformat(), scope_kind=kind, scope_id=scope_id,
                        params=query_params(q, **params))
    body = await run_in_threadpool(render, component, fmt, data, ctx)
    return Response(body, media_type=MEDIA_TYPES[fmt], headers={
        "Content-Disposition": f'attachment; filename="{file_name(ctx, fmt)}"'})


def components_for(kind: str) -> list[str]:
    return [c for c in COMPONENTS if not (kind == "badge" and c == "issuer-activity")
            and not (kind != "org" and c in ORG_ONLY)]


def add_scope(kind: str) -> None:
    prefix, dep = SCOPES[kind]
    ScopedQ = Annotated[ReadQuery, Depends(dep)]  # noqa: N806 - a type alias
    base = f"{prefix}/export"

    @router.get(f"{base}/summary.{{format}}", summary=f"Download the summary ({kind})",
                **docs("summary", "summary"))
    async def export_summary(caller: ReaderDep, q: ScopedQ, redis: RedisDep,
                             layout: LayoutDep, caches: ReadCachesDep,
                             format: TableFormat) -> Response:
        check_format("summary", format)
        return await deliver(kind, "summary", format, q,
                             read_summary(redis, layout, caller, q, caches=caches))

    @router.get(f"{base}/badges.{{format}}", summary=f"Download the badge table ({kind})",
                **docs("badges", "badges"))
    async def export_badges(caller: ReaderDep, q: ScopedQ, redis: RedisDep,
                            layout: LayoutDep, caches: ReadCachesDep, format: TableFormat,
                            p: BadgesDep) -> Response:
        check_format("badges", format)
        return await deliver(kind, "badges", format, q,
                             read_badges(redis, layout, caller, q, caches=caches, sort=p.sort,
                                         descending=p.descending, limit=p.limit,
                                         offset=p.offset, min_awards=p.min_awards),
                             **p.shown())

    if kind != "badge":
        @router.get(f"{base}/issuer-activity.{{format}}",
                    summary=f"Download issuer activity ({kind})",
                    **docs("issuer-activity", "issuer-activity"))
        async def export_issuer_activity(caller: ReaderDep, q: ScopedQ, redis: RedisDep,
                                         layout: LayoutDep, caches: ReadCachesDep,
                                         format: TableFormat) -> Response:
            check_format("issuer-activity", format)
            return await deliver(kind, "issuer-activity", format, q,
                                 read_issuer_activity(redis, layout, caller, q, caches=caches))

    for component in CHANNEL_LISTS:
        add_channel_export(kind, component)

    @router.get(f"{base}/timeseries.{{format}}",
                summary=f"Download a time series, as a table or a chart ({kind})",
                **docs("timeseries", "timeseries"))
    async def export_timeseries(caller: ReaderDep, q: ScopedQ, redis: RedisDep,
                                layout: LayoutDep, caches: ReadCachesDep, format: AnyFormat,
                                p: TimeseriesDep) -> Response:
        check_format("timeseries", format)
        return await deliver(kind, "timeseries", format, q,
                             read_timeseries(redis, layout, caller, q, p.metric, p.interval,
                                             caches=caches),
                             **p.shown())

    @router.get(f"{base}/top-badges.{{format}}",
                summary=f"Download the top badges, as a table or a chart ({kind})",
                **docs("top-badges", "top-badges"))
    async def export_top_badges(caller: ReaderDep, q: ScopedQ, redis: RedisDep,
                                layout: LayoutDep, caches: ReadCachesDep, format: AnyFormat,
                                p: TopBadgesDep) -> Response:
        check_format("top-badges", format)
        return await deliver(kind, "top-badges", format, q,
                             read_badges(redis, layout, caller, q, caches=caches,
                                         limit=p.limit, min_awards=p.min_awards),
                             **p.shown())

    offered = "; ".join(f"{c} ({formats_text(c)})" for c in components_for(kind))

    @router.get(f"{base}/{{name}}", include_in_schema=False)
    async def export_unknown(caller: ReaderDep, name: str) -> Response:
        component = name.rpartition(".")[0] or name
        if component in components_for(kind):  # only when the name has no format
            raise HTTPException(404, f"{component} needs a format: {component}.csv, ... "
                                     f"({formats_text(component)}); exports here: {offered}")
        if component in COMPONENTS:
            raise HTTPException(404, f"{component} is not exported for a {kind} scope; "
                                     f"exports here: {offered}")
        raise HTTPException(404, f"no export {name!r}; exports here: {offered}")


def add_channel_export(kind: str, component: str) -> None:
    prefix, dep = SCOPES[kind]
    ScopedQ = Annotated[ReadQuery, Depends(dep)]  # noqa: N806 - a type alias

    @router.get(f"{prefix}/export/{component}.{{format}}",
                summary=f"Download {TITLES[component].lower()}, as a table or a chart ({kind})",
                **docs(component, "channels"))
    async def export_channel(caller: ReaderDep, q: ScopedQ, redis: RedisDep,
                             layout: LayoutDep, caches: ReadCachesDep,
                             format: AnyFormat) -> Response:
        check_format(component, format)
        return await deliver(kind, component, format, q,
                             read_channels(redis, layout, caller, q, caches=caches))


for _kind in SCOPES:
    add_scope(_kind)
