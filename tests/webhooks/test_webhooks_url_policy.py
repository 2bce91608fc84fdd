"""Endpoint URL policy. DNS is a dictionary here: no test touches the network."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

import pytest

from webhooks.url_policy import UrlRejected, address_problem, check_url

PUBLIC_V4 = "93.184.215.14"
PUBLIC_V6 = "2606:2800:21f:cb07:6820:80da:af6b:8b2c"


class FakeDns:
    """A resolver with fixed answers that records every name it was asked about."""

    def __init__(self, answers: dict[str, list[str]]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        name = host.lower().removesuffix(".")  # as a real resolver treats a fully qualified name
        if name not in self.answers:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return self.answers[name]


def public_dns() -> FakeDns:
    return FakeDns(
        {
            "portal.example.vn": [PUBLIC_V4, PUBLIC_V6],
            "rebind.example.vn": [PUBLIC_V4, "10.0.0.1"],
            "internal.example.vn": ["10.0.0.1"],
            "metadata.example.vn": ["169.254.169.254"],
            "v6-loopback.example.vn": ["::1"],
            "weird.example.vn": ["not-an-address"],
            "empty.example.vn": [],
        }
    )


def rejection(
    url: str, *, allow_private: bool = False, resolve: Callable[[str], list[str]] | None = None
) -> UrlRejected:
    with pytest.raises(UrlRejected) as raised:
        check_url(url, allow_private=allow_private, resolve=resolve or public_dns())
    return raised.value


@pytest.mark.parametrize(
    "url",
    [
        "https://portal.example.vn/hooks/payments",
        "http://portal.example.vn:8080/hooks?agency=01",
        "https://PORTAL.example.vn./hooks",
        f"https://{PUBLIC_V4}/hooks",
        f"https://[{PUBLIC_V6}]:8443/hooks",
    ],
)
def test_public_http_and_https_urls_are_accepted(url: str) -> None:
    check_url(url, allow_private=False, resolve=public_dns())


@pytest.mark.parametrize(
    "url",
    [
        "portal.example.vn/hooks",  # not absolute
        "/hooks",
        "http:///hooks",  # no host
        "http://:8080/hooks",
        "http://user:pw@example.vn/",  # credentials
        "http://user@example.vn/",
        "http://@example.vn/",
        "https://portal.example.vn/" + "a" * 2048,  # too long
        "http://portal.example.vn:99999/",  # port out of range
        "http://portal.example.vn:http/",
        "http://portal.example.vn\\@10.0.0.5/",  # "\" is "/" to browsers, not to urlsplit
        "http://portal.example.vn /",
        "http://portal.example.vn/\r\nX-Injected: 1",
        "http://%31%32%37.0.0.1/",  # percent-encoded host
        "http://[::1/",  # unbalanced bracket
        "http://[not-v6]/",
        "http://1.2.3.4.5/",  # numeric last label but no IPv4 address
        "http://256.0.0.1/",
        "http://example.999/",
        "https://nowhere.example.vn/",  # does not resolve
        "https://empty.example.vn/",
    ],
)
def test_malformed_urls_are_invalid(url: str) -> None:
    assert rejection(url).code == "invalid_url"


def test_the_length_limit_is_2048_characters() -> None:
    base = "https://portal.example.vn/"
    check_url(base + "a" * (2048 - len(base)), allow_private=False, resolve=public_dns())
    assert rejection(base + "a" * (2049 - len(base))).code == "invalid_url"


@pytest.mark.parametrize(
    "url",
    [
        "ftp://example.vn/",
        "file:///etc/passwd",
        "gopher://example.vn/",
        "javascript:alert(1)",
        "ws://example.vn/",
    ],
)
def test_schemes_other_than_http_and_https_are_not_allowed(url: str) -> None:
    assert rejection(url).code == "scheme_not_allowed"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/",
        "http://127.1/",  # inet_aton short form
        "http://0x7f.0.0.1/",
        "http://017700000001/",  # octal
        "http://2130706433/",  # one 32-bit number
        "http://127.0.0.1./",
        "http://[::1]/",
        "http://0.0.0.0/",
        "http://0/",
        "http://[::]/",
        "http://169.254.169.254/latest/meta-data",
        "http://[fe80::1]/",
        "http://[fe80::1%25eth0]/",
        "http://10.0.0.5",
        "http://172.16.0.1/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",  # shared address space (CGNAT)
        "http://[fd00::1]/",  # unique local
        "http://[fc00::1]/",
        "http://224.0.0.1/",  # multicast
        "http://[ff02::1]/",
        "http://240.0.0.1/",  # reserved
        "http://255.255.255.255/",
        "http://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
        "http://[::ffff:10.0.0.5]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[64:ff9b::a00:5]/",  # NAT64 of 10.0.0.5
        "http://[2002:a00:5::1]/",  # 6to4 of 10.0.0.5
        "http://[fec0::1]/",  # site-local
        "http://localhost/",
        "http://LOCALHOST:8080/",
        "http://localhost./",
        "http://api.localhost/",
        "http://internal.example.vn/",
        "http://metadata.example.vn/latest/meta-data",
        "http://v6-loopback.example.vn/",
        "http://weird.example.vn/",  # an answer we cannot judge fails closed
    ],
)
def test_non_public_addresses_are_not_allowed(url: str) -> None:
    assert rejection(url).code == "address_not_allowed"


def test_a_public_name_with_one_private_answer_is_not_allowed() -> None:
    dns = public_dns()
    raised = rejection("https://rebind.example.vn/hooks", resolve=dns)
    assert raised.code == "address_not_allowed"
    assert raised.message == "host 'rebind.example.vn' is or resolves to 10.0.0.1: private"
    assert dns.asked == ["rebind.example.vn"]


def test_localhost_and_address_literals_are_judged_without_dns() -> None:
    dns = public_dns()
    for url in ("http://localhost/", "http://127.1/", "http://[::1]/", f"http://{PUBLIC_V4}/"):
        try:
            check_url(url, allow_private=False, resolve=dns)
        except UrlRejected:
            pass
    assert dns.asked == []


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost:8080/hooks",
        "http://127.0.0.1/",
        "http://[::1]/",
        "http://10.0.0.5/",
        "http://internal.example.vn/",
    ],
)
def test_allow_private_accepts_loopback_and_private_hosts_without_dns(url: str) -> None:
    dns = public_dns()
    check_url(url, allow_private=True, resolve=dns)
    assert dns.asked == []


@pytest.mark.parametrize(
    ("url", "code"),
    [
        ("ftp://localhost/", "scheme_not_allowed"),
        ("http://user:pw@localhost/", "invalid_url"),
        ("http://1.2.3.4.5/", "invalid_url"),
    ],
)
def test_allow_private_lifts_only_the_address_check(url: str, code: str) -> None:
    assert rejection(url, allow_private=True).code == code


@pytest.mark.parametrize(
    ("address", "problem"),
    [
        ("8.8.8.8", None),
        (PUBLIC_V6, None),
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("100.127.255.255", "shared address space (CGNAT)"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),  # noqa: S104 -- an address to judge, not one to bind
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:8.8.8.8", None),
    ],
)
def test_address_problem_names_the_reason(address: str, problem: str | None) -> None:
    assert address_problem(ipaddress.ip_address(address)) == problem
