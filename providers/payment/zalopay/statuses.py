"""ZaloPay's result codes as tables, with the Vietnamese message shown to the citizen.

Spec: ``specs/momo-zalopay.md`` §B.3 (create ``sub_return_code``), §B.5 (``/v2/query`` and
``/v2/query_refund`` ``return_code`` 1 / 2 / 3 and ``sub_return_code``). A code missing here
says nothing about the payment (``unknown``): it is queried again.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: 3: not paid yet or being processed — ask again.
    PENDING = "pending"
    #: A request or system error: says nothing about the payment.
    UNKNOWN = "unknown"


#: ``return_code`` of ``/v2/query`` and ``/v2/query_refund``.
RETURN_CODES: Final[Mapping[int, Outcome]] = {
    1: Outcome.SUCCEEDED,
    2: Outcome.FAILED,
    3: Outcome.PENDING,
}

#: ``sub_return_code`` → the citizen's message (failures and the pending state).
SUB_RETURN_MESSAGES: Final[Mapping[int, str]] = {
    -32: "Hệ thống ZaloPay đang bảo trì. Vui lòng thử lại sau.",
    -33: "Hệ thống ZaloPay đang bảo trì. Vui lòng thử lại sau.",
    -34: "Hệ thống ZaloPay đang bận. Vui lòng thử lại sau.",
    -35: "Hệ thống ZaloPay đang bận. Vui lòng thử lại sau.",
    -43: "Hệ thống ZaloPay đang bận. Vui lòng thử lại sau.",
    -68: "Đơn hàng đã tồn tại.",
    -88: "Hệ thống ZaloPay đang bận. Vui lòng thử lại sau.",
    -101: "Hoàn tiền thành công, tiền sẽ về tài khoản trong 3–5 ngày làm việc.",
    -135: "Hệ thống ZaloPay đang bận. Vui lòng thử lại sau.",
    -301: "Hệ thống ZaloPay đang bận. Vui lòng thử lại sau.",
    -322: "Mã thanh toán ZaloPay đã hết hạn.",
    -329: "Bạn đã hủy giao dịch ZaloPay.",
    -401: "Dữ liệu yêu cầu không hợp lệ.",
    -402: "Ứng dụng thu tiền không hợp lệ.",
    -500: "Lỗi hệ thống ZaloPay. Vui lòng thử lại sau.",
    3: "Đơn hàng chưa thanh toán hoặc giao dịch đang xử lý.",
}
#: ``sub_return_code`` of a create answer meaning the order exists already: query it.
ORDER_EXISTS: Final = -68


def outcome(return_code: int) -> Outcome:
    return RETURN_CODES.get(return_code, Outcome.UNKNOWN)


def message(sub_return_code: int | None) -> str:
    known = SUB_RETURN_MESSAGES.get(sub_return_code) if sub_return_code is not None else None
    return known or f"Thanh toán qua ZaloPay không thành công (mã {sub_return_code})."
