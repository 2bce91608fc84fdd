"""The platform's codes as tables, and what each means for our attempt
(``specs/dvcqg-payment-platform.md`` §8). Unverified meanings are marked; a corrected list is
a change of these tables only.

:class:`Outcome` values are the gateway's attempt-status names, so the gateway maps them one
to one without this package importing it.
"""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Final


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: The platform does not know the final state yet: query again later.
    PENDING = "pending"
    #: Not a value we know: a person (or a later query) decides, never a guess.
    UNKNOWN = "unknown"


#: ``MaLoi`` of a QUERY/GET_BILL answer (and of a callback): ``00`` = processed / paid (§8.1).
#: The full list is not public (§15.9).
OK: Final = "00"
#: What our callback reply says when the callback could not be processed (OpenCPS, §4.2).
OTHER_ERROR: Final = "99"

#: ``TrangThaiGD`` of a QUERY answer (§8.2, from TD's source comments).
TRANSACTION_STATES: Final[Mapping[str, Outcome]] = {
    "1": Outcome.SUCCEEDED,  # Thanh toán thành công
    # GD pending: Payment Platform chưa biết trạng thái cuối của GD (lỗi hệ thống, timeout
    # từ ngân hàng/TGTT …) — keep querying
    "3": Outcome.PENDING,
    "4": Outcome.FAILED,  # Thanh toán thất bại
    # "2" and anything else: not seen in any code — unknown, for a person (§8.2)
}

#: Our reply's ``MoTaLoi`` for its ``MaLoi`` (OpenCPS's texts, §4.2).
REPLY_TEXTS: Final[Mapping[str, str]] = {
    OK: "Thành công",
    OTHER_ERROR: "Các lỗi khác",
}

#: The attempt's ``failure_code`` → what the citizen reads on the checkout page. The platform
#: does not tell a cancel from a failure in any known field (§8.2 has one state, 4), so one
#: message covers both; an INIT refused or unanswered, and a bill the platform cannot take
#: (a line that is neither phí nor lệ phí), have their own.
FAILURE_MESSAGES: Final[Mapping[str, str]] = {
    "dvcqg_4": "Giao dịch thanh toán qua Cổng Dịch vụ công quốc gia không thành công hoặc đã "
    "bị hủy. Bạn chưa bị trừ tiền cho khoản này; vui lòng thử lại hoặc chọn cách thanh toán "
    "khác.",
    "dvcqg_init_refused": "Cổng Dịch vụ công quốc gia chưa nhận yêu cầu thanh toán. Vui lòng "
    "thử lại sau hoặc chọn cách thanh toán khác.",
    "dvcqg_unavailable": "Chưa kết nối được với Cổng Dịch vụ công quốc gia. Vui lòng thử lại "
    "sau ít phút hoặc chọn cách thanh toán khác.",
    "dvcqg_invalid_bill": "Khoản thanh toán này không nộp được qua Cổng Dịch vụ công quốc gia. "
    "Vui lòng chọn cách thanh toán khác.",
}


def transaction_outcome(state: str) -> Outcome:
    """What a QUERY's ``TrangThaiGD`` says about the payment (unknown values: unknown)."""
    return TRANSACTION_STATES.get(state, Outcome.UNKNOWN)


def failure_message(failure_code: str | None) -> str | None:
    """The Vietnamese text for an attempt's ``failure_code``, if it is one of ours."""
    return None if failure_code is None else FAILURE_MESSAGES.get(failure_code)
