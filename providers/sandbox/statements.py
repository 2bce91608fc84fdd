"""Statement files as VNPAY, a collection bank and the State Treasury would send them.

Pure functions of their inputs (payments, the day, balances): no clock, no randomness, no
I/O. They write the formats of ``docs/reconciliation-formats.md``:

* :func:`vnpay_day_file` — VNPAY's day file: one row per VNPAY payment of the day.
* :func:`camt053` — the collection account's camt.053.001.08: one credit per VietQR
  transfer (our reference inside bank-style transfer text) and one credit for the VNPAY
  settlement batch of the day ``vnpay_settlement_lag_days`` earlier, net of VNPAY fees.
  POS payments are settled by the acquirer, not on this statement.
* :func:`treasury_csv` — KBNN records: one document per agency per fee kind (fee → 3511
  fees-pending, charge → 7111 budget revenue) summing the day's fee lines.

:class:`Discrepancies` injects what reconciliation must find. Every option names payments
by reference and acts on the line that carries that payment; an aggregated line (a treasury
document, the VNPAY batch credit) is named by any of its payments. Each file stays
internally consistent: its own control totals are computed from what it contains, so it
parses and the discrepancy is only visible against the other side.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta, timezone
from typing import Final, Literal
from xml.etree import ElementTree as ET  # builds XML only; nothing is parsed here

Channel = Literal["vietqr", "vnpay", "pos"]
FeeKind = Literal["fee", "charge"]

ICT: Final = timezone(timedelta(hours=7), "ICT")  # Asia/Ho_Chi_Minh has no DST
CAMT_NAMESPACE: Final = "urn:iso:std:iso:20022:tech:xsd:camt.053.001.08"
TREASURY_ACCOUNTS: Final[Mapping[str, str]] = {"fee": "3511", "charge": "7111"}
DEFAULT_SUB_ITEMS: Final[Mapping[str, str]] = {"fee": "2051", "charge": "2662"}
FEE_KIND_LABELS: Final[Mapping[str, str]] = {"fee": "Phí", "charge": "Lệ phí"}
_BANKS: Final = ("NCB", "VCB", "BIDV", "TCB")


@dataclass(frozen=True)
class PaidPayment:
    """A payment the gateway recorded as paid. ``paid_at`` must be timezone-aware;
    ``fee_lines`` split the amount into (kind, amount) for the treasury; ``account_number``
    is the collection account it was paid into."""

    reference: str
    amount: int
    paid_at: datetime
    channel: Channel
    provider_txn_id: str
    agency_code: str
    fee_lines: Sequence[tuple[FeeKind, int]] = ()
    account_number: str = ""

    def __post_init__(self) -> None:
        if self.paid_at.tzinfo is None:
            raise ValueError("paid_at must be timezone-aware")
        object.__setattr__(self, "fee_lines", tuple(self.fee_lines))

    @property
    def business_day(self) -> date:
        return self.paid_at.astimezone(ICT).date()


@dataclass(frozen=True)
class Discrepancies:
    """Problems to write into a file, by payment reference.

    ``drop``: leave the line out (missing on this side). ``amount_delta``: add this many VND
    to the line's amount. ``duplicate``: write the line twice. ``unknown_credits``: add a
    credit of each amount that no payment explains. ``failed``: VNPAY reports the payment
    failed (so it is neither settled to the bank nor paid to the treasury). ``shift_days``:
    move the line's date by this many days.
    """

    drop: frozenset[str] = frozenset()
    amount_delta: Mapping[str, int] = field(default_factory=dict)
    duplicate: frozenset[str] = frozenset()
    unknown_credits: tuple[int, ...] = ()
    failed: frozenset[str] = frozenset()
    shift_days: Mapping[str, int] = field(default_factory=dict)


NONE: Final = Discrepancies()


@dataclass(frozen=True)
class _Line:
    """One line to write: the payments it carries, its amount and its moment."""

    refs: tuple[str, ...]
    amount: int
    at: datetime
    key: str  # what the line is about: a reference, a batch, a document

    def apply(self, problems: Discrepancies) -> list[_Line]:
        if problems.drop & set(self.refs):
            return []
        delta = sum(problems.amount_delta.get(ref, 0) for ref in self.refs)
        shift = next((problems.shift_days[r] for r in self.refs if r in problems.shift_days), 0)
        line = replace(self, amount=self.amount + delta, at=self.at + timedelta(days=shift))
        return [line, line] if problems.duplicate & set(self.refs) else [line]


def _of_day(
    payments: Iterable[PaidPayment], day: date, channel: str | None = None
) -> list[PaidPayment]:
    chosen = [p for p in payments if p.business_day == day and channel in {None, p.channel}]
    return sorted(chosen, key=lambda p: (p.paid_at, p.reference))


def _csv(rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerows(rows)
    return buffer.getvalue().encode("utf-8")


def _vnd(amount: int) -> str:
    return f"{amount:,}"


# --- VNPAY ---------------------------------------------------------------------------------


def vnpay_day_file(
    payments: Iterable[PaidPayment],
    day: date,
    *,
    tmn_code: str = "DVCTEST1",
    fee_per_txn: int = 0,
    problems: Discrepancies = NONE,
) -> bytes:
    """The VNPAY day file for ``day``: its VNPAY payments, then the ``Tổng cộng`` row."""
    rows: list[tuple[PaidPayment | None, _Line]] = []
    for payment in _of_day(payments, day, "vnpay"):
        line = _Line((payment.reference,), payment.amount, payment.paid_at, payment.reference)
        rows += [(payment, applied) for applied in line.apply(problems)]
    for number, amount in enumerate(problems.unknown_credits, 1):
        at = datetime.combine(day, time(12, 0), ICT) + timedelta(minutes=number)
        rows.append((None, _Line((f"UNKNOWN{number:04d}",), amount, at, f"unknown-{number}")))

    body: list[list[object]] = []
    net = fees = 0
    for number, (source, line) in enumerate(rows, 1):
        reference = line.refs[0]
        failed = reference in problems.failed
        fee = 0 if failed else fee_per_txn
        txn_no = source.provider_txn_id if source else f"99{number:06d}"
        net += 0 if failed else line.amount
        fees += fee
        body.append(
            [
                number,
                txn_no,
                reference,
                _vnd(line.amount),
                line.at.astimezone(ICT).strftime("%d/%m/%Y %H:%M:%S"),
                _BANKS[number % len(_BANKS)],
                "Thanh toán",
                "Thất bại" if failed else "Thành công",
                tmn_code,
                _vnd(fee),
                f"Thanh toan ho so {reference}",
            ]
        )
    return _csv(
        [
            ["BÁO CÁO ĐỐI SOÁT GIAO DỊCH VNPAY"],
            ["Ngày đối soát", day.strftime("%d/%m/%Y")],
            [
                "STT",
                "Mã GD VNPAY (vnp_TransactionNo)",
                "Mã tham chiếu (vnp_TxnRef)",
                "Số tiền",
                "Ngày GD",
                "Ngân hàng",
                "Loại GD",
                "Trạng thái",
                "Mã TMN",
                "Phí",
                "Nội dung",
            ],
            *body,
            ["Tổng cộng", len(body), "", _vnd(net), "", "", "", "", "", _vnd(fees), ""],
        ]
    )


# --- camt.053 ------------------------------------------------------------------------------


def vietqr_transfer_text(payment: PaidPayment) -> str:
    """What a payer's bank writes on a VietQR transfer: our reference amid its own words."""
    return (
        f"MBVCB.{payment.provider_txn_id[-8:]}.{payment.reference} thanh toan phi dich vu cong"
        f".CT tu 0123456789 toi {payment.account_number}"
    )


def vnpay_batch_text(settled_day: date, tmn_code: str) -> str:
    return f"VNPAY TT GD NGAY {settled_day:%d/%m/%Y} TMN {tmn_code}"


def camt053(
    account: str,
    payments: Iterable[PaidPayment],
    day: date,
    opening_balance: int,
    *,
    tmn_code: str = "DVCTEST1",
    vnpay_fee_per_txn: int = 0,
    vnpay_settlement_lag_days: int = 1,
    problems: Discrepancies = NONE,
) -> bytes:
    """The camt.053.001.08 statement of ``account`` for ``day``."""
    payments = [p for p in payments if p.account_number == account]
    entries: list[tuple[_Line, str, str]] = []  # line, bank reference, transfer text
    for payment in _of_day(payments, day, "vietqr"):
        line = _Line((payment.reference,), payment.amount, payment.paid_at, payment.reference)
        text = vietqr_transfer_text(payment)
        entries += [(applied, payment.provider_txn_id, text) for applied in line.apply(problems)]
    settled_day = day - timedelta(days=vnpay_settlement_lag_days)
    batch = [
        p for p in _of_day(payments, settled_day, "vnpay") if p.reference not in problems.failed
    ]
    if batch:
        line = _Line(
            tuple(p.reference for p in batch),
            sum(p.amount for p in batch) - vnpay_fee_per_txn * len(batch),
            datetime.combine(day, time(10, 0), ICT),
            f"vnpay-{settled_day.isoformat()}",
        )
        text = vnpay_batch_text(settled_day, tmn_code)
        bank_ref = f"VNPAY{settled_day:%Y%m%d}"
        entries += [(applied, bank_ref, text) for applied in line.apply(problems)]
    for number, amount in enumerate(problems.unknown_credits, 1):
        at = datetime.combine(day, time(15, 0), ICT) + timedelta(minutes=number)
        text = f"CHUYEN TIEN {number} KHONG GHI NOI DUNG"
        entries.append((_Line((), amount, at, f"unknown-{number}"), f"UNK{number:06d}", text))
    entries.sort(key=lambda entry: entry[0].at)

    credits = sum(line.amount for line, _, _ in entries)
    closing = opening_balance + credits
    # Plain names under an xmlns attribute: the serialised document is in the camt namespace
    # without ElementTree's ns0: prefixes (and without its global prefix registry).
    document = ET.Element("Document", xmlns=CAMT_NAMESPACE)
    message = _sub(document, "BkToCstmrStmt")
    created = datetime.combine(day + timedelta(days=1), time(6, 0), ICT).isoformat()
    header = _sub(message, "GrpHdr")
    _sub(header, "MsgId", f"STMT{day:%Y%m%d}-{account}")
    _sub(header, "CreDtTm", created)
    statement = _sub(message, "Stmt")
    _sub(statement, "Id", f"{account}-{day:%Y%m%d}")
    _sub(statement, "CreDtTm", created)
    period = _sub(statement, "FrToDt")
    _sub(period, "FrDtTm", datetime.combine(day, time(0, 0), ICT).isoformat())
    _sub(period, "ToDtTm", datetime.combine(day, time(23, 59, 59), ICT).isoformat())
    account_element = _sub(statement, "Acct")
    _sub(_sub(_sub(account_element, "Id"), "Othr"), "Id", account)
    _sub(account_element, "Ccy", "VND")
    for code, amount in (("OPBD", opening_balance), ("CLBD", closing)):
        balance = _sub(statement, "Bal")
        _sub(_sub(_sub(balance, "Tp"), "CdOrPrtry"), "Cd", code)
        _amount(balance, abs(amount))
        _sub(balance, "CdtDbtInd", "DBIT" if amount < 0 else "CRDT")
        _sub(_sub(balance, "Dt"), "Dt", day.isoformat())
    summary = _sub(statement, "TxsSummry")
    _sub(_sub(summary, "TtlNtries"), "NbOfNtries", str(len(entries)))
    credit_summary = _sub(summary, "TtlCdtNtries")
    _sub(credit_summary, "NbOfNtries", str(len(entries)))
    _sub(credit_summary, "Sum", str(credits))
    for number, (line, bank_ref, text) in enumerate(entries, 1):
        entry = _sub(statement, "Ntry")
        _sub(entry, "NtryRef", str(number))
        _amount(entry, line.amount)
        _sub(entry, "CdtDbtInd", "CRDT")
        _sub(_sub(entry, "Sts"), "Cd", "BOOK")
        _sub(_sub(entry, "BookgDt"), "DtTm", line.at.astimezone(ICT).isoformat())
        _sub(_sub(entry, "ValDt"), "Dt", line.at.astimezone(ICT).date().isoformat())
        _sub(entry, "AcctSvcrRef", bank_ref)
        details = _sub(_sub(entry, "NtryDtls"), "TxDtls")
        refs = _sub(details, "Refs")
        _sub(refs, "AcctSvcrRef", bank_ref)
        _sub(refs, "EndToEndId", "NOTPROVIDED")
        _sub(_sub(details, "RmtInf"), "Ustrd", text)
    ET.indent(document)
    xml: bytes = ET.tostring(document, encoding="utf-8", xml_declaration=True)
    return xml + b"\n"


def _sub(parent: ET.Element, name: str, text: str | None = None) -> ET.Element:
    element = ET.SubElement(parent, name)
    element.text = text
    return element


def _amount(parent: ET.Element, amount: int) -> None:
    _sub(parent, "Amt", str(amount)).set("Ccy", "VND")


# --- treasury ------------------------------------------------------------------------------


def treasury_csv(
    payments: Iterable[PaidPayment],
    day: date,
    *,
    office: str = "0011",
    chapter: str = "018",
    sub_items: Mapping[str, str] = DEFAULT_SUB_ITEMS,
    first_document_no: int = 1,
    problems: Discrepancies = NONE,
) -> bytes:
    """KBNN records for ``day``: one document per (agency, fee kind), numbered in order."""
    groups: dict[tuple[str, str], list[PaidPayment]] = {}
    for payment in _of_day(payments, day):
        if payment.reference in problems.failed:
            continue
        for fee_kind in dict.fromkeys(k for k, _ in payment.fee_lines):
            groups.setdefault((payment.agency_code, fee_kind), []).append(payment)
    documents: list[tuple[str, str, _Line]] = []
    for (agency, kind), members in sorted(groups.items()):
        total = sum(amount for p in members for k, amount in p.fee_lines if k == kind)
        line = _Line(
            tuple(p.reference for p in members),
            total,
            datetime.combine(day, time(17, 0), ICT),
            f"{agency}/{kind}",
        )
        documents += [(agency, kind, applied) for applied in line.apply(problems)]
    for number, amount in enumerate(problems.unknown_credits, 1):
        at = datetime.combine(day, time(17, 0), ICT)
        documents.append(
            (f"UNKNOWN-{number}", "charge", _Line((), amount, at, f"unknown-{number}"))
        )

    rows: list[list[object]] = []
    for number, (agency, kind, line) in enumerate(documents, first_document_no):
        on = line.at.astimezone(ICT).date()
        rows.append(
            [
                f"{number:07d}",
                on.strftime("%d/%m/%Y"),
                office,
                TREASURY_ACCOUNTS[kind],
                chapter,
                sub_items[kind],
                FEE_KIND_LABELS[kind],
                agency,
                _vnd(line.amount),
                f"{FEE_KIND_LABELS[kind]} thu qua cổng thanh toán ngày {day:%d/%m/%Y}",
            ]
        )
    return _csv(
        [
            ["BẢNG KÊ CHỨNG TỪ NỘP NGÂN SÁCH NHÀ NƯỚC"],
            ["Ngày báo cáo", day.strftime("%d/%m/%Y")],
            ["Tổng số chứng từ", len(rows)],
            ["Tổng số tiền", _vnd(sum(line.amount for _, _, line in documents))],
            [
                "Số chứng từ",
                "Ngày chứng từ",
                "Mã KBNN",
                "Tài khoản",
                "Chương",
                "Tiểu mục",
                "Loại thu",
                "Mã cơ quan",
                "Số tiền",
                "Diễn giải",
            ],
            *rows,
        ]
    )
