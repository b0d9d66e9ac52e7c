"""A real webhook receiver for the alert tests: an aiohttp server on a free local port that
checks each request's signature (its own HMAC, not the service's code), answers 500 to the
first `fail_first` attempts of each delivery (optionally hangs on the very first one), and
records everything it saw."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import time
from dataclasses import dataclass, field
from typing import Any

import orjson
from aiohttp import web

from badgepulse.embedded import free_port


@dataclass
class Seen:
    delivery_id: str
    body: dict[str, Any]
    signature_ok: bool
    answered: int | None = None  # None: hung (the sender went away first)
    at: float = 0.0  # time.monotonic() when it arrived


@dataclass
class Receiver:
    secrets: dict[str, str] = field(default_factory=dict)  # alert_id -> secret
    fail_first: int = 2
    # instead of fail_first: the answer (status, headers) to each attempt of a delivery, in
    # order; attempts past the end get 200
    script: list[tuple[int, dict[str, str]]] | None = None
    others: int = 0  # requests to any other path (a followed redirect would land there)
    hang_first: bool = False
    seen: list[Seen] = field(default_factory=list)
    hung: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    port: int = 0
    _runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def check(self, alert_id: str, header: str, body: bytes) -> bool:
        secret = self.secrets.get(alert_id)
        if secret is None:
            return False
        parts = dict(p.split("=", 1) for p in header.split(","))
        t = int(parts["t"])
        mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
        return abs(time.time() - t) < 60 and mac == parts["v1"]

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        body = orjson.loads(raw)
        did = request.headers["Badgepulse-Delivery"]
        before = sum(1 for s in self.seen if s.delivery_id == did)
        seen = Seen(did, body, self.check(body["alert_id"],
                                          request.headers["Badgepulse-Signature"], raw),
                    at=time.monotonic())
        self.seen.append(seen)
        if self.hang_first and not self.hung.is_set() and body["state"] != "test":
            self.hung.set()
            await self.release.wait()  # the sender is killed meanwhile: nobody reads this
            return web.Response(status=500)
        if self.script is not None:
            status, headers = self.script[before] if before < len(self.script) else (200, {})
            seen.answered = status
            return web.Response(status=status, headers=headers, text="scripted")
        seen.answered = 500 if before < self.fail_first else 200
        return web.Response(status=seen.answered, text="ok")

    async def elsewhere(self, request: web.Request) -> web.Response:
        self.others += 1
        return web.Response(status=200, text="a redirect was followed")

    def acknowledged(self, state: str | None = None) -> list[Seen]:
        return [s for s in self.seen if s.answered == 200
                and (state is None or s.body["state"] == state)]

    async def wait_for(self, n: int, state: str | None = None, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while len(self.acknowledged(state)) < n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{len(self.acknowledged(state))} of {n} acknowledged "
                                   f"{state} deliveries: {self.seen}")
            await asyncio.sleep(0.05)

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        app.router.add_route("*", "/elsewhere", self.elsewhere)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        self.port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        self.release.set()
        if self._runner is not None:
            await self._runner.cleanup()
