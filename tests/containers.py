"""Apache Kafka (KRaft) and Redis in Docker containers, through testcontainers, for
`pytest --containers` (`make test-containers`): the same stream and end-to-end tests as on
the embedded Tansu broker and Redis, against the servers production runs.

Where Docker does not run (these development machines), `docker_problem()` says why in one
line and the session's tests that need the servers skip with it.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

# The images docker-compose.yml runs (keep them in step).
KAFKA_IMAGE = "apache/kafka:3.9.0"
REDIS_IMAGE = "redis:7-alpine"
KAFKA_CLUSTER_ID = "PVr8LE0XSR6dEDR36pR6EA"  # KRaft needs one (22 chars, base64url)
START_TIMEOUT = 180.0  # an image pull on a cold machine takes a while


@functools.cache
def docker_problem() -> str | None:
    """Why the container servers cannot start here (one line), or None."""
    try:
        import docker
        import testcontainers  # noqa: F401
    except ImportError as e:
        return f"testcontainers is not installed ({e.name}): pip install -e '.[dev]'"
    try:
        client = docker.from_env(timeout=5)
        try:
            client.ping()
        finally:
            client.close()
    except Exception as e:  # docker.errors.DockerException, requests' connection errors
        where = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
        reason = " ".join(str(e).split()) or type(e).__name__
        return f"Docker is not available: nothing answers at {where} ({reason[:120]})"
    return None


def kafka_env(host: str, host_port: int) -> dict[str, str]:
    """A single-node KRaft broker (broker and controller in one). Clients outside the
    container reach it on the host and port Docker maps (advertised on PLAINTEXT); the
    broker talks to itself inside the container (BROKER), as testcontainers' own Kafka
    modules do."""
    return {
        "CLUSTER_ID": KAFKA_CLUSTER_ID,
        "KAFKA_NODE_ID": "1",
        "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": "PLAINTEXT://:9092,BROKER://:9094,CONTROLLER://:9093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://{host}:{host_port},BROKER://localhost:9094",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP":
            "PLAINTEXT:PLAINTEXT,BROKER:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "KAFKA_INTER_BROKER_LISTENER_NAME": "BROKER",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@localhost:9093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1",
        "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        # The worker's Faust app subscribes to a leader topic only the broker creates
        # (docker-compose.yml says the same).
        "KAFKA_AUTO_CREATE_TOPICS_ENABLE": "true",
    }


async def _kafka_answers(bootstrap: str) -> None:
    from aiokafka.admin import AIOKafkaAdminClient

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=5000)
    await admin.start()
    try:
        await admin.list_topics()
    finally:
        await admin.close()


def wait_for_kafka(bootstrap: str, timeout: float = START_TIMEOUT) -> None:
    """Until the broker answers a metadata request (the port opens before it does)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            asyncio.run(asyncio.wait_for(_kafka_answers(bootstrap), 10))
            return
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)


@dataclass
class Containers:
    """The container servers, with what the tests read of the embedded ones
    (badgepulse.embedded.Embedded): kafka_bootstrap, redis_url and their ports."""

    started: list[Any] = field(default_factory=list)
    kafka_bootstrap: str | None = None
    redis_url: str | None = None
    kafka_port: int | None = None
    redis_port: int | None = None

    def start_kafka(self) -> str:
        from testcontainers.core.container import DockerContainer

        from badgepulse.embedded import free_port

        # The advertised address must be the mapped host port, known before the broker
        # starts: bind a free one (on the Docker host, which may be another machine).
        port = free_port()
        kafka = DockerContainer(KAFKA_IMAGE).with_bind_ports(9092, port)
        host = kafka.get_docker_client().host()
        for k, v in kafka_env(host, port).items():
            kafka.with_env(k, v)
        kafka.start()
        self.started.append(kafka)
        self.kafka_port = port
        self.kafka_bootstrap = f"{host}:{port}"
        wait_for_kafka(self.kafka_bootstrap)
        return self.kafka_bootstrap

    def start_redis(self) -> str:
        from testcontainers.community.redis import RedisContainer

        redis = RedisContainer(REDIS_IMAGE)
        redis.start()  # waits until it answers PING
        self.started.append(redis)
        self.redis_port = int(redis.get_exposed_port(6379))
        self.redis_url = f"redis://{redis.get_container_host_ip()}:{self.redis_port}/0"
        return self.redis_url

    def stop(self) -> None:
        for c in reversed(self.started):
            try:
                c.stop()
            except Exception as e:  # already gone; Ryuk removes leftovers anyway
                print(f"stopping {c.image}: {e}")
        self.started.clear()


def start_containers() -> Containers:
    """Kafka and Redis started (stop() them); on a failure whatever started is stopped."""
    c = Containers()
    try:
        c.start_kafka()
        c.start_redis()
    except BaseException:
        c.stop()
        raise
    return c


# --- the pytest hooks tests/conftest.py calls ----------------------------------------------

OPTION = "--containers"


def add_option(parser: Any) -> None:
    parser.addoption(
        OPTION, action="store_true",
        help="run the tests that use the session's servers against Apache Kafka (KRaft) and "
             "Redis in Docker containers (testcontainers); they skip, saying why, where "
             "Docker does not run")


def wanted(config: Any) -> bool:
    return bool(config.getoption(OPTION))


def keep_container_tests(config: Any, items: list[Any]) -> None:
    """Under --containers, only the tests that use the session's servers (the `infra`
    fixture) run: the others (`up`'s own embedded servers, pure units) have nothing to do
    with the containers and run in `make test`."""
    if not wanted(config):
        return
    import pytest

    kept = [i for i in items if "infra" in getattr(i, "fixturenames", ())]
    dropped = [i for i in items if "infra" not in getattr(i, "fixturenames", ())]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = kept
    problem = docker_problem()
    if problem and kept:
        reason = f"{OPTION}: {problem}"
        for item in kept:
            item.add_marker(pytest.mark.skip(reason=reason))
        reporter = config.pluginmanager.get_plugin("terminalreporter")
        if reporter is not None:
            reporter.write_line(f"{reason}; skipping the {len(kept)} test(s) that need "
                                f"Kafka and Redis")


@contextlib.contextmanager
def container_servers() -> Iterator[Containers]:
    """The session's servers in containers, or a skip saying in one line why not."""
    import pytest

    problem = docker_problem()
    if problem:
        pytest.skip(f"{OPTION}: {problem}")
    servers = start_containers()
    try:
        yield servers
    finally:
        servers.stop()
