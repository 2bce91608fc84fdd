"""MoMo's ``resultCode`` as a table: what each means for our attempt, and the Vietnamese
message shown to the citizen. Spec: ``specs/momo-zalopay.md`` §A.5 (a selection of MoMo's
codes from a secondary catalogue; a code missing here is ``unknown`` and is queried again).

The same vocabulary serves the create answer, the IPN, ``/query`` and ``/refund``.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Not final yet (1000, 7000, 7002, 9000): ask again with a new ``requestId``.
    PENDING = "pending"
    #: Says nothing about the payment (a request error, maintenance): ask again later.
    UNKNOWN = "unknown"


_S, _F, _P, _U = Outcome.SUCCEEDED, Outcome.FAILED, Outcome.PENDING, Outcome.UNKNOWN

#: ``resultCode`` → (what it means for the payment, the citizen's message).
RESULT_CODES: Final[Mapping[int, tuple[Outcome, str]]] = {
    0: (_S, "Giao dịch thành công."),
    # 1-step captureWallet: MoMo settles an authorised payment itself; until it says 0 the
    # gateway waits (spec: 9000 is pending, never a failure).
    9000: (_P, "Giao dịch đã được xác nhận, đang chờ hoàn tất."),
    1000: (_P, "Giao dịch đang chờ người dùng xác nhận thanh toán."),
    7000: (_P, "Giao dịch đang được xử lý."),
    7002: (_P, "Giao dịch đang được nhà cung cấp nguồn tiền xử lý."),
    10: (_U, "Hệ thống MoMo đang bảo trì."),
    11: (_U, "Truy cập bị từ chối."),
    12: (_U, "Phiên bản API không được hỗ trợ."),
    13: (_U, "Xác thực doanh nghiệp thất bại."),
    20: (_U, "Yêu cầu sai định dạng."),
    21: (_U, "Số tiền giao dịch không hợp lệ."),
    22: (_U, "Số tiền giao dịch nằm ngoài giới hạn cho phép."),
    40: (_U, "Mã yêu cầu (requestId) bị trùng."),
    41: (_U, "Mã đơn hàng (orderId) bị trùng."),
    42: (_U, "Không tìm thấy đơn hàng."),
    43: (_U, "Một giao dịch tương tự đang được xử lý."),
    45: (_U, "Mã sản phẩm bị trùng."),
    47: (_U, "Dữ liệu không áp dụng được."),
    98: (_F, "Không tạo được mã QR thanh toán. Vui lòng thử lại."),
    99: (_F, "Lỗi không xác định từ MoMo. Vui lòng thử lại."),
    1001: (_F, "Tài khoản ví MoMo không đủ số dư."),
    1002: (_F, "Giao dịch bị từ chối bởi nhà phát hành nguồn tiền."),
    1003: (_F, "Giao dịch đã bị hủy sau khi xác thực."),
    1004: (_F, "Số tiền vượt quá hạn mức thanh toán của tài khoản."),
    1005: (_F, "Đường dẫn hoặc mã QR thanh toán đã hết hạn."),
    1006: (_F, "Bạn đã từ chối xác nhận thanh toán."),
    1007: (_F, "Tài khoản ví MoMo đang bị khóa hoặc chưa kích hoạt."),
    1017: (_F, "Giao dịch đã bị hủy bởi đơn vị thu."),
    1026: (_F, "Giao dịch bị hạn chế theo chương trình khuyến mãi."),
    1080: (_F, "Hoàn tiền thất bại, vui lòng thử lại sau."),
    1081: (_F, "Giao dịch đã được hoàn tiền hoặc vượt quá số tiền được hoàn."),
    1088: (_F, "Giao dịch không được phép hoàn tiền."),
    2019: (_F, "Mã nhóm đơn hàng không hợp lệ."),
    4001: (_F, "Tài khoản ví MoMo đang bị hạn chế."),
    # The 2024 rule (spec §A.5): shown as "cập nhật sinh trắc học".
    4002: (_F, "Tài khoản ví MoMo chưa cập nhật sinh trắc học (xác thực bằng CCCD gắn chip)."),
    4100: (_F, "Đăng nhập ví MoMo không thành công."),
}

#: ``/query`` answers that mean MoMo does not know the order (never reached its page).
NOT_FOUND: Final = frozenset({42})
#: A refund may be tried again later (spec: about an hour).
REFUND_RETRY_LATER: Final = frozenset({1080})


def outcome(result_code: int) -> Outcome:
    return RESULT_CODES.get(result_code, (Outcome.UNKNOWN, ""))[0]


def message(result_code: int) -> str:
    """The citizen's message for ``result_code`` (a generic one for a code not in the table)."""
    known = RESULT_CODES.get(result_code)
    return known[1] if known else f"Thanh toán qua MoMo không thành công (mã {result_code})."
