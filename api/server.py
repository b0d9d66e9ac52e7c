"""`badgepulse api`: uvicorn, ending open live streams as soon as it is told to stop.

uvicorn waits for open requests before it stops, and a live stream never ends by itself, so
one open dashboard kept the process up until it was killed. Here the signal that stops the
server first ends every stream (the client sees the stream end and reconnects elsewhere);
a grace period is the backstop.

With `workers` > 1 (`badgepulse api --workers N`, BADGEPULSE_API_WORKERS) one parent binds
the port and uvicorn's supervisor starts N processes that each run this server on it (each
with its own app, Redis pool, answer cache and live hub), restarts one that dies and stops
them all on SIGINT/SIGTERM. The default is chosen from bench/bench_http.py (bench/README.md).
"""

from __future__ import annotations

import asyncio
import multiprocessing
import multiprocessing.process
import os
import signal
import socket
import threading
from types import FrameType

import uvicorn
from fastapi import FastAPI

from core.settings import Settings

SHUTDOWN_GRACE_S = 3  # seconds open requests get once the server is told to stop


class ApiServer(uvicorn.Server):
    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        # access_log=False: at log level warning no access line is written, but uvicorn
        # still formats each one's arguments (client, quoted path) before the logger drops it
        super().__init__(uvicorn.Config(app, host=host, port=port, log_level="warning",
                                        access_log=False,
                                        timeout_graceful_shutdown=SHUTDOWN_GRACE_S))
        self.app = app
        self._loop: asyncio.AbstractEventLoop | None = None

    async def serve(self, sockets: list[socket.socket] | None = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        hub = getattr(self.app.state, "live_hub", None)
        if hub is not None and self._loop is not None:
            # a signal handler interrupts the loop anywhere: hand the work to the loop
            self._loop.call_soon_threadsafe(hub.close_all, "the server is shutting down")
        super().handle_exit(sig, frame)


def serve(app: FastAPI, host: str, port: int, workers: int | None = None) -> None:
    """Serve `app`; with more than one worker (the argument, else the app's settings'
    `api_workers`), N processes that each build their own app (see serve_workers)."""
    settings: Settings = app.state.settings
    workers = workers or settings.api_workers
    if workers > 1:
        serve_workers(host, port, workers, settings)
        return
    ApiServer(app, host, port).run()


def _serve_worker(host: str, port: int, sock: socket.socket, settings: Settings) -> None:
    """One of N server processes: its own app on the socket the parent bound."""
    from api.main import create_app

    ApiServer(create_app(settings), host, port).run(sockets=[sock])


def serve_workers(host: str, port: int, workers: int, settings: Settings) -> None:
    """`workers` processes on one port (the kernel spreads connections over them); each
    builds its own app from `settings` (the parent's, found Redis and broker included).
    SIGINT/SIGTERM stop them all (each ends its live streams first); one that dies is
    started again."""
    config = uvicorn.Config("api.main:create_app", factory=True, host=host, port=port,
                            log_level="warning")
    sock = config.bind_socket()
    ctx = multiprocessing.get_context("spawn")
    stop = threading.Event()

    def start() -> multiprocessing.process.BaseProcess:
        proc = ctx.Process(target=_serve_worker, args=(host, port, sock, settings),
                           daemon=False)
        proc.start()
        return proc

    def on_signal(_sig: int, _frame: FrameType | None) -> None:
        stop.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    procs = [start() for _ in range(workers)]
    try:
        while not stop.wait(0.5):
            for i, proc in enumerate(procs):
                if not proc.is_alive():
                    procs[i] = start()
    finally:
        for proc in procs:
            if proc.is_alive() and proc.pid is not None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in procs:
            proc.join(SHUTDOWN_GRACE_S + 5)
            if proc.is_alive():
                proc.kill()
                proc.join()
        sock.close()
