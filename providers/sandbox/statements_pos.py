"""The card acquirer's end-of-day settlement file (format ``pos_settlement`` of
``docs/reconciliation-formats.md``), as the sandbox POS cloud would send it.

Pure like :mod:`providers.sandbox.statements`, whose :class:`Discrepancies` it takes. A sale
is named by the bill's reference or by its RRN: ``drop``, ``amount_delta``, ``duplicate``,
``shift_days``, ``failed`` (the acquirer reports the sale voided before settlement: a
``VOID`` record, not in the net) and ``unknown_credits`` (sales on a terminal nobody at the
gateway booked). One batch per terminal; every batch ties to its ``TRL`` record, so the file
always parses and a discrepancy shows only against the gateway's ledger.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Final

# The sibling module's CSV writer, lines and problems, so every sandbox file is written alike.
from providers.sandbox.statements import ICT, NONE, Discrepancies, _csv, _Line

TIME_FORMAT: Final = "%d/%m/%Y %H:%M:%S"
#: The terminal the sale of an ``unknown`` credit is put on (no terminal of ours).
UNKNOWN_TERMINAL: Final = "SBX-UNKNOWN"


@dataclass(frozen=True)
class CardSale:
    """An approved card sale: our bill's reference, the acquirer's RRN, terminal, VND, when
    (timezone-aware), the approval code and the masked card number the terminal reported."""

    reference: str
    rrn: str
    terminal_id: str
    amount: int
    completed_at: datetime
    approval_code: str = "000000"
    masked_pan: str = "970436******0000"


def batch_number(day: date) -> str:
    """The terminals' batch of ``day``: one a day, numbered by the day of the year."""
    return f"{day.timetuple().tm_yday:06d}"


def pos_settlement_csv(
    sales: Iterable[CardSale],
    day: date,
    *,
    merchant_id: str = "DEMO-MERCHANT",
    problems: Discrepancies = NONE,
) -> bytes:
    """The settlement of ``day`` (business day): ``HDR``, then per terminal its ``DTL``
    records (``SALE``, or ``VOID`` for a sale named in ``failed``) and its ``TRL``."""
    by_terminal: dict[str, list[tuple[CardSale, _Line]]] = {}
    chosen = [s for s in sales if s.completed_at.astimezone(ICT).date() == day]
    for sale in sorted(chosen, key=lambda s: (s.completed_at, s.rrn)):
        line = _Line((sale.reference, sale.rrn), sale.amount, sale.completed_at, sale.rrn)
        by_terminal.setdefault(sale.terminal_id, []).extend(
            (sale, applied) for applied in line.apply(problems)
        )
    for number, amount in enumerate(problems.unknown_credits, 1):
        at = datetime.combine(day, time(12, 0), ICT) + timedelta(minutes=number)
        stranger = CardSale(f"UNKNOWN{number}", f"999{number:09d}", UNKNOWN_TERMINAL, amount, at)
        line = _Line((stranger.rrn,), amount, at, stranger.rrn)
        by_terminal.setdefault(UNKNOWN_TERMINAL, []).append((stranger, line))

    batch = batch_number(day)
    rows: list[list[object]] = [["HDR", merchant_id, day.strftime("%d/%m/%Y"), "VND"]]
    for terminal, records in sorted(by_terminal.items()):
        net = 0
        for sale, line in records:
            void = bool(problems.failed & {sale.reference, sale.rrn})
            net += 0 if void else line.amount
            rows.append(
                [
                    "DTL",
                    terminal,
                    batch,
                    sale.rrn,
                    sale.approval_code,
                    sale.masked_pan,
                    line.amount,
                    line.at.astimezone(ICT).strftime(TIME_FORMAT),
                    "VOID" if void else "SALE",
                ]
            )
        rows.append(["TRL", terminal, batch, len(records), net])
    return _csv(rows)
