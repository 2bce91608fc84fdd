"""Vietnamese words for the staff console: every code the services use, as a table, and the
sentence a finance officer reads for each error (never the English detail or a traceback)."""

from __future__ import annotations

from gateway.core.errors import GatewayError, InvalidTransition, ValidationFailed

#: In the order of ``reconciliation.results.ExceptionType`` (the report's order).
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

#: The ``source`` field of an upload: the file's format (keys of ``FORMAT_SOURCES``).
FORMATS = {
    "camt053": "Sao kê ngân hàng ISO 20022 camt.053 (cuối ngày)",
    "camt054": "Báo có/báo nợ ISO 20022 camt.054",
    "mt940": "Sao kê SWIFT MT940",
    "bank_csv": "Sao kê ngân hàng (CSV)",
    "bank_xlsx": "Sao kê ngân hàng (Excel XLSX)",
    "vnpay_day": "Tệp đối soát ngày VNPAY",
    "pos_settlement": "Quyết toán cuối ngày POS",
    "treasury_csv": "Chứng từ Kho bạc Nhà nước (CSV)",
    "treasury_xlsx": "Chứng từ Kho bạc Nhà nước (Excel XLSX)",
    "vnpost_cod": "Bảng kê chuyển tiền thu hộ (COD) VNPost",
}

IMPORT_STATUSES = {"accepted": "Đã nhận", "quarantined": "Bị cách ly"}

#: The shipped column layouts of bank exports (reconciliation.bank_layouts.PROFILES).
BANK_PROFILES = {
    "vn_standard": "Mẫu tiêu chuẩn: Ngày giao dịch, Ngày hiệu lực, Số bút toán, Ghi nợ, Ghi có, "
    "Mô tả",
    "generic": "Mẫu chung: booking_date, value_date, reference, amount, text, account",
}

#: Parser codes (``reconciliation/parsers/codes.py``), file level and row level.
PARSE_CODES = {
    "too_large": "Tệp quá lớn",
    "unknown_format": "Loại tệp không được hỗ trợ",
    "bad_encoding": "Sai bảng mã ký tự",
    "malformed_xml": "Tệp XML không hợp lệ",
    "external_entity": "Tệp XML chứa thực thể ngoài (bị từ chối vì lý do an toàn)",
    "unsupported_namespace": "Phiên bản/loại thông điệp không được hỗ trợ",
    "not_a_statement": "Tệp không phải sao kê",
    "multiple_statements": "Tệp chứa nhiều sao kê",
    "malformed_mt940": "Tệp MT940 không đọc được",
    "malformed_xlsx": "Tệp Excel không đọc được",
    "formula_cell": "Tệp Excel chứa công thức (hãy tải lên đúng tệp ngân hàng xuất ra)",
    "multiple_sheets": "Tệp Excel có nhiều trang tính; hãy ghi rõ trang cần đọc (sheet)",
    "missing_column": "Thiếu cột bắt buộc",
    "duplicate_column": "Trùng cột",
    "missing_balance": "Thiếu số dư đầu kỳ hoặc cuối kỳ",
    "missing_total": "Thiếu dòng tổng kiểm soát",
    "balances_do_not_tie": "Số dư không khớp (đầu kỳ + ghi có − ghi nợ ≠ cuối kỳ)",
    "count_mismatch": "Số giao dịch không khớp với số khai báo trong tệp",
    "totals_do_not_tie": "Tổng tiền không khớp với tổng khai báo trong tệp",
    "row_errors": "Có dòng không đọc được",
    "only_repeats": "Mọi dòng đều trùng với dòng đã nhập từ tệp khác; tệp không bổ sung gì",
    "bad_amount": "Số tiền không hợp lệ",
    "bad_date": "Ngày không hợp lệ",
    "date_out_of_range": "Ngày nằm ngoài khoảng cho phép",
    "unknown_currency": "Loại tiền không phải VND",
    "missing_field": "Thiếu giá trị bắt buộc",
    "bad_field": "Giá trị không hợp lệ",
    "bad_record": "Dòng không đọc được",
    "not_booked": "Giao dịch chưa hạch toán",
    "details_do_not_tie": "Chi tiết giao dịch không khớp tổng",
}

_FIELD_MESSAGES = {
    ("resolution", "invalid_choice"): "Hãy chọn cách xử lý.",
    ("reason", "required"): "Hãy nhập lý do xử lý.",
    ("source", "invalid_choice"): "Hãy chọn loại tệp sao kê.",
    ("source", "required"): "Hãy chọn loại tệp sao kê.",
    ("file", "required"): "Hãy chọn tệp sao kê để tải lên.",
    (
        "bank_profile",
        "required",
    ): "Sao kê ngân hàng CSV/Excel cần chọn mẫu cột hoặc nhập ánh xạ cột.",
    ("bank_profile", "invalid_choice"): "Mẫu cột không có trong danh sách.",
    ("mapping", "invalid_format"): "Ánh xạ cột phải là một đối tượng JSON.",
    ("mapping", "not_object"): "Ánh xạ cột phải là một đối tượng JSON.",
    ("mapping", "unknown_field"): "Ánh xạ cột có khóa không được hỗ trợ.",
    ("mapping", "not_string"): "Mỗi giá trị trong ánh xạ cột phải là chuỗi ký tự.",
    ("mapping", "invalid"): "Ánh xạ cột không hợp lệ (cần date, text và amount hoặc credit+debit).",
    ("account", "invalid"): "Số tài khoản không hợp lệ.",
    ("date", "invalid_format"): "Ngày không hợp lệ (định dạng YYYY-MM-DD).",
}

_CODE_MESSAGES = {
    "cannot_approve_own_resolution": "Không thể tự phê duyệt xử lý của chính mình.",
    "open_exceptions": "Chưa thể khóa sổ: ngày còn ngoại lệ chưa xử lý hoặc đang chờ phê duyệt.",
    "day_closed": "Ngày này đã khóa sổ; dữ liệu của ngày không thể thay đổi.",
    "forbidden": "Bạn không có quyền thực hiện thao tác này.",
    "not_found": "Không tìm thấy dữ liệu yêu cầu.",
    "payload_too_large": "Tệp quá lớn.",
    "parse_timeout": "Tệp đọc quá lâu nên không được nhận; hãy chia nhỏ tệp rồi tải lên lại.",
    "conflict": "Dữ liệu vừa bị thay đổi bởi thao tác khác; vui lòng tải lại trang và thử lại.",
    "service_unavailable": "Hệ thống tạm thời không truy cập được cơ sở dữ liệu; vui lòng thử lại.",
    "database_busy": "Hệ thống đang bận với một thay đổi khác trên cùng dữ liệu; vui lòng thử lại.",
}


def parse_reason(reason: str | None) -> tuple[str, str]:
    """An import's ``reason`` (``code: message``) → (Vietnamese label, the parser's message)."""
    code, _, message = (reason or "").partition(": ")
    return PARSE_CODES.get(code, code), message


def error_message(error: GatewayError) -> str:
    """The sentence a finance officer sees for a service error."""
    if isinstance(error, ValidationFailed):
        return " ".join(
            dict.fromkeys(
                _FIELD_MESSAGES.get((item.field, item.code), "Dữ liệu nhập không hợp lệ.")
                for item in error.errors
            )
        )
    if isinstance(error, InvalidTransition):
        if error.current == "not_reconciled":
            return "Ngày này chưa chạy đối soát; hãy chạy đối soát trước khi khóa sổ."
        current = EXCEPTION_STATUSES.get(error.current, error.current)
        return f"Không thể thực hiện: ngoại lệ đang ở trạng thái “{current}”."
    return _CODE_MESSAGES.get(error.code) or (
        "Thao tác không thực hiện được." if error.http_status < 500 else "Đã xảy ra lỗi hệ thống."
    )


#: Exception statuses as shown (the filter offers only the three above).
EXCEPTION_STATUS_DISPLAY = {**EXCEPTION_STATUSES, "superseded": "Đã được lần chạy sau thay thế"}

#: Ledger rows: payment, attempt and refund statuses.
LEDGER_STATUSES = {
    "pending": "Chờ thanh toán",
    "paid": "Đã thanh toán",
    "expired": "Hết hạn",
    "cancelled": "Đã hủy",
    "needs_review": "Cần kiểm tra",
    "partially_refunded": "Đã hoàn một phần",
    "refunded": "Đã hoàn tiền",
    "succeeded": "Thành công",
    "failed": "Thất bại",
    "created": "Mới tạo",
    "unknown": "Chưa rõ kết quả",
}

#: Confirmations after a form succeeded (the redirect carries only the key, never text).
NOTICES = {
    "run": "Đã chạy đối soát cho ngày này.",
    "closed": "Đã khóa sổ ngày.",
    "resolved": "Đã ghi nhận cách xử lý; ngoại lệ đang chờ phê duyệt.",
    "approved": "Đã phê duyệt xử lý ngoại lệ.",
    "rejected": "Đã từ chối cách xử lý; ngoại lệ mở lại để xử lý lại.",
}
