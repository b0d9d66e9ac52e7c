"""Schemathesis against /openapi.json, in-process on the ASGI app, with every check it has.

The app runs against the session's real Redis and broker, on a small data set a real worker
applied, with a real org_admin key for the reads and a real publisher key for the ingest. A
finding is a 5xx, a response that does not match its documented schema, content type or
headers, an undocumented status code, valid input refused or invalid input accepted, or auth
not enforced. Hypothesis examples are bounded so the module stays well under a minute.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from schemathesis.config._checks import (
    POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES,
    PositiveDataAcceptanceConfig,
)
from schemathesis.core.parameters import ParameterLocation

from badgepulse.embedded import Embedded
from core.settings import Settings
from tests.conftest import (
    ARTIFACTS,
    WorkerProcs,
    caught_up,
    isolated_settings,
    make_key,
    publish_events,
)

ORG = "acme"
ISSUERS = ("eng", "ops")
BADGES = ("py", "k8s")
EXAMPLES = 6


def data_set() -> list[dict[str, Any]]:
    """Two issuers, two badges, awards with every kind of follow-up, inside the default
    period (the 30 days ending today), so the reads answer real numbers."""
    day = datetime.now(UTC).replace(microsecond=0) - timedelta(days=3)

    def at(hours: int) -> str:
        return (day + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%SZ")

    out: list[dict[str, Any]] = []
    n = 0

    def add(etype: str, hours: int, **kw: Any) -> None:
        nonlocal n
        n += 1
        out.append({"event_id": f"s-{n}", "type": etype, "occurred_at": at(hours),
                    "org_id": ORG, **kw})

    for issuer in ISSUERS:
        add("issuer.created", 0, issuer_id=issuer, name=issuer.title())
    for issuer, badge in zip(ISSUERS, BADGES, strict=True):
        add("badge.created", 1, issuer_id=issuer, badge_id=badge, name=badge.upper(),
            skills=[badge], visibility="public")
        for i in range(4):
            aw = f"{badge}-{i}"
            add("award.issued", 2, issuer_id=issuer, badge_id=badge, award_id=aw,
                method=("lms", "api")[i % 2])
            if i < 3:
                add("award.accepted", 5 + i, award_id=aw)
            if i < 2:
                add("award.shared", 9, award_id=aw, channel="linkedin")
                add("award.viewed", 10, award_id=aw, source="direct")
                add("award.visibility_changed", 11, award_id=aw, visibility="public")
            if i == 3:
                add("award.revoked", 12, award_id=aw, reason="mistake")
    return out


@pytest.fixture(scope="module")
def world(infra: Embedded) -> Iterator[dict[str, Any]]:
    # one key sends every case: lift the per-key request rate so the reads get answers
    unlimited = {"key_rate": 1e9, "key_burst": 10**9}
    settings_ = isolated_settings(infra).model_copy(
        update={k: v for k, v in unlimited.items() if k in Settings.model_fields})
    ARTIFACTS.mkdir(exist_ok=True)
    procs = WorkerProcs(settings_)

    async def load() -> dict[str, Any]:
        events = data_set()
        await publish_events(settings_, events)
        status = await caught_up(settings_)
        return {"status": status, "events": len(events),
                "admin": await make_key(settings_, ORG, "org_admin"),
                "publisher": await make_key(settings_, ORG, "publisher")}

    try:
        procs.start()
        # schemathesis drives the app from its own event-loop thread, so this module is
        # synchronous and runs its set-up in a loop of its own
        loaded = asyncio.run(load())
        yield {"settings": settings_, **loaded}
    finally:
        procs.stop_all()


@pytest.fixture(scope="module")
def app(world: dict[str, Any]) -> Iterator[Any]:
    """The app under test, on the data set's Redis prefix and topic."""
    from api.main import create_app

    s: Settings = world["settings"]
    assert world["status"]["applied"] == world["events"], world["status"]
    try:
        yield create_app(s)
    finally:
        # schemathesis runs the app's lifespan in its own event-loop thread: end it while
        # the session's Redis and broker are still up
        from schemathesis.python import asgi

        asgi.shutdown_lifespans()


def served_document() -> dict[str, Any]:
    """/openapi.json as the app serves it (it does not depend on the settings). Loaded from
    the document rather than through a fixture: schemathesis' lazy fixture loader does not
    work with pytest 9.2 (it rewrites Node._nodeid, which pytest 9.2 no longer has)."""
    from api.main import create_app

    document: dict[str, Any] = create_app(Settings(gc_gen0_threshold=0)).openapi()
    return document


def load_schema(coverage: bool = True) -> Any:
    """The document as schemathesis sees it, with this module's configuration."""
    loaded = schemathesis.openapi.from_dict(served_document())
    loaded.config.generation.update(max_examples=EXAMPLES)
    # `/live` sends a summary at once, then only when numbers change: one event is the answer
    loaded.config.max_stream_events = 1
    loaded.config.update(request_timeout=20)  # a hang is a finding, not a stuck session
    # Every check stays on. One rule the document cannot state in JSON Schema: `from` <=
    # `to`, and at most 3,660 days between them (api.md); valid-looking dates that break it
    # are a 422 naming the parameter, so valid data may also meet a 422.
    loaded.config.checks.positive_data_acceptance = PositiveDataAcceptanceConfig(
        expected_statuses=[*POSITIVE_DATA_ACCEPTANCE_EXPECTED_STATUSES, "422"])
    loaded.config.phases.coverage.enabled = coverage
    return loaded


# an NDJSON body is documented as free text: send it as that text
schemathesis.serializer.alias("application/x-ndjson", "text/plain")
# The exports under an issuer or badge scope run the org scope's code with one more path
# parameter; the coverage phase (hundreds of boundary cases per operation, a chart rendered
# for many) runs on the org scope's, and these get the examples and generated cases only, to
# keep the module near 45 s on two cores.
SCOPED_EXPORTS = r"^/v1/orgs/\{org_id\}/(issuers|badges)/\{(issuer|badge)_id\}/export/"
schema = load_schema()
scoped_exports = load_schema(coverage=False).include(path_regex=SCOPED_EXPORTS)


def all_checks() -> list[Any]:
    load_all_checks()
    return list(CHECKS.get_all())


def pin_to_the_data(case: Any) -> None:
    """Point generated path parameters at the data set's org (and, for two in three cases,
    at an issuer or badge that exists), so most cases reach real answers instead of 404."""
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.PATH):
        return
    params = case.path_parameters
    if not params:
        return
    params["org_id"] = ORG
    for name, known in (("issuer_id", ISSUERS), ("badge_id", BADGES)):
        value = params.get(name)
        if isinstance(value, str):
            pick = len(value) % (len(known) + 1)
            if pick < len(known):
                params[name] = known[pick]


def target(case: Any, app: Any) -> None:
    """Send the case, and the checks' probes (e.g. the same request without the key), to the
    app under test."""
    case.operation.app = app
    case.operation.schema.app = app


def key_unless_left_out(case: Any, key: str) -> dict[str, str]:
    """The key's Authorization header, except for the cases that leave it out on purpose
    (they expect a 401)."""
    if case.meta is not None and case.meta.is_negative_at(ParameterLocation.HEADER):
        return {}
    return {"Authorization": f"Bearer {key}"}


# derandomize: the same cases on every run, so a finding reproduces (and CI is stable)
SETTINGS = settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
                    suppress_health_check=list(HealthCheck))


@schema.exclude(path="/v1/events").exclude(path_regex=SCOPED_EXPORTS).parametrize()
@SETTINGS
def test_every_read_answers_as_documented(case: Any, world: dict[str, Any], app: Any) -> None:
    pin_to_the_data(case)
    target(case, app)
    case.call_and_validate(headers=key_unless_left_out(case, world["admin"]),
                           checks=all_checks())


@scoped_exports.parametrize()
@SETTINGS
def test_every_scoped_export_answers_as_documented(case: Any, world: dict[str, Any],
                                                   app: Any) -> None:
    pin_to_the_data(case)
    target(case, app)
    case.call_and_validate(headers=key_unless_left_out(case, world["admin"]),
                           checks=all_checks())


@schema.include(path="/v1/events").parametrize()
@SETTINGS
def test_ingest_answers_as_documented(case: Any, world: dict[str, Any], app: Any) -> None:
    target(case, app)
    case.call_and_validate(headers=key_unless_left_out(case, world["publisher"]),
                           checks=all_checks())
