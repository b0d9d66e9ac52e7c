"""Operations shared by the CLI: demo keys."""

from __future__ import annotations

from core.keys import Role, create_key
from core.redisclient import connect
from core.settings import Settings
from schemas.layout import Layout


async def make_key(settings: Settings, org: str, role: Role) -> str:
    async with connect(settings) as redis:
        _key, token = await create_key(redis, Layout(settings.redis_prefix), org, role,
                                       name="demo")
    return token
