"""What the readers keep between requests belongs to the app that made it (STYLE.md 13):
two apps in one process each fill and read their own, and no reader module keeps a
process-wide cache."""

from __future__ import annotations

import ast
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from api.main import create_app
from api.readers.caches import ReadCaches
from core.settings import Settings
from tests.conftest import caught_up, make_key, publish_events

ROOT = Path(__file__).resolve().parents[2]
T = "2026-04-13T09:30:00Z"
BADGES = "/v1/orgs/acme/badges?from=2026-04-01&to=2026-04-30"


def event(n: int, kind: str, **fields: str) -> dict[str, Any]:
    return {"event_id": f"e{n}", "type": kind, "occurred_at": T, "org_id": "acme", **fields}


@pytest.fixture
async def two_apps(settings: Settings) -> AsyncIterator[list[tuple[Any, httpx.AsyncClient]]]:
    async with AsyncExitStack() as stack:
        out = []
        for _ in range(2):
            app = create_app(settings)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = await stack.enter_async_context(httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://test"))
            out.append((app, client))
        yield out


def filled(caches: ReadCaches) -> tuple[int, int, int]:
    return len(caches.vectors.buckets), len(caches.pairs.split), len(caches.meta.decoded)


async def test_two_apps_in_one_process_each_read_through_their_own_caches(
        settings, workers, two_apps):
    (app_a, a), (app_b, b) = two_apps
    workers.start()
    await publish_events(settings, [
        event(1, "badge.created", issuer_id="eng", badge_id="py", name="Python"),
        event(2, "award.issued", issuer_id="eng", badge_id="py", award_id="a1", method="lms"),
        event(3, "award.issued", issuer_id="eng", badge_id="py", award_id="a2", method="api"),
    ])
    await caught_up(settings)
    token = await make_key(settings, "acme", "org_admin")
    headers = {"Authorization": f"Bearer {token}"}
    caches_a: ReadCaches = app_a.state.read_caches
    caches_b: ReadCaches = app_b.state.read_caches
    assert caches_a is not caches_b

    first = await a.get(BADGES, headers=headers)
    assert first.status_code == 200, first.text
    row = first.json()["items"][0]
    assert (row["badge_id"], row["name"], row["badges_awarded"]) == ("py", "Python", 2)
    # app A decoded the table's buckets, the org's pair and the badge's metadata; B nothing
    assert all(n > 0 for n in filled(caches_a)), filled(caches_a)
    assert filled(caches_b) == (0, 0, 0)

    second = await b.get(BADGES, headers=headers)
    assert second.json() == first.json()
    assert all(n > 0 for n in filled(caches_b)), filled(caches_b)


def module_level_empty_containers(path: Path) -> list[str]:
    """`X = {}`, `X: dict[...] = {}`, `X = set()`, `X = SomeCache()` ... at module level:
    the shape of a process-wide cache."""
    found = []
    for node in ast.parse(path.read_text()).body:
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        if value is None:
            continue
        empty_literal = isinstance(value, ast.Dict | ast.List | ast.Set) and not (
            value.keys if isinstance(value, ast.Dict) else value.elts)
        cache_call = (isinstance(value, ast.Call) and isinstance(value.func, ast.Name)
                      and (value.func.id in {"dict", "list", "set", "OrderedDict",
                                             "defaultdict", "deque"}
                           or value.func.id.endswith("Cache")))
        if empty_literal or cache_call:
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)[:60]}")
    return found


def test_no_module_of_the_reader_or_core_keeps_a_process_wide_cache():
    found = [hit for package in ("api", "core") for path in sorted((ROOT / package).rglob("*.py"))
             for hit in module_level_empty_containers(path)]
    assert found == []
