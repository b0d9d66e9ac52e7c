"""Keep a set of child processes running: start them in order, restart any that exits with
exponential backoff, stop them in reverse order. What `badgepulse up` runs on.

Hand-rolled rather than supervisord or circus: those are daemons with their own config
files and control sockets, while `up` needs a foreground process whose children die with
it (guard.py) and whose restart hooks are coroutines (re-create topics, wait out a Redis
loading its append-only file). What is left is the loop below.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import subprocess
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from badgepulse.embedded import spawn, terminate_all

Say = Callable[[str], None]
Hook = Callable[[], Awaitable[None]]
POLL = 0.1  # seconds between looks at a child: a restart starts within this of an exit


@dataclass
class Backoff:
    """Pauses before restarts: first, 2·first, 4·first, … up to cap; back to first once a
    run lasted healthy_after seconds (a crash an hour later is not part of a crash loop)."""

    first: float
    cap: float
    healthy_after: float
    in_a_row: int = 0

    def after_exit(self, ran_for: float) -> float:
        if ran_for >= self.healthy_after:
            self.in_a_row = 0
        delay = min(self.cap, self.first * 2.0 ** min(self.in_a_row, 32))
        self.in_a_row += 1
        return delay


class StartFailed(RuntimeError):
    """A child did not come up when the supervisor started."""


@dataclass
class Child:
    """One supervised command. tier: lower tiers start first and stop last (Redis and the
    broker outlive the worker, so its last writes land)."""

    name: str
    argv: list[str]
    tier: int
    backoff: Backoff
    deathsig: signal.Signals = signal.SIGKILL
    env: dict[str, str] | None = None
    port: int | None = None  # ready once something listens here
    on_ready: Hook | None = None  # after each start, once listening: more checks, set-up
    pass_fds: tuple[int, ...] = ()
    quiet: bool = False  # output to /dev/null instead of up's own
    ready_timeout: float = 60.0
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restarts: int = 0

    def spawn(self) -> None:
        self.proc = spawn(self.argv, self.deathsig, env=self.env, pass_fds=self.pass_fds,
                          quiet=self.quiet)
        self.started_at = time.monotonic()

    async def until_ready(self) -> None:
        """Wait until it listens (and on_ready passed); StartFailed if it exits first or
        takes longer than ready_timeout."""
        assert self.proc is not None
        deadline = time.monotonic() + self.ready_timeout
        while self.port is not None:
            if self.proc.poll() is not None:
                raise StartFailed(f"{self.name} {describe_exit(self.proc.returncode)} before "
                                  f"listening on port {self.port}")
            with contextlib.suppress(OSError):
                _r, w = await asyncio.open_connection("127.0.0.1", self.port)
                w.close()
                break
            if time.monotonic() > deadline:
                raise StartFailed(f"{self.name} not listening on port {self.port} after "
                                  f"{self.ready_timeout:.0f} s")
            await asyncio.sleep(0.05)
        if self.on_ready is not None:
            await asyncio.wait_for(self.on_ready(), max(1.0, deadline - time.monotonic()))

    async def until_exit(self) -> int:
        assert self.proc is not None
        while (code := self.proc.poll()) is None:
            await asyncio.sleep(POLL)
        return code


async def cancel(tasks: Sequence[asyncio.Task[Any]], timeout: float = 10.0) -> None:
    """Cancel tasks and wait until they are done, cancelling again while they are not.

    Once is not enough on Python 3.11: asyncio.wait_for swallows a cancellation that
    arrives as its inner future completes (fixed in 3.12), and redis-py and aiokafka await
    through it; a task can then carry on as if never cancelled."""
    deadline = time.monotonic() + timeout
    pending = {t for t in tasks if not t.done()}
    while pending and time.monotonic() < deadline:
        for task in pending:
            task.cancel()
        _done, pending = await asyncio.wait(pending, timeout=0.2)
    for task in tasks:
        if task.done() and not task.cancelled():
            task.exception()  # retrieved: its failure was reported where it mattered


def describe_exit(code: int) -> str:
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        return f"was killed by {name} (exit code {code})"
    return f"exited with code {code}"


@dataclass
class Supervisor:
    children: list[Child]
    say: Say
    watchers: list[asyncio.Task[None]] = field(default_factory=list)

    async def start(self) -> None:
        """Start tier by tier, each tier's children at once; StartFailed if one fails."""
        for tier in sorted({c.tier for c in self.children}):
            batch = [c for c in self.children if c.tier == tier]
            for child in batch:
                child.spawn()
            try:
                await asyncio.gather(*(c.until_ready() for c in batch))
            except (TimeoutError, OSError) as err:
                raise StartFailed(f"set-up after start failed: {err!r}") from err

    def watch(self) -> None:
        """From now on restart whatever exits (call once start() has succeeded)."""
        self.watchers = [asyncio.create_task(self._keep_running(c), name=f"watch-{c.name}")
                         for c in self.children]

    async def _keep_running(self, child: Child) -> None:
        while True:
            code = await child.until_exit()
            ran_for = time.monotonic() - child.started_at
            delay = child.backoff.after_exit(ran_for)
            child.restarts += 1
            self.say(f"{child.name} {describe_exit(code)} after {ran_for:.1f} s; restart "
                     f"#{child.restarts} in {delay:.1f} s")
            await asyncio.sleep(delay)
            child.spawn()
            try:
                await child.until_ready()
            except StartFailed:
                pass  # it exited: the next turn of the loop reports its exit code
            except (TimeoutError, OSError) as err:
                # Listening but its set-up failed (say, topics not created yet): it is
                # running, and the worker and API retry that set-up themselves.
                self.say(f"{child.name} restarted, but {err!r}")

    async def stop_watching(self) -> None:
        await cancel(self.watchers)
        self.watchers = []

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM each tier's process groups, highest tier first; SIGKILL after timeout.
        Blocking: call it once nothing restarts children any more (stop_watching)."""
        for tier in sorted({c.tier for c in self.children}, reverse=True):
            procs: Sequence[subprocess.Popen[bytes]] = [
                c.proc for c in self.children if c.tier == tier and c.proc is not None]
            terminate_all(procs, timeout)
