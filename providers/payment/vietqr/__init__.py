"""NAPAS VietQR (EMVCo merchant-presented QR, tag 38): codec, text folding, rendering.

Pure: no network, clock, randomness or database. ``encode(VietQR(...))`` builds a
payload, ``decode(payload)`` verifies and parses one, ``render_png``/``render_svg`` draw it;
every failure is a :class:`VietQRError` with a stable ``code``.
"""

from providers.common.text import fold_vietnamese

from .codec import decode, encode
from .errors import VietQRError
from .image import render_png, render_svg
from .model import VietQR
from .text import to_qr_text

__all__ = [
    "VietQR",
    "VietQRError",
    "decode",
    "encode",
    "fold_vietnamese",
    "render_png",
    "render_svg",
    "to_qr_text",
]
