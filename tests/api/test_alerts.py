"""Alerts through the API with a real worker, Redis and a real local webhook receiver:
one signed delivery per change of state (retried past two failures), min_awards, the
test delivery, the delivery log, CRUD, the key rules and the URL rules.

Events are dated today (UTC, just after midnight) so they fall in a 1-day window."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, time

import pytest

from tests.alert_receiver import Receiver
from tests.conftest import asgi_client, caught_up, make_key, publish_events


def issued_at() -> str:
    """The first second of today (UTC): the rules read whole days ending today, so "today"
    is taken when an event is made, not when this module was imported (a run that began
    before midnight sent yesterday's events to rules evaluating the new day)."""
    return datetime.combine(datetime.now(UTC).date(), time(0, 0, 1),
                            tzinfo=UTC).isoformat().replace("+00:00", "Z")


def issued(n: int, issuer: str = "eng", badge: str = "py") -> dict[str, str]:
    return {"event_id": f"i{n}", "type": "award.issued", "occurred_at": issued_at(),
            "org_id": "acme", "issuer_id": issuer, "badge_id": badge, "award_id": f"a{n}",
            "method": "lms"}


def accepted(n: int) -> dict[str, str]:
    return {"event_id": f"x{n}", "type": "award.accepted", "occurred_at": issued_at(),
            "org_id": "acme", "award_id": f"a{n}"}


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def quick(settings):
    """Alerts on a test's clock: evaluated 5 times a second, retried after 0.2 s."""
    return settings.model_copy(update={
        "alert_allow_hosts": "127.0.0.1", "alert_eval_interval": 0.2,
        "alert_poll_interval": 0.05, "alert_backoff_base": 0.2, "alert_backoff_cap": 0.5,
        "alert_retry_horizon": 60.0, "alert_lease": 5.0, "alert_send_timeout": 2.0})


@pytest.fixture
async def receiver():
    r = Receiver()
    await r.start()
    try:
        yield r
    finally:
        await r.stop()


@pytest.fixture
async def api(settings):
    async for c in asgi_client(quick(settings)):
        yield c


@pytest.fixture
async def keys(settings):
    return {"admin": await make_key(settings, "acme", "org_admin"),
            "other": await make_key(settings, "globex", "org_admin"),
            "issuer": await make_key(settings, "acme", "issuer", ("eng",)),
            "pub": await make_key(settings, "acme", "publisher")}


def rule(url: str, **kw):
    return {"metric": "acceptance_rate", "window_days": 1,
            "condition": {"op": "below", "value": 0.5}, "min_awards": 4, "url": url, **kw}


async def test_one_signed_delivery_per_change_of_state_each_past_two_failures(
        settings, workers, api, keys, receiver):
    workers.start()
    # 4 awards today, 1 accepted: acceptance_rate 1/4 = 0.25, below 0.5
    await publish_events(settings, [issued(n) for n in range(4)] + [accepted(0)])
    await caught_up(settings)
    admin = auth(keys["admin"])
    r = await api.post("/v1/orgs/acme/alerts", headers=admin, json=rule(receiver.url))
    assert r.status_code == 201, r.text
    alert = r.json()
    receiver.secrets[alert["alert_id"]] = alert["secret"]
    # 4 cohort awards < min_awards 5: this one neither fires nor resolves
    r = await api.post("/v1/orgs/acme/alerts", headers=admin,
                       json=rule(receiver.url, min_awards=5))
    held = r.json()
    receiver.secrets[held["alert_id"]] = held["secret"]

    await receiver.wait_for(1, "firing")
    fired = [s for s in receiver.seen if s.body["state"] == "firing"]
    # two 500s, then the 200: three attempts of ONE delivery (one id), each signed
    assert [s.answered for s in fired] == [500, 500, 200]
    assert len({s.delivery_id for s in fired}) == 1
    assert all(s.signature_ok for s in fired)
    body = fired[-1].body
    assert body == {"alert_id": alert["alert_id"], "org_id": "acme",
                    "metric": "acceptance_rate",
                    "scope": {"issuer_id": None, "badge_id": None},
                    "window": {"from": issued_at()[:10], "to": issued_at()[:10]}, "value": 0.25,
                    "previous": None,  # yesterday had no awards: a null rate
                    "condition": {"op": "below", "value": 0.5}, "state": "firing",
                    "at": body["at"]}

    # 2 more accepted: 3/4 = 0.75, not below 0.5 any more
    await publish_events(settings, [accepted(1), accepted(2)])
    await caught_up(settings)
    await receiver.wait_for(1, "resolved")
    await asyncio.sleep(1.5)  # ~7 more evaluations: nothing more may arrive
    resolved = [s for s in receiver.seen if s.body["state"] == "resolved"]
    assert [s.answered for s in resolved] == [500, 500, 200]
    assert resolved[-1].body["value"] == 0.75
    assert len(receiver.seen) == 6
    assert all(s.body["alert_id"] == alert["alert_id"] for s in receiver.seen)

    r = await api.get(f"/v1/orgs/acme/alerts/{alert['alert_id']}/deliveries", headers=admin)
    items = r.json()["items"]
    assert [(d["state"], d["status"], d["attempts"], d["http_status"], d["next_retry"])
            for d in items] == [("resolved", "delivered", 3, 200, None),
                                ("firing", "delivered", 3, 200, None)]
    assert items[1]["delivery_id"] == fired[0].delivery_id
    r = await api.get(f"/v1/orgs/acme/alerts/{held['alert_id']}/deliveries", headers=admin)
    assert r.json()["items"] == []
    states = {a["alert_id"]: a["state"] for a in
              (await api.get("/v1/orgs/acme/alerts", headers=admin)).json()["items"]}
    assert states == {alert["alert_id"]: "resolved", held["alert_id"]: "ok"}


async def test_a_test_delivery_is_sent_at_once_with_the_numbers_as_they_stand(
        settings, api, keys, receiver):
    receiver.fail_first = 0
    admin = auth(keys["admin"])
    alert = (await api.post("/v1/orgs/acme/alerts", headers=admin,
                            json=rule(receiver.url, metric="views", window_days=7))).json()
    receiver.secrets[alert["alert_id"]] = alert["secret"]
    r = await api.post(f"/v1/orgs/acme/alerts/{alert['alert_id']}/test", headers=admin)
    assert r.status_code == 200, r.text
    d = r.json()
    assert (d["state"], d["status"], d["attempts"], d["http_status"]) == (
        "test", "delivered", 1, 200)
    [seen] = receiver.seen
    assert seen.signature_ok and seen.delivery_id == d["delivery_id"]
    assert (seen.body["state"], seen.body["metric"], seen.body["value"],
            seen.body["previous"]) == ("test", "views", 0, 0)


async def test_alerts_are_for_org_admin_keys_of_their_own_org(settings, api, keys, receiver):
    admin = auth(keys["admin"])
    alert = (await api.post("/v1/orgs/acme/alerts", headers=admin,
                            json=rule(receiver.url))).json()
    aid = alert["alert_id"]
    assert alert["min_awards"] == 4 and alert["state"] == "ok"
    assert alert["secret"].startswith("whsec_")
    calls = [("post", "/v1/orgs/acme/alerts", rule(receiver.url)),
             ("get", "/v1/orgs/acme/alerts", None),
             ("delete", f"/v1/orgs/acme/alerts/{aid}", None),
             ("post", f"/v1/orgs/acme/alerts/{aid}/test", None),
             ("get", f"/v1/orgs/acme/alerts/{aid}/deliveries", None)]
    for method, path, body in calls:
        kw = {"json": body} if body else {}
        assert (await api.request(method, path, **kw)).status_code == 401
        for role in ("issuer", "pub"):
            r = await api.request(method, path, headers=auth(keys[role]), **kw)
            assert r.status_code == 403, (role, path, r.text)
        r = await api.request(method, path, headers=auth(keys["other"]), **kw)
        assert r.status_code == 404 and r.json() == {"detail": "not found"}, (path, r.text)
    # another org's alert and an absent one look the same to acme's admin
    for path in ("/v1/orgs/acme/alerts/al_nope/deliveries", "/v1/orgs/acme/alerts/al_nope"):
        method = "get" if path.endswith("deliveries") else "delete"
        r = await api.request(method, path, headers=admin)
        assert r.status_code == 404 and r.json() == {"detail": "not found"}

    listed = (await api.get("/v1/orgs/acme/alerts", headers=admin)).json()["items"]
    assert [a["alert_id"] for a in listed] == [aid]
    assert "secret" not in listed[0] and alert["secret"] not in str(listed)
    assert (await api.delete(f"/v1/orgs/acme/alerts/{aid}", headers=admin)).status_code == 204
    assert (await api.delete(f"/v1/orgs/acme/alerts/{aid}", headers=admin)).status_code == 404
    assert (await api.get("/v1/orgs/acme/alerts", headers=admin)).json() == {"items": []}
    # min_awards defaults to 20
    body = rule(receiver.url)
    del body["min_awards"]
    r = await api.post("/v1/orgs/acme/alerts", headers=admin, json=body)
    assert r.status_code == 201 and r.json()["min_awards"] == 20


@pytest.mark.parametrize(("change", "loc"), [
    ({"metric": "happiness"}, ["body", "metric"]),
    ({"window_days": 0}, ["body", "window_days"]),
    ({"window_days": 91}, ["body", "window_days"]),
    ({"condition": {"op": "between", "value": 1}}, ["body", "condition", "op"]),
    ({"condition": {"op": "drops_by_pct", "value": -5}}, ["body", "condition"]),
    ({"min_awards": -1}, ["body", "min_awards"]),
    ({"min_awards": 10**30}, ["body", "min_awards"]),  # once a 500: orjson's 64-bit ints
    ({"url": "https://a..example.com/hook"}, ["body", "url"]),  # once a 500 (IDNA)
    ({"colour": "red"}, ["body", "colour"]),
    ({"scope": {"issuer_id": "nobody"}}, ["body", "scope", "issuer_id"]),
    ({"scope": {"badge_id": "nothing"}}, ["body", "scope", "badge_id"]),
    ({"url": "https://10.0.0.1/hook"}, ["body", "url"]),
    ({"url": "http://192.168.1.1/hook"}, ["body", "url"]),
])
async def test_a_bad_alert_is_422_naming_the_field(api, keys, receiver, change, loc):
    r = await api.post("/v1/orgs/acme/alerts", headers=auth(keys["admin"]),
                       json={**rule(receiver.url), **change})
    assert r.status_code == 422, r.text
    assert loc in [e["loc"] for e in r.json()["detail"]], r.text


async def test_a_url_resolving_to_10_0_0_1_is_refused(api, keys):
    r = await api.post("/v1/orgs/acme/alerts", headers=auth(keys["admin"]),
                       json=rule("https://10.0.0.1/hook"))
    assert r.status_code == 422
    [err] = r.json()["detail"]
    assert err["loc"] == ["body", "url"] and "private address (10.0.0.1)" in err["msg"]


async def test_a_host_that_resolves_inside_by_delivery_time_is_not_called(api, keys):
    """The name is resolved again for every attempt (DNS is swapped here, nothing else)."""
    import ipaddress

    dns = {"hooks.example.test": "93.184.216.34"}

    async def resolve(host, port):
        return [ipaddress.ip_address(dns[host])]

    api._transport.app.state.alert_runner.resolve_host = resolve
    admin = auth(keys["admin"])
    r = await api.post("/v1/orgs/acme/alerts", headers=admin,
                       json=rule("https://hooks.example.test/hook"))
    assert r.status_code == 201, r.text
    dns["hooks.example.test"] = "10.0.0.1"
    r = await api.post(f"/v1/orgs/acme/alerts/{r.json()['alert_id']}/test", headers=admin)
    d = r.json()
    assert (d["status"], d["attempts"], d["http_status"]) == ("pending", 1, None)
    assert "private address" in d["error"] and d["next_retry"] is not None
    assert "10.0.0.1" not in d["error"]  # what a name resolves to inside is never told
    r = await api.post("/v1/orgs/acme/alerts", headers=admin,
                       json=rule("https://hooks.example.test/hook"))
    assert r.status_code == 422 and "private address" in r.text and "10.0.0.1" not in r.text


async def test_a_redirect_is_not_followed_and_retry_after_is_honoured(api, keys, receiver):
    # attempt 1: 302 to /elsewhere (a failure, not followed); attempt 2: 503 asking for 2 s
    # (the backoff alone would wait 0.4 s); attempt 3: 200
    receiver.script = [(302, {"Location": "/elsewhere"}), (503, {"Retry-After": "2"})]
    admin = auth(keys["admin"])
    alert = (await api.post("/v1/orgs/acme/alerts", headers=admin,
                            json=rule(receiver.url))).json()
    receiver.secrets[alert["alert_id"]] = alert["secret"]
    r = await api.post(f"/v1/orgs/acme/alerts/{alert['alert_id']}/test", headers=admin)
    d = r.json()
    assert (d["status"], d["attempts"], d["http_status"], d["error"]) == (
        "pending", 1, 302, "HTTP 302")
    await receiver.wait_for(1, "test", timeout=20)
    first, second, third = receiver.seen
    assert [x.answered for x in receiver.seen] == [302, 503, 200]
    assert receiver.others == 0
    assert 0.15 <= second.at - first.at < 1.5  # backoff base 0.2 s
    assert third.at - second.at >= 1.9  # Retry-After: 2
    r = await api.get(f"/v1/orgs/acme/alerts/{alert['alert_id']}/deliveries", headers=admin)
    [d] = r.json()["items"]
    assert (d["status"], d["attempts"], d["http_status"], d["error"]) == (
        "delivered", 3, 200, None)


async def test_each_alert_is_evaluated_over_its_own_scope(settings, workers, api, keys,
                                                          receiver):
    """eng/py: 4 awards today, 1 accepted (25 %); ops/k8s: 2 awards, both accepted (100 %);
    the org: 6 awards, 3 accepted (50 %)."""
    receiver.fail_first = 0
    workers.start()
    await publish_events(settings, [issued(n) for n in range(4)] + [accepted(0)]
                         + [issued(n, "ops", "k8s") for n in (10, 11)]
                         + [accepted(10), accepted(11)])
    await caught_up(settings)
    admin = auth(keys["admin"])
    made = {}
    for name, body in {
        "ops_below_half": rule(receiver.url, scope={"issuer_id": "ops"}, min_awards=2),
        "py_below_half": rule(receiver.url, scope={"issuer_id": "eng", "badge_id": "py"}),
        "org_awarded_above_5": rule(receiver.url, metric="badges_awarded", min_awards=0,
                                    condition={"op": "above", "value": 5}),
        "org_below_half": rule(receiver.url),  # 50 % is not below 50 %
        "views_rise": rule(receiver.url, metric="views", min_awards=0,
                           condition={"op": "rises_by_pct", "value": 10}),  # 0 vs 0: null
    }.items():
        r = await api.post("/v1/orgs/acme/alerts", headers=admin, json=body)
        assert r.status_code == 201, r.text
        made[r.json()["alert_id"]] = name
        receiver.secrets[r.json()["alert_id"]] = r.json()["secret"]
    await receiver.wait_for(2, "firing")
    await asyncio.sleep(1.0)
    fired = {made[s.body["alert_id"]]: (s.body["value"], s.body["scope"]) for s in receiver.seen}
    assert fired == {"py_below_half": (0.25, {"issuer_id": "eng", "badge_id": "py"}),
                     "org_awarded_above_5": (6, {"issuer_id": None, "badge_id": None})}
    assert all(s.signature_ok for s in receiver.seen) and len(receiver.seen) == 2


async def test_a_lost_org_index_is_put_back_and_the_lease_outlasts_an_attempt(
        settings, redis, api, keys, receiver):
    """On a cluster the index of orgs with alerts lives on another master than the orgs'
    alerts: one restarted empty must not stop the org's deliveries. And a claim is held
    at least as long as an attempt can take (lookup 5 s + send 2 s + 5 s), though
    ALERT_LEASE says 5 s, so no second process sends while the first is still waiting."""
    from api.alerting.store import now_ms
    from schemas.layout import Layout

    runner = api._transport.app.state.alert_runner
    receiver.fail_first = 0
    admin = auth(keys["admin"])
    alert = (await api.post("/v1/orgs/acme/alerts", headers=admin,
                            json=rule(receiver.url))).json()
    receiver.secrets[alert["alert_id"]] = alert["secret"]
    await asyncio.sleep(0.3)  # the loops (polling every 0.05 s) have seen the org
    assert "acme" in await runner.store.orgs()
    await redis.delete(Layout(settings.redis_prefix).alert_orgs())  # the index lost
    body = b'{"alert_id": "%s", "state": "test"}' % alert["alert_id"].encode()
    _done, delivery_id = await runner.store.enqueue("acme", alert["alert_id"], "test", body,
                                                    now_ms(), test=True)
    await receiver.wait_for(1, "test", timeout=10)  # the loops delivered it all the same
    assert await redis.smembers(Layout(settings.redis_prefix).alert_orgs()) == {b"acme"}

    assert runner.lease_ms == 12_000
    runner._closing = True  # the loops stop claiming (the next claim is this test's)
    await asyncio.sleep(0.3)
    _done, delivery_id = await runner.store.enqueue("acme", alert["alert_id"], "test", body,
                                                    now_ms(), test=True)
    [rec] = await runner.store.claim("acme", "probe", runner.lease_ms, 1, ids=[delivery_id])
    assert rec["lease_until"] - rec["last_attempt_at"] == 12_000


async def test_alerts_made_at_the_same_moment_cannot_pass_the_orgs_limit(settings, keys,
                                                                          receiver):
    async for api in asgi_client(quick(settings).model_copy(update={"alerts_per_org": 3})):
        admin = auth(keys["admin"])
        answers = await asyncio.gather(*(
            api.post("/v1/orgs/acme/alerts", headers=admin, json=rule(receiver.url))
            for _ in range(12)))
        assert sorted(r.status_code for r in answers) == [201] * 3 + [409] * 9
        assert len((await api.get("/v1/orgs/acme/alerts", headers=admin)).json()["items"]) == 3
        r = await api.post("/v1/orgs/acme/alerts", headers=admin, json=rule(receiver.url))
        assert r.status_code == 409 and "3 alerts already" in r.json()["detail"]


async def test_one_orgs_broken_alert_does_not_stop_another_orgs(settings, redis, workers,
                                                                  api, keys, receiver):
    """An alert of org `aaa` (looked at before `acme`) stored without its fields, as an
    older version or a hand edit could leave it, fails its org's evaluation and delivery
    only: acme's alert still fires and is delivered."""
    from schemas.layout import Layout

    lay = Layout(settings.redis_prefix)
    await redis.hset(lay.alerts("aaa"), "al_broken", b'{"alert_id": "al_broken"}')
    await redis.zadd(lay.alert_due("aaa"), {"dl_broken": 0})
    await redis.hset(lay.alert_deliveries("aaa"), "dl_broken", b'{"delivery_id": 1}')
    await redis.sadd(lay.alert_orgs(), "aaa")
    workers.start()
    await publish_events(settings, [issued(n) for n in range(4)] + [accepted(0)])
    await caught_up(settings)
    receiver.fail_first = 0
    admin = auth(keys["admin"])
    alert = (await api.post("/v1/orgs/acme/alerts", headers=admin,
                            json=rule(receiver.url))).json()
    receiver.secrets[alert["alert_id"]] = alert["secret"]
    await receiver.wait_for(1, "firing", timeout=10)


async def test_an_alert_deleted_while_its_delivery_is_sent_is_told_as_such(api, keys, caplog):
    """DELETE drops the record under the sender's feet; the sender's answer then writes
    nothing, is not sent again, and the log says why (not a lost lease)."""
    import logging

    from api.alerting.store import now_ms

    receiver = Receiver(hang_first=True)
    await receiver.start()
    try:
        runner = api._transport.app.state.alert_runner
        admin = auth(keys["admin"])
        alert = (await api.post("/v1/orgs/acme/alerts", headers=admin,
                                json=rule(receiver.url))).json()
        body = b'{"alert_id": "%s", "state": "firing"}' % alert["alert_id"].encode()
        with caplog.at_level(logging.INFO, logger="badgepulse.alerts"):
            await runner.store.enqueue("acme", alert["alert_id"], "firing", body, now_ms())
            await asyncio.wait_for(receiver.hung.wait(), 10)
            r = await api.delete(f"/v1/orgs/acme/alerts/{alert['alert_id']}", headers=admin)
            assert r.status_code == 204
            await asyncio.sleep(2.5)  # the send times out (2 s)
        text = caplog.text
        assert "was deleted while it was sent" in text and "lease ran out" not in text
        assert len(receiver.seen) == 1  # not sent again
    finally:
        await receiver.stop()
