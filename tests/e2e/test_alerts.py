"""Alerts with two real `badgepulse api` processes evaluating and delivering at once, one
SIGKILLed while its delivery is in flight, then a process started again: still exactly one
acknowledged delivery per change of state, every attempt of a change under one delivery id,
nothing after the acknowledgement."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal

import httpx
import orjson
from redis.asyncio import Redis

from schemas.layout import Layout
from tests.alert_receiver import Receiver
from tests.api.test_alerts import accepted, auth, issued, quick, rule
from tests.conftest import api_server, caught_up, make_key, publish_events


async def sender_pid(settings, org: str) -> int:
    """The pid of the process holding the in-flight delivery (its lease owner)."""
    r = Redis.from_url(settings.redis_url)
    try:
        for _ in range(100):
            recs = [orjson.loads(v) for v in
                    (await r.hgetall(Layout(settings.redis_prefix).alert_deliveries(org)))
                    .values()]
            owners = [d["owner"] for d in recs if d["status"] == "sending"]
            if owners:
                return int(owners[0].split("-", 1)[0])
            await asyncio.sleep(0.02)
    finally:
        await r.aclose()
    raise AssertionError("no delivery in flight")


async def test_two_api_processes_one_killed_mid_delivery_send_each_change_once(
        settings, workers):
    s = quick(settings).model_copy(update={"alert_send_timeout": 8.0, "alert_lease": 4.0})
    # the lease asked is below the send timeout, but a claim is held for at least one
    # attempt's length (lookup 5 s + send 8 s + 5 s): the killed sender's delivery is
    # retaken after 18 s; the hung attempt never answers, its sender is dead before 8 s
    receiver = Receiver(hang_first=True)
    await receiver.start()
    workers.start()
    with contextlib.ExitStack() as stack:
        try:
            urls = [await asyncio.to_thread(stack.enter_context, api_server(s))
                    for _ in range(2)]
            admin = auth(await make_key(s, "acme", "org_admin"))
            async with httpx.AsyncClient(base_url=urls[0], timeout=30) as http:
                r = await http.post("/v1/orgs/acme/alerts", headers=admin,
                                    json=rule(receiver.url))
                assert r.status_code == 201, r.text
                alert = r.json()
            receiver.secrets[alert["alert_id"]] = alert["secret"]

            await publish_events(s, [issued(n) for n in range(4)] + [accepted(0)])
            await caught_up(s)
            await asyncio.wait_for(receiver.hung.wait(), 30)
            pid = await sender_pid(s, "acme")
            os.kill(pid, signal.SIGKILL)  # a process this test started
            await receiver.wait_for(1, "firing", timeout=60)

            # a process started again, beside the survivor
            await asyncio.to_thread(stack.enter_context, api_server(s))
            await publish_events(s, [accepted(1), accepted(2)])
            await caught_up(s)
            await receiver.wait_for(1, "resolved", timeout=60)
            await asyncio.sleep(2.0)  # ~10 evaluation rounds in each process

            fired = [x for x in receiver.seen if x.body["state"] == "firing"]
            resolved = [x for x in receiver.seen if x.body["state"] == "resolved"]
            # firing: the hung attempt (its sender killed), the retake's 500, then the 200
            assert [x.answered for x in fired] == [None, 500, 200]
            assert [x.answered for x in resolved] == [500, 500, 200]
            for sent in (fired, resolved):
                assert len({x.delivery_id for x in sent}) == 1
                assert all(x.signature_ok for x in sent)
            assert len(receiver.seen) == 6
            assert [x.body["value"] for x in (fired[-1], resolved[-1])] == [0.25, 0.75]
        finally:
            await receiver.stop()
