"""Vietnamese words for the staff console: every code the services use, as a table, and the
sentence a finance officer reads for each error (never the English detail or a traceback)."""

from __future__ import annotations

from gateway.core.errors import (
    GatewayError,
    InvalidTransition,
    TaxNoticeNotDismissible,
    ValidationFailed,
)
from gateway.core.money import CHANNEL_LABELS

# The words for reconciliation's codes are shared with its reports (re-exported as they are).
from reconciliation.labels import EXCEPTION_STATUSES as EXCEPTION_STATUSES
from reconciliation.labels import EXCEPTION_TYPES as EXCEPTION_TYPES
from reconciliation.labels import RESOLUTIONS as RESOLUTIONS
from reconciliation.labels import SOURCES as SOURCES

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
    ("outcome", "invalid_choice"): "Hãy chọn kết quả nhà cung cấp xác nhận.",
    ("reason", "too_long"): "Lý do dài tối đa 2000 ký tự.",
    (
        "evidence",
        "required",
    ): "Giao dịch thành công cần mã giao dịch của nhà cung cấp làm bằng chứng.",
    ("evidence", "invalid"): "Mã giao dịch của nhà cung cấp không hợp lệ (tối đa 64 ký tự).",
    ("amount", "out_of_range"): "Số tiền nhà cung cấp đã thu phải là số nguyên đồng lớn hơn 0.",
    (
        "evidence",
        "not_allowed",
    ): "Giao dịch không thành công thì không có mã giao dịch làm bằng chứng; hãy để trống.",
    ("decision", "invalid_choice"): "Hãy chọn Phê duyệt hoặc Từ chối đề xuất.",
    # finance's result of a refund (the API's field names)
    ("status", "invalid_choice"): "Hãy chọn kết quả hoàn tiền đã xác nhận.",
    (
        "provider_transaction_id",
        "invalid",
    ): "Mã giao dịch hoàn tiền không hợp lệ (tối đa 64 ký tự in được).",
}

_CODE_MESSAGES = {
    "self_approval": "Không thể tự phê duyệt xử lý của chính mình (dù đã ghi nhận bằng khóa API "
    "hay tài khoản khác của cùng một người); cần người khác phê duyệt.",
    "account_not_in_scope": "Tài khoản của sao kê không phải tài khoản thu của đơn vị anh/chị "
    "phụ trách; tệp không được nhận.",
    "agency_not_in_scope": "Tệp có dữ liệu của đơn vị ngoài phạm vi anh/chị phụ trách.",
    "deployment_wide_only": "Thao tác này liên quan đến mọi đơn vị; chỉ cán bộ tài chính cấp "
    "tỉnh (toàn bộ đơn vị) được thực hiện.",
    "open_exceptions": "Chưa thể khóa sổ: ngày còn ngoại lệ chưa xử lý hoặc đang chờ phê duyệt.",
    "stale_run": "Chưa thể khóa sổ: có sao kê được nhập sau lần đối soát gần nhất và có thể làm "
    "thay đổi kết quả; hãy chạy đối soát lại ngày này trước.",
    "day_closed": "Ngày này đã khóa sổ; dữ liệu của ngày không thể thay đổi.",
    "forbidden": "Bạn không có quyền thực hiện thao tác này.",
    "resolution_pending": "Đã có đề xuất xử lý đang chờ phê duyệt; hãy phê duyệt hoặc từ chối "
    "đề xuất đó trước.",
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
    if isinstance(error, TaxNoticeNotDismissible):
        return (
            "Chỉ bỏ qua được thông báo sai sót bị cơ quan thuế từ chối hoặc không gửi được; "
            "thông báo này không còn ở trạng thái đó."
        )
    if isinstance(error, InvalidTransition):
        if error.current == "not_reconciled":
            return "Ngày này chưa chạy đối soát; hãy chạy đối soát trước khi khóa sổ."
        if error.current == "disabled":  # a webhook endpoint
            return "Điểm nhận webhook đã bị tắt; không gửi được thông báo tới nó."
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

#: Payment channels, as citizens and receipts name them.
CHANNELS = CHANNEL_LABELS

#: Webhook deliveries to the portal (``deliveries.status``).
DELIVERY_STATUSES = {
    "pending": "Chờ gửi",
    "delivering": "Đang gửi",
    "succeeded": "Đã gửi",
    "failed": "Gửi thất bại",
}

#: E-receipts (``receipts.status``).
RECEIPT_STATUSES = {
    "pending": "Chờ cấp số",
    "issued": "Đã phát hành",
    "replaced": "Đã bị thay thế",
    "error_notified": "Đã thông báo sai sót",
}

#: Finance's proposals on a flagged attempt: the outcome and where the proposal stands.
RESOLUTION_OUTCOMES = {
    "failed": "Thất bại (nhà cung cấp xác nhận không thu tiền)",
    "succeeded": "Thành công (nhà cung cấp xác nhận đã thu tiền)",
}
RESOLUTION_STATUSES = {
    "proposed": "Chờ phê duyệt",
    "approved": "Đã phê duyệt",
    "rejected": "Đã từ chối",
    "superseded": "Không còn hiệu lực (nhà cung cấp đã trả kết quả trước)",
}
#: A refund's status on its own page (``refunds.status``).
REFUND_STATUSES = {
    "pending": "Chờ xác nhận kết quả hoàn tiền",
    "succeeded": "Đã hoàn tiền thành công",
    "failed": "Hoàn tiền thất bại",
}
#: Finance's proposals on a refund made by hand or handed over at its horizon.
REFUND_OUTCOMES = {
    "succeeded": "Thành công (tiền đã hoàn cho người nộp)",
    "failed": "Thất bại (tiền chưa được hoàn)",
}

#: Confirmations after a form succeeded (the redirect carries only the key, never text).
NOTICES = {
    "run": "Đã chạy đối soát cho ngày này.",
    "closed": "Đã khóa sổ ngày.",
    "resolved": "Đã ghi nhận cách xử lý; ngoại lệ đang chờ phê duyệt.",
    "approved": "Đã phê duyệt xử lý ngoại lệ.",
    "rejected": "Đã từ chối cách xử lý; ngoại lệ mở lại để xử lý lại.",
    "proposed": "Đã ghi nhận đề xuất; cần người phê duyệt khác xác nhận.",
    "resolution_approved": "Đã phê duyệt; kết quả đã được áp dụng cho giao dịch.",
    "resolution_rejected": "Đã từ chối đề xuất; có thể lập đề xuất mới.",
    "notice_dismissed": "Đã ghi nhận xử lý thông báo sai sót; thông báo vẫn được lưu kèm lý do.",
    "refund_approved": "Đã phê duyệt; kết quả đã được áp dụng cho khoản hoàn tiền.",
}
