"""Vietnamese text folding, shared by every connector that must send ASCII (QR fields, bank
transfer text, SMS without diacritics) and by the matching of transfer text."""

from __future__ import annotations

import unicodedata

# đ/Đ are letters of their own in Unicode (no decomposition), so NFD leaves them alone.
_D_MAP = str.maketrans({"đ": "d", "Đ": "D"})


def fold_vietnamese(text: str) -> str:
    """Remove diacritics: NFD, drop every combining mark, map đ→d and Đ→D.

    Nothing else changes: case, spacing, punctuation and characters without combining
    marks are kept (the result is recomposed to NFC so that, e.g., Hangul is untouched).
    Any Latin accent is dropped too (é → e), which is what bank transfer text needs.
    """
    if text.isascii():  # nothing to fold (most references, codes and account names)
        return text
    decomposed = unicodedata.normalize("NFD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return unicodedata.normalize("NFC", stripped).translate(_D_MAP)
