"""Which webhook URLs may be called (insights.md): https only, and never an address inside
the deployment's network (loopback, private, link-local or any other non-global one), unless
the host is listed in BADGEPULSE_ALERT_ALLOW_HOSTS.

The host is resolved when the alert is made and again before every delivery (DNS may have
changed), and the request goes to the address that was checked (`Target.connect_url`), with
the original Host header and TLS server name, so a second lookup by the HTTP client cannot
swap in another address."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolve = Callable[[str, int], Awaitable[list[IPAddress]]]
MAX_URL = 2048
# Lookups of alert hosts run on threads of their own: a tenant's name server that answers
# slowly (a lookup outlives its 5 s timeout in its thread) can hold these, never the loop's
# default executor, which resolves the Redis and Kafka hosts of the process.
LOOKUP_THREADS = 16
_lookups = ThreadPoolExecutor(LOOKUP_THREADS, thread_name_prefix="alert-dns")


class UrlRefused(ValueError):
    """The URL may not be called; the message says why."""


@dataclass(frozen=True)
class Target:
    """A URL checked for one delivery: where to connect and what to tell the server."""

    url: str  # as the alert has it
    connect_url: str  # the same with the checked address in place of the host name
    host_header: str
    sni_hostname: str | None  # https: the name the certificate must carry


async def system_resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the system resolver gives for host (the only DNS seam)."""
    infos = await asyncio.get_running_loop().run_in_executor(
        _lookups, lambda: socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
    out: list[IPAddress] = []
    for _family, _type, _proto, _name, sockaddr in infos:
        addr = ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0])
        if addr not in out:
            out.append(addr)
    return out


def parse_allow_hosts(text: str) -> frozenset[str]:
    return frozenset(h.strip().lower().strip("[]") for h in text.split(",") if h.strip())


def _split(url: str, allowed: frozenset[str]) -> tuple[str, str, int, bool]:
    """(scheme, host, port, listed) of a URL that is well formed, or UrlRefused."""
    if len(url) > MAX_URL:
        raise UrlRefused(f"the URL is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise UrlRefused(f"not a URL: {err}") from err
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("https", "http") or not host:
        raise UrlRefused("must be an https:// URL with a host")
    if parts.username is not None or parts.password is not None:
        raise UrlRefused("must not carry credentials (the alert list shows the URL)")
    listed = host in allowed
    if scheme != "https" and not listed:
        raise UrlRefused("must be https (plain http only for hosts in "
                         "BADGEPULSE_ALERT_ALLOW_HOSTS)")
    return scheme, host, port or (443 if scheme == "https" else 80), listed


# IPv6 forms that carry an IPv4 address in their last 32 bits, which a host with IPv4
# compatibility, SIIT or NAT64 (an IPv6-only deployment with DNS64) may reach: the IPv4
# address inside is checked too (Python 3.11's is_global calls them all global)
_EMBEDS_V4 = tuple(ipaddress.IPv6Network(n) for n in (
    "::/96",  # IPv4-compatible (deprecated)
    "::ffff:0:0:0/96",  # SIIT, IPv4-translated
    "64:ff9b::/96",  # NAT64 well-known prefix
))
_NEVER_V6 = ipaddress.IPv6Network("64:ff9b:1::/48")  # NAT64 for local use (RFC 8215)


def _embedded_v4(addr: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if addr.ipv4_mapped is not None:
        return addr.ipv4_mapped
    if addr.sixtofour is not None:
        return addr.sixtofour
    if any(addr in net for net in _EMBEDS_V4):
        return ipaddress.IPv4Address(int(addr) & 0xFFFFFFFF)
    return None


def refused_address(addr: IPAddress) -> str | None:
    """Why an address may not be called, or None when it is a global one."""
    if isinstance(addr, ipaddress.IPv6Address):
        if addr in _NEVER_V6:
            return "non-global address"
        inner = _embedded_v4(addr)
        if inner is not None and not addr.is_loopback and not addr.is_unspecified:
            return refused_address(inner)
    if addr.is_global:
        return None
    for kind in ("loopback", "link_local", "private", "multicast", "reserved", "unspecified"):
        if getattr(addr, f"is_{kind}"):
            return f"{kind.replace('_', '-')} address"
    return "non-global address"


async def check_url(url: str, allowed: frozenset[str], resolve: Resolve = system_resolve,
                    timeout_s: float = 5.0) -> Target:
    """The target to call for `url`, or UrlRefused saying why not."""
    scheme, host, port, listed = _split(url, allowed)
    parts = urlsplit(url)
    try:
        literal: IPAddress | None = ipaddress.ip_address(host)
    except ValueError:
        literal = None
    if literal is None:
        # the name as DNS, TLS and the Host header take it (an internationalised name in
        # its xn-- form: a non-ASCII Host header cannot be sent)
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as err:  # an empty or over-long label
            raise UrlRefused(f"the host {host!r} does not resolve") from err
    host_header = parts.netloc if literal is not None else (
        f"{host}:{parts.port}" if parts.port is not None else host)
    if listed:
        # a listed host is called as it is (tests, an on-premises receiver)
        return Target(url, url, host_header, None)
    if literal is not None:
        addrs = [literal]
    else:
        try:
            async with asyncio.timeout(timeout_s):
                addrs = await resolve(host, port)
        except (OSError, TimeoutError, UnicodeError) as err:
            raise UrlRefused(f"the host {host!r} does not resolve") from err
        if not addrs:
            raise UrlRefused(f"the host {host!r} does not resolve")
    for addr in addrs:
        why = refused_address(addr)
        if why is not None:
            # the address is named only when the URL gave it: what a name resolves to
            # inside the deployment's network is not told (a tenant could map it)
            shown = f" ({addr})" if literal is not None else ""
            raise UrlRefused(f"the host resolves to a {why}{shown}; such hosts must be "
                             "listed in BADGEPULSE_ALERT_ALLOW_HOSTS")
    addr = addrs[0]
    shown = f"[{addr}]" if addr.version == 6 else str(addr)
    netloc = f"{shown}:{port}" if parts.port else shown
    connect = urlunsplit((scheme, netloc, parts.path or "/", parts.query, ""))
    return Target(url, connect, host_header, host if scheme == "https" else None)
