"""The plan of "a month in the life" (issue 10): what is paid each business day, which files
each counterpart sends and when, and which discrepancies are injected — drawn from one
``random.Random(SEED)`` so every run of the scenario is the same month.

Pure: no clock, no database. The scenario (``test_recon_month.py``) plays the plan through the
gateway's services and compares what reconciliation found with :func:`expected_exceptions`,
the generator's own record of what it injected, read under the day semantics of issue 10:

- a difference belongs to exactly one business day;
- an internal payment a counterpart has not reported yet is ``expected_in_transit``, and is
  ``missing_in_<source>`` once that counterpart has reported the next day without it (window
  1 day). Every counterpart here reports the day after the last payment day too, so at the
  end every injected difference is final;
- a written-off (decided) line is final: it is an exception of its own day only;
- re-runs keep decisions; overlapping statement files (same entries) are counted once; the
  same file uploaded twice is one import; a late file is taken by a re-run.

The parameters below are the knobs; the integrator may turn them (days, agencies, rates).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Literal

# -- parameters ------------------------------------------------------------------------------

SEED = 20261201
DAYS = 30
FIRST_DAY = date(2026, 10, 1)
#: Payments per agency per business day, by channel.
#: ``cod``: the postman collects the fees of a delivered result (an order without a bill).
PER_DAY: dict[str, int] = {"vietqr": 2, "vnpay": 2, "pos": 1, "cod": 1}
#: Rates of injected discrepancies (per eligible payment, or per agency-day for unknowns).
BANK_DROP_RATE = 0.06  # a VietQR transfer the bank never reports → missing_in_bank
BANK_AMOUNT_RATE = 0.05  # the bank reports another amount → amount_mismatch
BANK_UNKNOWN_RATE = 0.08  # a credit nobody at the gateway booked → missing_in_gateway
VNPAY_DROP_RATE = 0.05  # a VNPAY payment absent from VNPAY's day file → missing_in_vnpay
POS_DROP_RATE = 0.05  # a card sale absent from the acquirer's settlement → missing_in_pos
COD_DROP_RATE = 0.06  # a collection absent from VNPost's remittance → missing_in_cod
LATE_RATE = 0.15  # a VNPAY / treasury / POS file that arrives a day late (taken by a re-run)
DUPLICATE_UPLOAD_RATE = 0.15  # a file uploaded a second time (the same bytes)
OVERLAP_RATE = 0.25  # an intraday camt.053 export before the end-of-day one (same entries)
REJECT_RATE = 0.2  # the checker turns a resolution down once; the maker resolves again


@dataclass(frozen=True)
class AgencyPlan:
    code: str
    name: str
    account: str
    terminal: str
    #: The agency's own VNPAY terminal: VNPAY and the card acquirer pay each agency's money
    #: into its own collection account, one credit per provider and day (ledger.py batches).
    tmn_code: str
    #: How the collection bank sends its statement: camt.053 or a CSV export (with a mapping).
    bank_format: Literal["camt053", "bank_csv"]


AGENCIES: tuple[AgencyPlan, ...] = (
    AgencyPlan(
        "HCM", "Sở Tư pháp TP. Hồ Chí Minh", "0011001234567", "T-HCM-1", "DVCHCM01", "camt053"
    ),
    AgencyPlan("HN", "Sở Tư pháp Hà Nội", "0022002345678", "T-HN-1", "DVCHN001", "camt053"),
    AgencyPlan("DN", "Sở Tư pháp Đà Nẵng", "0033003456789", "T-DN-1", "DVCDN001", "bank_csv"),
)

#: Files that may arrive late or twice (the bank statements come every morning, once).
LATE_SOURCES = ("vnpay_day", "treasury_csv", "pos_settlement", "vnpost_cod")

Channel = Literal["vietqr", "vnpay", "pos", "cod"]


@dataclass(frozen=True)
class PlannedPayment:
    """One fee bill paid on ``day`` through ``channel``; ``key`` names it in the plan."""

    key: str
    agency: AgencyPlan
    day: date
    channel: Channel
    items: tuple[tuple[Literal["charge", "fee"], int], ...]
    #: Minutes after 08:00 Asia/Ho_Chi_Minh when it is paid.
    minute: int
    #: The bank's transaction id of a VietQR transfer (its ``AcctSvcrRef`` / Số bút toán).
    bank_ref: str

    @property
    def amount(self) -> int:
        return sum(amount for _, amount in self.items)


@dataclass
class DayPlan:
    day: date
    payments: list[PlannedPayment] = field(default_factory=list)
    bank_drop: set[str] = field(default_factory=set)  # payment keys
    bank_delta: dict[str, int] = field(default_factory=dict)  # payment key → VND added
    unknown_credits: dict[str, tuple[int, ...]] = field(default_factory=dict)  # agency → VND
    vnpay_drop: set[str] = field(default_factory=set)
    pos_drop: set[str] = field(default_factory=set)
    cod_drop: set[str] = field(default_factory=set)
    late: set[str] = field(default_factory=set)  # formats of this day's files that come late
    uploaded_twice: set[str] = field(default_factory=set)  # formats uploaded a second time
    intraday: set[str] = field(default_factory=set)  # agencies with an intraday camt export
    rejected_once: bool = False  # the checker rejects one resolution of this day


@dataclass(frozen=True)
class MonthPlan:
    days: list[DayPlan]

    @property
    def last_day(self) -> date:
        return self.days[-1].day

    @property
    def file_days(self) -> list[date]:
        """Every day a counterpart reports: the payment days and the one after them."""
        return [plan.day for plan in self.days] + [self.last_day + timedelta(days=1)]

    def day(self, day: date) -> DayPlan:
        found = [plan for plan in self.days if plan.day == day]
        return found[0] if found else DayPlan(day)

    def payments(self) -> Iterator[PlannedPayment]:
        for plan in self.days:
            yield from plan.payments


def make_plan(seed: int = SEED, days: int = DAYS) -> MonthPlan:
    rng = random.Random(seed)
    # Distinct amounts (multiples of 1,000 VND) so that no two lines of a window are equal by
    # chance: amount-only pairing would then be a coincidence the plan did not intend.
    needed = days * len(AGENCIES) * (sum(PER_DAY.values()) + 1)
    pool = rng.sample(range(50, 4900), needed)  # COD is at most 5,000,000 VND (max_cod)
    amounts = iter(thousands * 1000 for thousands in pool)
    plans: list[DayPlan] = []
    for index in range(days):
        day = FIRST_DAY + timedelta(days=index)
        plan = DayPlan(day)
        for agency in AGENCIES:
            minute = 0
            for channel, count in PER_DAY.items():
                for number in range(count):
                    total = next(amounts)
                    charge = int(total * rng.uniform(0.3, 0.8)) // 1000 * 1000
                    fee = total - charge
                    key = f"{agency.code}-{day:%m%d}-{channel}-{number}"
                    plan.payments.append(
                        PlannedPayment(
                            key=key,
                            agency=agency,
                            day=day,
                            channel=channel,  # type: ignore[arg-type]
                            items=(("charge", charge), ("fee", fee)),
                            minute=minute,
                            bank_ref=f"FT{day:%y%m%d}{agency.code}{len(plan.payments):04d}",
                        )
                    )
                    minute += 37  # the first VietQR transfer is before noon, the second after
            if rng.random() < BANK_UNKNOWN_RATE:
                plan.unknown_credits[agency.code] = (next(amounts),)
            if agency.bank_format == "camt053" and rng.random() < OVERLAP_RATE:
                plan.intraday.add(agency.code)
        for payment in plan.payments:
            if payment.channel == "vietqr":
                draw = rng.random()
                if draw < BANK_DROP_RATE:
                    plan.bank_drop.add(payment.key)
                elif draw < BANK_DROP_RATE + BANK_AMOUNT_RATE:
                    plan.bank_delta[payment.key] = rng.choice((-5000, -2000, 3000))
            elif payment.channel == "vnpay" and rng.random() < VNPAY_DROP_RATE:
                plan.vnpay_drop.add(payment.key)
            elif payment.channel == "pos" and rng.random() < POS_DROP_RATE:
                plan.pos_drop.add(payment.key)
            elif payment.channel == "cod" and rng.random() < COD_DROP_RATE:
                plan.cod_drop.add(payment.key)
        for source in LATE_SOURCES:
            if rng.random() < LATE_RATE:
                plan.late.add(source)
            if rng.random() < DUPLICATE_UPLOAD_RATE:
                plan.uploaded_twice.add(source)
        plan.rejected_once = rng.random() < REJECT_RATE
        plans.append(plan)
    return MonthPlan(plans)


# -- what reconciliation must find -----------------------------------------------------------

#: A ledger line, as the plan names it: (``payment`` | ``attempt`` | ``postal``, plan key).
Key = tuple[str, str]
#: A statement line, as the plan names it: (source, account, booking day, the counterpart's
#: own reference (bank: AcctSvcrRef / Số bút toán), amount).
LineToken = tuple[str, str, date, str, int]


@dataclass(frozen=True, order=True)
class ExpectedException:
    source: str
    type: str
    amount: int
    keys: tuple[Key, ...]
    lines: tuple[LineToken, ...]

    def describe(self) -> str:
        keys = ", ".join(f"{kind}:{name}" for kind, name in self.keys) or "-"
        lines = ", ".join(f"{s}/{a}/{d}/{ref}/{vnd}" for s, a, d, ref, vnd in self.lines) or "-"
        return f"{self.type} ({self.source}) {self.amount:,} VND; ledger {keys}; lines {lines}"


def settles_into(agency: AgencyPlan, paid_by: AgencyPlan) -> bool:
    """Whether VNPAY's and the acquirer's money for ``paid_by``'s payments reaches
    ``agency``'s collection account: each agency's merchant pays its own account."""
    return agency == paid_by


def acquirer_credits(plan: MonthPlan, day: date, agency: AgencyPlan) -> tuple[int, ...]:
    """The POS acquirer's credit on ``agency``'s account on ``day``: the card sales of the day
    before, all of them (the acquirer's file may omit a sale; the money still arrives)."""
    sales = [
        p.amount
        for p in plan.day(day - timedelta(days=1)).payments
        if settles_into(agency, p.agency) and p.channel == "pos"
    ]
    return (sum(sales),) if sales else ()


def unknown_ref(number: int) -> str:
    """The bank reference the sandbox camt.053 writer gives its ``number``-th unknown credit
    (the acquirer's POS credit is number 1, the plan's unknown credits follow)."""
    return f"UNK{number:06d}"


def expected_exceptions(plan: MonthPlan) -> dict[date, set[ExpectedException]]:
    """Every day's exceptions once every counterpart has reported the day after it."""
    found: dict[date, set[ExpectedException]] = {}
    for day_plan in plan.days:
        day = day_plan.day
        expected = found.setdefault(day, set())
        for payment in day_plan.payments:
            account = payment.agency.account
            if payment.key in day_plan.bank_drop:
                expected.add(
                    ExpectedException(
                        "bank", "missing_in_bank", payment.amount, (("payment", payment.key),), ()
                    )
                )
            if payment.key in day_plan.bank_delta:
                line = (
                    "bank",
                    account,
                    day,
                    payment.bank_ref,
                    payment.amount + day_plan.bank_delta[payment.key],
                )
                expected.add(
                    ExpectedException(
                        "bank",
                        "amount_mismatch",
                        # "the VND concerned": the larger of the two sides' amounts
                        max(payment.amount, line[4]),
                        (("payment", payment.key),),
                        (line,),
                    )
                )
            if payment.key in day_plan.vnpay_drop:
                expected.add(
                    ExpectedException(
                        "vnpay",
                        "missing_in_vnpay",
                        payment.amount,
                        (("attempt", payment.key),),
                        (),
                    )
                )
            if payment.key in day_plan.cod_drop:
                expected.add(
                    ExpectedException(
                        "cod", "missing_in_cod", payment.amount, (("postal", payment.key),), ()
                    )
                )
            if payment.key in day_plan.pos_drop:
                expected.add(
                    ExpectedException(
                        "pos", "missing_in_pos", payment.amount, (("attempt", payment.key),), ()
                    )
                )
        for agency in AGENCIES:
            unknowns = day_plan.unknown_credits.get(agency.code, ())
            first = 1 + len(acquirer_credits(plan, day, agency))
            for number, amount in enumerate(unknowns, first):
                line = ("bank", agency.account, day, unknown_ref(number), amount)
                expected.add(ExpectedException("bank", "missing_in_gateway", amount, (), (line,)))
    return found


# -- the files, as each counterpart writes them ----------------------------------------------

#: The columns of agency DN's bank export and the mapping finance staff give with the upload
#: (semicolons, thousands grouped by dots: what a Vietnamese bank's Excel → CSV gives).
BANK_CSV_HEADER = ("Ngày GD", "Ngày hiệu lực", "Số tham chiếu", "Phát sinh nợ", "Phát sinh có")
BANK_CSV_MAPPING = {
    "date": "Ngày GD",
    "value_date": "Ngày hiệu lực",
    "reference": "Số tham chiếu",
    "debit": "Phát sinh nợ",
    "credit": "Phát sinh có",
    "text": "Nội dung giao dịch",
    "delimiter": ";",
    "thousands": ".",
}


def unknown_text(number: int) -> str:
    """The transfer text the sandbox camt.053 writer gives its ``number``-th unknown credit."""
    return f"CHUYEN TIEN {number} KHONG GHI NOI DUNG"


def bank_csv(account: str, day: date, entries: list[tuple[str, int, str]]) -> bytes:
    """A bank's CSV export of ``account`` for ``day``: (reference, credit VND, text) rows."""
    rows = [
        "SAO KÊ TÀI KHOẢN",
        f"Số tài khoản;{account}",
        f"Từ ngày;{day:%d/%m/%Y};Đến ngày;{day:%d/%m/%Y}",
        ";".join((*BANK_CSV_HEADER, BANK_CSV_MAPPING["text"])),
    ]
    for reference, amount, text in entries:
        credit = f"{amount:,}".replace(",", ".")
        rows.append(f"{day:%d/%m/%Y};{day:%d/%m/%Y};{reference};;{credit};{text}")
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")


@dataclass(frozen=True)
class CardSale:
    """A card sale as the acquirer settles it (from the gateway's attempt)."""

    terminal: str
    rrn: str
    approval_code: str
    masked_pan: str
    amount: int
    at: str  # dd/mm/yyyy HH:MM:SS, Asia/Ho_Chi_Minh


def pos_settlement(merchant: str, day: date, sales: list[CardSale]) -> bytes:
    """The acquirer's end-of-day settlement (format ``pos_settlement``): one batch per
    terminal, its trailer tying count and net."""
    rows = [f"HDR,{merchant},{day:%d/%m/%Y},VND"]
    batch = f"{day:%m%d}01"
    for terminal in sorted({sale.terminal for sale in sales}):
        mine = [sale for sale in sales if sale.terminal == terminal]
        for sale in mine:
            rows.append(
                f"DTL,{terminal},{batch},{sale.rrn},{sale.approval_code},{sale.masked_pan},"
                f"{sale.amount},{sale.at},SALE"
            )
        rows.append(f"TRL,{terminal},{batch},{len(mine)},{sum(sale.amount for sale in mine)}")
    return ("\r\n".join(rows) + "\r\n").encode("utf-8")
