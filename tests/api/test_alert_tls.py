"""A delivery goes to the address that was checked, yet TLS checks the URL's name: a local
HTTPS receiver with a certificate for `hooks.example.test` (from a test CA, trustme) is
reached at 127.0.0.1 with that name as Host and server name; the same address under a name
the certificate does not carry is refused by the certificate check."""

from __future__ import annotations

import ssl

import httpx
import pytest
import trustme
from aiohttp import web

from api.alerting.runner import post_to
from api.alerting.urls import Target
from badgepulse.embedded import free_port


@pytest.fixture
async def tls_receiver():
    ca = trustme.CA()
    cert = ca.issue_cert("hooks.example.test")
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    cert.configure_cert(server_ctx)
    names: list[str | None] = []
    server_ctx.sni_callback = lambda _sock, name, _ctx: names.append(name)  # type: ignore[assignment]
    hosts: list[str] = []

    async def hook(request: web.Request) -> web.Response:
        hosts.append(request.headers["Host"])
        return web.Response(status=204)

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, handle_signals=False)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port, ssl_context=server_ctx).start()
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    try:
        yield port, client_ctx, names, hosts
    finally:
        await runner.cleanup()


async def test_the_checked_address_is_called_under_the_urls_name(tls_receiver):
    port, client_ctx, names, hosts = tls_receiver
    target = Target(f"https://hooks.example.test:{port}/hook",
                    f"https://127.0.0.1:{port}/hook", f"hooks.example.test:{port}",
                    "hooks.example.test")
    async with httpx.AsyncClient(verify=client_ctx, follow_redirects=False) as client:
        r = await post_to(client, target, b"{}", {"Content-Type": "application/json"})
    assert r.status_code == 204
    assert names == ["hooks.example.test"] and hosts == [f"hooks.example.test:{port}"]


async def test_a_name_the_certificate_does_not_carry_is_refused(tls_receiver):
    port, client_ctx, _names, hosts = tls_receiver
    target = Target(f"https://elsewhere.example.test:{port}/hook",
                    f"https://127.0.0.1:{port}/hook", f"elsewhere.example.test:{port}",
                    "elsewhere.example.test")
    async with httpx.AsyncClient(verify=client_ctx) as client:
        with pytest.raises(httpx.ConnectError, match="certificate"):
            await post_to(client, target, b"{}", {})
    assert hosts == []


async def test_a_connection_made_for_one_name_is_not_reused_for_another(tls_receiver):
    """Two alerts whose names resolve to one address (a shared host, a CDN) would share a
    pooled connection keyed by address and port: the second name's certificate would never
    be checked. Each delivery makes its own connection, so it is."""
    port, client_ctx, names, hosts = tls_receiver
    good = Target(f"https://hooks.example.test:{port}/hook", f"https://127.0.0.1:{port}/hook",
                  f"hooks.example.test:{port}", "hooks.example.test")
    other = Target(f"https://elsewhere.example.test:{port}/hook",
                   f"https://127.0.0.1:{port}/hook", f"elsewhere.example.test:{port}",
                   "elsewhere.example.test")
    async with httpx.AsyncClient(verify=client_ctx) as client:
        assert (await post_to(client, good, b"{}", {})).status_code == 204
        with pytest.raises(httpx.ConnectError, match="certificate"):
            await post_to(client, other, b"{}", {})
        assert (await post_to(client, good, b"{}", {})).status_code == 204
    assert names == ["hooks.example.test", "elsewhere.example.test", "hooks.example.test"]
    assert hosts == [f"hooks.example.test:{port}"] * 2
