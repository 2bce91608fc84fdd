"""PNG/SVG rendering: settings, faithful pixels, well-formed XML, memoisation."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
import qrcode.constants
from PIL import Image

from providers.payment.vietqr import VietQR, VietQRError, encode, render_png, render_svg
from providers.payment.vietqr.image import BORDER, BOX_SIZE, build_qr

PAYLOAD = encode(
    VietQR(bin="970436", account="1017595600", amount=180000, purpose="Le phi cap doi ho chieu")
)
SVG_NS = "{http://www.w3.org/2000/svg}"


def test_symbol_uses_error_correction_m_and_a_four_module_quiet_zone() -> None:
    qr = build_qr(PAYLOAD)

    assert qr.error_correction == qrcode.constants.ERROR_CORRECT_M
    assert qr.border == BORDER == 4
    assert qr.box_size == BOX_SIZE == 8


def test_png_pixels_reproduce_the_qr_matrix_of_the_payload() -> None:
    # No QR decoder is installed (pyzbar/zbar/OpenCV); instead check that every module of
    # the symbol qrcode built for this payload is drawn where it belongs, quiet zone white.
    png = render_png(PAYLOAD)
    modules = build_qr(PAYLOAD).modules
    count = len(modules)

    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    image = Image.open(io.BytesIO(png))
    image.load()
    assert image.format == "PNG"
    assert image.mode == "1"
    assert image.size == ((count + 2 * BORDER) * BOX_SIZE,) * 2

    def dark(row: int, col: int) -> bool:
        centre = (
            (col + BORDER) * BOX_SIZE + BOX_SIZE // 2,
            (row + BORDER) * BOX_SIZE + BOX_SIZE // 2,
        )
        return image.getpixel(centre) == 0

    assert [[dark(r, c) for c in range(count)] for r in range(count)] == modules
    assert all(dark(-BORDER, c) is False for c in range(-BORDER, count + BORDER))


def test_svg_is_well_formed_xml_with_one_path() -> None:
    svg = render_svg(PAYLOAD)

    # Parsing our own freshly generated SVG, not untrusted input.
    root = ET.fromstring(svg)  # noqa: S314
    assert root.tag == f"{SVG_NS}svg"
    paths = root.findall(f"{SVG_NS}path")
    assert len(paths) == 1
    assert paths[0].get("d")


def test_rendering_twice_returns_the_cached_object() -> None:
    assert render_png(PAYLOAD) is render_png(PAYLOAD)
    assert render_svg(PAYLOAD) is render_svg(PAYLOAD)
    assert render_png.cache_info().maxsize == render_svg.cache_info().maxsize == 1024


def test_empty_payload_cannot_be_rendered() -> None:
    with pytest.raises(VietQRError) as caught:
        render_png("")
    assert caught.value.code == "invalid_field"
