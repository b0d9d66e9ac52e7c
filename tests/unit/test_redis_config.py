"""Every Redis Badgepulse starts gets the compact encodings of badgepulse/embedded.py
COMPACT_HASHES: `up` and the tests (redis_command), the test cluster (tests/cluster) and
docker-compose, standalone and cluster nodes alike."""

from __future__ import annotations

import tempfile
from pathlib import Path

import redis
import yaml

from badgepulse.embedded import (
    COMPACT_HASHES,
    free_port,
    redis_command,
    spawn,
    terminate_all,
    wait_port,
)

ROOT = Path(__file__).resolve().parents[2]


def settings_of(argv: list[str]) -> dict[str, str]:
    """`--name value` pairs of a redis-server command line, the listpack names as their
    ziplist aliases (Redis 7 knows both)."""
    out = {}
    for i, arg in enumerate(argv):
        if arg.startswith("--") and i + 1 < len(argv):
            out[arg.removeprefix("--").replace("listpack", "ziplist")] = argv[i + 1]
    return out


WANTED = settings_of(list(COMPACT_HASHES))


def test_the_wanted_settings_are_the_measured_ones():
    assert WANTED == {"hash-max-ziplist-value": "1024", "hash-max-ziplist-entries": "256",
                      "set-max-intset-entries": "4096"}


def test_every_redis_of_docker_compose_has_them():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    servers = {name: svc["command"] for name, svc in compose["services"].items()
               if isinstance(svc.get("command"), list) and svc["command"][0] == "redis-server"}
    assert {"redis", "redis-c1", "redis-c2", "redis-c3"} <= set(servers)
    for name, argv in servers.items():
        got = settings_of(argv)
        assert {k: got.get(k) for k in WANTED} == WANTED, name


def test_the_embedded_redis_runs_with_them():
    port = free_port()
    with tempfile.TemporaryDirectory() as d:
        proc = spawn(redis_command(port, d, durable=False))
        try:
            wait_port(port, proc=proc)
            r = redis.Redis(port=port)
            for name, value in WANTED.items():
                assert r.config_get(name) == {name: value}
            # a hash of 200 counter fields stays compact; one of 300 does not
            r.hset("c", mapping={f"sc.x{i}.a": i for i in range(200)})
            r.hset("d", mapping={f"sc.x{i}.a": i for i in range(300)})
            assert r.object("encoding", "c") in (b"listpack", b"ziplist")
            assert r.object("encoding", "d") == b"hashtable"
            r.close()
        finally:
            terminate_all([proc], timeout=5)
