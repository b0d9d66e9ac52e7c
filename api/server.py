"""`badgepulse api`: uvicorn, ending open live streams as soon as it is told to stop.

uvicorn waits for open requests before it stops, and a live stream never ends by itself, so
one open dashboard kept the process up until it was killed. Here the signal that stops the
server first ends every stream (the client sees the stream end and reconnects elsewhere);
a grace period is the backstop.
"""

from __future__ import annotations

import asyncio
import socket
from types import FrameType

import uvicorn
from fastapi import FastAPI

SHUTDOWN_GRACE_S = 3  # seconds open requests get once the server is told to stop


class ApiServer(uvicorn.Server):
    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        super().__init__(uvicorn.Config(app, host=host, port=port, log_level="warning",
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


def serve(app: FastAPI, host: str, port: int) -> None:
    ApiServer(app, host, port).run()
