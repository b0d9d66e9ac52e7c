"""`badgepulse up --demo` on a machine with nothing running: it starts, serves, and stops."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import time

import httpx

from badgepulse.embedded import free_port
from tests.conftest import ROOT


def listening(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) == 0


def test_up_demo_serves_a_summary_with_numbers_and_stops_cleanly(tmp_path):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("BADGEPULSE_")}
    out = open(tmp_path / "up.out", "w+")  # noqa: SIM115
    proc = subprocess.Popen([sys.executable, "-m", "badgepulse.cli", "up", "--demo",
                             "--port", str(port)], env=env, cwd=ROOT, stdout=out,
                            stderr=subprocess.STDOUT, text=True)
    try:
        token = None
        deadline = time.monotonic() + 90
        while token is None and time.monotonic() < deadline:
            out.seek(0)
            m = re.search(r"demo key \(org 'demo', org_admin\): (\S+)", out.read())
            token = m.group(1) if m else None
            assert proc.poll() is None, open(tmp_path / "up.out").read()
            time.sleep(0.2)
        assert token, open(tmp_path / "up.out").read()
        body = {}
        while time.monotonic() < deadline:
            r = httpx.get(f"http://127.0.0.1:{port}/v1/orgs/demo/summary",
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
            assert r.status_code == 200, r.text
            body = r.json()
            if body["metrics"]["badges_awarded"] > 100 and body["metrics"]["views"] > 0:
                break
            time.sleep(0.5)
        assert body["metrics"]["badges_awarded"] > 100, body
        assert body["kpis"]["learner_engagement_score"]["value"] > 0
        assert httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=10).status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        code = proc.wait(timeout=30)
    assert code == 0, open(tmp_path / "up.out").read()
    assert not listening(port)
    text = open(tmp_path / "up.out").read()
    for name in ("broker", "redis"):
        m = re.search(rf"{name} .*on (?:redis://)?127\.0\.0\.1:(\d+)", text)
        assert m, text
        assert not listening(int(m.group(1))), f"{name} still running after Ctrl-C"
