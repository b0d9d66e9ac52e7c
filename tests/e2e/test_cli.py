"""The command line in a second terminal beside a running `up`: a shell with no BADGEPULSE_*
variables, and the runtime file `up` writes in its data directory pointing at the session's
real Redis and broker. Each command is a real `badgepulse` process."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from redis.asyncio import Redis

from badgepulse.embedded import Embedded
from core.settings import Settings
from tests.conftest import ROOT, caught_up, publish_events


@pytest.fixture
def shell(tmp_path: Path, settings: Settings, infra: Embedded) -> dict[str, str]:
    """The second terminal: its own data and temporary directories, nothing saying where
    Redis or the broker is, nor the key prefix and topic: all that comes from the runtime
    file of an `up` (this test process; the test's own prefix and topic, so the session's
    other tests are not touched)."""
    data = tmp_path / "data"
    data.mkdir()
    (tmp_path / "tmp").mkdir()
    (data / "runtime.json").write_bytes(orjson.dumps({
        "pid": os.getpid(), "api_url": "http://127.0.0.1:1", "redis_url": infra.redis_url,
        "kafka_bootstrap": infra.kafka_bootstrap, "redis_prefix": settings.redis_prefix,
        "topic": settings.topic, "dlq_topic": settings.dlq_topic,
        "consumer_group": settings.consumer_group, "data_dir": str(data),
        "demo": False, "started_at": 1.0}))
    env = {k: v for k, v in os.environ.items() if not k.startswith("BADGEPULSE_")}
    env.update(BADGEPULSE_DATA_DIR=str(data), TMPDIR=str(tmp_path / "tmp"),
               BADGEPULSE_PARTITIONS="4", COLUMNS="200")
    return env


def bp(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "badgepulse.cli", *args], env=env, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


async def test_keys_find_the_running_up_and_read_like_a_table(shell, settings, infra, redis):
    from core.keys import lookup
    from schemas.layout import Layout

    made = bp(shell, "keys", "create", "--org", "acme", "--role", "org_admin", "--name", "ci")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert made.stdout == token + "\n" and token.startswith("bpk_")
    # said on stderr which Redis, and why that one
    assert (f"using Redis at {infra.redis_url} (the running `badgepulse up`, "
            f"pid {os.getpid()})") in made.stderr
    layout = Layout(settings.redis_prefix)
    key = await lookup(redis, layout, token)  # the key landed in up's Redis
    assert key is not None and key.org_id == "acme" and key.role == "org_admin"

    pub = bp(shell, "keys", "create", "--org", "acme", "--role", "publisher")
    assert pub.returncode == 0, pub.stderr
    listed = bp(shell, "keys", "list")
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert lines[0].split() == ["ID", "ORG", "ROLE", "ISSUERS", "STATE", "NAME"]
    rows = [line.split() for line in lines[1:]]
    assert sorted(r[:5] for r in rows) == sorted([
        [key.key_id, "acme", "org_admin", "-", "active"],
        [pub.stdout.split("_")[1], "acme", "publisher", "-", "active"]])
    assert token not in listed.stdout

    # revoked with the whole key (what a user has at hand), then again with its id
    first = bp(shell, "keys", "revoke", token)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == f"revoked {key.key_id}"
    assert await lookup(redis, layout, token) is None
    again = bp(shell, "keys", "revoke", key.key_id)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"key {key.key_id} was already revoked"
    states = {r[0]: r[4] for r in (line.split() for line in
                                   bp(shell, "keys", "list").stdout.splitlines()[1:])}
    assert states[key.key_id] == "revoked"

    unknown = bp(shell, "keys", "revoke", "bpk_000000000000_notakey")
    assert unknown.returncode == 1
    assert unknown.stderr.count("\n") == 1 and "no such key" in unknown.stderr
    missing = bp(shell, "keys", "revoke", "0123456789ab")
    assert missing.returncode == 1
    assert "no key with id '0123456789ab'" in missing.stderr


async def test_an_issuer_key_for_an_issuer_never_seen_is_made_with_a_warning(
        shell, settings, workers):
    workers.start()
    await publish_events(settings, [{
        "event_id": "i1", "type": "issuer.created", "org_id": "acme", "issuer_id": "eng",
        "name": "Engineering", "occurred_at": datetime.now(UTC).isoformat()}])
    await caught_up(settings)
    made = bp(shell, "keys", "create", "--org", "acme", "--role", "issuer", "--issuer", "eng",
              "--issuer", "egn")
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip().startswith("bpk_")
    warnings = [line for line in made.stderr.splitlines() if line.startswith("warning")]
    assert len(warnings) == 1
    assert "no issuer 'egn'" in warnings[0] and "'eng'" not in warnings[0]
    clean = bp(shell, "keys", "create", "--org", "acme", "--role", "issuer", "--issuer", "eng")
    assert clean.returncode == 0 and "warning" not in clean.stderr


def test_an_issuer_key_without_an_issuer_is_one_line(shell):
    made = bp(shell, "keys", "create", "--org", "acme", "--role", "issuer")
    assert made.returncode == 2
    assert made.stdout == ""
    assert made.stderr.strip() == ("badgepulse keys create: an issuer key needs at least "
                                   "one --issuer")


async def test_simulate_publishes_to_the_running_ups_broker(shell, settings, infra):
    done = bp(shell, "simulate", "--org", "acme", "--events", "300", "--seed", "3")
    assert done.returncode == 0, done.stderr
    assert f"published 300 events for acme to broker at {infra.kafka_bootstrap}" in done.stderr
    consumer = AIOKafkaConsumer(settings.topic, bootstrap_servers=infra.kafka_bootstrap,
                                auto_offset_reset="earliest", enable_auto_commit=False)
    await consumer.start()
    got: list[bytes] = []
    try:
        deadline = time.monotonic() + 60
        while len(got) < 300 and time.monotonic() < deadline:
            batch = await consumer.getmany(timeout_ms=500)
            got += [r.value for records in batch.values() for r in records if r.value]
    finally:
        await consumer.stop()
    assert len(got) == 300
    assert {orjson.loads(v)["org_id"] for v in got} == {"acme"}


async def test_coverage_set_writes_to_the_running_ups_redis(shell, settings, redis: Redis):
    from schemas.layout import Layout

    done = bp(shell, "coverage", "set", "--org", "acme", "--type", "award.shared", "--day",
              "2026-02-01")
    assert done.returncode == 0, done.stderr
    stored = await redis.hgetall(Layout(settings.redis_prefix).coverage_config("acme"))
    assert stored == {b"award.shared": b"2026-02-01"}


def test_beside_a_real_up_demo_the_second_terminal_finds_it(start_up, tmp_path: Path):
    """The issue as seen: `make run` in one terminal, `badgepulse keys list` in another,
    with no BADGEPULSE_* set: the demo's keys, from the demo's Redis."""
    from badgepulse.embedded import free_port
    from tests.e2e.conftest import user_env

    (tmp_path / "tmp").mkdir()
    (tmp_path / "home").mkdir()
    env = {"TMPDIR": str(tmp_path / "tmp"), "BADGEPULSE_DATA_DIR": str(tmp_path / "home")}
    run = start_up("--demo", "--port", str(free_port()), **env)
    run.wait_for(r"demo key \(org 'demo', org_admin\): bpk_", timeout=90)
    redis_url = re.search(r"redis \(embedded\) on (\S+)", run.text())
    assert redis_url, run.text()
    listed = bp(user_env(**env), "keys", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()]
    assert rows[0] == ["ID", "ORG", "ROLE", "ISSUERS", "STATE", "NAME"]
    assert [r[1:] for r in rows[1:]] == [["demo", "org_admin", "-", "active", "demo"]]
    assert (f"using Redis at {redis_url.group(1)} (the running `badgepulse up --demo`, "
            f"pid {run.proc.pid})") in listed.stderr


async def test_a_worker_started_by_hand_joins_the_running_up(shell, settings, infra, tmp_path):
    """`badgepulse worker` in a second terminal (to scale out) works on up's broker, topic,
    group and Redis, not on the defaults."""
    log_path = tmp_path / "worker.log"
    with open(log_path, "wb") as log:
        worker = subprocess.Popen([sys.executable, "-m", "badgepulse.cli", "worker"], env=shell,
                                  cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        stamp = datetime.now(UTC).isoformat()
        base = {"org_id": "acme", "occurred_at": stamp, "issuer_id": "eng"}
        await publish_events(settings, [
            {**base, "event_id": "w1", "type": "issuer.created", "name": "Engineering"},
            {**base, "event_id": "w2", "type": "badge.created", "badge_id": "py",
             "name": "Python"},
            *({**base, "event_id": f"w-aw{i}", "type": "award.issued", "badge_id": "py",
               "award_id": f"aw{i}", "method": "lms"} for i in range(3))])
        deadline = time.monotonic() + 90
        status = await caught_up(settings, timeout=90)
        while status["applied"] < 5 and time.monotonic() < deadline:  # lag reads 0 until
            await asyncio.sleep(0.5)                                   # the worker claims
            status = await caught_up(settings, timeout=90)
        assert status["applied"] == 5, status
        text = log_path.read_text(errors="replace")
        assert (f"using Redis at {infra.redis_url} (the running `badgepulse up`, "
                f"pid {os.getpid()})") in text
        assert f"using broker at {infra.kafka_bootstrap} (the running" in text
    finally:
        worker.terminate()
        worker.wait(timeout=30)
