"""`pytest --containers` (`make test-containers`, tests/containers.py): where Docker does not
run, one line says why and the tests that need the servers skip; the container path is
checked as far as it can be without Docker (the testcontainers API it calls, and a KRaft
broker configured as docker-compose.yml configures production's)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import yaml

from tests import containers
from tests.conftest import ROOT


def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_containers_run_the_images_production_runs():
    services = compose()["services"]
    assert containers.KAFKA_IMAGE == services["kafka"]["image"]
    assert containers.REDIS_IMAGE == services["redis"]["image"]


def test_the_broker_is_kraft_configured_as_in_compose_but_reachable_from_the_host():
    theirs = {k: str(v) for k, v in compose()["services"]["kafka"]["environment"].items()}
    ours = containers.kafka_env("127.0.0.1", 45678)
    assert ours["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, no ZooKeeper
    # clients on the host reach it on the mapped port, on the plain listener
    assert "PLAINTEXT://127.0.0.1:45678" in ours["KAFKA_ADVERTISED_LISTENERS"].split(",")
    assert "PLAINTEXT:PLAINTEXT" in ours["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(",")
    # everything else as production's broker, but for where it lives (a host name in
    # compose; the mapped port and a listener of its own for itself here) and its volume
    differ = {"KAFKA_LISTENERS", "KAFKA_ADVERTISED_LISTENERS", "KAFKA_INTER_BROKER_LISTENER_NAME",
              "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP", "KAFKA_CONTROLLER_QUORUM_VOTERS",
              "KAFKA_LOG_DIRS"}
    assert {k: v for k, v in ours.items() if k not in differ} == \
        {k: v for k, v in theirs.items() if k not in differ}


def test_the_testcontainers_api_the_fixtures_call_is_there():
    from testcontainers.community.redis import RedisContainer
    from testcontainers.core.container import DockerContainer

    for name in ("with_bind_ports", "with_env", "start", "stop", "get_exposed_port",
                 "get_container_host_ip"):
        assert callable(getattr(DockerContainer, name)), name
    assert issubclass(RedisContainer, DockerContainer)


def test_without_docker_the_reason_is_one_line():
    problem = containers.docker_problem()
    if problem is not None:  # as on these machines
        assert "\n" not in problem and problem.startswith("Docker is not available")


def test_without_docker_the_run_skips_with_one_line_saying_why(tmp_path: Path):
    env = {**os.environ, "DOCKER_HOST": f"unix://{tmp_path}/no-docker.sock"}
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "--containers", "-q", "-p", "no:cacheprovider",
         "tests/stream/test_smoke.py", "tests/unit/test_demo.py"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    said = [line for line in run.stdout.splitlines() if line.startswith("--containers:")]
    assert len(said) == 1, run.stdout
    assert said[0].startswith(f"--containers: Docker is not available: nothing answers at "
                              f"unix://{tmp_path}/no-docker.sock (")
    assert said[0].endswith("; skipping the 1 test(s) that need Kafka and Redis")
    # the smoke test needs the servers: skipped; the demo's unit tests do not: not run here
    assert re.fullmatch(r"1 skipped, \d+ deselected in .*", run.stdout.strip().splitlines()[-1])
    assert "Traceback" not in run.stdout + run.stderr
