"""The benchmarks that need no broker or Redis still run against the code as it is now
(bench/floor_worker.py went on reading the commit as JSON for a session after it became
MessagePack, and failed): each runs on a small input and reports every figure it names.
No timing is asserted here; benchmarks measure, tests do not."""

from __future__ import annotations

import subprocess
import sys

import orjson

from tests.conftest import ROOT


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, check=False)


def test_floor_worker_runs_and_reports_every_part(tmp_path):
    out = tmp_path / "floor.json"
    done = run("bench/floor_worker.py", "--events", "3000", "--batch", "500", "--out", str(out))
    assert done.returncode == 0, done.stderr[-2000:]
    result = orjson.loads(out.read_text())
    assert result["events"] == 3000
    assert set(result["cpu_us_per_event"]) == {"json_loads", "decode_validate", "dedup_digest",
                                               "counter_ops", "worker_decode_and_fold",
                                               "worker_encode"}
    assert all(v > 0 for v in result["cpu_us_per_event"].values())
    assert result["counter_writes_per_event"] > 0


def test_bench_parse_runs_and_prints_its_figures():
    done = run("bench/bench_parse.py", "2000")
    assert done.returncode == 0, done.stderr[-2000:]
    result = orjson.loads(done.stdout.strip().splitlines()[-1])
    assert result["events"] == 2000
    for name in ("events_per_s", "decode_event_us", "replay_events_per_s",
                 "replay_decode_event_us", "parse_event_award_viewed_us"):
        assert result[name] > 0, name
