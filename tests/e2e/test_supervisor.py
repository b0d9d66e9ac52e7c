"""`badgepulse up` supervises what it starts: it refuses a taken port before starting
anything, restarts what crashes, stops everything on a signal or when killed, and keeps
its data across restarts. Real processes throughout; counts are worked out by hand."""

from __future__ import annotations

import fcntl
import os
import re
import signal
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import psutil

from badgepulse.embedded import free_port
from core.settings import Settings
from tests.conftest import ROOT, make_key
from tests.e2e.conftest import gone, kind_of, user_env

ORG = "acme"


def now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def catalog() -> list[dict[str, Any]]:
    return [{"event_id": "iss", "type": "issuer.created", "occurred_at": now(), "org_id": ORG,
             "issuer_id": "eng", "name": "Engineering"},
            {"event_id": "bdg", "type": "badge.created", "occurred_at": now(), "org_id": ORG,
             "issuer_id": "eng", "badge_id": "eng-b", "name": "Builder"}]


def awards(*numbers: int) -> list[dict[str, Any]]:
    return [{"event_id": f"aw-{n}", "type": "award.issued", "occurred_at": now(),
             "org_id": ORG, "issuer_id": "eng", "badge_id": "eng-b", "award_id": f"aw-{n}",
             "method": "api"} for n in numbers]


def accepts(*numbers: int) -> list[dict[str, Any]]:
    return [{"event_id": f"acc-{n}", "type": "award.accepted", "occurred_at": now(),
             "org_id": ORG, "award_id": f"aw-{n}"} for n in numbers]


def post(url: str, key: str, events: list[dict[str, Any]], timeout: float = 30) -> None:
    """POST /v1/events until the API takes them (it answers 503 while the broker is down)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            r = httpx.post(f"{url}/v1/events", json=events, timeout=10,
                           headers={"Authorization": f"Bearer {key}"})
            if r.status_code == 202:
                assert r.json() == {"accepted": len(events), "rejected": []}, r.text
                return
            assert r.status_code == 503, r.text
        except httpx.TransportError:
            pass  # the API itself is restarting
        assert time.monotonic() < deadline, "POST /v1/events never accepted"
        time.sleep(0.3)


def summary(url: str, key: str) -> dict[str, Any] | None:
    """The org's period metrics, or None while the API or Redis is unavailable."""
    try:
        r = httpx.get(f"{url}/v1/orgs/{ORG}/summary", timeout=10,
                      headers={"Authorization": f"Bearer {key}"})
    except httpx.TransportError:
        return None
    if r.status_code == 503:
        return None
    assert r.status_code == 200, r.text
    metrics: dict[str, Any] = r.json()["metrics"]
    return metrics


def numbers_become(url: str, key: str, awarded: int, accepted: int,
                   timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    got = None
    while time.monotonic() < deadline:
        got = summary(url, key)
        if got and (got["badges_awarded"], got["accepted_awards"]) == (awarded, accepted):
            return got
        time.sleep(0.2)
    raise AssertionError(f"wanted {awarded} awarded / {accepted} accepted, got {got}")


def healthy(url: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url}/healthz not answering after {timeout}s")


def keys_for(redis_url: str) -> tuple[str, str]:
    """An org_admin key and a publisher key of ORG."""
    import asyncio

    s = Settings(redis_url=redis_url, redis_prefix="bp")
    return (asyncio.run(make_key(s, ORG, "org_admin")),
            asyncio.run(make_key(s, ORG, "publisher")))


def test_up_with_its_port_taken_says_so_in_one_line_and_starts_nothing(tmp_path: Path):
    data = tmp_path / "data"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        t0 = time.monotonic()
        proc = subprocess.Popen([sys.executable, "-m", "badgepulse.cli", "up", "--port",
                                 str(port), "--data-dir", str(data)], env=user_env(),
                                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                text=True)
        started = set()
        while proc.poll() is None:  # whatever it starts, even briefly, is seen here
            try:
                started |= {kind_of(p) for p in psutil.Process(proc.pid).children(True)}
            except psutil.NoSuchProcess:
                break
            time.sleep(0.01)
        out, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    assert time.monotonic() - t0 < 10
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert str(port) in lines[0] and "--port" in lines[0] and "in use" in lines[0]
    assert started <= {None}, f"started {started} before giving up"
    assert not data.exists()


def test_api_with_its_port_taken_says_so_in_one_line(tmp_path: Path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        r = subprocess.run([sys.executable, "-m", "badgepulse.cli", "api", "--port", str(port)],
                           env=user_env(), cwd=ROOT, capture_output=True, text=True,
                           timeout=30)
    assert r.returncode != 0
    assert r.stdout == ""
    (line,) = r.stderr.strip().splitlines()
    assert str(port) in line and "--port" in line


def test_closing_the_terminal_stops_everything_up_started_and_deletes_its_demo_data(
        start_up, tmp_path: Path):
    tmp = tmp_path / "tmp"
    tmp.mkdir()
    # What an earlier demo killed with SIGKILL left behind: nobody holds its lock.
    stale = tmp / "badgepulse-demo-earlier"
    (stale / "redis").mkdir(parents=True)
    (stale / "up.lock").touch()
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    port = free_port()
    run = start_up("--demo", "--port", str(port), TMPDIR=str(tmp))
    run.wait_for(r"^Badgepulse is up")
    kids = run.children()
    assert set(kids) == {"redis", "broker", "worker", "api"}, kids
    (ours,) = tmp.glob("badgepulse-demo-*")  # the stale one is gone already
    assert run.runtime(ours)["pid"] == run.proc.pid
    run.proc.send_signal(signal.SIGHUP)
    assert run.proc.wait(timeout=30) == 0, run.text()
    assert gone(list(kids.values()), 5) == []
    assert list(tmp.iterdir()) == []
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", port)) != 0


def test_killing_up_outright_takes_its_children_with_it(start_up, tmp_path: Path):
    data = tmp_path / "data"
    run = start_up("--port", str(free_port()), "--data-dir", str(data))
    run.wait_for(r"^Badgepulse is up")
    kids = run.children()
    assert set(kids) == {"redis", "broker", "worker", "api"}, kids
    run.proc.send_signal(signal.SIGKILL)
    run.proc.wait()
    assert gone(list(kids.values()), 10) == [], "children outlived a killed `up`"
    with open(data / "up.lock", "rb") as lock:  # a new `up` may take the data directory
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_crashed_worker_api_and_broker_are_restarted_and_events_keep_landing(
        start_up, tmp_path: Path):
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    # A killed worker's group membership lapses after the session timeout; a short one
    # keeps the test short.
    run = start_up("--port", str(port), "--data-dir", str(data),
                   BADGEPULSE_UP_RESTART_DELAY="0.2", BADGEPULSE_BROKER_SESSION_TIMEOUT="3")
    run.wait_for(r"^Badgepulse is up")
    admin, publisher = keys_for(str(run.runtime(data)["redis_url"]))
    post(url, publisher, catalog() + awards(1, 2, 3) + accepts(1, 2))
    numbers_become(url, admin, awarded=3, accepted=2)

    worker = run.children()["worker"]
    worker.kill()
    run.wait_for(r"^worker was killed by SIGKILL \(exit code -9\) after [\d.]+ s; restart #1")
    healthy(url, timeout=2)  # the API never went away
    post(url, publisher, awards(4, 5))
    numbers_become(url, admin, awarded=5, accepted=2)
    assert run.children()["worker"].pid != worker.pid

    run.children()["api"].kill()
    run.wait_for(r"^api was killed by SIGKILL \(exit code -9\)")
    healthy(url)
    numbers_become(url, admin, awarded=5, accepted=2, timeout=5)

    # The embedded broker keeps events in memory only: it comes back empty, on its port.
    run.children()["broker"].kill()
    run.wait_for(r"^broker was killed by SIGKILL \(exit code -9\)")
    post(url, publisher, awards(6) + accepts(3))
    numbers_become(url, admin, awarded=6, accepted=3)
    assert run.proc.poll() is None
    assert set(run.children()) == {"redis", "broker", "worker", "api"}


def test_keys_and_numbers_survive_redis_and_up_restarting(start_up, tmp_path: Path):
    data = tmp_path / "data"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = start_up("--port", str(port), "--data-dir", str(data))
    # The hint, run as printed, creates a key that works.
    hint = first.wait_for(r"^create a first key: (.*badgepulse keys create .*)$").group(1)
    make = hint.replace("ORG", ORG)
    admin = subprocess.run(make, shell=True, env=user_env(), capture_output=True, text=True,
                           check=True).stdout.strip()
    publisher = subprocess.run(make.replace("org_admin", "publisher"), shell=True,
                               env=user_env(), capture_output=True, text=True,
                               check=True).stdout.strip()
    post(url, publisher, catalog() + awards(1, 2, 3, 4) + accepts(1, 3, 4))
    before = numbers_become(url, admin, awarded=4, accepted=3)
    assert before["badges_created"] == 1

    # A second `up` on the same data would corrupt it: refused, naming who holds it.
    again = subprocess.run([sys.executable, "-m", "badgepulse.cli", "up", "--port",
                            str(free_port()), "--data-dir", str(data)], env=user_env(),
                           cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert again.returncode != 0
    assert f"(pid {first.proc.pid}) is using {data}" in again.stderr
    assert "--data-dir" in again.stderr

    # Redis dies: up restarts it on the same port and directory; its append-only file
    # (fsynced every second) brings keys and numbers back.
    time.sleep(1.5)
    redis_port = first.runtime(data)["redis_url"]
    first.children()["redis"].kill()
    first.wait_for(r"^redis was killed by SIGKILL")
    assert numbers_become(url, admin, awarded=4, accepted=3) == before
    assert first.runtime(data)["redis_url"] == redis_port

    first.proc.send_signal(signal.SIGINT)
    assert first.proc.wait(timeout=30) == 0, first.text()
    assert not (data / "runtime.json").exists()

    second = start_up("--port", str(port), "--data-dir", str(data))
    second.wait_for(r"^2 active API key\(s\) from before")
    assert numbers_become(url, admin, awarded=4, accepted=3) == before
    # The broker came back empty; new events still add exactly.
    post(url, publisher, awards(5) + accepts(2))
    after = numbers_become(url, admin, awarded=5, accepted=4)
    assert after["badges_created"] == 1
    assert re.search(r"redis \(embedded\) on redis://127\.0\.0\.1:\d+/0", second.text())
