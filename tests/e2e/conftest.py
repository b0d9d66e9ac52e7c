"""`badgepulse up` as a user runs it: a real process with real children, watched with psutil."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import psutil
import pytest

from tests.conftest import ROOT

# What each child of `up` runs, recognised in its command line.
KINDS = {"redis": "redis-server", "broker": "tansu", "worker": "badgepulse.cli worker",
         "api": "badgepulse.cli api"}


def user_env(**extra: str) -> dict[str, str]:
    """A shell's environment: no BADGEPULSE_* of the test session; `badgepulse` on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BADGEPULSE_")}
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    env.update(extra)
    return env


def kind_of(proc: psutil.Process) -> str | None:
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error:
        return None
    return next((k for k, needle in KINDS.items() if needle in cmd), None)


def gone(procs: list[psutil.Process], timeout: float) -> list[psutil.Process]:
    """Those of procs still running (zombies count as gone) after waiting up to timeout."""
    deadline = time.monotonic() + timeout
    while True:
        alive = []
        for p in procs:
            try:
                if p.status() != psutil.STATUS_ZOMBIE:
                    alive.append(p)
            except psutil.NoSuchProcess:
                pass
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


@dataclass
class UpRun:
    """One `badgepulse up` with its output in a file."""

    proc: subprocess.Popen[bytes]
    log: Path
    seen: list[psutil.Process] = field(default_factory=list)

    def text(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            m = re.search(pattern, self.text(), re.MULTILINE)
            if m:
                return m
            assert self.proc.poll() is None, f"up exited {self.proc.returncode}:\n{self.text()}"
            time.sleep(0.1)
        raise AssertionError(f"no {pattern!r} after {timeout}s:\n{self.text()}")

    def children(self) -> dict[str, psutil.Process]:
        """up's children by kind (redis, broker, worker, api), remembered for clean-up."""
        kids = {}
        for p in psutil.Process(self.proc.pid).children():
            kind = kind_of(p)
            if kind:
                kids[kind] = p
                if p not in self.seen:
                    self.seen.append(p)
        return kids

    def runtime(self, data_dir: Path) -> dict[str, object]:
        info: dict[str, object] = orjson.loads((data_dir / "runtime.json").read_bytes())
        return info


@pytest.fixture
def start_up(tmp_path: Path) -> Iterator[object]:
    """start_up(*args, **env) -> UpRun; whatever is left is killed at the end, by pid."""
    runs: list[UpRun] = []

    def start(*args: str, **env: str) -> UpRun:
        log = tmp_path / f"up-{len(runs)}.out"
        with open(log, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "badgepulse.cli", "up", *args],
                                    env=user_env(**env), cwd=ROOT, stdout=out,
                                    stderr=subprocess.STDOUT)
        run = UpRun(proc, log)
        runs.append(run)
        return run

    try:
        yield start
    finally:
        for run in runs:
            if run.proc.poll() is None:
                run.children()
                run.proc.send_signal(signal.SIGINT)
                try:
                    run.proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    run.proc.kill()
                    run.proc.wait()
            for p in gone(run.seen, 5):
                p.kill()  # only a child this test saw `up` start
