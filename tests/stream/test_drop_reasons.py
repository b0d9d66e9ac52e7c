"""Rejections counted by reason: one event of each kind of bad input, worked by hand, through
a real broker, worker and Redis; the counts per reason in /v1/status and /metrics and the
dead-letter topic's reason_code header."""

from __future__ import annotations

import orjson

from tests.conftest import caught_up, make_key, publish

T = "2026-04-13T09:30:00Z"


def ev(**fields: object) -> bytes:
    return orjson.dumps({"org_id": "acme", "occurred_at": T, **fields})


ISSUED = ev(event_id="i1", type="award.issued", issuer_id="eng", badge_id="py",
            award_id="aw1", method="lms")
BAD = {
    # reason code: the bytes that earn it
    "not_json": b'{"event_id": "x", "type": ',
    "unknown_type": ev(event_id="b1", type="award.teleported", award_id="aw1"),
    "missing_field": ev(event_id="b2", type="award.accepted"),  # no award_id
    "invalid_field": ev(event_id="b3", type="award.shared", award_id="aw1", channel="Link In"),
    "future": ev(event_id="b4", type="award.viewed", award_id="aw1", source="direct",
                 occurred_at="2999-01-01T00:00:00Z"),
    "mismatch": ev(event_id="b5", type="award.accepted", award_id="aw1", issuer_id="ops"),
    "award_already_issued": ev(event_id="b6", type="award.issued", issuer_id="eng",
                               badge_id="py", award_id="aw1", method="lms"),
}


async def test_each_rejection_is_counted_under_its_reason(settings, workers, client):
    workers.start()
    # the issue first (its own batch), so the mismatch and the second issue meet the award
    await publish(settings, [(b"aw1", ISSUED)])
    await caught_up(settings)
    await publish(settings, [(b"aw1", value) for value in BAD.values()])
    status = await caught_up(settings)
    assert status["rejected"] == len(BAD)

    key = await make_key(settings, "acme", "org_admin")
    r = await client.get("/v1/status", headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    # the org's view: the broken JSON names no org, so it is not acme's
    assert r.json()["rejected_by_reason"] == {code: 1 for code in BAD if code != "not_json"}
    assert r.json()["rejected"] == len(BAD) - 1

    metrics = (await client.get("/metrics")).text
    for code in BAD:  # the pipeline's view: every one, the broken JSON included
        assert f'badgepulse_worker_rejected_events{{reason="{code}"}} 1.0' in metrics
    assert 'badgepulse_worker_rejected_events{reason="unknown_award"} 0.0' in metrics

    got = await dlq_messages_with_codes(settings, len(BAD))
    assert sorted(got) == sorted((value, code) for code, value in BAD.items())


async def dlq_messages_with_codes(settings, expected: int) -> list[tuple[bytes, str]]:
    import asyncio
    import time

    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(settings.dlq_topic, bootstrap_servers=settings.kafka_bootstrap,
                                auto_offset_reset="earliest", group_id=None)
    await consumer.start()
    out: list[tuple[bytes, str]] = []
    try:
        deadline = time.monotonic() + 20
        while len(out) < expected and time.monotonic() < deadline:
            for msgs in (await consumer.getmany(timeout_ms=200)).values():
                for m in msgs:
                    out.append((m.value, dict(m.headers)["reason_code"].decode()))
            await asyncio.sleep(0)
    finally:
        await consumer.stop()
    return out
