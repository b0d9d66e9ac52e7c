"""The `badgepulse` command line (api.md: up, worker, api, keys, simulate, rebuild)."""

from __future__ import annotations

import asyncio
import itertools
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

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
    from api.main import create_app
    from api.server import serve
    from badgepulse.up import listen_problem

    settings = get_settings()
    host, port = host or settings.api_host, port or settings.api_port
    problem = listen_problem(host, port)
    if problem:
        err.print(f"badgepulse api: {problem}", markup=False, highlight=False,
                  soft_wrap=True)
        raise typer.Exit(1)
    serve(create_app(settings), host, port)  # uvicorn, ending live streams on a stop signal


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
    sent = asyncio.run(demo.publish(settings, records, events, rate, err))
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
    host: Annotated[str, typer.Option(help="Address the API listens on")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port of the API")] = 8000,
    demo: Annotated[bool, typer.Option(
        "--demo", help="Throwaway data (a temporary directory, deleted on exit), demo "
                       "events streamed, a demo key printed")] = False,
    data_dir: Annotated[Path | None, typer.Option(
        help="Where Redis keeps its append-only file, so keys and numbers survive a "
             "restart (default: $BADGEPULSE_DATA_DIR, else $XDG_DATA_HOME/badgepulse, "
             "else ~/.local/share/badgepulse)", show_default=False)] = None,
) -> None:
    """The whole service on one machine, supervised: a crashed component is restarted;
    Ctrl-C, SIGTERM or closing the terminal stops everything it started."""
    from badgepulse.up import run_up

    code = run_up(get_settings(), host, port, demo, data_dir, Console(), err)
    raise typer.Exit(code)


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
