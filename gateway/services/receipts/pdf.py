"""The receipt as a PDF for the citizen to download (the same content as the printable page),
made with fpdf2 (pure Python, maintained) in a Unicode TrueType font: Vietnamese needs glyphs
for every letter with its diacritics (ă â đ ê ô ơ ư and the five tones), which the PDF base
fonts lack. DejaVu Sans has them all; on Debian it is the ``fonts-dejavu-core`` package. Without
such a font the gateway offers no PDF (the page prints to PDF in any browser) rather than
one with missing letters.

The PDF is not the legal receipt: the signed XML is (the PDF says so).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

BUSINESS_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
#: Where a font with every Vietnamese letter is looked for (regular, bold), first found wins.
FONT_CANDIDATES: Sequence[tuple[Path, Path]] = (
    (
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"),
        Path("/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"),
    ),
)
_FAMILY = "ReceiptSans"


def find_font(
    candidates: Sequence[tuple[Path, Path]] = FONT_CANDIDATES,
) -> tuple[Path, Path] | None:
    for regular, bold in candidates:
        if regular.is_file() and bold.is_file():
            return regular, bold
    return None


def _vnd(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " ₫"


def _local(value: str | None) -> str:
    if not value:
        return "—"
    return datetime.fromisoformat(value).astimezone(BUSINESS_TZ).strftime("%d/%m/%Y %H:%M")


def receipt_pdf(
    receipt: Mapping[str, Any],
    *,
    font: tuple[Path, Path],
    title: str,
    channel: str,
    status: str | None,
    kinds: Mapping[str, str],
) -> bytes:
    """The receipt (the view of the citizen's page) as PDF bytes. ``status`` is printed when
    the receipt is not simply issued (replaced, notified, pending)."""
    # Imported here: fpdf2 (with fontTools, ~17 MiB) is held only by a process that has made
    # a PDF (docs/performance.md, "Memory"); `gateway serve` checks it at start (cli.LAZY_MODULES).
    from fpdf import FPDF

    pdf = FPDF(format="A4")
    pdf.set_title(title)
    pdf.set_creator("Cổng thanh toán & bưu chính công ích")
    pdf.add_font(_FAMILY, "", str(font[0]))
    pdf.add_font(_FAMILY, "B", str(font[1]))
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    pdf.set_font(_FAMILY, "", 10)
    pdf.multi_cell(width, 5, receipt["agency_name"], new_x="LMARGIN", new_y="NEXT")
    pdf.multi_cell(width, 5, f"Mã số thuế: {receipt['tax_code']}", new_x="LMARGIN", new_y="NEXT")
    if receipt.get("agency_address"):
        pdf.multi_cell(
            width, 5, f"Địa chỉ: {receipt['agency_address']}", new_x="LMARGIN", new_y="NEXT"
        )
    delegate = receipt.get("delegate")
    if delegate:  # NĐ 254/2026 Điều 4.6: the delegate's name and address are shown
        pdf.multi_cell(
            width,
            5,
            f"Đơn vị được ủy nhiệm lập biên lai: {delegate['name']}",
            new_x="LMARGIN",
            new_y="NEXT",
        )
        pdf.multi_cell(width, 5, f"Địa chỉ: {delegate['address']}", new_x="LMARGIN", new_y="NEXT")
    pdf.ln(4)
    pdf.set_font(_FAMILY, "B", 15)
    pdf.cell(width, 8, title, align="C", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FAMILY, "", 10)
    number = f"{receipt['number']:08d}" if receipt.get("number") else "—"
    series = (
        f"Ký hiệu mẫu: {receipt['template_code']} · Ký hiệu: {receipt.get('symbol') or '—'}"
        f" · Số: {number}"
    )
    pdf.cell(width, 6, series, align="C", new_x="LMARGIN", new_y="NEXT")
    if status:
        pdf.set_font(_FAMILY, "B", 10)
        pdf.cell(width, 6, status, align="C", new_x="LMARGIN", new_y="NEXT")
        pdf.set_font(_FAMILY, "", 10)
    replaced = receipt.get("replaced_receipt")
    if replaced:
        pdf.multi_cell(
            width,
            5,
            f"Biên lai thay thế cho biên lai ký hiệu {replaced['symbol']} số "
            f"{replaced['number']:08d} lập ngày {_local(replaced['issued_at'])[:10]}.",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    pdf.ln(3)

    facts = [
        ("Người nộp", receipt["payer"].get("name") or ""),
        ("Số định danh", receipt["payer"].get("id_number") or ""),
        ("Mã hồ sơ", receipt.get("dossier_code") or ""),
        ("Thủ tục", receipt.get("procedure_name") or ""),
        ("Hình thức", channel),
        ("Mã giao dịch", receipt.get("transaction_reference") or ""),
        ("Thời điểm lập", _local(receipt.get("issued_at"))),
    ]
    for label, value in facts:
        if not value:
            continue
        pdf.set_font(_FAMILY, "B", 10)
        pdf.cell(40, 6, label)
        pdf.set_font(_FAMILY, "", 10)
        pdf.multi_cell(width - 40, 6, value, new_x="LMARGIN", new_y="NEXT")
    pdf.ln(3)

    pdf.set_font(_FAMILY, "B", 11)
    pdf.cell(width, 7, "Các khoản thu", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FAMILY, "", 10)
    for item in receipt["items"]:
        name = f"{kinds.get(item['kind'], item['kind'])} · {item['description']}"
        pdf.cell(width - 40, 6, name)
        pdf.cell(40, 6, _vnd(item["amount"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FAMILY, "B", 10)
    pdf.cell(width - 40, 7, "Tổng cộng")
    pdf.cell(40, 7, _vnd(receipt["amount"]), align="R", new_x="LMARGIN", new_y="NEXT")
    pdf.set_font(_FAMILY, "", 10)
    pdf.multi_cell(
        width,
        6,
        f"Số tiền bằng chữ: {receipt['amount_in_words']}",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    for refund in receipt.get("refunds") or []:
        if refund["status"] == "succeeded":
            pdf.multi_cell(
                width,
                6,
                f"Đã hoàn tiền {_vnd(refund['amount'])} ngày {_local(refund['created_at'])[:10]}.",
                new_x="LMARGIN",
                new_y="NEXT",
            )
    pdf.ln(4)
    pdf.set_font(_FAMILY, "", 9)
    signer = (
        f"{delegate['name']}, đơn vị được {receipt['agency_name']} ủy nhiệm lập biên lai"
        if delegate
        else receipt["agency_name"]
    )
    pdf.multi_cell(
        width,
        5,
        "Bản PDF để lưu và in. Biên lai điện tử có giá trị pháp lý là tệp XML có chữ ký số "
        f"(XML-DSig) của {signer}.",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    return bytes(pdf.output())
