"""Code 128 barcodes of postal item codes, drawn as inline SVG for printed labels and
handover records.

Decision 45/2016/QĐ-TTg and Circular 17/2017 (``../shared/specs/vnpost-status-codes.md``
§5.2–5.3) identify each dossier by its dispatch-slip number (số hiệu phiếu gửi, VNPost's
``itemCode``); VNPost scans it at every stage, so labels and records carry it as a barcode.
The drawing is python-barcode's SVG writer; the sizes below are data (millimetres).
"""

from __future__ import annotations

import re
from typing import Final

from barcode import Code128
from barcode.writer import SVGWriter
from markupsafe import Markup, escape

#: Narrowest bar, bar height and the blank margin each side (mm). 0.33 mm bars keep a
#: 13-character item code under 70 mm, inside a 100 mm label, and readable by hand scanners.
OPTIONS: Final[dict[str, float | bool]] = {
    "module_width": 0.33,
    "module_height": 14.0,
    "quiet_zone": 3.3,
    "write_text": False,
}
#: python-barcode colours each bar with a ``style`` attribute; the pages' CSP refuses inline
#: styles, so the colour becomes the SVG ``fill`` attribute (same drawing, no CSS).
_STYLE_FILL = re.compile(r'style="fill:\s*([a-z]+);?"')


def code128_svg(code: str) -> Markup:
    """``code`` as a Code 128 barcode: an ``<svg>`` element to place in a page (no XML
    prolog, no ``id``, so several fit on one page). Empty for an order without an item code."""
    if not code:
        return Markup("")
    drawn = Code128(code, writer=SVGWriter()).render(dict(OPTIONS)).decode()
    svg = drawn[drawn.index("<svg") :].replace(' id="barcode_group"', "")
    svg = _STYLE_FILL.sub(r'fill="\1"', svg)
    named = f'<svg role="img" aria-label="{escape(f"Mã vạch Code 128: {code}")}" '
    # python-barcode's own output with an escaped name: safe to place as it is.
    return Markup(svg.replace("<svg ", named, 1))  # noqa: S704
