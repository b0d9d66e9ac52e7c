"""The `badgepulse` command line (api.md: up, worker, api, keys, simulate, rebuild)."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterable
from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from badgepulse.settings import Settings, get_settings

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from api.auth import ApiKey

cli = typer.Typer(help="Badgepulse: real-time badge analytics.", no_args_is_help=True,
                  add_completion=False)
keys_cli = typer.Typer(help="Manage API keys (stored hashed).", no_args_is_help=True)
coverage_cli = typer.Typer(help="Historical coverage settings.", no_args_is_help=True)
cli.add_typer(keys_cli, name="keys")
cli.add_typer(coverage_cli, name="coverage")
err = Console(stderr=True)


def _redis(settings: Settings) -> Redis:
    from redis.asyncio import Redis

    return Redis.from_url(settings.redis_url)


@keys_cli.command("create")
def keys_create(
    org: Annotated[str, typer.Option(help="Organization the key belongs to")],
    role: Annotated[str, typer.Option(help="org_admin | issuer | publisher")],
    issuer: Annotated[list[str] | None, typer.Option(help="Issuer an issuer key may see")] = None,
    name: Annotated[str, typer.Option(help="A label for the key")] = "",
) -> None:
    """Print a new key on stdout, and nothing else."""
    from api.auth import ROLES, create_key
    from schemas.layout import Layout

    if role not in ROLES:
        err.print(f"[red]--role must be one of {', '.join(ROLES)}[/red]")
        raise typer.Exit(2)
    settings = get_settings()

    async def run() -> str:
        redis = _redis(settings)
        try:
            _key, token = await create_key(redis, Layout(settings.redis_prefix), org, role,
                                           tuple(issuer or ()), name)
            return token
        finally:
            await redis.aclose()

    try:
        token = asyncio.run(run())
    except ValueError as e:
        err.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from e
    typer.echo(token)


@keys_cli.command("list")
def keys_list() -> None:
    """List keys (ids, orgs, roles; never the keys themselves)."""
    from api.auth import list_keys
    from schemas.layout import Layout

    settings = get_settings()

    async def run() -> list[ApiKey]:
        redis = _redis(settings)
        try:
            return await list_keys(redis, Layout(settings.redis_prefix))
        finally:
            await redis.aclose()

    for k in asyncio.run(run()):
        state = "revoked" if k.revoked else "active"
        issuers = ",".join(k.issuers) or "-"
        typer.echo(f"{k.key_id}\t{k.org_id}\t{k.role}\t{issuers}\t{state}\t{k.name}")


@keys_cli.command("revoke")
def keys_revoke(key_id: str) -> None:
    """Revoke a key by its id (from `keys list`)."""
    from api.auth import revoke_key
    from schemas.layout import Layout

    settings = get_settings()

    async def run() -> bool:
        redis = _redis(settings)
        try:
            return await revoke_key(redis, Layout(settings.redis_prefix), key_id)
        finally:
            await redis.aclose()

    if not asyncio.run(run()):
        err.print(f"[red]no key with id {key_id}[/red]")
        raise typer.Exit(1)
    typer.echo(f"revoked {key_id}")


@coverage_cli.command("set")
def coverage_set(
    org: Annotated[str, typer.Option()],
    event_type: Annotated[str, typer.Option("--type", help="e.g. award.accepted")],
    day: Annotated[str, typer.Option(help="YYYY-MM-DD: data of this type is complete from here")],
) -> None:
    """Replace the observed first day of an event type for an org."""
    from schemas.events import EVENT_TYPES
    from schemas.layout import Layout

    if event_type not in EVENT_TYPES:
        err.print(f"[red]--type must be one of {', '.join(sorted(EVENT_TYPES))}[/red]")
        raise typer.Exit(2)
    date.fromisoformat(day)
    settings = get_settings()

    async def run() -> None:
        redis = _redis(settings)
        try:
            await redis.hset(Layout(settings.redis_prefix).coverage_config(org), event_type, day)
        finally:
            await redis.aclose()

    asyncio.run(run())


@cli.command()
def worker() -> None:
    """The stream worker alone (scale out by starting more)."""
    from streams.app import main

    sys.argv = [sys.argv[0]]
    main()


@cli.command()
def api(host: Annotated[str | None, typer.Option()] = None,
        port: Annotated[int | None, typer.Option()] = None) -> None:
    """The HTTP API alone."""
    import uvicorn

    from api.main import create_app

    settings = get_settings()
    uvicorn.run(create_app(settings), host=host or settings.api_host,
                port=port or settings.api_port, log_level="warning")


async def _publish(settings: Settings, records: Iterable[tuple[bytes, bytes]], total: int,
                   rate: float | None, progress: bool = True) -> int:
    from aiokafka import AIOKafkaProducer

    from badgepulse.kafka import ensure_topics

    await ensure_topics(settings)
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                linger_ms=5, max_batch_size=512 * 1024)
    await producer.start()
    sent = 0
    try:
        with Progress(TextColumn("publishing"), BarColumn(), MofNCompleteColumn(),
                      TimeRemainingColumn(), console=err, disable=not progress) as bar:
            task = bar.add_task("events", total=total)
            start = time.monotonic()
            futs = []
            for key, value in records:
                futs.append(await producer.send(settings.topic, value, key=key))
                sent += 1
                if len(futs) >= 2000:
                    await asyncio.gather(*futs)
                    futs.clear()
                    bar.update(task, completed=sent)
                if rate:
                    ahead = sent / rate - (time.monotonic() - start)
                    if ahead > 0.05:
                        await asyncio.gather(*futs)
                        futs.clear()
                        bar.update(task, completed=sent)
                        await asyncio.sleep(ahead)
            await asyncio.gather(*futs)
            bar.update(task, completed=sent)
    finally:
        await producer.stop()
    return sent


@cli.command()
def simulate(
    org: Annotated[str, typer.Option(help="Organization to simulate")],
    events: Annotated[int, typer.Option(help="How many events")] = 10_000,
    rate: Annotated[float | None,
                    typer.Option(help="Events per second (default: flat out)")] = None,
    seed: Annotated[int, typer.Option()] = 7,
) -> None:
    """Publish realistic events to the topic, with a progress bar."""
    from badgepulse import demo

    settings = get_settings()
    records = itertools.islice(demo.events(org, events, seed=seed), events)
    sent = asyncio.run(_publish(settings, records, events, rate))
    err.print(f"published {sent} events for {org}")


@cli.command()
def rebuild(
    force: Annotated[bool, typer.Option(
        "--force", help="Rebuild even though the topic lost events the numbers hold "
                        "(they would be dropped)")] = False,
) -> None:
    """Recompute every aggregate from the topic beside the serving ones, with a progress
    bar; readers switch over in one step once it has caught up."""
    from badgepulse.rebuild import RebuildRefused
    from badgepulse.rebuild import rebuild as do_rebuild

    try:
        asyncio.run(do_rebuild(get_settings(), err, force=force))
    except RebuildRefused as e:
        err.print(f"rebuild refused: {e}")
        raise typer.Exit(1) from e


@cli.command()
def up(
    host: Annotated[str, typer.Option()] = "127.0.0.1",
    port: Annotated[int, typer.Option()] = 8000,
    demo: Annotated[bool, typer.Option("--demo",
                                       help="Stream demo events, print a demo key")] = False,
) -> None:
    """The whole service on one machine; Ctrl-C stops everything it started."""
    from badgepulse.embedded import Embedded, wait_port

    env = dict(os.environ)
    emb = Embedded()
    children: list[subprocess.Popen[bytes]] = []
    stopping = False

    def stop(*_: object) -> None:
        nonlocal stopping
        if stopping:
            return
        stopping = True
        for child in children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()
        emb.stop()

    # Ctrl-C and `kill` both stop everything, even when started in the background (where a
    # shell makes SIGINT ignored by default).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    try:
        if "BADGEPULSE_KAFKA_BOOTSTRAP" not in env:
            env["BADGEPULSE_KAFKA_BOOTSTRAP"] = emb.start_kafka()
            err.print(f"broker (embedded Tansu) on {env['BADGEPULSE_KAFKA_BOOTSTRAP']}")
        if "BADGEPULSE_REDIS_URL" not in env:
            env["BADGEPULSE_REDIS_URL"] = emb.start_redis()
            err.print(f"redis (embedded) on {env['BADGEPULSE_REDIS_URL']}")
        os.environ.update(env)
        get_settings.cache_clear()
        settings = get_settings()
        exe = [sys.executable, "-m", "badgepulse.cli"]
        children.append(subprocess.Popen([*exe, "worker"], env=env))
        children.append(subprocess.Popen([*exe, "api", "--host", host, "--port", str(port)],
                                         env=env))
        wait_port(port, timeout=30, proc=children[-1])
        url = f"http://{host}:{port}"
        typer.echo(f"Badgepulse is up: {url}  (API docs: {url}/docs)")
        if demo:
            from badgepulse import demo as demo_events
            from badgepulse.ops import make_key

            token = asyncio.run(make_key(settings, "demo", "org_admin"))
            typer.echo(f"demo key (org 'demo', org_admin): {token}")
            typer.echo(f"try: curl -H 'Authorization: Bearer {token}' {url}/v1/orgs/demo/summary")
            sent = asyncio.run(_publish(settings, demo_events.events("demo", 20_000), 20_000,
                                        None, progress=False))
            err.print(f"demo: published {sent} events; streaming more, Ctrl-C to stop")
            seed = 8
            while all(c.poll() is None for c in children):
                fresh = demo_events.events("demo", 50, seed=seed, days=1, catalog=False)
                asyncio.run(_publish(settings, fresh, 50, 10, progress=False))
                seed += 1
        else:
            while all(c.poll() is None for c in children):
                time.sleep(0.5)
        err.print("a component exited; stopping")
    except KeyboardInterrupt:
        err.print("stopping")
    finally:
        stop()


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
