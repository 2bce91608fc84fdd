"""VNPT's result codes and receipt statuses, as tables.

Every operation answers a string: ``OK:...`` or ``ERR:n``. The same ``n`` means different
things in different operations, so each operation has its own table: ``ERR:n`` → our error
code (:mod:`.errors`) and the Vietnamese text shown to staff.

**Unverified** (spec §10, §12 item 5): the spec knows codes 1, 2, 3, 5, 6, 7, 8, 9 and 20
from an unattributed integration document, without their meanings. The meanings below are
those public VNPT integrations print; confirm them with VNPT and edit these tables only.
An ``ERR:n`` missing from a table is ``rejected`` with :data:`UNKNOWN_TEXT`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from .errors import DUPLICATE_KEY, INVALID_FIELD, NOT_FOUND, REJECTED, UNAUTHORIZED


@dataclass(frozen=True)
class ResultCode:
    error: str  # our VnptError code
    message_vi: str


UNKNOWN_TEXT: Final = "Lỗi không xác định từ hệ thống biên lai điện tử VNPT"
_ACCOUNT = ResultCode(UNAUTHORIZED, "Tài khoản đăng nhập sai hoặc không có quyền")

#: ``PublishService.ImportAndPublishInv``.
PUBLISH: Final[Mapping[str, ResultCode]] = {
    "ERR:1": ResultCode(UNAUTHORIZED, "Tài khoản đăng nhập sai hoặc không có quyền thêm mới"),
    "ERR:2": ResultCode(INVALID_FIELD, "Mẫu số (pattern) hoặc ký hiệu (serial) truyền vào rỗng"),
    "ERR:3": ResultCode(REJECTED, "Dữ liệu XML đầu vào không đúng quy định"),
    "ERR:5": ResultCode(REJECTED, "Không phát hành được biên lai"),
    "ERR:6": ResultCode(REJECTED, "Không đủ số biên lai cho lô phát hành"),
    "ERR:7": ResultCode(UNAUTHORIZED, "Tên người dùng không phù hợp, không tìm thấy người dùng"),
    "ERR:10": ResultCode(REJECTED, "Lô có số biên lai vượt quá mức cho phép"),
    "ERR:13": ResultCode(DUPLICATE_KEY, "Đã có biên lai trùng khóa (fkey)"),
    "ERR:15": ResultCode(REJECTED, "Ngày lập lớn hơn ngày hiện tại hoặc XML sai định dạng"),
    "ERR:20": ResultCode(REJECTED, "Mẫu số và ký hiệu không phù hợp hoặc chưa đăng ký sử dụng"),
    "ERR:21": ResultCode(REJECTED, "Trùng số biên lai"),
}

#: The publish of a replacement receipt (``codec.REPLACEMENT_OPERATION``): the publish's
#: codes, and what the sandbox answers for a replaced receipt that is not there to replace.
#: Unverified like the operation itself.
REPLACE: Final[Mapping[str, ResultCode]] = {
    **PUBLISH,
    "ERR:8": ResultCode(
        REJECTED, "Biên lai cần thay thế không tồn tại, đã bị thay thế hoặc đã hủy"
    ),
}

#: ``BusinessService.UnConfirmPaymentFkey`` (first step of a cancellation).
UNCONFIRM: Final[Mapping[str, ResultCode]] = {
    "ERR:1": _ACCOUNT,
    "ERR:6": ResultCode(NOT_FOUND, "Không tìm thấy biên lai theo khóa (fkey)"),
    "ERR:7": ResultCode(REJECTED, "Không bỏ gạch nợ được biên lai"),
}

#: ``BusinessService.cancelInv``.
CANCEL: Final[Mapping[str, ResultCode]] = {
    "ERR:1": _ACCOUNT,
    "ERR:2": ResultCode(NOT_FOUND, "Không tồn tại biên lai cần hủy"),
    "ERR:8": ResultCode(REJECTED, "Biên lai đã bị thay thế hoặc đã hủy"),
    "ERR:9": ResultCode(REJECTED, "Trạng thái biên lai không cho phép hủy"),
}

#: ``PortalService.getInvViewFkey`` and ``downloadInvFkeyNoPay``.
VIEW: Final[Mapping[str, ResultCode]] = {
    "ERR:1": _ACCOUNT,
    "ERR:6": ResultCode(NOT_FOUND, "Không tìm thấy biên lai theo khóa (fkey)"),
    "ERR:7": ResultCode(REJECTED, "Biên lai chưa được phát hành"),
}

#: ``PortalService.listInvByCusFkey`` (the look-up before any repeated publish).
LOOKUP: Final[Mapping[str, ResultCode]] = {
    "ERR:1": _ACCOUNT,
    "ERR:3": ResultCode(NOT_FOUND, "Không tồn tại khách hàng tương ứng"),
    "ERR:4": ResultCode(REJECTED, "Đơn vị chưa đăng ký mẫu biên lai nào"),
}

#: ``status`` of a receipt in a look-up: VNPT's code → (our word, VNPT's meaning).
#: Unverified: the values public integrations use for VNPT invoices.
STATUS: Final[Mapping[int, tuple[str, str]]] = {
    0: ("created", "Mới tạo lập, chưa phát hành"),
    1: ("issued", "Đã phát hành (có chữ ký số)"),
    2: ("issued", "Đã khai báo thuế"),
    3: ("replaced", "Bị thay thế"),
    4: ("adjusted", "Bị điều chỉnh"),
    5: ("cancelled", "Bị hủy"),
}
