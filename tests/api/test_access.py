"""The 401/403/404 rules of api.md, with keys of two orgs and two issuers, on reads and ingest."""

from __future__ import annotations

import subprocess
import sys

import orjson
import pytest

from tests.conftest import ROOT, caught_up, make_key, publish, settings_env

T = "2026-04-13T09:30:00Z"


def ev(eid: str, typ: str, org: str, **kw: str) -> dict[str, str]:
    return {"event_id": eid, "type": typ, "occurred_at": T, "org_id": org, **kw}


DATA = [
    ev("1", "award.issued", "acme", issuer_id="eng", badge_id="py", award_id="a1", method="lms"),
    ev("2", "award.issued", "acme", issuer_id="eng", badge_id="py", award_id="a2", method="lms"),
    ev("3", "award.issued", "acme", issuer_id="ops", badge_id="k8s", award_id="a3", method="api"),
    ev("4", "award.accepted", "acme", award_id="a3"),
    ev("5", "award.issued", "globex", issuer_id="hr", badge_id="safety", award_id="g1",
       method="manual"),
]
Q = "from=2026-04-01&to=2026-04-30"


@pytest.fixture
async def world(settings, workers, client):
    workers.start()
    await publish(settings, [(e["award_id"].encode(), orjson.dumps(e)) for e in DATA])
    await caught_up(settings)
    return {
        "acme_admin": await make_key(settings, "acme", "org_admin"),
        "globex_admin": await make_key(settings, "globex", "org_admin"),
        "acme_eng": await make_key(settings, "acme", "issuer", ("eng",)),
        "acme_ops": await make_key(settings, "acme", "issuer", ("ops",)),
        "acme_pub": await make_key(settings, "acme", "publisher"),
    }


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def test_reads_without_a_key_or_with_an_unknown_key_are_401(world, client):
    for headers in ({}, auth("bpk_nope_nope"), {"Authorization": "Basic abc"}):
        r = await client.get(f"/v1/orgs/acme/summary?{Q}", headers=headers)
        assert r.status_code == 401, r.text
        assert (await client.get("/v1/status", headers=headers)).status_code == 401
        assert (await client.post("/v1/events", json=[], headers=headers)).status_code == 401


async def test_another_orgs_data_is_404_for_every_scope(world, client):
    k = auth(world["globex_admin"])
    for path in ("/v1/orgs/acme/summary", "/v1/orgs/acme/issuers/eng/summary",
                 "/v1/orgs/acme/badges/py/summary", "/v1/orgs/nosuchorg/summary"):
        r = await client.get(f"{path}?{Q}", headers=k)
        assert r.status_code == 404, (path, r.text)
        assert "acme" not in r.text


async def test_a_publisher_key_cannot_read_and_readers_cannot_publish(world, client):
    r = await client.get(f"/v1/orgs/acme/summary?{Q}", headers=auth(world["acme_pub"]))
    assert r.status_code == 403
    for name in ("acme_admin", "acme_eng"):
        r = await client.post("/v1/events", json=[DATA[0]], headers=auth(world[name]))
        assert r.status_code == 403


async def test_an_issuer_key_sees_only_its_issuers(world, client):
    k = auth(world["acme_eng"])
    r = await client.get(f"/v1/orgs/acme/summary?{Q}", headers=k)
    assert r.status_code == 200
    body = r.json()
    assert body["scope"]["issuer_ids"] == ["eng"]
    assert body["metrics"]["badges_awarded"] == 2  # a1, a2 of eng; not a3 of ops
    assert body["kpis"]["badges_awarded"]["value"] == 2
    assert body["metrics"]["accepted_awards"] == 0
    ok = await client.get(f"/v1/orgs/acme/issuers/eng/summary?{Q}", headers=k)
    assert ok.status_code == 200 and ok.json()["metrics"]["badges_awarded"] == 2
    for path in ("/v1/orgs/acme/issuers/ops/summary", "/v1/orgs/acme/badges/k8s/summary",
                 f"/v1/orgs/acme/summary?issuer_id=ops&{Q}"):
        r = await client.get(path if "?" in path else f"{path}?{Q}", headers=k)
        assert r.status_code == 404, (path, r.text)
    ops = await client.get(f"/v1/orgs/acme/summary?{Q}", headers=auth(world["acme_ops"]))
    assert ops.json()["metrics"]["badges_awarded"] == 1
    assert ops.json()["metrics"]["accepted_awards"] == 1


async def test_an_org_admin_sees_the_whole_org_and_404s_on_what_does_not_exist(world, client):
    k = auth(world["acme_admin"])
    r = await client.get(f"/v1/orgs/acme/summary?{Q}", headers=k)
    assert r.json()["metrics"]["badges_awarded"] == 3
    assert r.json()["scope"]["issuer_ids"] is None
    b = await client.get(f"/v1/orgs/acme/badges/k8s/summary?{Q}", headers=k)
    assert b.json()["metrics"]["badges_awarded"] == 1
    for path in ("/v1/orgs/acme/issuers/nobody/summary", "/v1/orgs/acme/badges/nothing/summary"):
        assert (await client.get(f"{path}?{Q}", headers=k)).status_code == 404


async def test_a_revoked_key_is_401_and_the_cli_prints_only_the_key(world, settings, client):
    env = settings_env(settings)
    out = subprocess.run([sys.executable, "-m", "badgepulse.cli", "keys", "create", "--org",
                          "acme", "--role", "org_admin", "--name", "ci"],
                         env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    token = out.stdout.strip()
    assert out.stdout.count("\n") == 1 and token.startswith("bpk_")
    assert (await client.get(f"/v1/orgs/acme/summary?{Q}", headers=auth(token))).status_code == 200
    listed = subprocess.run([sys.executable, "-m", "badgepulse.cli", "keys", "list"], env=env,
                            cwd=ROOT, capture_output=True, text=True, check=True).stdout
    assert token not in listed  # only ids; the key itself is never stored or shown
    key_id = token.split("_", 2)[1]
    assert key_id in listed
    subprocess.run([sys.executable, "-m", "badgepulse.cli", "keys", "revoke", key_id], env=env,
                   cwd=ROOT, check=True, capture_output=True)
    assert (await client.get(f"/v1/orgs/acme/summary?{Q}", headers=auth(token))).status_code == 401


async def test_keys_are_stored_only_as_hashes(world, redis, settings):
    from schemas.layout import Layout

    layout = Layout(settings.redis_prefix)
    records = await redis.hgetall(layout.api_keys())
    hashes = await redis.hgetall(layout.api_key_hashes())
    assert len(records) == len(hashes) == len(world)
    stored = b"".join([*records, *records.values(), *hashes, *hashes.values()])
    for token in world.values():
        assert token.encode() not in stored
        assert token.split("_", 2)[2].encode() not in stored


@pytest.mark.parametrize("query, param", [
    ("from=2026-05-01&to=2026-04-01", "from"),
    ("from=2026-13-01", "from"),
    ("to=yesterday", "to"),
    ("from=2000-01-01&to=2026-01-01", "to"),
    ("status=lost", "status"),
])
async def test_bad_parameters_are_422_naming_the_parameter(world, client, query, param):
    r = await client.get(f"/v1/orgs/acme/summary?{query}", headers=auth(world["acme_admin"]))
    assert r.status_code == 422, r.text
    assert any(param in d["loc"] for d in r.json()["detail"]), r.json()


async def test_status_shows_only_the_callers_org(world, client):
    acme = (await client.get("/v1/status", headers=auth(world["acme_admin"]))).json()
    globex = (await client.get("/v1/status", headers=auth(world["globex_admin"]))).json()
    assert (acme["applied"], globex["applied"]) == (4, 1)  # DATA: four acme events, one globex
    assert acme["lag"] == 0 and acme["rejected"] == 0 and acme["held"] == 0
    assert acme["as_of"] == globex["as_of"] == "2026-04-13T09:30:00.000Z"


async def test_metrics_count_requests_by_route_and_show_the_workers_totals(world, client):
    await client.get(f"/v1/orgs/acme/summary?{Q}", headers=auth(world["acme_admin"]))
    text = (await client.get("/metrics")).text
    assert ('badgepulse_http_requests_total{method="GET",route="/v1/orgs/{org_id}/summary",'
            'status="200"} 1.0') in text
    assert 'badgepulse_http_request_seconds_count{method="GET",' in text
    assert 'badgepulse_worker_events{kind="applied"} 5.0' in text  # all five DATA events
    assert "badgepulse_consumer_lag 0.0" in text
