"""Badgepulse on a real local Redis Cluster of three masters (tests/cluster/conftest.py):
every org's keys in one hash slot, a node that comes back empty rebuilt from the log with
every number exact through the API, and the CLI's keys commands. (The SIGKILL and rebuild
stream tests run here too: tests/cluster/test_stream_cluster.py.)"""

from __future__ import annotations

import subprocess
import sys
from collections import defaultdict
from typing import Any

import pytest

from core.redisclient import is_cluster
from core.settings import Settings
from schemas.layout import CONTROL_TAG, Layout, counter_key, counter_parts, hash_tag
from tests.conftest import ROOT, caught_up, publish, settings_env
from tests.stream.conftest import ORGS, expected_totals, totals, wait_exact
from tests.stream.test_correctness import compare_analytics, compare_everything, oracle_of

# Every Layout method naming one org's key, with made-up arguments.
ORG_KEYS = {
    "table": ("m202604",), "table_versions": (), "table_methods": ("m202604",),
    "legacy_counter_base": ("o", "-"), "held": ("aw-1",), "dedup": ("2026-04-14", 3),
    "dedup_set": ("2026-04-14",),
    "issuers": (), "badges": (), "pairs": (), "last_awarded": (), "first_day": (),
    "coverage_config": (), "org_stats": (), "positions": (),
}
CONTROL_KEYS = ("generations", "history_gaps", "held_index", "orgs", "offsets", "fingerprints",
                "epochs", "stats", "api_keys", "api_key_hashes", "incarnations",
                "partition_orgs")


def keyslot(redis: Any, key: str) -> int:
    return int(redis.execute_command("CLUSTER KEYSLOT", key))


def test_every_key_of_an_org_hashes_to_the_org_s_slot(redis_cluster):
    node = redis_cluster.node(0)
    for org in ("acme", "globex", "a.b-c:d_9"):
        slot = keyslot(node, org)
        for gen in (1, 7):
            layout = Layout("bp", gen)
            keys = [getattr(layout, m)(org, *args) for m, args in ORG_KEYS.items()]
            keys.append(layout.award(org, "aw-77")[0])
            packed = counter_parts(counter_key(layout.counter_base(org, "b", "eng|py"),
                                               "d20260414"))
            assert packed is not None
            keys.extend((packed[0], packed[2]))  # the packed hash, the legacy one
            assert {keyslot(node, k) for k in keys} == {slot}, keys
    control = keyslot(node, CONTROL_TAG[1:-1])
    layout = Layout("bp")
    for m in CONTROL_KEYS:
        args = ("events", 3) if m in ("held_index", "partition_orgs") else ()
        assert keyslot(node, getattr(layout, m)(*args)) == control, m


@pytest.mark.parametrize("lost", ["a master", "one org's slot"])
async def test_a_node_restarted_empty_is_rebuilt_from_the_log(
        settings, workers, client, stream, redis, redis_cluster, lost):
    """Half the stream, then one master loses everything (FLUSHALL on that node only: what
    a node restarted without its files holds; with this stream's orgs that master holds
    all three), or only one org's slot does (its keys deleted: the others stay), then the
    rest: the worker finds the orgs whose keys are gone and replays; the others skip what
    they hold, the rejections of no org are not counted again, so nothing counts twice."""
    assert is_cluster(redis)
    records, now = stream
    oracle = oracle_of(records)
    half = len(records) // 2
    workers.start()
    await publish(settings, records[:half])
    await caught_up(settings)
    # the keys: each one's tag an org of the stream or the control tag, over several masters
    by_node: dict[int, int] = defaultdict(int)
    tags: set[str] = set()
    for i in range(3):
        for key in redis_cluster.node(i).scan_iter(match=f"{settings.redis_prefix}:*",
                                                    count=1000):
            by_node[i] += 1
            tags.add(hash_tag(key.decode()))
    assert tags <= {*ORGS, "~"} and "~" in tags
    assert sum(1 for n in by_node.values() if n) >= 2
    node = redis_cluster.node(0)
    control = keyslot(node, "~")
    # the master holding some org but not the control keys, if the slots allow; else any
    victim = next((i for i in range(3) if not _owns(redis_cluster, i, control)
                   and any(_owns(redis_cluster, i, keyslot(node, o)) for o in ORGS)), 0)
    if lost == "a master":
        redis_cluster.node(victim).flushall()
    else:
        gone = [k async for k in redis.scan_iter(match=f"{settings.redis_prefix}:*{{globex}}*",
                                                 count=1000)]
        assert gone
        await redis.delete(*gone)
    await publish(settings, records[half:])
    status = await wait_exact(settings, oracle)
    assert totals(status) == expected_totals(oracle)
    await compare_everything(client, oracle, settings, now, seed=5)
    await compare_analytics(client, oracle, settings, now, seed=5)


def _owns(c, i: int, slot: int) -> bool:  # type: ignore[no-untyped-def]
    for lo, hi, *nodes in c.node(i).execute_command("CLUSTER SLOTS"):
        if lo <= slot <= hi:
            return int(nodes[0][1]) == c.ports[i]
    return False


def test_the_cli_creates_and_lists_keys_on_a_cluster(settings: Settings):
    env = settings_env(settings)
    assert env["BADGEPULSE_REDIS_CLUSTER"] == "True"

    def bp(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "badgepulse.cli", *args], env=env,
                              cwd=ROOT, capture_output=True, text=True, timeout=60)

    made = bp("keys", "create", "--org", "acme", "--role", "org_admin", "--name", "ci")
    assert made.returncode == 0, made.stderr
    token = made.stdout.strip()
    assert token.startswith("bpk_")
    listed = bp("keys", "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [r[1:5] for r in rows] == [["acme", "org_admin", "-", "active"]]
    assert rows[0][0] == token.split("_")[1]
