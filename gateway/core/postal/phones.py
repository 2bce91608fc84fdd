"""Phone numbers of postal senders and recipients, normalised to E.164 (``+84912345678``).

Parsing uses the ``phonenumbers`` metadata with default region VN. Vietnamese carriers open
new mobile ranges faster than the metadata is released, so a well-formed mobile number the
metadata does not know yet (9 national digits after ``0`` or ``+84``, starting 3/5/7/8/9) is
accepted with the warning ``unknown_range`` rather than refused. Only Vietnamese mobile and
fixed-line numbers are accepted: a foreign number, a short code or a 1800/1900 service number
cannot receive a delivery call and is ``invalid_phone``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

from gateway.core.errors import FieldError

REGION: Final = "VN"
COUNTRY_CODE: Final = 84
UNKNOWN_RANGE: Final = "unknown_range"
INVALID_PHONE: Final = "invalid_phone"

ACCEPTED_TYPES: Final = frozenset(
    {PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE, PhoneNumberType.FIXED_LINE_OR_MOBILE}
)
# What people type: digits, an optional leading "+", and the usual separators.
_SHAPE: Final = re.compile(r"\(?\+?[0-9][0-9 .\-()]*")
# The national significant number of a mobile line: 9 digits, first digit 3, 5, 7, 8 or 9.
_MOBILE_NSN: Final = re.compile(r"[35789][0-9]{8}")
_MAX_LENGTH: Final = 32


@dataclass(frozen=True)
class PhoneResult:
    e164: str
    warning: str | None = None
    """``"unknown_range"`` when the number is mobile-shaped but absent from the metadata."""


class InvalidPhone(ValueError):
    """The text is not a Vietnamese mobile or fixed-line number."""

    code: Final = INVALID_PHONE

    def field_error(self, field: str) -> FieldError:
        return FieldError(field, self.code, "not a Vietnamese mobile or fixed-line number")


def _unknown_mobile_nsn(text: str) -> str | None:
    """The 9-digit national number of ``0xxxxxxxxx`` / ``+84xxxxxxxxx`` / ``84xxxxxxxxx``
    when it is mobile-shaped, else None."""
    digits = re.sub(r"[^0-9]", "", text)
    has_plus = "+" in text
    if not has_plus and len(digits) == 10 and digits.startswith("0"):
        nsn = digits[1:]
    elif len(digits) == 11 and digits.startswith("84"):
        nsn = digits[2:]
    else:
        return None
    return nsn if _MOBILE_NSN.fullmatch(nsn) else None


def normalise_phone(text: str) -> PhoneResult:
    """Normalise ``text`` to E.164, or raise :class:`InvalidPhone`."""
    candidate = text.strip()
    if len(candidate) > _MAX_LENGTH or not _SHAPE.fullmatch(candidate):
        raise InvalidPhone(INVALID_PHONE)
    try:
        parsed = phonenumbers.parse(candidate, REGION)
    except NumberParseException as exc:
        raise InvalidPhone(INVALID_PHONE) from exc
    if (
        parsed.country_code == COUNTRY_CODE
        and phonenumbers.is_valid_number(parsed)
        and phonenumbers.number_type(parsed) in ACCEPTED_TYPES
    ):
        return PhoneResult(phonenumbers.format_number(parsed, PhoneNumberFormat.E164))
    nsn = _unknown_mobile_nsn(candidate)
    if nsn is not None:
        return PhoneResult(f"+{COUNTRY_CODE}{nsn}", warning=UNKNOWN_RANGE)
    raise InvalidPhone(INVALID_PHONE)
