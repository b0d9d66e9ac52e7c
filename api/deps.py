"""Annotated dependencies: settings, Redis, the Kafka producer, the caller's key, the query.

Every dependency is `async def`, even those that never wait: FastAPI runs a plain `def`
dependency in a worker thread, and those thread hops (four per read) cost more than the
cached read itself (bench/README.md)."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Literal, get_args

from fastapi import Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BeforeValidator, WithJsonSchema
from redis.asyncio import Redis

from api.limits import KeyGuard
from api.readers.caches import ReadCaches
from api.readers.scope import NotFound, ReadQuery
from core.generations import GenerationCache
from core.keys import ApiKey, hash_secret, lookup_digest
from core.settings import Settings
from schemas.layout import Layout

MAX_SPAN_DAYS = 3660
StatusName = Literal["pending", "accepted", "declined", "revoked"]


async def get_settings_dep(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


async def get_redis(request: Request) -> Redis:
    redis: Redis = request.app.state.redis
    return redis


async def get_layout(request: Request, redis: Annotated[Redis, Depends(get_redis)]) -> Layout:
    """The key layout of the generation serving now (core/generations.py); re-read
    at most every GENERATION_TTL, so a rebuild's switch reaches every reader quickly."""
    cache: GenerationCache = request.app.state.generation
    return await cache.get(redis)


async def get_read_caches(request: Request) -> ReadCaches:
    caches: ReadCaches = request.app.state.read_caches
    return caches


SettingsDep = Annotated[Settings, Depends(get_settings_dep)]
RedisDep = Annotated[Redis, Depends(get_redis)]
LayoutDep = Annotated[Layout, Depends(get_layout)]
ReadCachesDep = Annotated[ReadCaches, Depends(get_read_caches)]

_bearer = HTTPBearer(auto_error=False, description="An API key from `badgepulse keys create`")


async def get_caller(
    request: Request,
    redis: RedisDep,
    creds: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> ApiKey:
    """The caller's live key, within its request rate (api/limits.py), or 401 / 429."""
    if creds is None or creds.scheme.lower() != "bearer" or not creds.credentials:
        raise HTTPException(401, "missing bearer key", headers={"WWW-Authenticate": "Bearer"})
    guard: KeyGuard = request.app.state.guard
    digest = hash_secret(creds.credentials)
    key = guard.cached(digest)
    if key is None:
        # API keys are control keys: under the plain prefix, not in a generation
        key = await lookup_digest(redis, request.app.state.layout, digest)
        if key is None:
            raise HTTPException(401, "unknown or revoked key",
                                headers={"WWW-Authenticate": "Bearer"})
        guard.remember(digest, key)
    guard.admit(key)
    return key


CallerDep = Annotated[ApiKey, Depends(get_caller)]


async def require_reader(caller: CallerDep, org_id: str) -> ApiKey:
    """Reads: another org is a 404 (never reveal it exists); a publisher key is a 403."""
    if caller.org_id != org_id:
        raise NotFound
    if caller.role == "publisher":
        raise HTTPException(403, "a publisher key cannot read analytics")
    return caller


ReaderDep = Annotated[ApiKey, Depends(require_reader)]


async def require_org_admin(caller: CallerDep) -> ApiKey:
    """The pipeline's status is org-wide (the worker keeps totals per org only), so only an
    org_admin key reads it; an issuer key would see other issuers' activity in it."""
    if caller.role == "publisher":
        raise HTTPException(403, "a publisher key cannot read analytics")
    if caller.role != "org_admin":
        raise HTTPException(403, "the pipeline status is org-wide: only an org_admin key may "
                                 "read it (an issuer key's numbers are in its summary)")
    return caller


OrgAdminDep = Annotated[ApiKey, Depends(require_org_admin)]


def unprocessable(param: str, msg: str) -> HTTPException:
    return HTTPException(422, [{"loc": ["query", param], "msg": msg, "type": "value_error"}])


def today_utc() -> date:
    return datetime.now(UTC).date()


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def strict_day(value: object) -> object:
    """api.md's dates are `YYYY-MM-DD` and nothing else: on its own pydantic also takes `0`
    (a unix time) and `2026-11-01T00:00:00` (a midnight) as dates."""
    if isinstance(value, str) and not _DAY.fullmatch(value):
        raise ValueError(f"must be a date written YYYY-MM-DD, not {value[:40]!r}")
    return value


# A query parameter is present or absent, never null: its OpenAPI schema says so (FastAPI
# would document `X | None` as "X or null", a value no query string can carry).
DAY_SCHEMA = WithJsonSchema({"type": "string", "format": "date", "examples": ["2026-03-15"]})
IDS_SCHEMA = WithJsonSchema({"type": "array", "items": {"type": "string"}})
STATUSES_SCHEMA = WithJsonSchema({"type": "array", "items": {
    "type": "string", "enum": list(get_args(StatusName))}})


async def period_query(
    org_id: str,
    from_: Annotated[date | None, BeforeValidator(strict_day), DAY_SCHEMA,
                     Query(alias="from", description="First day (UTC), inclusive, YYYY-MM-DD",
                           examples=["2026-03-15"])] = None,
    to: Annotated[date | None, BeforeValidator(strict_day), DAY_SCHEMA,
                  Query(description="Last day (UTC), inclusive, YYYY-MM-DD",
                        examples=["2026-04-13"])] = None,
    # Python names apart from the query names: a scope's path parameter is also called
    # issuer_id / badge_id (api.md), and FastAPI matches path parameters by Python name.
    issuer_filter: Annotated[list[str] | None, IDS_SCHEMA,
                             Query(alias="issuer_id",
                                   description="Keep these issuers (any of)")] = None,
    badge_filter: Annotated[list[str] | None, IDS_SCHEMA,
                            Query(alias="badge_id",
                                  description="Keep these badges (any of)")] = None,
    status: Annotated[list[StatusName] | None, STATUSES_SCHEMA,
                      Query(description="Award status (any of)")] = None,
) -> ReadQuery:
    end = to or today_utc()
    start = from_ or end - timedelta(days=29)
    if start > end:
        raise unprocessable("from", "`from` is after `to`")
    if (end - start).days + 1 > MAX_SPAN_DAYS:
        raise unprocessable("to", f"the period spans more than {MAX_SPAN_DAYS} days")
    return ReadQuery(
        org_id=org_id, start=start, end=end,
        issuer_filter=tuple(dict.fromkeys(issuer_filter or ())),
        badge_filter=tuple(dict.fromkeys(badge_filter or ())),
        status_filter=tuple(dict.fromkeys(status or ())),
    )


PeriodDep = Annotated[ReadQuery, Depends(period_query)]
