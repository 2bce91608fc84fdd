"""Vietnamese words for reconciliation's codes, as tables: what finance staff read in the
console (:mod:`gateway.pages.console_labels` re-exports them) and in the day reports
(:mod:`reconciliation.report`). Codes stay English in the API; only what people read is
translated."""

from __future__ import annotations

#: In the order of ``reconciliation.rules.ExceptionType`` (the report's order).
EXCEPTION_TYPES = {
    "status_mismatch": "Lệch trạng thái",
    "amount_mismatch": "Lệch số tiền",
    "date_mismatch": "Lệch ngày",
    "duplicate": "Trùng lặp",
    "ambiguous": "Không xác định được",
    "expected_in_transit": "Đang chuyển",
    "missing_in_gateway": "Không có trên cổng",
    "missing_in_bank": "Thiếu trên sao kê ngân hàng",
    "missing_in_treasury": "Chưa nộp KBNN",
    "missing_in_vnpay": "Thiếu trên tệp đối soát VNPAY",
    "missing_in_pos": "Thiếu trên quyết toán POS",
    "missing_in_cod": "Thiếu trên bảng kê thu hộ",
}

EXCEPTION_STATUSES = {
    "open": "Chưa xử lý",
    "resolved": "Chờ phê duyệt",
    "approved": "Đã phê duyệt",
}

RESOLUTIONS = {
    "manual_match": "Khớp thủ công",
    "write_off": "Ghi giảm",
    "refund_requested": "Đề nghị hoàn tiền",
}

SOURCES = {
    "gateway": "Cổng thanh toán",
    "bank": "Ngân hàng",
    "vnpay": "VNPAY",
    "pos": "POS",
    "treasury": "Kho bạc Nhà nước",
    "cod": "Thu hộ (COD)",
}


def vietnamese(table: dict[str, str], code: str | None) -> str:
    """The word for ``code`` in ``table``; an unknown code is shown as it is, never dropped."""
    if code is None:
        return ""
    return table.get(code, code)
