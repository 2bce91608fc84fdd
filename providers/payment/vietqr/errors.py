"""The one error type of the VietQR codec.

Every failure raised by this package is a :class:`VietQRError`, a
:class:`~providers.common.errors.ProviderError` whose ``code`` attribute is a stable
snake_case string that callers branch on (never parse the message); none is retryable, and
none leaves an outcome unknown (the codec sends nothing)::

    ValueError
    └── ProviderError
          └── VietQRError(code, message, field=None)
          code ∈
          ├── tlv_malformed          TLV syntax broken: bad/short id or length, truncated value,
          │                          length 00, or a template (26–51, 38, 62, 64, 80–99) whose
          │                          value is not itself well-formed TLV
          ├── crc_missing            no CRC trailer: tag 63 absent, not last, or not 4 hex digits
          ├── crc_mismatch           tag 63 present but differs from CRC-16/CCITT-FALSE
          ├── not_vietqr             valid EMV MPM but not NAPAS VietQR (no tag 38, or its
          │                          GUID is not A000000727, e.g. VNPAY-QR in tag 26)
          ├── non_conformant         claims VietQR but the structure is wrong: 38.02 missing,
          │                          extra sub-tags in 38/38.01, service nested in 38.01, bad
          │                          POI, missing mandatory tag, duplicate tag, currency ≠ 704,
          │                          country ≠ VN, malformed BIN/account/MCC in a payload
          ├── value_too_long         a value exceeds its field's maximum length
          ├── unsupported_character  text cannot be folded to printable ASCII (0x20–0x7E)
          ├── invalid_amount         amount not an integer VND in 1..9_999_999_999_999
          │                          (on decode: not plain digits, a fraction, leading zero)
          └── invalid_field          any other bad field value given to the encoder

``field`` names the offending field (``"purpose"``, ``"38.01.00"``, ...) where one is known.
"""

from __future__ import annotations

from typing import Final

from providers.common.errors import ProviderError

TLV_MALFORMED: Final = "tlv_malformed"
CRC_MISSING: Final = "crc_missing"
CRC_MISMATCH: Final = "crc_mismatch"
NOT_VIETQR: Final = "not_vietqr"
NON_CONFORMANT: Final = "non_conformant"
VALUE_TOO_LONG: Final = "value_too_long"
UNSUPPORTED_CHARACTER: Final = "unsupported_character"
INVALID_AMOUNT: Final = "invalid_amount"
INVALID_FIELD: Final = "invalid_field"

ERROR_CODES: Final[frozenset[str]] = frozenset(
    {
        TLV_MALFORMED,
        CRC_MISSING,
        CRC_MISMATCH,
        NOT_VIETQR,
        NON_CONFORMANT,
        VALUE_TOO_LONG,
        UNSUPPORTED_CHARACTER,
        INVALID_AMOUNT,
        INVALID_FIELD,
    }
)


class VietQRError(ProviderError):
    """A VietQR payload or field was rejected.

    Attributes:
        code: one of :data:`ERROR_CODES`; stable, meant for programs.
        message: English explanation, meant for people and logs.
        field: the field concerned (e.g. ``"purpose"``, ``"54"``), or ``None``.
    """

    ERROR_CODES = ERROR_CODES
    REPR_EXTRAS = ("field",)

    field: str | None

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(code, message)
        self.field = field
