"""Operations shared by the CLI: demo keys."""

from __future__ import annotations

from redis.asyncio import Redis

from core.keys import Role, create_key
from core.settings import Settings
from schemas.layout import Layout


async def make_key(settings: Settings, org: str, role: Role) -> str:
    async with Redis.from_url(settings.redis_url) as redis:
        _key, token = await create_key(redis, Layout(settings.redis_prefix), org, role,
                                       name="demo")
    return token
