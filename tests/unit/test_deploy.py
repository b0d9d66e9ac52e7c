"""The deployment files agree with the code.

Docker does not run where these tests run, so docker-compose.yml, deploy/Dockerfile,
deploy/k8s/ and deploy/prometheus/rules.yaml are checked by parsing them and comparing what
they say with the settings, the CLI, the API's routes and its Prometheus metrics.
"""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import typer
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

import badgepulse.cli
from api.routes.ops import Metrics
from api.routes.ops import router as ops_router
from core.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
K8S = ROOT / "deploy" / "k8s"
RULES = ROOT / "deploy" / "prometheus" / "rules.yaml"
OPS_SOURCE = (ROOT / "api" / "routes" / "ops.py").read_text()
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())

ENV_PREFIX = "BADGEPULSE_"
ENV_NAME = re.compile(r"\bBADGEPULSE_[A-Z0-9_]+")
APP_SERVICES = ("worker", "api")
K8S_FILES = ("configmap.yaml", "worker-deployment.yaml", "api-deployment.yaml",
             "api-service.yaml")


# ---- helpers -----------------------------------------------------------------------------


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def argv(command: str | list[str]) -> list[str]:
    """A compose/Dockerfile/k8s command as the argument vector the container runs."""
    return shlex.split(command) if isinstance(command, str) else [str(a) for a in command]


def route_paths() -> set[str]:
    return {getattr(r, "path", "") for r in ops_router.routes}


def cli_command_names() -> list[str]:
    return [c.name or c.callback.__name__  # type: ignore[union-attr]
            for c in badgepulse.cli.cli.registered_commands]


def parse_cli(args: list[str]) -> tuple[str, dict[str, Any]]:
    """Parse an invocation with the real CLI (without running it): (command, its params)."""
    scripts = PYPROJECT["project"]["scripts"]
    assert args[0] in scripts, f"{args[0]!r} is not a console script of the project"
    assert scripts[args[0]] == "badgepulse.cli:main"
    assert len(args) >= 2, f"{args} names no command"
    name = args[1]
    assert name in cli_command_names(), f"`badgepulse {name}` is not a command of the CLI"
    group = typer.main.get_command(badgepulse.cli.cli)
    command = group.commands[name]  # type: ignore[attr-defined]
    ctx = command.make_context(name, list(args[2:]))
    return name, dict(ctx.params)


def env_dict(env: Any) -> dict[str, str]:
    """Compose `environment` in either of its forms (mapping, or list of KEY=VALUE)."""
    if env is None:
        return {}
    if isinstance(env, dict):
        return {str(k): "" if v is None else str(v) for k, v in env.items()}
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in env)


def settings_from_env(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> Settings:
    """Settings as the app would build them in a container with exactly this environment."""
    for key in list(os.environ):
        if key.startswith(ENV_PREFIX):
            monkeypatch.delenv(key)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    return Settings()  # type: ignore[call-arg]


def assert_real_settings(names: set[str], where: str) -> None:
    fields = set(Settings.model_fields)
    unknown = sorted(n for n in names if n.removeprefix(ENV_PREFIX).lower() not in fields)
    assert not unknown, f"{where} sets variables that name no Settings field: {unknown}"


def host_port(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` -> {NAME: (host, port)} (an empty host means all interfaces)."""
    out = {}
    for item in value.split(","):
        name, _, address = item.strip().partition("://")
        out[name] = host_port(address)
    return out


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = load_yaml(COMPOSE)
    return doc


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = compose["services"]
    return found


@pytest.fixture(scope="module")
def kafka_env(services: dict[str, dict[str, Any]]) -> dict[str, str]:
    return env_dict(services["kafka"].get("environment"))


# ---- Dockerfile parsing ------------------------------------------------------------------


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order; comments dropped, continuation lines joined."""
    out: list[tuple[str, str]] = []
    pending = ""
    for raw in DOCKERFILE.read_text().splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if pending and line.startswith("#"):
            continue  # a comment inside a continued instruction
        if line.endswith("\\"):
            pending += line[:-1].strip() + " "
            continue
        full = (pending + line).strip()
        pending = ""
        if full:
            keyword, _, rest = full.partition(" ")
            out.append((keyword.upper(), rest.strip()))
    assert not pending, "the Dockerfile ends inside a continued instruction"
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (k, _) in enumerate(instructions) if k == "FROM")
    return instructions[last_from:]


def exec_form(arguments: str) -> list[str]:
    value = json.loads(arguments)
    assert isinstance(value, list) and all(isinstance(a, str) for a in value), arguments
    return value


def dockerfile_cmd() -> list[str]:
    cmds = [rest for k, rest in final_stage() if k == "CMD"]
    assert cmds, "the final stage has no CMD"
    return exec_form(cmds[-1])


def dockerfile_user() -> str:
    users = [rest for k, rest in final_stage() if k == "USER"]
    assert users, "the final stage has no USER: the image would run as root"
    return users[-1]


# ---- compose: services, settings, wiring -------------------------------------------------


def test_compose_defines_the_kafka_redis_worker_and_api_services(
    services: dict[str, dict[str, Any]],
) -> None:
    assert {"kafka", "redis", "worker", "api"} <= set(services)


def test_every_badgepulse_variable_in_compose_names_a_settings_field(
    services: dict[str, dict[str, Any]],
) -> None:
    mentioned = set(ENV_NAME.findall(COMPOSE.read_text()))
    for name in APP_SERVICES:
        mentioned |= {k for k in env_dict(services[name].get("environment"))
                      if k.startswith(ENV_PREFIX)}
    assert mentioned, "compose sets no BADGEPULSE_ variable at all"
    assert_real_settings(mentioned, "docker-compose.yml")


def test_every_badgepulse_variable_in_the_configmap_names_a_settings_field() -> None:
    text = (K8S / "configmap.yaml").read_text()
    data = load_yaml(K8S / "configmap.yaml")["data"]
    mentioned = set(ENV_NAME.findall(text)) | set(data)
    assert all(k.startswith(ENV_PREFIX) for k in data), sorted(data)
    assert_real_settings(mentioned, "deploy/k8s/configmap.yaml")


@pytest.mark.parametrize("name", APP_SERVICES)
def test_compose_environment_is_accepted_by_settings(
    services: dict[str, dict[str, Any]], name: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    env = env_dict(services[name]["environment"])
    settings = settings_from_env(monkeypatch, env)
    for key, value in env.items():
        field = key.removeprefix(ENV_PREFIX).lower()
        assert str(getattr(settings, field)) == value, key


def test_configmap_values_are_strings_accepted_by_settings(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    data = load_yaml(K8S / "configmap.yaml")["data"]
    assert all(isinstance(v, str) for v in data.values()), "ConfigMap data must be strings"
    settings = settings_from_env(monkeypatch, data)
    for key, value in data.items():
        assert str(getattr(settings, key.removeprefix(ENV_PREFIX).lower())) == value, key


def test_worker_and_api_share_one_environment_anchor(services: dict[str, dict[str, Any]]) -> None:
    assert "&badgepulse-env" in COMPOSE.read_text()
    assert env_dict(services["worker"]["environment"]) == env_dict(services["api"]["environment"])


@pytest.mark.parametrize("name", APP_SERVICES)
def test_bootstrap_points_at_the_kafka_services_advertised_listener(
    services: dict[str, dict[str, Any]], kafka_env: dict[str, str], name: str,
) -> None:
    env = env_dict(services[name]["environment"])
    advertised = listeners(kafka_env["KAFKA_ADVERTISED_LISTENERS"])
    reachable = {kafka_env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT")}
    endpoints = {advertised[listener] for listener in reachable}
    kafka_hosts = {"kafka", services["kafka"].get("hostname", "kafka")}
    for server in env["BADGEPULSE_KAFKA_BOOTSTRAP"].split(","):
        host, port = host_port(server)
        assert (host, port) in endpoints, f"{server} is not an advertised listener {endpoints}"
        assert host in kafka_hosts


@pytest.mark.parametrize("name", APP_SERVICES)
def test_redis_url_points_at_the_redis_service(
    services: dict[str, dict[str, Any]], name: str,
) -> None:
    url = urlsplit(env_dict(services[name]["environment"])["BADGEPULSE_REDIS_URL"])
    assert url.scheme == "redis"
    assert url.hostname == "redis" and url.hostname in services
    redis_args = argv(services["redis"].get("command", []))
    redis_port = int(redis_args[redis_args.index("--port") + 1]) if "--port" in redis_args \
        else 6379
    assert (url.port or 6379) == redis_port


def test_the_api_publishes_the_port_its_command_listens_on(
    services: dict[str, dict[str, Any]],
) -> None:
    api = services["api"]
    _name, params = parse_cli(argv(api["command"]))
    assert params["host"] == "0.0.0.0", "inside a container the API must listen on all addresses"
    container_ports = set()
    for port in api["ports"]:
        if isinstance(port, dict):
            container_ports.add(int(port["target"]))
        else:
            container_ports.add(int(str(port).split("/")[0].rsplit(":", 1)[-1]))
    assert params["port"] in container_ports


def test_kafka_runs_in_kraft_mode_without_zookeeper(
    services: dict[str, dict[str, Any]], kafka_env: dict[str, str],
) -> None:
    assert not any("zookeeper" in name.lower() or "zookeeper" in str(svc.get("image", ""))
                   for name, svc in services.items())
    assert not any(k.startswith("KAFKA_ZOOKEEPER") for k in kafka_env)
    roles = {r.strip() for r in kafka_env["KAFKA_PROCESS_ROLES"].split(",")}
    assert roles == {"broker", "controller"}
    # The official image refuses to start in KRaft mode without a cluster id (16 bytes).
    cluster_id = kafka_env["CLUSTER_ID"]
    assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_kafka_listeners_and_quorum_voters_agree(kafka_env: dict[str, str]) -> None:
    own = listeners(kafka_env["KAFKA_LISTENERS"])
    advertised = listeners(kafka_env["KAFKA_ADVERTISED_LISTENERS"])
    protocols = dict(p.split(":") for p in kafka_env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"]
                     .split(","))
    controller = kafka_env["KAFKA_CONTROLLER_LISTENER_NAMES"]
    assert own["PLAINTEXT"][1] == 9092 and own[controller][1] == 9093
    assert advertised == {"PLAINTEXT": ("kafka", 9092)}
    assert set(own) <= set(protocols)
    assert kafka_env.get("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT") in own
    voters = kafka_env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
    assert len(voters) == 1
    node, _, address = voters[0].partition("@")
    assert node == kafka_env["KAFKA_NODE_ID"]
    assert host_port(address) == ("kafka", own[controller][1])


def test_kafka_is_sized_for_a_single_node(kafka_env: dict[str, str]) -> None:
    assert kafka_env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"
    assert kafka_env["KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR"] == "1"
    assert kafka_env["KAFKA_TRANSACTION_STATE_LOG_MIN_ISR"] == "1"


def test_kafka_and_redis_have_healthchecks(services: dict[str, dict[str, Any]]) -> None:
    kafka_check = " ".join(argv(services["kafka"]["healthcheck"]["test"]))
    assert "/opt/kafka/bin/kafka-broker-api-versions.sh" in kafka_check
    assert "--bootstrap-server" in kafka_check
    assert argv(services["redis"]["healthcheck"]["test"])[-2:] == ["redis-cli", "ping"]


def test_redis_appends_to_a_volume(compose: dict[str, Any]) -> None:
    redis = compose["services"]["redis"]
    args = argv(redis["command"])
    assert args[args.index("--appendonly") + 1] == "yes"
    volume = str(redis["volumes"][0]).split(":")
    assert volume[1] == "/data" and volume[0] in compose["volumes"]


@pytest.mark.parametrize("name", APP_SERVICES)
def test_worker_and_api_wait_for_healthy_kafka_and_redis(
    services: dict[str, dict[str, Any]], name: str,
) -> None:
    depends = services[name]["depends_on"]
    for dependency in ("kafka", "redis"):
        assert depends[dependency]["condition"] == "service_healthy"
        assert "healthcheck" in services[dependency], f"{dependency} can never be healthy"


@pytest.mark.parametrize("name", APP_SERVICES)
def test_worker_and_api_are_built_from_the_deploy_dockerfile(
    services: dict[str, dict[str, Any]], name: str,
) -> None:
    build = services[name]["build"]
    assert (ROOT / build["context"]).resolve() == ROOT
    assert (ROOT / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert services[name]["image"] == services["api"]["image"]


def test_worker_and_api_commands_are_real_cli_commands(
    services: dict[str, dict[str, Any]],
) -> None:
    assert {"worker", "api"} <= set(cli_command_names())
    assert parse_cli(argv(services["worker"]["command"]))[0] == "worker"
    assert parse_cli(argv(services["api"]["command"]))[0] == "api"


def test_the_worker_does_not_inherit_the_apis_http_healthcheck(
    services: dict[str, dict[str, Any]],
) -> None:
    # The image's HEALTHCHECK probes the API's port; the worker serves no HTTP.
    assert services["worker"]["healthcheck"] == {"disable": True}


def test_the_worker_scales_out_to_no_more_replicas_than_partitions(
    services: dict[str, dict[str, Any]],
) -> None:
    replicas = services["worker"]["deploy"]["replicas"]
    partitions = int(env_dict(services["worker"]["environment"])["BADGEPULSE_PARTITIONS"])
    assert 2 <= replicas <= partitions


# ---- Dockerfile ---------------------------------------------------------------------------


def test_dockerfile_is_python_3_11_slim_and_installs_the_project_with_pip() -> None:
    instructions = dockerfile_instructions()
    images = [rest.split()[0] for k, rest in instructions if k == "FROM"]
    assert images and all(image == "python:3.11-slim" for image in images), images
    runs = [rest for k, rest in instructions if k == "RUN"]
    assert any(re.search(r"\bpip install (\S+ )*\.(\s|$)", run) for run in runs), runs
    assert any(rest.split()[0] == "pyproject.toml" for k, rest in instructions if k == "COPY")


def test_dockerfile_copies_every_package_the_project_declares() -> None:
    copied = {rest.split()[0].rstrip("/") for k, rest in dockerfile_instructions()
              if k == "COPY" and not rest.startswith("--from")}
    packages = {p.rstrip("*") for p in PYPROJECT["tool"]["setuptools"]["packages"]["find"]
                ["include"]}
    assert packages <= copied, f"not copied into the build: {sorted(packages - copied)}"
    assert all((ROOT / p).is_dir() for p in packages)


def test_dockerfile_runs_as_a_numeric_non_root_user() -> None:
    user, _, group = dockerfile_user().partition(":")
    # Numeric, so Kubernetes' runAsNonRoot can check it without reading /etc/passwd.
    assert user.isdigit() and int(user) != 0
    assert not group or (group.isdigit() and int(group) != 0)


def test_dockerfile_cmd_is_a_real_cli_command_listening_on_the_exposed_port() -> None:
    cmd = dockerfile_cmd()
    assert cmd == ["badgepulse", "api", "--host", "0.0.0.0", "--port", "8000"]
    name, params = parse_cli(cmd)
    assert name == "api"
    exposed = {int(p.split("/")[0]) for k, rest in final_stage() if k == "EXPOSE"
               for p in rest.split()}
    assert exposed == {8000}
    assert params["port"] in exposed


def test_dockerfile_healthcheck_probes_healthz_with_python() -> None:
    checks = [rest for k, rest in final_stage() if k == "HEALTHCHECK"]
    assert len(checks) == 1
    options, _, command = checks[0].partition("CMD ")
    assert all(o.startswith("--") for o in options.split())
    args = exec_form(command)
    assert args[:2] == ["python", "-c"]
    compile(args[2], "<healthcheck>", "exec")
    url = urlsplit(re.search(r"http://[^'\"]+", args[2]).group(0))  # type: ignore[union-attr]
    assert url.path == "/healthz" and url.path in route_paths()
    _name, params = parse_cli(dockerfile_cmd())
    assert url.port == params["port"]


# ---- Kubernetes ----------------------------------------------------------------------------


def k8s_objects() -> Iterator[tuple[str, dict[str, Any]]]:
    for name in K8S_FILES:
        for doc in yaml.safe_load_all((K8S / name).read_text()):
            if doc is not None:
                yield name, doc


def k8s_kind(kind: str, name: str) -> dict[str, Any]:
    found = [doc for _, doc in k8s_objects()
             if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: {len(found)} found"
    obj: dict[str, Any] = found[0]
    return obj


def deployments() -> list[dict[str, Any]]:
    return [doc for _, doc in k8s_objects() if doc["kind"] == "Deployment"]


def only_container(deployment: dict[str, Any]) -> dict[str, Any]:
    containers: list[dict[str, Any]] = deployment["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return containers[0]


def test_every_k8s_manifest_parses_as_a_kubernetes_object() -> None:
    assert {p.name for p in K8S.glob("*.yaml")} == set(K8S_FILES)
    seen = []
    for _file, doc in k8s_objects():
        assert isinstance(doc, dict)
        assert {"apiVersion", "kind", "metadata"} <= set(doc)
        assert re.fullmatch(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?", doc["metadata"]["name"])
        seen.append((doc["apiVersion"], doc["kind"]))
    assert sorted(seen) == [("apps/v1", "Deployment"), ("apps/v1", "Deployment"),
                            ("v1", "ConfigMap"), ("v1", "Service")]


def test_k8s_deployments_select_their_own_pods() -> None:
    for deployment in deployments():
        selector = deployment["spec"]["selector"]["matchLabels"]
        labels = deployment["spec"]["template"]["metadata"]["labels"]
        assert selector.items() <= labels.items()


def test_k8s_deployments_share_one_image_and_the_configmap() -> None:
    configmap = load_yaml(K8S / "configmap.yaml")["metadata"]["name"]
    images = set()
    for deployment in deployments():
        container = only_container(deployment)
        images.add(container["image"])
        refs = {e["configMapRef"]["name"] for e in container["envFrom"] if "configMapRef" in e}
        assert refs == {configmap}
    assert len(images) == 1
    image = images.pop()
    assert image.rsplit(":", 1)[-1] == PYPROJECT["project"]["version"]


def test_k8s_image_is_the_one_compose_builds(services: dict[str, dict[str, Any]]) -> None:
    assert {only_container(d)["image"] for d in deployments()} == {services["api"]["image"]}


def test_k8s_commands_are_real_cli_commands() -> None:
    worker = only_container(k8s_kind("Deployment", "badgepulse-worker"))
    api = only_container(k8s_kind("Deployment", "badgepulse-api"))
    assert parse_cli(argv(worker["command"]))[0] == "worker"
    name, params = parse_cli(argv(api["command"]))
    assert name == "api" and params["host"] == "0.0.0.0"
    assert params["port"] in {p["containerPort"] for p in api["ports"]}


def test_k8s_pods_run_as_the_dockerfiles_user() -> None:
    user, _, group = dockerfile_user().partition(":")
    for deployment in deployments():
        security = deployment["spec"]["template"]["spec"]["securityContext"]
        assert security["runAsNonRoot"] is True
        assert security["runAsUser"] == int(user)
        assert security.get("runAsGroup", int(group or user)) == int(group or user)


def test_k8s_pods_have_a_writable_tmp_under_a_read_only_root() -> None:
    # The worker's Faust datadir is /tmp/badgepulse-faust (streams/app.py).
    for deployment in deployments():
        pod = deployment["spec"]["template"]["spec"]
        container = only_container(deployment)
        if container.get("securityContext", {}).get("readOnlyRootFilesystem"):
            mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
            volumes = {v["name"]: v for v in pod["volumes"]}
            assert "/tmp" in mounts.values()
            assert all("emptyDir" in volumes[n] for n, p in mounts.items() if p == "/tmp")


def test_k8s_api_is_probed_on_readyz_and_healthz_of_its_port() -> None:
    api = only_container(k8s_kind("Deployment", "badgepulse-api"))
    routes = route_paths()
    named_ports = {p["name"]: p["containerPort"] for p in api["ports"]}
    expected = {"readinessProbe": "/readyz", "livenessProbe": "/healthz"}
    for probe, path in expected.items():
        get = api[probe]["httpGet"]
        assert get["path"] == path and path in routes
        assert named_ports.get(get["port"], get["port"]) in named_ports.values()


def test_k8s_service_selects_the_api_pods_and_targets_their_port() -> None:
    service = k8s_kind("Service", "badgepulse-api")
    deployment = k8s_kind("Deployment", "badgepulse-api")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    worker_labels = k8s_kind("Deployment", "badgepulse-worker")["spec"]["template"]["metadata"][
        "labels"]
    assert not service["spec"]["selector"].items() <= worker_labels.items()
    ports = only_container(deployment)["ports"]
    for port in service["spec"]["ports"]:
        target = port.get("targetPort", port["port"])
        assert target in {p["name"] for p in ports} | {p["containerPort"] for p in ports}


def test_k8s_scrape_annotations_point_at_the_metrics_route() -> None:
    deployment = k8s_kind("Deployment", "badgepulse-api")
    annotations = deployment["spec"]["template"]["metadata"]["annotations"]
    assert all(isinstance(v, str) for v in annotations.values())
    assert annotations["prometheus.io/path"] in route_paths()
    ports = {p["containerPort"] for p in only_container(deployment)["ports"]}
    assert int(annotations["prometheus.io/port"]) in ports


# ---- Prometheus rules -------------------------------------------------------------------------


METRIC = re.compile(r"\bbadgepulse_[a-z0-9_]+")
SELECTOR = re.compile(r"\b(badgepulse_[a-z0-9_]+)\s*\{([^}]*)\}")
MATCHER = re.compile(r"(\w+)\s*(=~|!~|!=|=)\s*\"([^\"]*)\"")
DURATION = re.compile(r"(\d+(ms|s|m|h|d|w|y))+")


def rules() -> list[dict[str, Any]]:
    doc = load_yaml(RULES)
    return [rule for group in doc["groups"] for rule in group["rules"]]


def exposed_samples() -> dict[str, set[str]]:
    """Every sample name the API's registry serves, with its label names (incl. `le`)."""
    metrics = Metrics()
    metrics.requests.labels("GET", "/v1/status", "200").inc()
    metrics.latency.labels("GET", "/v1/status").observe(0.01)
    metrics.worker.labels("rejected").set(1)
    metrics.lag.set(1)
    out: dict[str, set[str]] = {}
    text = generate_latest(metrics.registry).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, set()).update(sample.labels)
    return out


def test_prometheus_rules_parse_as_alerting_rules() -> None:
    doc = load_yaml(RULES)
    assert doc["groups"] and all(g["name"] and g["rules"] for g in doc["groups"])
    names = [rule["alert"] for rule in rules()]
    assert len(names) == len(set(names))
    for rule in rules():
        assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}
        assert re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", rule["alert"])
        assert DURATION.fullmatch(rule["for"]), rule["for"]
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}
        assert rule["annotations"]["summary"]
        expr = rule["expr"]
        assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}")
        assert expr.count("[") == expr.count("]")
        assert METRIC.search(expr), f"{rule['alert']} watches no Badgepulse metric"


def test_the_rules_cover_lag_rejections_latency_and_errors() -> None:
    exprs = " ".join(rule["expr"] for rule in rules())
    for name in ("badgepulse_consumer_lag", "badgepulse_worker_events",
                 "badgepulse_http_request_seconds_bucket", "badgepulse_http_requests_total"):
        assert name in exprs


def test_every_metric_in_the_rules_is_exposed_by_the_ops_routes() -> None:
    for rule in rules():
        for name in METRIC.findall(rule["expr"]):
            base = re.sub(r"_(bucket|count|sum|created)$", "", name)
            assert name in OPS_SOURCE or base in OPS_SOURCE, \
                f"{rule['alert']}: {name} is not in api/routes/ops.py"


def test_every_metric_in_the_rules_is_a_sample_the_api_serves() -> None:
    samples = exposed_samples()
    for rule in rules():
        for name in METRIC.findall(rule["expr"]):
            assert name in samples, f"{rule['alert']}: /metrics serves no {name}"


def test_rule_selectors_use_labels_the_metrics_have() -> None:
    samples = exposed_samples()
    for rule in rules():
        for name, body in SELECTOR.findall(rule["expr"]):
            for label, op, value in MATCHER.findall(body):
                assert label in samples[name], f"{rule['alert']}: {name} has no label {label}"
                if op == "=":
                    assert f'"{value}"' in OPS_SOURCE, f"{name} is never {label}={value!r}"


def test_the_latency_threshold_is_a_bucket_bound_of_the_histogram() -> None:
    metrics = Metrics()
    metrics.latency.labels("GET", "/").observe(0)
    text = generate_latest(metrics.registry).decode()
    bounds = {float(s.labels["le"]) for f in text_string_to_metric_families(text)
              for s in f.samples if s.name == "badgepulse_http_request_seconds_bucket"}
    for rule in rules():
        if "histogram_quantile" in rule["expr"]:
            threshold = float(re.search(r">\s*([0-9.]+)\s*$", rule["expr"]).group(1))  # type: ignore[union-attr]
            assert threshold in bounds, f"{threshold}s is not a bucket bound: {sorted(bounds)}"
