"""Vietnamese words for the operator console: statuses, legs, handover kinds and roles, identity
documents, and the sentence a postal operator reads for each error."""

from __future__ import annotations

from gateway.core.errors import GatewayError, ValidationFailed

STATUSES = {
    "submitting": "Đang gửi sang bưu điện",
    "submit_failed": "Bưu điện không nhận đơn",
    "needs_review": "Cần kiểm tra",
    "created": "Mới tạo",
    "pickup_assigned": "Đã phân công bưu tá",
    "picking_up": "Đang đi lấy hàng",
    "pickup_failed": "Lấy hàng không thành công",
    "picked_up": "Đã lấy hàng",
    "in_transit": "Đang vận chuyển",
    "out_for_delivery": "Đang phát",
    "delivery_failed": "Phát không thành công",
    "delivered": "Đã phát thành công",
    "return_pending": "Chờ chuyển hoàn",
    "returning": "Đang chuyển hoàn",
    "returned": "Đã chuyển hoàn",
    "cancelled": "Đã hủy",
    "lost": "Thất lạc",
    "unknown": "Không xác định",
}

#: Why an order needs a person (``review_reason``).
REVIEW_REASONS = {
    "carrier_conflict": "VNPost trả về số hiệu bưu gửi đã thuộc một đơn khác",
    "carrier_invalid_answer": "VNPost trả lời không hợp lệ; đơn có thể đã được tạo bên VNPost",
    "carrier_outcome_unknown": "Không nhận được trả lời chắc chắn của VNPost sau mọi lần thử",
    "delivered_after_return": "Có báo phát thành công sau khi kết quả đã được chuyển hoàn",
    "delivery_attempts_rule": "VNPost báo phát lại hoặc chuyển hoàn chưa đủ hai lần phát "
    "cách nhau hai ngày làm việc (Thông tư 17/2017)",
}

LEGS = {
    "pickup": "Nhận hồ sơ (công dân → cơ quan)",
    "delivery": "Trả kết quả (cơ quan → công dân)",
}

KINDS = {
    "collected": "Bưu tá nhận (lấy hàng)",
    "delivered": "Bưu tá giao (phát hàng)",
}

ROLES = {
    "citizen": "Công dân",
    "authorised_person": "Người được ủy quyền",
    "agency_officer": "Cán bộ cơ quan",
    "postman": "Nhân viên bưu chính",
}

ID_TYPES = {
    "cccd": "Căn cước công dân",
    "cmnd": "Chứng minh nhân dân",
    "passport": "Hộ chiếu",
    "other": "Giấy tờ khác",
}

SERVICES = {"standard": "Chuyển phát thường", "express": "Chuyển phát nhanh"}

SOURCES = {"vnpost": "VNPost", "operator": "Bưu cục", "staff": "Bưu cục", "gateway": "Cổng"}

#: Confirmations after a form succeeded (the redirect carries only the key).
NOTICES = {
    "accepted": "Đã nhận đơn.",
    "event": "Đã ghi nhận sự kiện và cập nhật trạng thái đơn.",
    "event_stored": "Đã lưu sự kiện vào lịch sử; trạng thái đơn không đổi "
    "(sự kiện cũ hơn hoặc không tiến hơn trạng thái hiện tại).",
    "handover": "Đã ghi nhận biên bản bàn giao.",
    "batch_signed": "Đã ghi nhận biên bản giao nhận hồ sơ; "
    "thời điểm ký là thời điểm tiếp nhận hồ sơ.",
}

_CODE_MESSAGES = {
    "not_found": "Không tìm thấy đơn hàng này trong các bưu cục của bạn.",
    "duplicate_event": "Mã sự kiện này đã được dùng cho một báo cáo khác.",
    "duplicate_handover": "Mã biên bản này đã được dùng cho một biên bản khác.",
    "already_accepted": "Đơn đã được nhân viên khác nhận.",
    "order_not_acceptable": "Không thể nhận đơn ở trạng thái hiện tại.",
    "cod_amount_mismatch": "Số tiền thu hộ không khớp với số tiền phải thu của đơn.",
    "cod_not_expected": "Không thu tiền trong lần bàn giao này "
    "(đơn không thu hộ, hoặc chỉ thu khi phát cho người nhận).",
    "cod_already_collected": "Tiền thu hộ của đơn này đã được ghi nhận; "
    "không ghi nhận lần thứ hai.",
    "delivery_attempts_required": "Chưa được chuyển hoàn: cần ít nhất hai lần phát "
    "không thành công, cách nhau hai ngày làm việc (Thông tư 17/2017).",
    "delivery_attempt_too_soon": "Lần phát lại phải cách lần phát trước ít nhất "
    "hai ngày làm việc (Thông tư 17/2017).",
    "conflict": "Đơn vừa được cập nhật ở nơi khác; hãy tải lại trang và thử lại.",
}

#: Form fields as the operator knows them (the first part of a field error's path).
_FIELDS = {
    "status": "Trạng thái",
    "occurred_at": "Thời gian",
    "at": "Thời gian",
    "note": "Ghi chú",
    "location": "Địa điểm",
    "kind": "Loại bàn giao",
    "documents": "Danh sách giấy tờ",
    "seal_number": "Số niêm phong",
    "counterpart_name": "Họ tên người bàn giao/nhận",
    "counterpart_role": "Vai trò",
    "identity": "Giấy tờ tùy thân",
    "proof_reference": "Mã ảnh/chữ ký",
    "cod_collected": "Số tiền thu hộ",
    "signed_at": "Thời điểm ký",
    "receiver_name": "Họ tên cán bộ tiếp nhận",
}


def error_message(error: GatewayError) -> str:
    """The sentence an operator sees for a service error."""
    if isinstance(error, ValidationFailed):
        sentences = []
        for item in error.errors:
            if item.code == "in_future":
                sentences.append("Thời gian không được ở tương lai.")
            elif item.code == "before_order":
                sentences.append("Thời gian không được trước lúc đặt đơn.")
            elif item.field == "complete" and item.code == "too_short":
                sentences.append("Hãy xác nhận ít nhất một hồ sơ đầy đủ.")
            elif item.field == "documents" and item.code == "too_short":
                sentences.append("Hãy nhập ít nhất một giấy tờ.")
            else:
                name = _FIELDS.get(item.field.split(".", 1)[0], item.field)
                sentences.append(f"{name}: giá trị không hợp lệ.")
        return " ".join(dict.fromkeys(sentences))
    return _CODE_MESSAGES.get(error.code) or (
        "Thao tác không thực hiện được." if error.http_status < 500 else "Đã xảy ra lỗi hệ thống."
    )
