"""Text normalisation for QR fields and bank transfer text.

Banks and the EMV QR character set carry printable ASCII only, so Vietnamese text is
folded to its unaccented letters ("Lệ phí cấp đổi hộ chiếu" → "Le phi cap doi ho chieu").
"""

from __future__ import annotations

from providers.common.text import fold_vietnamese

from .errors import UNSUPPORTED_CHARACTER, VALUE_TOO_LONG, VietQRError


def is_qr_text(text: str) -> bool:
    """True if every character is printable ASCII (0x20–0x7E)."""
    return text.isascii() and text.isprintable()  # ASCII and printable: 0x20–0x7E


def to_qr_text(text: str, field: str, max_len: int) -> str:
    """Return ``text`` folded, whitespace-collapsed and checked for use in a QR/transfer.

    Steps: :func:`fold_vietnamese`; every run of whitespace (incl. tabs, newlines, NBSP)
    becomes one space and the ends are stripped; then every character must be printable
    ASCII, else ``VietQRError("unsupported_character", field=field)``; then the length must
    be ≤ ``max_len``, else ``VietQRError("value_too_long", field=field)``.
    The result may be empty; callers that need a value check that themselves.
    """
    folded = " ".join(fold_vietnamese(text).split())
    for index, char in enumerate("" if is_qr_text(folded) else folded):  # the first bad one
        if not " " <= char <= "~":
            raise VietQRError(
                UNSUPPORTED_CHARACTER,
                f"{field}: character {char!r} (U+{ord(char):04X}) at position {index} "
                "cannot be represented in a QR payload",
                field,
            )
    if len(folded) > max_len:
        raise VietQRError(
            VALUE_TOO_LONG,
            f"{field}: {len(folded)} characters after folding, max {max_len}",
            field,
        )
    return folded
