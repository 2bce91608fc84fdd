"""What goes to the platform and what comes back, as values. Amounts are integer VND (the
platform's ``SoTien`` is VND too, not ×100); ``raw`` keeps a message exactly as received."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from .statuses import OK, Outcome, transaction_outcome

#: ``LoaiPhiLePhi``: ``"1"`` phí, ``"2"`` lệ phí (OpenCPS's constants, spec §9).
FeeKind = Literal["phi", "le_phi"]


@dataclass(frozen=True)
class FeeLine:
    """One ``PhiLePhi`` entry: a phí or lệ phí line of the bill."""

    kind: FeeKind
    code: str
    name: str
    amount: int


@dataclass(frozen=True)
class Bill:
    """``ThongTinBienLai`` of an INIT (spec §9): the dossier, the procedure, the agency and
    where the money goes, the payer, and one :class:`FeeLine` per fee line."""

    dossier_code: str
    procedure_code: str
    procedure_name: str
    agency_code: str
    agency_name: str
    beneficiary_account: str
    beneficiary_bank: str
    beneficiary_name: str
    payer_name: str
    lines: tuple[FeeLine, ...]
    #: ``TaiKhoanThuNSNN``, the State-budget revenue account (optional).
    budget_account: str = ""
    #: ``MaDVC``; empty: built as TD does, ``MaTTHC + ".01"``.
    service_code: str = ""
    #: ``SoCMNDNguoiNop``: TD sends ``000000000`` when unknown; the gateway never unseals it.
    payer_id: str = "000000000"
    payer_address: str = ""
    payer_province: str = ""

    @property
    def total(self) -> int:
        return sum(line.amount for line in self.lines)


@dataclass(frozen=True)
class InitResult:
    """The platform's answer to INIT: accepted with the page to send the citizen to, or
    refused with its code and text."""

    accepted: bool
    payment_url: str | None
    code: str
    message: str
    raw: Mapping[str, Any] = field(hash=False, repr=False)


@dataclass(frozen=True)
class Callback:
    """A verified Confirm callback (spec §4.1). A hint only: QUERY decides."""

    result_code: str  # MaLoi; "00" = paid
    partner_code: str
    reference: str  # MaThamChieu
    amount: int  # SoTien, VND
    transaction_id: str  # MaGiaoDich
    bank_code: str  # MaNganHang
    transaction_time: str  # ThoiGianGD as received
    checksum: str  # MaXacThuc as received
    raw: Mapping[str, Any] = field(hash=False, repr=False)

    @property
    def says_paid(self) -> bool:
        return self.result_code == OK


@dataclass(frozen=True)
class QueryResult:
    """A QUERY answer with ``MaLoi = 00`` (spec §5): the transaction's state."""

    state: str  # TrangThaiGD
    reference: str
    amount: int | None
    transaction_id: str | None
    bank_code: str | None
    transaction_time: str | None
    raw: Mapping[str, Any] = field(hash=False, repr=False)

    @property
    def outcome(self) -> Outcome:
        return transaction_outcome(self.state)
