"""The `badgepulse` command line (api.md: up, worker, api, keys, simulate, rebuild).

The commands find the service they work with themselves: BADGEPULSE_REDIS_URL /
BADGEPULSE_KAFKA_BOOTSTRAP when set, else the running `badgepulse up` (its runtime file in
the data directory, or a running `up --demo`), else the defaults; and say which on stderr.
When nothing answers there, keys, coverage, simulate and rebuild say so in one line naming
the address. Every error is one line on stderr with a non-zero exit code (a service's own
crash keeps its traceback, for its operator).
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
import os
import socket
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from typer._click.exceptions import ClickException, NoArgsIsHelpError, UsageError
from typer._click.globals import get_current_context
from typer.core import TyperArgument, TyperCommand, TyperGroup, TyperOption

from core.keys import KEY_PREFIX, ROLES
from core.settings import Settings, get_settings
from schemas.events import EVENT_TYPES

if TYPE_CHECKING:
    from redis.asyncio import Redis

T = TypeVar("T")
err = Console(stderr=True)

# Closed sets are choices: help lists them and a typo is refused before anything runs.
Role = Enum("Role", {r: r for r in ROLES}, type=str)  # type: ignore[misc]
EventType = Enum("EventType", {t: t for t in sorted(EVENT_TYPES)}, type=str)  # type: ignore[misc]

# Commands that run a service: their own failures keep their traceback (operators need it).
SERVICES = frozenset({"up", "worker", "api"})


class CliError(Exception):
    """A one-line message for the user; the command exits with `code`."""

    def __init__(self, message: str, code: int = 1) -> None:
        super().__init__(message)
        self.code = code
        self.where = ""  # the command path, filled in on the way out


def _text(v: bytes | str) -> str:
    return v.decode() if isinstance(v, bytes) else v


def _one_line(text: str) -> str:
    return " ".join(text.split())


def _metavar(param: TyperOption | TyperArgument, ctx: Any) -> str:
    """How the help shows a value: NAME, or the choices as [a|b|c]; nothing for a flag."""
    if isinstance(param, TyperOption) and (param.is_flag or param.count):
        return ""
    if param.type_descriptor.is_choice:
        return f"[{param.display_type(ctx).strip('<>')}]"
    return (param.name or "value").upper()


class _Params:
    """Help without typer's <str>/<bool>/<list[str]> type tags: values shown as NAME or
    [choice|choice], flags (and --help) as themselves."""

    def get_params(self, ctx: Any) -> list[Any]:
        params: list[Any] = super().get_params(ctx)  # type: ignore[misc]
        for p in params:
            if isinstance(p, TyperOption | TyperArgument) and p.metavar is None:
                p.metavar = _metavar(p, ctx)
            if isinstance(p, TyperArgument):
                p.display_type_rich = _no_type  # type: ignore[method-assign]
        return params


def _no_type(ctx: Any) -> None:
    """An argument's type column: its NAME says it already."""
    return None


def _unwrap(text: str | None) -> str | None:
    """A docstring's paragraphs as single lines (the help reflows them to the terminal)."""
    if text is None:
        return None
    return "\n\n".join(" ".join(par.split()) for par in inspect.cleandoc(text).split("\n\n"))


class Command(_Params, TyperCommand):
    """A command whose failures are one line: connection errors name the address that
    did not answer; anything unexpected is one line too, except in the services."""

    def __init__(self, name: str | None, **kwargs: Any) -> None:
        kwargs["help"] = _unwrap(kwargs.get("help"))
        super().__init__(name, **kwargs)

    def invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, ClickException):
            raise
        except CliError as e:
            e.where = e.where or ctx.command_path
            raise
        except Exception as e:
            one = _explain(e, ctx.meta.get(TARGET_META), service=self.name in SERVICES)
            if not isinstance(one, CliError):
                raise  # a service's own failure: its traceback, for the operator
            one.where = ctx.command_path
            raise one from e


class Group(_Params, TyperGroup):
    """The top level: usage errors and CliErrors printed as one line."""

    def main(self, args: Sequence[str] | None = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             windows_expand_args: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode,
                                windows_expand_args, **extra)
        try:
            code = super().main(args, prog_name, complete_var, False, windows_expand_args,
                                **extra)
        except CliError as e:
            typer.echo(f"{e.where or _prog(prog_name)}: {_one_line(str(e))}", err=True)
            sys.exit(e.code)
        except typer.Abort:
            typer.echo("aborted", err=True)
            sys.exit(1)
        except NoArgsIsHelpError as e:
            # The help is the answer (typer's rich help has printed itself already).
            if e.format_message().strip():
                typer.echo(e.format_message())
            sys.exit(e.exit_code)
        except ClickException as e:
            where = (e.ctx.command_path if isinstance(e, UsageError) and e.ctx
                     else _prog(prog_name))
            hint = f" (see {where} --help)" if isinstance(e, UsageError) else ""
            typer.echo(f"{where}: {_one_line(e.format_message())}{hint}", err=True)
            sys.exit(e.exit_code)
        sys.exit(code if isinstance(code, int) else 0)


def _prog(prog_name: str | None) -> str:
    return prog_name or "badgepulse"


cli = typer.Typer(help="Badgepulse: real-time badge analytics.", no_args_is_help=True,
                  add_completion=False, cls=Group, pretty_exceptions_enable=False)
keys_cli = typer.Typer(help="Manage API keys (stored hashed).", no_args_is_help=True,
                       cls=Group)
coverage_cli = typer.Typer(help="Historical coverage settings.", no_args_is_help=True,
                           cls=Group)
cli.add_typer(keys_cli, name="keys")
cli.add_typer(coverage_cli, name="coverage")


# --- which Redis and broker -------------------------------------------------------------

TARGET_META = "badgepulse.target"
# Where a running `up` is found, these come from it (unless set here): its servers first.
ADOPTED = ("redis_url", "kafka_bootstrap", "redis_prefix", "topic", "dlq_topic",
           "consumer_group")


@dataclass(frozen=True)
class Target:
    """The Redis and broker a command talks to, and why those."""

    settings: Settings
    redis_from: str
    kafka_from: str

    def describe_redis(self) -> str:
        return f"Redis at {self.settings.redis_url} ({self.redis_from})"

    def describe_kafka(self) -> str:
        return f"broker at {self.settings.kafka_bootstrap} ({self.kafka_from})"


def find_target(settings: Settings) -> Target:
    """BADGEPULSE_* when set; else the running `up` (its runtime file); else the defaults."""
    from badgepulse.up import running_ups

    set_here = settings.model_fields_set
    update: dict[str, Any] = {}
    froms = {}
    ups = running_ups(Path(settings.data_dir))
    for name, var in (("redis_url", "BADGEPULSE_REDIS_URL"),
                      ("kafka_bootstrap", "BADGEPULSE_KAFKA_BOOTSTRAP")):
        if name in set_here:
            froms[name] = f"from {var}"
        elif ups and isinstance(ups[0].get(name), str):
            up = ups[0]
            what = "`badgepulse up --demo`" if up.get("demo") else "`badgepulse up`"
            froms[name] = f"the running {what}, pid {up.get('pid')}"
            update[name] = up[name]
        else:
            froms[name] = (f"the default: no running `badgepulse up` found in "
                           f"{settings.data_dir} nor a running demo; set {var} to use another")
    # Where in them: up's key prefix and topics, unless set here too.
    for name in ADOPTED[2:]:
        if ups and name not in set_here and isinstance(ups[0].get(name), str):
            update[name] = ups[0][name]
    return Target(settings.model_copy(update=update), froms["redis_url"],
                  froms["kafka_bootstrap"])


def target() -> Target:
    """The target of the current command, found once and kept for its error messages."""
    ctx = get_current_context()
    found = ctx.meta.get(TARGET_META)
    if found is None:
        found = ctx.meta[TARGET_META] = find_target(get_settings())
    assert isinstance(found, Target)
    return found


class Unreachable(CliError):
    pass


def _explain(e: BaseException, found: Target | None, service: bool) -> BaseException:
    """One line for an exception out of a command (or the exception itself for a
    service's unexpected failure)."""
    from aiokafka.errors import KafkaConnectionError, KafkaTimeoutError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeoutError

    if isinstance(e, RedisConnectionError | RedisTimeoutError):
        where = found.describe_redis() if found else "Redis"
        return Unreachable(f"lost {where}: {_one_line(str(e))}")
    if isinstance(e, KafkaConnectionError | KafkaTimeoutError | TimeoutError):
        where = found.describe_kafka() if found else "the broker"
        return Unreachable(f"no answer from {where}: {_one_line(str(e)) or type(e).__name__}")
    if service:
        return e
    return CliError(f"unexpected error: {type(e).__name__}: {_one_line(str(e))}")


def _ping_redis(t: Target) -> None:
    """Fail in one line, within a few seconds, when nothing answers at t's Redis."""
    from redis.exceptions import RedisError

    from core.redisclient import connect

    async def ping() -> None:
        async with connect(t.settings, socket_connect_timeout=2, socket_timeout=5) as r:
            await r.ping()

    try:
        asyncio.run(ping())
    except (RedisError, OSError) as e:
        raise Unreachable(f"nothing answers at {t.describe_redis()}: "
                          f"{_one_line(str(e)).rstrip('.')}; start the service with "
                          f"`badgepulse up`") from e


def _reach_broker(t: Target) -> None:
    """Fail in one line when no bootstrap address of t's broker accepts a connection."""
    for address in t.settings.kafka_bootstrap.split(","):
        host, _, port = address.strip().rpartition(":")
        try:
            with socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), 2):
                return
        except (OSError, ValueError):
            continue
    raise Unreachable(f"nothing answers at {t.describe_kafka()}; start the service with "
                      f"`badgepulse up`")


def with_redis(use: Callable[[Redis, Target], Awaitable[T]]) -> T:
    """Run use(redis, target) against the command's Redis, checked first."""
    from core.redisclient import connect

    t = target()
    _ping_redis(t)

    async def run() -> T:
        async with connect(t.settings) as redis:
            return await use(redis, t)

    return asyncio.run(run())


def _found_note(t: Target, kafka: bool = False) -> None:
    """Say on stderr what the command talked to: the `up` it found, or the default address
    (which may well be some other Redis); nothing when BADGEPULSE_* said where."""
    origin = t.kafka_from if kafka else t.redis_from
    if not origin.startswith("from "):
        err.print(f"using {t.describe_kafka() if kafka else t.describe_redis()}",
                  markup=False, highlight=False, soft_wrap=True)


def _adopt_target() -> Settings:
    """A service started by hand (`worker`, `api`) beside a running `up` works on up's
    Redis, broker, key prefix and topics: they are put in this process's environment, where
    the service, and any process it starts, builds its settings from."""
    t = target()
    found = t.settings
    mine = get_settings()
    for name in ADOPTED:
        if name not in mine.model_fields_set and getattr(found, name) != getattr(mine, name):
            os.environ[f"BADGEPULSE_{name.upper()}"] = str(getattr(found, name))
    get_settings.cache_clear()
    _found_note(t)
    _found_note(t, kafka=True)
    return get_settings()


# --- keys -------------------------------------------------------------------------------

@keys_cli.command("create", cls=Command)
def keys_create(
    org: Annotated[str, typer.Option(help="Organization the key belongs to")],
    role: Annotated[Role, typer.Option(
        metavar="ROLE", help="org_admin (sees the whole org), issuer (sees only its "
                             "--issuer ones) or publisher (only sends events)")],
    issuer: Annotated[list[str] | None, typer.Option(
        help="An issuer an issuer key may see (repeat for several); issuer keys only",
        show_default=False)] = None,
    name: Annotated[str, typer.Option(help="A label for the key, shown by `keys list`",
                                      show_default=False)] = "",
) -> None:
    """Print a new key on stdout, and nothing else (notes go to stderr)."""
    from core.generations import serving_layout
    from core.keys import create_key
    from schemas.layout import Layout

    issuers = tuple(issuer or ())
    role_name: str = role.value

    async def run(redis: Redis, t: Target) -> tuple[str, list[str]]:
        prefix = t.settings.redis_prefix
        known: set[str] = set()
        if issuers:
            layout = await serving_layout(redis, prefix)
            known = {_text(i) for i in await redis.hkeys(layout.issuers(org))}
        _key, token = await create_key(redis, Layout(prefix), org, role_name,  # type: ignore[arg-type]
                                       issuers, name)
        return token, [i for i in issuers if i not in known]

    try:
        token, unknown = with_redis(run)
    except ValueError as e:
        raise CliError(str(e), code=2) from e
    _found_note(target())
    for i in unknown:
        err.print(f"warning: org {org!r} has no issuer {i!r} yet (typo? `badgepulse keys "
                  f"list` and the dashboard show the known ones); the key sees it once its "
                  f"events arrive", markup=False, highlight=False, soft_wrap=True)
    typer.echo(token)


@keys_cli.command("list", cls=Command)
def keys_list() -> None:
    """List keys with a header: id, org, role, issuers, state, name (never the keys)."""
    from core.keys import ApiKey, list_keys
    from schemas.layout import Layout

    async def run(redis: Redis, t: Target) -> list[ApiKey]:
        return await list_keys(redis, Layout(t.settings.redis_prefix))

    keys = with_redis(run)
    _found_note(target())
    if not keys:
        err.print("no API keys yet; create one: badgepulse keys create --org ORG "
                  "--role org_admin", markup=False, highlight=False, soft_wrap=True)
        return
    rows = [("ID", "ORG", "ROLE", "ISSUERS", "STATE", "NAME")]
    rows += [(k.key_id, k.org_id, k.role, ",".join(k.issuers) or "-",
              "revoked" if k.revoked else "active", k.name) for k in keys]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())


@keys_cli.command("revoke", cls=Command)
def keys_revoke(
    key: Annotated[str, typer.Argument(
        metavar="KEY_ID", help="The key's id from `keys list` (the whole key works too)")],
) -> None:
    """Revoke a key: API calls with it fail within a second, open live streams end."""
    import orjson

    from core.keys import hash_secret, revoke_key
    from schemas.layout import Layout

    async def run(redis: Redis, t: Target) -> str:
        layout = Layout(t.settings.redis_prefix)
        key_id = key
        if key.startswith(f"{KEY_PREFIX}_"):
            found = await redis.hget(layout.api_key_hashes(), hash_secret(key))
            if found is None:
                raise CliError("no such key (it was given whole: check it was copied "
                               "entirely, or pass its id from `badgepulse keys list`)")
            key_id = _text(found)
        raw = await redis.hget(layout.api_keys(), key_id)
        if raw is None:
            raise CliError(f"no key with id {key_id!r} (see `badgepulse keys list`)")
        if orjson.loads(raw).get("revoked"):
            return f"key {key_id} was already revoked"
        await revoke_key(redis, layout, key_id)
        return f"revoked {key_id}"

    message = with_redis(run)
    _found_note(target())
    typer.echo(message)


# --- coverage ---------------------------------------------------------------------------

def _iso_day(value: str) -> str:
    try:
        return date.fromisoformat(value).isoformat()
    except ValueError as e:
        raise typer.BadParameter(f"{value!r} is not a date like 2026-01-31") from e


@coverage_cli.command("set", cls=Command)
def coverage_set(
    org: Annotated[str, typer.Option(help="Organization whose coverage to set")],
    event_type: Annotated[EventType, typer.Option(
        "--type", metavar="TYPE",
        help=f"The event type whose history starts on --day: "
             f"{', '.join(sorted(EVENT_TYPES))}")],
    day: Annotated[str, typer.Option(
        metavar="YYYY-MM-DD", callback=_iso_day,
        help="Data of this type is complete from this day on")],
) -> None:
    """Replace the observed first day of an event type for an org."""
    from schemas.layout import Layout

    async def run(redis: Redis, t: Target) -> None:
        await redis.hset(Layout(t.settings.redis_prefix).coverage_config(org),
                         event_type.value, day)

    with_redis(run)
    _found_note(target())
    typer.echo(f"{org}: {event_type.value} complete from {day}")


# --- services ---------------------------------------------------------------------------

@cli.command(cls=Command)
def worker() -> None:
    """The stream worker alone (scale out by starting more: beside a running `up`, they
    join its worker on its broker and Redis)."""
    from streams.app import main

    _adopt_target()
    sys.argv = [sys.argv[0]]
    main()


@cli.command(cls=Command)
def api(
    host: Annotated[str | None, typer.Option(
        help="Address to listen on", show_default="$BADGEPULSE_API_HOST, else 127.0.0.1")
    ] = None,
    port: Annotated[int | None, typer.Option(
        min=1, max=65535, help="Port to listen on",
        show_default="$BADGEPULSE_API_PORT, else 8000")] = None,
    workers: Annotated[int | None, typer.Option(
        min=1, help="Server processes sharing the port (per-key limits count per process)",
        show_default="$BADGEPULSE_API_WORKERS, else 1")] = None,
) -> None:
    """The HTTP API alone."""
    from api.main import create_app
    from api.server import serve
    from badgepulse.up import listen_problem

    settings = get_settings()
    host, port = host or settings.api_host, port or settings.api_port
    problem = listen_problem(host, port)  # first: a taken port is one line and nothing else
    if problem:
        raise CliError(problem)
    settings = _adopt_target()
    # uvicorn, ending live streams on a stop signal; N processes with --workers N
    serve(create_app(settings), host, port, workers)


def _positive_rate(value: float | None) -> float | None:
    if value is not None and value <= 0:
        raise typer.BadParameter("must be above 0 (leave it out to send flat out)")
    return value


@cli.command(cls=Command)
def simulate(
    org: Annotated[str, typer.Option(help="Organization to simulate")],
    events: Annotated[int, typer.Option(min=1, help="How many events to publish")] = 10_000,
    rate: Annotated[float | None, typer.Option(
        callback=_positive_rate, help="Events per second", show_default="flat out")] = None,
    seed: Annotated[int, typer.Option(
        help="Seed of the random program: the same seed publishes the same events "
             "(ids included, so a repeat is ignored as a duplicate)")] = 7,
) -> None:
    """Publish realistic events to the topic (a catalog, then 90 days of awards), with a
    progress bar."""
    from badgepulse import demo

    t = target()
    _reach_broker(t)
    _found_note(t, kafka=True)
    records = itertools.islice(demo.events(org, events, seed=seed), events)
    sent = asyncio.run(demo.publish(t.settings, records, events, rate, err))
    err.print(f"published {sent} events for {org} to {t.describe_kafka()}", markup=False,
              highlight=False, soft_wrap=True)


@cli.command(cls=Command)
def rebuild(
    force: Annotated[bool, typer.Option(
        "--force", help="Rebuild even though the topic lost events the numbers hold "
                        "(they would be dropped)")] = False,
) -> None:
    """Recompute every aggregate from the topic beside the serving ones, with a progress
    bar; readers switch over in one step once it has caught up."""
    from badgepulse.rebuild import RebuildRefused
    from badgepulse.rebuild import rebuild as do_rebuild

    t = target()
    _ping_redis(t)
    _reach_broker(t)
    _found_note(t)
    _found_note(t, kafka=True)
    try:
        asyncio.run(do_rebuild(t.settings, err, force=force))
    except RebuildRefused as e:
        raise CliError(f"rebuild refused: {e}") from e


@cli.command(cls=Command)
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
    cli(prog_name="badgepulse")  # also under `python -m badgepulse.cli` (what `up` runs)


if __name__ == "__main__":
    main()
