"""The pure parts of alerts, worked by hand: conditions, states, the retry schedule, the
signature, and which webhook URLs are refused (DNS through a fake resolver only)."""

from __future__ import annotations

import ipaddress
from datetime import UTC, date, datetime

import pytest

from api.alerting import rules
from api.alerting.urls import UrlRefused, check_url, parse_allow_hosts


def test_the_window_is_the_last_n_whole_days_ending_today_and_the_one_before_it():
    assert rules.window(date(2026, 3, 10), 7) == (date(2026, 3, 4), date(2026, 3, 10))
    assert rules.previous_window(date(2026, 3, 10), 7) == (date(2026, 2, 25), date(2026, 3, 3))
    assert rules.window(date(2026, 3, 10), 1) == (date(2026, 3, 10), date(2026, 3, 10))


@pytest.mark.parametrize(("op", "threshold", "value", "previous", "holds"), [
    ("below", 0.5, 0.25, None, True),
    ("below", 0.5, 0.5, None, False),  # strict
    ("above", 10, 10.5, 3, True),
    ("above", 10, 10, 3, False),
    ("below", 0.5, None, 0.9, None),  # a null rate cannot be told
    # change_pct = 100 * (80 - 100) / 100 = -20: a drop by 20 % holds, by 25 % does not
    ("drops_by_pct", 20, 80, 100, True),
    ("drops_by_pct", 25, 80, 100, False),
    ("rises_by_pct", 50, 150, 100, True),  # +50 %
    ("rises_by_pct", 50, 149, 100, False),
    ("drops_by_pct", 20, 5, 0, None),  # previous 0: change_pct null
])
def test_conditions_worked_by_hand(op, threshold, value, previous, holds):
    assert rules.condition_holds(op, threshold, value, previous) is holds


def test_an_alert_fires_once_resolves_once_and_holds_below_min_awards():
    assert rules.next_state("ok", True, 20, 20) == "firing"
    assert rules.next_state("firing", True, 20, 20) is None  # already firing
    assert rules.next_state("firing", False, 20, 20) == "resolved"
    assert rules.next_state("resolved", False, 20, 20) is None
    assert rules.next_state("resolved", True, 25, 20) == "firing"
    assert rules.next_state("ok", False, 20, 20) is None  # nothing to resolve
    # 19 cohort awards under min_awards 20: neither fires nor resolves
    assert rules.next_state("ok", True, 19, 20) is None
    assert rules.next_state("firing", False, 19, 20) is None
    assert rules.next_state("firing", None, 50, 20) is None


def test_retry_delays_double_from_one_minute_to_six_hours():
    delays = [rules.retry_delay_s(n, 60, 6 * 3600) for n in range(1, 13)]
    assert delays == [60, 120, 240, 480, 960, 1920, 3840, 7680, 15360, 21600, 21600, 21600]


def test_a_failing_delivery_is_tried_twelve_times_over_24_hours_then_given_up():
    # attempts at 0, then after 60, 120, 240, ... s: 0, 60, 180, 420, 900, 1860, 3780, 7620,
    # 15300, 30660, 52260 (30660 + 21600), 73860; the next would be 95460 s > 86400 s
    created = 1_000_000
    now, attempts, times = created, 0, []
    while True:
        times.append((now - created) // 1000)
        attempts += 1
        nxt = rules.next_attempt_ms(created, now, attempts, None, 60, 21600, 86400)
        if nxt is None:
            break
        now = nxt
    assert times == [0, 60, 180, 420, 900, 1860, 3780, 7620, 15300, 30660, 52260, 73860]


def test_retry_after_is_honoured_when_longer_than_the_backoff():
    assert rules.next_attempt_ms(0, 0, 1, 300, 60, 21600, 86400) == 300_000
    assert rules.next_attempt_ms(0, 0, 1, 5, 60, 21600, 86400) == 60_000
    assert rules.next_attempt_ms(0, 0, 1, 90_000, 60, 21600, 86400) is None  # past 24 h
    now = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
    assert rules.parse_retry_after("120", now) == 120
    assert rules.parse_retry_after("Sun, 01 Mar 2026 12:02:30 GMT", now) == 150
    assert rules.parse_retry_after("soon", now) is None
    # digits of other scripts are not delta-seconds (float("\u00b2") raised once)
    assert rules.parse_retry_after("\u00b2", now) is None
    assert rules.parse_retry_after("1\u0663", now) is None
    assert rules.parse_retry_after(None, now) is None


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body():
    # printf '%s' '1700000000.{"a":1}' | openssl dgst -sha256 -hmac 'whsec_test'
    want = "38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
    header = rules.sign("whsec_test", 1700000000, b'{"a":1}')
    assert header == f"t=1700000000,v1={want}"
    assert rules.verify("whsec_test", header, b'{"a":1}', now=1700000010)
    assert not rules.verify("whsec_test", header, b'{"a":2}', now=1700000010)
    assert not rules.verify("whsec_other", header, b'{"a":1}', now=1700000010)
    assert not rules.verify("whsec_test", header, b'{"a":1}', now=1700000000 + 301)


def test_the_payload_has_exactly_the_fields_of_insights_md():
    import orjson

    alert = {"alert_id": "al_1", "org_id": "acme", "metric": "acceptance_rate",
             "scope": {"issuer_id": None, "badge_id": None},
             "condition": {"op": "below", "value": 0.5}}
    body = orjson.loads(rules.payload(alert, date(2026, 3, 4), date(2026, 3, 10), 0.25, 0.75,
                                      "firing", 1_772_000_000_123))
    assert body == {"alert_id": "al_1", "org_id": "acme", "metric": "acceptance_rate",
                    "scope": {"issuer_id": None, "badge_id": None},
                    "window": {"from": "2026-03-04", "to": "2026-03-10"}, "value": 0.25,
                    "previous": 0.75, "condition": {"op": "below", "value": 0.5},
                    "state": "firing", "at": "2026-02-25T06:13:20.123Z"}


def fake_dns(table):
    async def resolve(host, port):
        if host not in table:
            raise OSError("no such host")
        return [ipaddress.ip_address(a) for a in table[host]]
    return resolve


DNS = fake_dns({"hooks.example.test": ["93.184.216.34"],
                "xn--bcher-kva.example.test": ["93.184.216.34"],
                "inside.example.test": ["10.0.0.1"],
                "mixed.example.test": ["93.184.216.34", "127.0.0.1"],
                "v6.example.test": ["fe80::1"]})
NONE = frozenset()


async def test_a_host_resolving_to_a_public_address_is_called_at_that_address():
    t = await check_url("https://hooks.example.test/a?b=1", NONE, DNS)
    assert t.connect_url == "https://93.184.216.34/a?b=1"
    assert t.host_header == "hooks.example.test"
    assert t.sni_hostname == "hooks.example.test"  # the certificate is checked for the name


async def test_an_internationalised_name_is_resolved_sent_and_checked_in_its_ascii_form():
    # a non-ASCII Host header cannot be sent: such an alert was made (201) and then every
    # attempt failed with a UnicodeEncodeError
    t = await check_url("https://B\u00fccher.example.test:8443/a", NONE, DNS)
    assert t.connect_url == "https://93.184.216.34:8443/a"
    assert t.host_header == "xn--bcher-kva.example.test:8443"
    assert t.sni_hostname == "xn--bcher-kva.example.test"
    t = await check_url("http://b\u00fccher.example.test/a",
                        frozenset({"b\u00fccher.example.test"}), DNS)
    assert t.host_header == "xn--bcher-kva.example.test"


@pytest.mark.parametrize(("url", "why"), [
    ("https://inside.example.test/x", "private address; "),  # what it resolves to: untold
    ("https://10.0.0.1/x", "private address (10.0.0.1)"),
    ("https://127.0.0.1:8443/x", "loopback"),
    ("https://169.254.169.254/latest/meta-data", "link-local"),
    ("https://[::ffff:10.0.0.1]/x", "private"),
    ("https://mixed.example.test/x", "loopback"),  # any bad address refuses the host
    ("https://v6.example.test/x", "link-local"),
    ("http://hooks.example.test/x", "must be https"),
    ("ftp://hooks.example.test/x", "https"),
    ("https://user:pw@hooks.example.test/x", "credentials"),
    ("https://nowhere.example.test/x", "does not resolve"),
    ("https:///x", "with a host"),
    # IPv6 forms carrying a private IPv4 address (IPv4-compatible, SIIT, NAT64, 6to4)
    ("https://[::10.0.0.1]/x", "private"),
    ("https://[::ffff:0:a00:1]/x", "private"),
    ("https://[64:ff9b::a9fe:a9fe]/x", "link-local"),
    ("https://[64:ff9b:1::808:808]/x", "non-global"),
    ("https://[2002:7f00:1::]/x", "loopback"),
])
async def test_urls_that_are_refused_and_why(url, why):
    with pytest.raises(UrlRefused, match=why.replace("(", r"\(").replace(")", r"\)")):
        await check_url(url, NONE, DNS)


@pytest.mark.parametrize("host", ["a..example.test", "\u00e4" * 70 + ".example.test",
                                  "\u3002example.test"])
async def test_a_name_idna_cannot_encode_is_refused_by_the_system_resolver(host):
    # the encoding fails before any lookup (a UnicodeError, once a 500 of POST .../alerts)
    with pytest.raises(UrlRefused, match="does not resolve"):
        await check_url(f"https://{host}/x", NONE)


async def test_ipv6_forms_carrying_a_public_ipv4_address_are_called():
    for url in ("https://[64:ff9b::808:808]/x", "https://[2002:808:808::1]/x"):
        assert (await check_url(url, NONE, DNS)).connect_url.startswith("https://[")


async def test_a_listed_host_may_be_plain_http_and_private():
    allowed = parse_allow_hosts(" 127.0.0.1 , Inside.Example.Test")
    assert allowed == {"127.0.0.1", "inside.example.test"}
    t = await check_url("http://127.0.0.1:9000/hook", allowed, DNS)
    assert t.connect_url == "http://127.0.0.1:9000/hook"
    t = await check_url("http://inside.example.test/hook", allowed, DNS)
    assert t.connect_url == "http://inside.example.test/hook"


async def test_alert_lookups_never_take_the_default_executors_threads():
    """A slow name server of a tenant would hold the threads it runs on; the loop's default
    executor (which resolves the process's own Redis and Kafka hosts) is never one."""
    import asyncio
    from concurrent.futures import ThreadPoolExecutor

    class Refusing(ThreadPoolExecutor):
        def submit(self, *args, **kwargs):
            raise AssertionError("an alert lookup ran on the default executor")

    loop = asyncio.get_running_loop()
    refusing = Refusing(1)
    loop.set_default_executor(refusing)
    try:
        with pytest.raises(UrlRefused, match="loopback"):
            await check_url("https://localhost/x", NONE)
        with pytest.raises(UrlRefused, match="does not resolve"):
            await check_url("https://a..example.test/x", NONE)
    finally:
        loop.set_default_executor(ThreadPoolExecutor())
        refusing.shutdown()
