"""The VietQR value object and the rules every field must satisfy.

A :class:`VietQR` that exists is valid: construction checks every field and raises
:class:`~.errors.VietQRError`, so :func:`~.codec.encode` cannot fail on one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from .errors import INVALID_AMOUNT, INVALID_FIELD, VALUE_TOO_LONG, VietQRError
from .text import to_qr_text

NAPAS_GUID: Final = "A000000727"
SERVICE_TO_ACCOUNT: Final = "QRIBFTTA"
SERVICE_TO_CARD: Final = "QRIBFTTC"
SERVICES: Final = frozenset({SERVICE_TO_ACCOUNT, SERVICE_TO_CARD})
POI_STATIC: Final = "11"
POI_DYNAMIC: Final = "12"
POIS: Final = frozenset({POI_STATIC, POI_DYNAMIC})
CURRENCY_VND: Final = "704"
COUNTRY_VN: Final = "VN"
MAX_AMOUNT: Final = 9_999_999_999_999  # tag 54 holds at most 13 characters
MAX_ACCOUNT_LEN: Final = 19

# Free-text fields: attribute name -> (EMV tag path, maximum length).
TEXT_FIELDS: Final[dict[str, tuple[str, int]]] = {
    "bill_number": ("62.01", 25),
    "reference_label": ("62.05", 25),
    "purpose": ("62.08", 25),
    "merchant_name": ("59", 25),
    "merchant_city": ("60", 15),
}

_BIN_RE: Final = re.compile(r"[0-9]{6}")
_ACCOUNT_RE: Final = re.compile(r"[A-Za-z0-9]+")
_MCC_RE: Final = re.compile(r"[0-9]{4}")


@dataclass(frozen=True, slots=True)
class VietQR:
    """One NAPAS VietQR (EMVCo MPM, tag 38) transfer instruction.

    Fields and their payload tags:
        bin: 38.01.00, the bank's 6-digit NAPAS BIN (e.g. ``"970436"``).
        account: 38.01.01, 1–19 ASCII letters/digits (account or card number).
        service: 38.02, ``"QRIBFTTA"`` (to account) or ``"QRIBFTTC"`` (to card).
        amount: 54, integer VND in 1..9_999_999_999_999, or ``None`` (payer types it).
        purpose / bill_number / reference_label: 62.08 / 62.01 / 62.05, ≤ 25 characters.
        merchant_name: 59, ≤ 25 characters; merchant_city: 60, ≤ 15 characters.
        mcc: 52, 4 digits, or ``None``.
        currency / country: 53 / 58, always ``"704"`` / ``"VN"`` for VietQR.
        poi: 01, ``"11"`` (static) or ``"12"`` (dynamic). ``None`` means derive it:
            ``"12"`` if an amount is given, else ``"11"``; after construction it is never
            ``None``. An explicit value is kept as is (real payloads carry 11 with an amount).

    Text fields may hold Vietnamese; :func:`~.codec.encode` folds them with
    :func:`~.text.to_qr_text`, so ``decode(encode(x))`` returns the folded text. Construction
    checks they fold to 1..max characters of printable ASCII.
    """

    bin: str
    account: str
    service: str = SERVICE_TO_ACCOUNT
    amount: int | None = None
    purpose: str | None = None
    bill_number: str | None = None
    reference_label: str | None = None
    merchant_name: str | None = None
    merchant_city: str | None = None
    mcc: str | None = None
    currency: str = CURRENCY_VND
    country: str = COUNTRY_VN
    poi: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "poi", validate(self))


def _fail(field: str, message: str, code: str = INVALID_FIELD) -> VietQRError:
    return VietQRError(code, f"{field}: {message}", field)


def validate_amount(amount: object) -> int | None:
    """Return ``amount`` if it is ``None`` or an int VND in range, else raise invalid_amount."""
    if amount is None:
        return None
    # bool is an int subclass; True is not an amount.
    if not isinstance(amount, int) or isinstance(amount, bool):
        raise _fail("amount", f"must be an int number of VND, got {amount!r}", INVALID_AMOUNT)
    if not 1 <= amount <= MAX_AMOUNT:
        raise _fail("amount", f"{amount} is outside 1..{MAX_AMOUNT}", INVALID_AMOUNT)
    return amount


def validate(qr: VietQR) -> str:
    """Check every field of ``qr``; return the effective POI (``"11"`` or ``"12"``).

    Raises ``invalid_field``, ``value_too_long``, ``unsupported_character`` or
    ``invalid_amount`` naming the first bad field.
    """
    if not isinstance(qr.bin, str) or not _BIN_RE.fullmatch(qr.bin):
        raise _fail("bin", f"must be 6 digits, got {qr.bin!r}")
    if not isinstance(qr.account, str) or not _ACCOUNT_RE.fullmatch(qr.account):
        raise _fail("account", f"must be 1-19 ASCII letters or digits, got {qr.account!r}")
    if len(qr.account) > MAX_ACCOUNT_LEN:
        raise _fail(
            "account", f"{len(qr.account)} characters, max {MAX_ACCOUNT_LEN}", VALUE_TOO_LONG
        )
    if qr.service not in SERVICES:
        raise _fail("service", f"must be one of {sorted(SERVICES)}, got {qr.service!r}")
    validate_amount(qr.amount)
    for name, (_tag, max_len) in TEXT_FIELDS.items():
        value = getattr(qr, name)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _fail(name, f"must be str or None, got {type(value).__name__}")
        if not to_qr_text(value, name, max_len):
            raise _fail(name, "is empty after normalisation; use None to omit it")
    if qr.mcc is not None and (not isinstance(qr.mcc, str) or not _MCC_RE.fullmatch(qr.mcc)):
        raise _fail("mcc", f"must be 4 digits, got {qr.mcc!r}")
    if qr.currency != CURRENCY_VND:
        raise _fail("currency", f"VietQR is VND only ({CURRENCY_VND}), got {qr.currency!r}")
    if qr.country != COUNTRY_VN:
        raise _fail("country", f"VietQR is {COUNTRY_VN} only, got {qr.country!r}")
    if qr.poi is None:
        return POI_STATIC if qr.amount is None else POI_DYNAMIC
    if qr.poi not in POIS:
        raise _fail("poi", f"must be {POI_STATIC!r} or {POI_DYNAMIC!r}, got {qr.poi!r}")
    return qr.poi
