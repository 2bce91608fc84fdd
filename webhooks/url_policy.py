"""Which webhook endpoint URLs a portal may register.

The gateway POSTs to whatever URL a portal registers, from inside our network; without a policy a
portal could make it call the cloud metadata service (169.254.169.254), an admin port on
localhost, or any internal host (server-side request forgery). So an endpoint must be an absolute
``http``/``https`` URL without credentials whose host is, and resolves only to, public addresses.

Codes of :class:`UrlRejected`:

- ``invalid_url``: not absolute, no host, credentials, longer than 2048 characters, characters
  that parsers disagree about (whitespace, control characters, ``\\``), a host that does not
  resolve;
- ``scheme_not_allowed``: anything but ``http`` and ``https``;
- ``address_not_allowed``: the host is, or resolves to, an address that is not public (loopback,
  private, link-local, unique-local, unspecified, multicast, reserved, shared/CGNAT, and the
  same addresses embedded in IPv6), or is ``localhost``. ``allow_private`` (sandbox and tests)
  lifts this check, and then no DNS lookup is made.

A check at registration does not stop a host that later changes its DNS answer (rebinding);
the sender must refuse the same addresses when it connects. :func:`address_problem` is the
predicate to use there.

Pure except for DNS, which the caller passes in (:func:`resolve_host` in production).
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL_LENGTH = 2048
ALLOWED_SCHEMES = frozenset({"http", "https"})
# Hosts that name this machine without DNS (RFC 6761 reserves all of ``.localhost``).
LOCAL_NAMES = frozenset({"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"})
# Parsers disagree about these (WHATWG treats "\" as "/" in http URLs, urlsplit does not), so a
# URL holding one could pass this check and then reach a different host.
_AMBIGUOUS = re.compile(r"[\x00-\x20\x7f\\]")
# WHATWG forbidden domain code points, plus "%" (a percent-encoded host is decoded by some
# clients and not by others).
_FORBIDDEN_IN_HOST = re.compile(r"[\x00-\x20\x7f#%/:<>?@\[\\\]^|]")
_IPV4_PART = re.compile(r"0[xX][0-9a-fA-F]*|0[0-7]*|[1-9][0-9]*")
_NUMERIC_LABEL = re.compile(r"[0-9]+|0[xX][0-9a-fA-F]*")

SHARED_ADDRESS_SPACE = ipaddress.IPv4Network("100.64.0.0/10")  # RFC 6598, carrier-grade NAT
NAT64_PREFIX = ipaddress.IPv6Network("64:ff9b::/96")  # RFC 6052; embeds an IPv4 address


class UrlRejected(ValueError):
    """A webhook URL failed the policy; ``code`` is ``invalid_url``, ``scheme_not_allowed`` or
    ``address_not_allowed``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def resolve_host(host: str) -> list[str]:
    """Every address ``host`` resolves to, by the system resolver. Blocks: from async code call
    it in a thread (``asyncio.to_thread``). Raises ``OSError`` (``socket.gaierror``)."""
    infos = socket.getaddrinfo(host, None, proto=socket.IPPROTO_TCP)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


def check_url(url: str, *, allow_private: bool, resolve: Callable[[str], list[str]]) -> None:
    """Raise :class:`UrlRejected` unless ``url`` may be registered as a webhook endpoint."""
    parts = _split(url)
    host = parts.hostname or ""
    literal = _ip_literal(host)
    if allow_private:
        return
    if literal is not None:
        _require_public(host, literal)
        return
    name = host.rstrip(".")
    if name in LOCAL_NAMES or name.endswith(".localhost"):
        raise UrlRejected("address_not_allowed", f"host {host!r} is this machine")
    try:
        answers = resolve(host)
    except OSError as exc:
        raise UrlRejected("invalid_url", f"host {host!r} does not resolve: {exc}") from None
    if not answers:
        raise UrlRejected("invalid_url", f"host {host!r} does not resolve")
    for answer in answers:
        try:
            address = ipaddress.ip_address(answer)
        except ValueError:
            # Fail closed: an answer we cannot judge is not known to be public.
            raise UrlRejected(
                "address_not_allowed", f"host {host!r} resolves to {answer!r}"
            ) from None
        _require_public(host, address)


def address_problem(address: IPAddress) -> str | None:
    """Why ``address`` is not a public unicast address a webhook may reach, or None if it is."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 host itself
            return address_problem(address.ipv4_mapped)
        embedded = _embedded_ipv4(address)
        if embedded is not None and (problem := address_problem(embedded)) is not None:
            return f"{problem} (embedded in IPv6)"
        if address.is_site_local:  # fec0::/10, deprecated but still routed by some stacks
            return "site-local"
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if address.is_multicast:
        return "multicast"
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED_ADDRESS_SPACE:
        return "shared address space (CGNAT)"
    if address.is_private:  # RFC 1918, fc00::/7, documentation and other special ranges
        return "private"
    if address.is_reserved:
        return "reserved"
    if not address.is_global:
        return "not globally routable"
    return None


def _split(url: str) -> SplitResult:
    if len(url) > MAX_URL_LENGTH:
        raise UrlRejected("invalid_url", f"URL is longer than {MAX_URL_LENGTH} characters")
    if _AMBIGUOUS.search(url):
        raise UrlRejected("invalid_url", "URL contains whitespace, a control character or '\\'")
    try:
        parts = urlsplit(url)
        _ = parts.port  # raises ValueError for a port that is not a number in 0..65535
    except ValueError as exc:
        raise UrlRejected("invalid_url", f"URL cannot be parsed: {exc}") from None
    if not parts.scheme:
        raise UrlRejected("invalid_url", "URL must be absolute: scheme://host/path")
    if parts.scheme not in ALLOWED_SCHEMES:
        raise UrlRejected("scheme_not_allowed", f"scheme {parts.scheme!r} is not http or https")
    if not parts.netloc:
        raise UrlRejected("invalid_url", "URL must be absolute: scheme://host/path")
    if "@" in parts.netloc:
        raise UrlRejected("invalid_url", "URL must not contain a user name or password")
    if not parts.hostname:
        raise UrlRejected("invalid_url", "URL has no host")
    return parts


def _ip_literal(host: str) -> IPAddress | None:
    """The address a host names without DNS, in any form a client might accept, or None."""
    if ":" in host:  # urlsplit has removed the brackets of an IPv6 literal
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise UrlRejected("invalid_url", f"host {host!r} is not an IPv6 address") from None
    if _FORBIDDEN_IN_HOST.search(host):
        raise UrlRejected("invalid_url", f"host {host!r} contains a forbidden character")
    labels = host.removesuffix(".").split(".")
    # As in the WHATWG URL standard: a host whose last label is numeric must be an IPv4
    # address, in the forms inet_aton(3) accepts ("127.1", "0x7f.0.0.1", "2130706433"), since
    # the system resolver would turn it into one.
    if not _NUMERIC_LABEL.fullmatch(labels[-1]):
        return None
    address = _parse_inet_aton(labels)
    if address is None:
        raise UrlRejected("invalid_url", f"host {host!r} is not a valid IPv4 address")
    return address


def _parse_inet_aton(labels: list[str]) -> ipaddress.IPv4Address | None:
    if not 1 <= len(labels) <= 4 or not all(_IPV4_PART.fullmatch(label) for label in labels):
        return None
    numbers = [_ipv4_number(label) for label in labels]
    *leading, last = numbers
    if any(number > 0xFF for number in leading) or last >= 256 ** (5 - len(numbers)):
        return None
    value = last
    for index, number in enumerate(leading):
        value += number << (8 * (3 - index))
    return ipaddress.IPv4Address(value)


def _ipv4_number(label: str) -> int:
    if label[:2].lower() == "0x":
        return int(label[2:] or "0", 16)
    if len(label) > 1 and label.startswith("0"):
        return int(label, 8)
    return int(label)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address a translator may deliver a packet for ``address`` to (NAT64, 6to4,
    Teredo). Such an address is refused when the IPv4 one is, and otherwise judged as IPv6."""
    if address in NAT64_PREFIX:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    return None


def _require_public(host: str, address: IPAddress) -> None:
    problem = address_problem(address)
    if problem is not None:
        raise UrlRejected(
            "address_not_allowed", f"host {host!r} is or resolves to {address}: {problem}"
        )
