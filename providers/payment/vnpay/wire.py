"""VNPAY's wire primitives: the signed query string, pipe-joined API messages, dates, amounts.

Pure and deterministic. The signing rule of API 2.1.0 (checked against
``tests/vectors/vnpay_public.json``)::

    canonical = "&".join(enc(name) + "=" + enc(value)
                         for name, value in sorted(params) if value != "")
    vnp_SecureHash = hex(HMAC-SHA512(hash_secret, canonical))          # lower case

where ``enc`` is form encoding of the UTF-8 bytes: ``A-Z a-z 0-9 * - . _`` kept, space as
``+``, every other byte ``%XX`` in upper case (so ``~`` is ``%7E``, unlike RFC 3986; this is
Java's ``URLEncoder``, which VNPAY's own server uses).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta, timezone
from typing import Final

from .errors import INVALID_FIELD, MALFORMED, VnpayError

#: VNPAY states every time in GMT+7. Vietnam has kept this offset without DST since 1975, so
#: a fixed offset is exactly what the wire means (business days use Asia/Ho_Chi_Minh).
GMT7: Final = timezone(timedelta(hours=7), "GMT+7")
HASH_PARAM: Final = "vnp_SecureHash"
HASH_TYPE_PARAM: Final = "vnp_SecureHashType"
PARAM_PREFIX: Final = "vnp_"
#: vnp_Amount is Numeric[1,12] in hundredths of a đồng.
MAX_AMOUNT_VND: Final = 9_999_999_999

_KEPT: Final = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789*-._")
_DATE_RE: Final = re.compile(r"[0-9]{14}")
_WIRE_AMOUNT_RE: Final = re.compile(r"[0-9]{1,15}")
#: Text made only of the kept characters (``_KEPT``), which form encoding leaves as they are.
_PLAIN_RE: Final = re.compile(r"[A-Za-z0-9*\-._]*")


def form_encode(text: str) -> str:
    """Form-encode ``text`` the way VNPAY does (see the module docstring)."""
    if _PLAIN_RE.fullmatch(text):  # nothing to encode (most names and values): as it is
        return text
    out: list[str] = []
    for byte in text.encode("utf-8"):
        if byte in _KEPT:
            out.append(chr(byte))
        elif byte == 0x20:
            out.append("+")
        else:
            out.append(f"%{byte:02X}")
    return "".join(out)


def canonical_query(params: Mapping[str, str]) -> str:
    """Sort by name, drop empty values, form-encode names and values, join with ``&``.

    Every pair of ``params`` is used as given; choosing which parameters are signed is
    :func:`signed_params`'s job.
    """
    pairs = sorted((name, value) for name, value in params.items() if value != "")
    return "&".join(f"{form_encode(name)}={form_encode(value)}" for name, value in pairs)


def sign(secret: str, message: str) -> str:
    """HMAC-SHA512 of the UTF-8 ``message`` under the UTF-8 ``secret``, lower-case hex."""
    return hmac.new(secret.encode("utf-8"), message.encode("utf-8"), hashlib.sha512).hexdigest()


def signed_params(params: Mapping[str, str]) -> dict[str, str]:
    """The parameters a query signature covers: every ``vnp_*`` one except the hash fields.

    Parameters without the ``vnp_`` prefix are left out, as VNPAY's reference code does: a
    merchant's IPN or return URL may carry its own query parameters, which VNPAY neither
    signs nor sees. Nothing may be read from them, and :func:`~.codec.parse_ipn` does not.
    """
    return {
        name: value
        for name, value in params.items()
        if name.startswith(PARAM_PREFIX) and name not in (HASH_PARAM, HASH_TYPE_PARAM)
    }


def signed_query(secret: str, params: Mapping[str, str]) -> str:
    """``canonical_query(params)`` followed by ``&vnp_SecureHash=<hash>``: a query string."""
    canonical = canonical_query(signed_params(params))
    return f"{canonical}&{HASH_PARAM}={sign(secret, canonical)}"


def verify_query(secret: str, params: Mapping[str, str]) -> bool:
    """True if ``vnp_SecureHash`` signs :func:`signed_params` of ``params``.

    The order of ``params`` does not matter; any changed, added or removed ``vnp_*`` value
    does. The hash is compared exactly as VNPAY writes it (lower-case hex): an upper-cased
    hash is rejected, so there is one accepted spelling of each message. A name given twice
    (possible in a MultiDict) is refused, since the value signed need not be the value read.
    """
    names = [name for name, _ in params.items()]  # a MultiDict's keys() hides repeats
    given = params.get(HASH_PARAM)
    if not given or len(names) != len(set(names)):
        return False
    expected = sign(secret, canonical_query(signed_params(params)))
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8"))


def pipe_message(values: Iterable[str]) -> str:
    """Join the fields of a querydr/refund request or answer with ``|``, in VNPAY's order."""
    return "|".join(values)


def verify_pipe(secret: str, values: Iterable[str], given: str) -> bool:
    """True if ``given`` is the hash of the pipe-joined ``values`` (case-sensitive)."""
    expected = sign(secret, pipe_message(values))
    return hmac.compare_digest(expected.encode("ascii"), given.encode("utf-8"))


def format_date(moment: datetime, field: str) -> str:
    """``yyyyMMddHHmmss`` in GMT+7 of an aware ``moment``; naive times are refused."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise VnpayError(INVALID_FIELD, f"{field}: a timezone-aware datetime is required")
    return moment.astimezone(GMT7).strftime("%Y%m%d%H%M%S")


def parse_date(text: str, field: str) -> datetime:
    """An aware datetime (GMT+7) from ``yyyyMMddHHmmss``; ``malformed`` if it is not one."""
    if not _DATE_RE.fullmatch(text):
        raise VnpayError(MALFORMED, f"{field}: expected yyyyMMddHHmmss, got {text!r}")
    try:
        return datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[8:10]),
            int(text[10:12]),
            int(text[12:14]),
            tzinfo=GMT7,
        )
    except ValueError:
        raise VnpayError(MALFORMED, f"{field}: {text!r} is not a calendar time") from None


def to_wire_amount(amount_vnd: int, field: str = "amount_vnd") -> str:
    """Integer VND → ``vnp_Amount`` (hundredths of a đồng): ``50000`` → ``"5000000"``."""
    if type(amount_vnd) is not int or not 0 < amount_vnd <= MAX_AMOUNT_VND:
        raise VnpayError(INVALID_FIELD, f"{field}: an integer VND in 1..{MAX_AMOUNT_VND}")
    return str(amount_vnd * 100)


def from_wire_amount(text: str, field: str = "vnp_Amount") -> int:
    """``vnp_Amount`` → integer VND: ``"5000000"`` → ``50000``.

    Only plain ASCII digits of a positive whole number of đồng are accepted: a value that is
    not a multiple of 100 would be a fraction of a đồng, which VND does not have.
    """
    if not _WIRE_AMOUNT_RE.fullmatch(text):
        raise VnpayError(MALFORMED, f"{field}: expected digits, got {text!r}")
    hundredths = int(text)
    if hundredths == 0 or hundredths % 100:
        raise VnpayError(MALFORMED, f"{field}: {text} is not a positive whole number of VND")
    return hundredths // 100
