from __future__ import annotations

import orjson

from tests.conftest import caught_up, make_key, publish


async def test_a_published_award_shows_in_the_summary(settings, workers, client):
    evs = [
        {"event_id": "e1", "type": "award.issued", "occurred_at": "2026-04-13T09:30:00Z",
         "org_id": "acme", "issuer_id": "eng", "badge_id": "py", "award_id": "aw1",
         "method": "lms"},
        {"event_id": "e2", "type": "award.accepted", "occurred_at": "2026-04-14T09:30:00Z",
         "org_id": "acme", "award_id": "aw1"},
        {"event_id": "e3", "type": "award.shared", "occurred_at": "2026-04-14T10:30:00Z",
         "org_id": "acme", "award_id": "aw1", "channel": "linkedin"},
    ]
    workers.start()
    await publish(settings, [(e["award_id"].encode(), orjson.dumps(e)) for e in evs])
    status = await caught_up(settings)
    assert status["applied"] == 3
    key = await make_key(settings, "acme", "org_admin")
    r = await client.get("/v1/orgs/acme/summary?from=2026-04-01&to=2026-04-30",
                         headers={"Authorization": f"Bearer {key}"})
    assert r.status_code == 200, r.text
    m = r.json()["metrics"]
    assert m["badges_awarded"] == 1 and m["accepted_awards"] == 1 and m["shares"] == 1
