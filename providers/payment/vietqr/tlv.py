"""EMV MPM ID-length-value encoding, strict.

Each data object is a 2-digit id (``"00"``–``"99"``), a 2-digit decimal length
(``"01"``–``"99"``, counted in characters) and exactly that many characters of value.
EMV MPM forbids zero-length objects, so a length of ``"00"`` is malformed.
"""

from __future__ import annotations

from collections.abc import Iterable

from .errors import INVALID_FIELD, TLV_MALFORMED, VALUE_TOO_LONG, VietQRError

Field = tuple[str, str]
MAX_VALUE_LEN = 99


#: "00" to "99": str.isdigit() accepts non-ASCII digits such as "²" or "٣"; EMV wants
#: "0"-"9" only. A set look-up, as every payment's QR checks some fifteen ids.
_TWO_DIGITS = frozenset(f"{n:02d}" for n in range(100))


#: A value's length as its two digits, by length (0–99): every payment's QR writes a dozen.
_LENGTH_TEXT = tuple(f"{n:02d}" for n in range(MAX_VALUE_LEN + 1))


def _is_two_digits(s: str) -> bool:
    return s in _TWO_DIGITS


def parse(s: str, where: str | None = None) -> list[Field]:
    """Split ``s`` into ``(id, value)`` pairs in payload order.

    ``where`` names the enclosing template for error messages (``None`` = top level).
    Raises ``VietQRError("tlv_malformed")`` if ``s`` is empty, an id or length is not two
    ASCII digits, a length is ``00``, or a value runs past the end of ``s``.
    Duplicate ids are returned as they are; judging them is the caller's job.
    """
    scope = f"template {where}" if where else "payload"
    if not s:
        raise VietQRError(TLV_MALFORMED, f"{scope} is empty", where)
    fields: list[Field] = []
    pos = 0
    while pos < len(s):
        header = s[pos : pos + 4]
        if len(header) < 4:
            raise VietQRError(
                TLV_MALFORMED, f"{scope} truncated at offset {pos}: {header!r}", where
            )
        tag, length_text = header[:2], header[2:]
        if not _is_two_digits(tag):
            raise VietQRError(TLV_MALFORMED, f"{scope}: bad id {tag!r} at offset {pos}", where)
        if not _is_two_digits(length_text):
            raise VietQRError(
                TLV_MALFORMED, f"{scope}: bad length {length_text!r} for id {tag}", where
            )
        length = int(length_text)
        if length == 0:
            raise VietQRError(TLV_MALFORMED, f"{scope}: id {tag} has length 00", where)
        start = pos + 4
        end = start + length
        if end > len(s):
            raise VietQRError(
                TLV_MALFORMED,
                f"{scope}: id {tag} declares {length} characters, only {len(s) - start} remain",
                where,
            )
        fields.append((tag, s[start:end]))
        pos = end
    return fields


def serialize(fields: Iterable[Field]) -> str:
    """Join ``(id, value)`` pairs into TLV text, in the order given.

    Raises ``invalid_field`` for an id that is not two ASCII digits or an empty value, and
    ``value_too_long`` for a value longer than 99 characters.
    """
    parts: list[str] = []
    two_digits = _TWO_DIGITS
    for tag, value in fields:
        if tag not in two_digits:
            raise VietQRError(INVALID_FIELD, f"bad TLV id {tag!r}", tag)
        if not value:
            raise VietQRError(INVALID_FIELD, f"id {tag} has an empty value", tag)
        length = len(value)
        if length > MAX_VALUE_LEN:
            raise VietQRError(
                VALUE_TOO_LONG,
                f"id {tag} value is {length} characters, max {MAX_VALUE_LEN}",
                tag,
            )
        parts.append(tag + _LENGTH_TEXT[length] + value)
    return "".join(parts)
