"""The API docs pages work on a machine without internet: every script, stylesheet and icon
they load is served by the API itself, and they are counted under their own route."""

from __future__ import annotations

import re

import pytest


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_pages_load_every_asset_from_the_api_itself(client, page):
    r = await client.get(page)
    assert r.status_code == 200
    html = r.text
    urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*['"]([^'"]+)['"]""", html)
    assets = [u for u in urls if not u.startswith("#")]
    assert assets, html
    remote = [u for u in assets if re.match(r"^(https?:)?//", u)]
    assert not remote, f"{page} loads from another host: {remote}"
    for url in assets:
        got = await client.get(url)
        assert got.status_code == 200, (page, url, got.status_code)
        assert len(got.content) > 100, (page, url)


async def test_the_docs_pages_are_counted_under_their_own_route_in_metrics(client):
    await client.get("/docs")
    await client.get("/redoc")
    text = (await client.get("/metrics")).text
    assert 'route="/docs"' in text
    assert 'route="/redoc"' in text
