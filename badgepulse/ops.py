"""Operations shared by the CLI: demo keys, rebuild."""

from __future__ import annotations

import asyncio

from redis.asyncio import Redis
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

from api.auth import Role, create_key
from api.routes.ops import read_lag
from badgepulse.settings import Settings
from schemas.layout import Layout


async def make_key(settings: Settings, org: str, role: Role) -> str:
    redis = Redis.from_url(settings.redis_url)
    try:
        _key, token = await create_key(redis, Layout(settings.redis_prefix), org, role,
                                       name="demo")
        return token
    finally:
        await redis.aclose()


async def rebuild(settings: Settings, console: Console) -> None:
    """Drop every aggregate (not the API keys); the workers notice and replay the topic."""
    layout = Layout(settings.redis_prefix)
    redis = Redis.from_url(settings.redis_url)
    keep = {layout.api_keys().encode(), layout.api_key_hashes().encode()}
    try:
        n = 0
        async for key in redis.scan_iter(match=f"{layout.prefix}:*", count=1000):
            if key not in keep:
                n += await redis.delete(key)
        console.print(f"dropped {n} aggregate keys; waiting for the workers to replay")
        total = None
        with Progress(TextColumn("rebuilding"), BarColumn(), MofNCompleteColumn(),
                      console=console) as bar:
            task = bar.add_task("events", total=None)
            while True:
                lag = await read_lag(settings, redis, layout)
                if lag is not None:
                    total = max(total or 0, lag)
                    bar.update(task, total=total, completed=total - lag)
                    if lag == 0 and await redis.hexists(layout.stats(), "applied"):
                        break
                await asyncio.sleep(0.5)
    finally:
        await redis.aclose()
