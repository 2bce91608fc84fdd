"""Payment references: short upper-case ASCII tokens that travel in the VietQR (tag 62.08) and
in the bank transfer text, with a check character so a mistyped or truncated reference is
never matched to somebody else's bill.

Layout: ``PREFIX`` + 10 random symbols + 1 check symbol, e.g. ``DVC7K3M9QX2PAB`` (14 chars).
The alphabet is Crockford's base-32 (no I, L, O, U), the check is a Damm check symbol over
the prefix and body. Functions here are pure: randomness is passed in.
"""

from __future__ import annotations

import re

from providers.common.text import fold_vietnamese

ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
BODY_LENGTH = 10
_VALUE = {symbol: index for index, symbol in enumerate(ALPHABET)}
_NOT_ALNUM = re.compile(r"[^A-Z0-9]+")


def _code_point(char: str) -> int:
    """Value of a character for the check: Crockford symbols by position, other letters
    (the prefix may use I, L, O, U) by their alphabet index mod 32."""
    if char in _VALUE:
        return _VALUE[char]
    return (ord(char) - ord("A")) % len(ALPHABET)


def _times_two(value: int) -> int:
    """Multiply by x in GF(2^5) with the primitive polynomial x^5 + x^2 + 1."""
    value <<= 1
    return value ^ 0b100101 if value & 0b100000 else value


#: The two functions above as tables (every payment's creation computes a check): the value
#: of each of A–Z and 0–9, and ``_times_two`` of each value.
_CODE = {char: _code_point(char) for char in "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"}
_TWICE = tuple(_times_two(value) for value in range(len(ALPHABET)))
_BODY_SHIFTS = tuple(5 * i for i in range(BODY_LENGTH))


def check_symbol(text: str) -> str:
    """Damm check symbol over the quasigroup ``a * b = 2a XOR b`` in GF(32).

    The quasigroup is totally anti-symmetric (``(c*x)*y = (c*y)*x`` only if ``x = y``), so
    the check catches every single-symbol substitution and every transposition of two
    neighbours, including one with the check symbol itself. (Luhn mod 32 misses ``0``↔``Z``.)
    """
    interim = 0
    code, twice = _CODE, _TWICE
    for char in text:
        value = code.get(char)
        interim = twice[interim] ^ (_code_point(char) if value is None else value)
    return ALPHABET[twice[interim]]  # the symbol that brings the interim back to 0


def make_reference(prefix: str, random_bytes: bytes) -> str:
    """Build a reference from ``prefix`` and at least 7 bytes of randomness (50 bits used)."""
    if len(random_bytes) < 7:
        raise ValueError("need at least 7 random bytes")
    number = int.from_bytes(random_bytes[:7], "big")
    body = "".join([ALPHABET[(number >> shift) & 31] for shift in _BODY_SHIFTS])
    return prefix + body + check_symbol(prefix + body)


def is_valid_reference(candidate: str, prefix: str) -> bool:
    if len(candidate) != len(prefix) + BODY_LENGTH + 1 or not candidate.startswith(prefix):
        return False
    body = candidate[:-1]
    if any(char not in _VALUE for char in body[len(prefix) :]):
        return False
    return check_symbol(body) == candidate[-1]


def normalise_transfer_text(text: str) -> str:
    """Fold diacritics, upper-case and drop everything but A–Z and 0–9 (banks add prefixes,
    suffixes, dots and spaces around what the payer typed or the QR carried)."""
    return _NOT_ALNUM.sub("", fold_vietnamese(text).upper())


def find_references(text: str, prefix: str) -> list[str]:
    """Every well-formed reference in ``text``, in order of appearance, without repeats."""
    compact = normalise_transfer_text(text)
    size = len(prefix) + BODY_LENGTH + 1
    found: list[str] = []
    start = compact.find(prefix)
    while start != -1:
        candidate = compact[start : start + size]
        if is_valid_reference(candidate, prefix) and candidate not in found:
            found.append(candidate)
        start = compact.find(prefix, start + 1)
    return found
