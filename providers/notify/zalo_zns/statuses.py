"""ZNS result codes (the ``error`` field of an answer) and what the gateway does with them.

Only ``0`` (success) and ``-118`` ("Zalo account not existed": fall back to SMS) are
confirmed [I] by the sources of ``specs/notifications.md`` §1.1; the official error table is
not verified [U] (spec §5.1), so the other rows are placeholders kept here as data, easy to
correct. A code not listed is a refusal ``zns_<code>`` without fallback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class ZnsResult:
    #: Ours: the notification's ``reason`` when it fails.
    code: str
    #: Vietnamese, for staff reading the notification list.
    message_vi: str
    #: Another channel (SMS) may still reach the citizen.
    fallback: bool = False
    #: Transient: try again later (the token, the quota).
    retryable: bool = False
    #: How sure we are of this row: "I" inferred from integrations, "U" not verified.
    marker: str = "U"


ZNS_RESULTS: Mapping[int, ZnsResult] = {
    -118: ZnsResult(
        "no_zalo_account", "Số điện thoại chưa đăng ký tài khoản Zalo", fallback=True, marker="I"
    ),
    -108: ZnsResult("invalid_phone", "Số điện thoại không hợp lệ"),
    -109: ZnsResult("template_rejected", "Mẫu ZNS không hợp lệ hoặc chưa được duyệt"),
    -112: ZnsResult("template_rejected", "Dữ liệu mẫu ZNS không khớp tham số của mẫu"),
    -124: ZnsResult("unauthorized", "Access token không hợp lệ hoặc đã hết hạn", retryable=True),
    -133: ZnsResult("quota_exceeded", "Đã hết hạn mức gửi ZNS trong ngày", retryable=True),
}


def result_for(error: int) -> ZnsResult:
    return ZNS_RESULTS.get(error, ZnsResult(f"zns_{error}", f"Zalo từ chối tin nhắn (mã {error})"))
