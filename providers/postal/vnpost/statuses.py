"""VNPost status codes and the normalised postal status each one means: one table per VNPost
API surface (a *profile*), chosen in configuration (``[vnpost] status_profile``).

Source: ``/work/shared/specs/vnpost-status-codes.md``. VNPost does not publish these tables;
both come from third-party integrations (marked **[I]** there), so they are data here, easy
to change, and a code no table explains is ``unknown``: stored on the event, shown to
operators and the portal, never moving an order, never guessed (rank -1).

``partner_order`` (the default) — surface A, the MyVNPost partner API's numeric ``status``
0–29, spec §2.5 (table and "suggested normalised mapping"). Sources named there:
``hieukun1011/Shipping`` (``pontusinc_shipping/data/shipping_vnpost_state_data.xml``, codes
0–22) and a NestJS ``VnpostGateway`` (codes 0–29, corroboration only). Choices where the spec
leaves room:

- 0 (draft) and 1 (created) are ``created``; 7 (accepted at the post office) is
  ``picked_up`` — the normalised statuses have no "accepted" and the item is in the post's
  hands; 23 (partially delivered) is ``delivered``; 20 (partially returned) is ``returned``;
  22 (delivery cancelled) is ``cancelled`` although the spec doubts it is terminal.
- 21 (COD paid out, "Đã trả tiền COD") is a money event on a delivered order: ``delivered``
  and ``cod_paid_out``. This surface has no "COD collected" code.
- 28 (shipping fee paid) and 29 (cancellation fee paid) are money events without a physical
  state: ``unknown`` status (they never move an order), known meaning.
- 25–27 are not explained by any source: ``unknown``.

``myvnpost`` — surface B, the donhang.vnpost.vn order API ("MyVNPost" to its users), spec §3
(TypeScript ``VietnamPostDeliveryStatusDetail``; three variants of one file). ``-1`` (the
variant's "Chưa duyệt") is ``created``; 61 (cancellation requested) changes no physical
state; 110 (COD collected) and 120 (COD remitted) are money events on a delivered order;
161 (return to sender failed) is ``returning`` (the return goes on).

Never translate one surface's codes into the other's (spec §3): a code from the other profile
is simply a code this profile does not explain.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType
from typing import Final

from providers.common.postal import FINAL_STATUSES, RANK, PostalStatus, should_advance

_S = PostalStatus


class Money(StrEnum):
    """What a code says about money, beside (or instead of) the parcel's state."""

    COD_COLLECTED = "cod_collected"  # the postman took the COD from the receiver
    COD_PAID_OUT = "cod_paid_out"  # VNPost paid the COD to the sender (it was collected)
    SHIPPING_FEE_PAID = "shipping_fee_paid"
    CANCELLATION_FEE_PAID = "cancellation_fee_paid"


#: Money codes that prove the COD was collected (``cod_paid_out``: it could not be paid out
#: otherwise).
COD_CODES: Final = frozenset({Money.COD_COLLECTED, Money.COD_PAID_OUT})


@dataclass(frozen=True)
class Meaning:
    """One code of a profile: the normalised status (``unknown`` for an event that changes
    no physical state), the label as the source gives it, and its money meaning if any."""

    status: PostalStatus
    label: str
    money: Money | None = None


def _m(status: PostalStatus, label: str, money: Money | None = None) -> Meaning:
    return Meaning(status, label, money)


@dataclass(frozen=True)
class StatusProfile:
    """One VNPost surface's code table."""

    name: str
    source: str
    codes: Mapping[int, Meaning]
    #: What the carrier reports when an order is created, and when it is cancelled on request.
    created_code: int
    cancelled_code: int

    def meaning(self, code: int) -> Meaning | None:
        """The documented meaning of ``code``, or None when no source explains it."""
        return self.codes.get(code)

    def normalise(self, code: int) -> PostalStatus:
        """The normalised status of ``code``; ``unknown`` for one no source explains."""
        meaning = self.codes.get(code)
        return meaning.status if meaning else PostalStatus.UNKNOWN

    def money(self, code: int) -> Money | None:
        meaning = self.codes.get(code)
        return meaning.money if meaning else None

    def label(self, code: int) -> str | None:
        meaning = self.codes.get(code)
        return meaning.label if meaning else None


PARTNER_ORDER: Final = StatusProfile(
    name="partner_order",
    source="spec vnpost-status-codes.md §2.5 (surface A, MyVNPost partner API, status 0–29)",
    codes=MappingProxyType(
        {
            0: _m(_S.CREATED, "Lưu nháp (draft)"),
            1: _m(_S.CREATED, "Đã tạo đơn (created)"),
            2: _m(_S.PICKUP_ASSIGNED, "Bưu tá nhận yêu cầu thu gom"),
            3: _m(_S.PICKUP_ASSIGNED, "Chờ xác nhận / đang xử lý"),
            4: _m(_S.PICKING_UP, "Đang thu gom (picking up)"),
            5: _m(_S.PICKUP_FAILED, "Thu gom không thành công (pickup unsuccessful)"),
            6: _m(_S.PICKED_UP, "Đã thu gom (picked up)"),
            7: _m(_S.PICKED_UP, "Bưu cục đã nhận bưu gửi (accepted at the post office)"),
            8: _m(_S.PICKUP_FAILED, "Thu gom thất bại (pickup failed)"),
            9: _m(_S.CANCELLED, "Hủy thu gom (pickup cancelled)"),
            10: _m(_S.IN_TRANSIT, "Đang vận chuyển (in transit)"),
            11: _m(_S.IN_TRANSIT, "Đến bưu cục phát (arrived at the delivery office)"),
            12: _m(_S.OUT_FOR_DELIVERY, "Đang phát (out for delivery)"),
            13: _m(_S.IN_TRANSIT, "Chuyển tiếp (forwarded)"),
            14: _m(_S.DELIVERED, "Phát thành công (delivered)"),
            15: _m(_S.DELIVERY_FAILED, "Phát không thành công (delivery failed)"),
            16: _m(_S.RETURN_PENDING, "Chờ chuyển hoàn (waiting to return)"),
            17: _m(_S.RETURN_PENDING, "Duyệt chuyển hoàn (return approved)"),
            18: _m(_S.RETURNING, "Bắt đầu chuyển hoàn (return started)"),
            19: _m(_S.RETURNED, "Đã chuyển hoàn (returned to sender)"),
            20: _m(_S.RETURNED, "Chuyển hoàn một phần (partially returned)"),
            21: _m(_S.DELIVERED, "Đã trả tiền COD (COD paid out)", Money.COD_PAID_OUT),
            22: _m(_S.CANCELLED, "Hủy phát (delivery cancelled)"),
            23: _m(_S.DELIVERED, "Phát một phần (partially delivered)"),
            24: _m(_S.RETURNING, "Đang chuyển hoàn (returning)"),
            28: _m(_S.UNKNOWN, "Đã thanh toán cước (shipping fee paid)", Money.SHIPPING_FEE_PAID),
            29: _m(
                _S.UNKNOWN,
                "Đã thanh toán phí hủy (cancellation fee paid)",
                Money.CANCELLATION_FEE_PAID,
            ),
        }
    ),
    created_code=1,
    cancelled_code=9,
)

MYVNPOST: Final = StatusProfile(
    name="myvnpost",
    source="spec vnpost-status-codes.md §3 (surface B, donhang.vnpost.vn order statuses)",
    codes=MappingProxyType(
        {
            -1: _m(_S.CREATED, "Chưa duyệt (not yet approved)"),
            10: _m(_S.CANCELLED, "Đơn hàng đã xóa (deleted)"),
            20: _m(_S.CREATED, "Gửi sang hệ thống MyVNPOST thành công (accepted)"),
            60: _m(_S.CANCELLED, "Đơn hàng đã hủy (cancelled)"),
            61: _m(_S.UNKNOWN, "Báo hủy đơn hàng (cancellation requested)"),
            62: _m(_S.CANCELLED, "Đã nhận báo hủy (cancellation acknowledged)"),
            70: _m(_S.PICKED_UP, "Bưu cục đã nhận đơn hàng (accepted at the post office)"),
            91: _m(_S.DELIVERY_FAILED, "Phát không thành công (delivery attempt failed)"),
            100: _m(_S.DELIVERED, "Đã phát thành công (delivered)"),
            110: _m(_S.DELIVERED, "Bưu tá đã nhận tiền COD (COD collected)", Money.COD_COLLECTED),
            120: _m(
                _S.DELIVERED, "Tiền COD đã trả cho người gửi (COD remitted)", Money.COD_PAID_OUT
            ),
            161: _m(_S.RETURNING, "Phát hoàn cho người gửi thất bại (return failed)"),
            170: _m(_S.RETURNED, "Phát hoàn cho người gửi thành công (returned)"),
        }
    ),
    created_code=20,
    cancelled_code=60,
)

PROFILES: Final[Mapping[str, StatusProfile]] = MappingProxyType(
    {PARTNER_ORDER.name: PARTNER_ORDER, MYVNPOST.name: MYVNPOST}
)
DEFAULT_PROFILE: Final = PARTNER_ORDER


def profile(name: str) -> StatusProfile:
    """The profile called ``name``; ``KeyError`` for another name."""
    return PROFILES[name]


#: The default profile's codes and statuses (partner order API).
VNPOST_STATUS: Final[Mapping[int, PostalStatus]] = MappingProxyType(
    {code: meaning.status for code, meaning in PARTNER_ORDER.codes.items()}
)


def normalise(code: int, table: StatusProfile = DEFAULT_PROFILE) -> PostalStatus:
    """The normalised status of a VNPost code in ``table``; ``unknown`` for an undocumented
    one."""
    return table.normalise(code)


__all__ = [
    "COD_CODES",
    "DEFAULT_PROFILE",
    "FINAL_STATUSES",
    "MYVNPOST",
    "PARTNER_ORDER",
    "PROFILES",
    "RANK",
    "VNPOST_STATUS",
    "Meaning",
    "Money",
    "PostalStatus",
    "StatusProfile",
    "normalise",
    "profile",
    "should_advance",
]
