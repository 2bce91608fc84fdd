"""The day report for finance staff, as XLSX and CSV: per collection account the opening
balance, credits, debits and closing balance from the bank's statements; what was matched;
the exceptions still open; and what reached the State Treasury by fee kind (phí, lệ phí).

A report holds what the caller's agencies own (:mod:`reconciliation.scope`): their collection
accounts, their exceptions, their treasury lines, and the run's figures of their agencies
(matched count and VND, exceptions, carried and tolerated items per counterpart), with one
row per agency. Codes are written as the Vietnamese words of :mod:`reconciliation.labels`."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import func, select, true

from gateway.core.db import Database
from gateway.core.db.schema import (
    agencies,
    day_closes,
    recon_exceptions,
    recon_runs,
    statement_imports,
    statement_lines,
)
from gateway.core.errors import FieldError, NotFound, ValidationFailed
from reconciliation.labels import (
    EXCEPTION_STATUSES,
    EXCEPTION_TYPES,
    RESOLUTIONS,
    SOURCES,
    vietnamese,
)
from reconciliation.scope import Scope, figures_by_agency, summary_in_scope, with_agency

KIND_LABELS = {"fee": "Phí", "charge": "Lệ phí"}


@dataclass
class AccountRow:
    account: str
    opening: int | None
    credits: int
    debits: int
    closing: int | None


@dataclass
class SourceRow:
    """One counterpart's figures of the day's run, within the report's scope."""

    source: str
    matched: int
    matched_amount: int
    exceptions: int
    carried: int
    within_tolerance: int
    tolerated_difference: int


@dataclass
class AgencyRow:
    """One agency's figures of the day's run."""

    code: str
    name: str
    matched: int
    matched_amount: int
    exceptions: int
    exception_amount: int


@dataclass
class DayReport:
    business_date: date
    run_id: str
    closed: bool
    accounts: list[AccountRow] = field(default_factory=list)
    matched_count: int = 0
    matched_amount: int = 0
    open_exceptions: list[dict[str, Any]] = field(default_factory=list)
    treasury_by_kind: dict[str, int] = field(default_factory=dict)
    sources: list[SourceRow] = field(default_factory=list)
    #: Each agency in scope that has figures in the run.
    by_agency: list[AgencyRow] = field(default_factory=list)
    #: The agency codes the report covers; ``None``: every agency (a deployment-wide report).
    agencies: list[str] | None = None

    def summary_rows(self) -> list[tuple[str, Any]]:
        open_amount = sum(item["amount"] for item in self.open_exceptions)
        return [
            ("Ngày đối soát", self.business_date.isoformat()),
            ("Đơn vị", "Tất cả đơn vị" if self.agencies is None else ", ".join(self.agencies)),
            ("Lần chạy", self.run_id),
            ("Đã khóa sổ", "Có" if self.closed else "Chưa"),
            ("Số giao dịch khớp", self.matched_count),
            ("Số tiền khớp (VND)", self.matched_amount),
            ("Ngoại lệ chưa xử lý", len(self.open_exceptions)),
            ("Số tiền ngoại lệ chưa xử lý (VND)", open_amount),
            *[
                (f"Đã nộp KBNN – {KIND_LABELS.get(kind, kind)} (VND)", amount)
                for kind, amount in sorted(self.treasury_by_kind.items())
            ],
        ]


class ReportService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def build(self, day: date, scope: Scope) -> DayReport:
        """The report of ``day`` as ``scope``'s agencies see it."""
        # A deployment-wide report also shows accounts and lines that no agency owns.
        owned_accounts = select(agencies.c.account_number).where(scope.clause(agencies.c.id))

        def owned(column: Any, what: Any) -> Any:
            return true() if scope.all_agencies else column.in_(what)

        async with self.db.read() as conn:
            codes = (
                None
                if scope.all_agencies
                else sorted(
                    (
                        await conn.execute(
                            select(agencies.c.code).where(scope.clause(agencies.c.id))
                        )
                    ).scalars()
                )
            )
            run = (
                await conn.execute(
                    select(recon_runs).where(
                        recon_runs.c.business_date == day, recon_runs.c.status == "current"
                    )
                )
            ).first()
            if run is None:
                raise NotFound(f"{day.isoformat()} has not been reconciled")

            closed = (
                await conn.execute(
                    select(day_closes.c.business_date).where(day_closes.c.business_date == day)
                )
            ).first() is not None
            flows = (
                await conn.execute(
                    select(
                        statement_lines.c.account,
                        statement_lines.c.direction,
                        func.sum(statement_lines.c.amount),
                    )
                    .join(statement_imports, statement_imports.c.id == statement_lines.c.import_id)
                    .where(
                        statement_imports.c.status == "accepted",
                        statement_lines.c.source == "bank",
                        statement_lines.c.booking_date == day,
                        statement_lines.c.duplicate_of.is_(None),  # counted once
                        owned(statement_lines.c.account, owned_accounts),
                    )
                    .group_by(statement_lines.c.account, statement_lines.c.direction)
                )
            ).all()
            balances = (
                await conn.execute(
                    select(statement_imports.c.account, statement_imports.c.control).where(
                        statement_imports.c.status == "accepted",
                        statement_imports.c.source == "bank",
                        statement_imports.c.period_start == day,
                        statement_imports.c.period_end == day,
                        owned(statement_imports.c.account, owned_accounts),
                    )
                )
            ).all()
            open_rows = (
                await conn.execute(
                    with_agency(select(recon_exceptions))
                    .where(
                        recon_exceptions.c.run_id == run.id,
                        recon_exceptions.c.status.in_(["open", "resolved"]),
                        scope.clause(recon_exceptions.c.agency_id),
                    )
                    .order_by(recon_exceptions.c.type, recon_exceptions.c.id)
                )
            ).all()
            treasury = (
                await conn.execute(
                    select(statement_lines.c.fee_kind, func.sum(statement_lines.c.amount))
                    .join(statement_imports, statement_imports.c.id == statement_lines.c.import_id)
                    .where(
                        statement_imports.c.status == "accepted",
                        statement_lines.c.source == "treasury",
                        statement_lines.c.booking_date == day,
                        statement_lines.c.duplicate_of.is_(None),  # counted once
                        owned(statement_lines.c.agency_code, codes),
                    )
                    .group_by(statement_lines.c.fee_kind)
                )
            ).all()
            by_agency = await figures_by_agency(conn, run.summary, scope)
        accounts: dict[str, AccountRow] = {}
        for account, direction, total in flows:
            row = accounts.setdefault(account or "", AccountRow(account or "", None, 0, 0, None))
            if direction == "credit":
                row.credits += int(total)
            else:
                row.debits += int(total)
        for account, control in balances:
            row = accounts.setdefault(account or "", AccountRow(account or "", None, 0, 0, None))
            row.opening = control.get("opening_balance")
            row.closing = control.get("closing_balance")
        summary = summary_in_scope(run.summary, scope)
        return DayReport(
            business_date=day,
            run_id=run.id,
            closed=closed,
            accounts=sorted(accounts.values(), key=lambda a: a.account),
            matched_count=int(summary.get("matched", {}).get("count", 0)),
            matched_amount=int(summary.get("matched", {}).get("amount", 0)),
            open_exceptions=[
                {
                    "id": r.id,
                    "source": r.source,
                    "type": r.type,
                    "status": r.status,
                    "resolution": r.resolution,
                    "agency": r.agency,
                    "amount": r.amount,
                    "line_ids": r.line_ids,
                    "internal_keys": r.internal_keys,
                }
                for r in open_rows
            ],
            treasury_by_kind={str(kind or "unknown"): int(total) for kind, total in treasury},
            agencies=codes,
            sources=[
                SourceRow(
                    source,
                    facts["matched"],
                    facts["matched_amount"],
                    facts["exceptions"],
                    facts.get("carried", 0),
                    facts.get("within_tolerance", 0),
                    facts.get("tolerated_difference", 0),
                )
                for source, facts in sorted(summary.get("sources", {}).items())
            ],
            by_agency=[AgencyRow(**row) for row in by_agency],
        )

    async def render(self, day: date, fmt: str, scope: Scope) -> tuple[bytes, str]:
        report = await self.build(day, scope)
        if fmt == "xlsx":
            return to_xlsx(report), (
                "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
            )
        if fmt == "csv":
            return to_csv(report), "text/csv"
        raise ValidationFailed([FieldError("format", "invalid_choice", "xlsx or csv")])


ACCOUNT_HEADER = ("Tài khoản", "Số dư đầu", "Ghi có", "Ghi nợ", "Số dư cuối")
SOURCE_HEADER = (
    "Nguồn",
    "Số giao dịch khớp",
    "Số tiền khớp (VND)",
    "Ngoại lệ",
    "Thuộc ngày khác",
    "Khớp trong dung sai",
    "Chênh lệch trong dung sai (VND)",
)
AGENCY_HEADER = (
    "Mã đơn vị",
    "Tên đơn vị",
    "Số giao dịch khớp",
    "Số tiền khớp (VND)",
    "Ngoại lệ",
    "Số tiền ngoại lệ (VND)",
)
EXCEPTION_HEADER = (
    "Mã",
    "Đơn vị",
    "Nguồn",
    "Loại",
    "Trạng thái",
    "Cách xử lý",
    "Số tiền (VND)",
    "Dòng sao kê",
    "Sổ cổng",
)


#: A text cell starting with one of these is run as a formula by Excel and LibreOffice
#: (CSV/formula injection, OWASP): a statement's ``account`` or text comes from outside.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralised(value: Any) -> Any:
    """``value``, with ``'`` before text a spreadsheet would read as a formula, so it stays text."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _account_cells(row: AccountRow) -> tuple[Any, ...]:
    return tuple(map(neutralised, (row.account, row.opening, row.credits, row.debits, row.closing)))


def _source_cells(row: SourceRow) -> tuple[Any, ...]:
    return (
        vietnamese(SOURCES, row.source),
        row.matched,
        row.matched_amount,
        row.exceptions,
        row.carried,
        row.within_tolerance,
        row.tolerated_difference,
    )


def _agency_cells(row: AgencyRow) -> tuple[Any, ...]:
    return tuple(
        map(
            neutralised,
            (
                row.code,
                row.name,
                row.matched,
                row.matched_amount,
                row.exceptions,
                row.exception_amount,
            ),
        )
    )


#: The XLSX sheets of :func:`_sections` (in CSV, sections after the accounts).
SECTION_SHEETS = ("Theo nguồn", "Theo đơn vị")


def _sections(report: DayReport) -> list[tuple[tuple[str, ...], list[tuple[Any, ...]]]]:
    """The run's figures per counterpart and per agency: header, rows."""
    return [
        (SOURCE_HEADER, [_source_cells(row) for row in report.sources]),
        (AGENCY_HEADER, [_agency_cells(row) for row in report.by_agency]),
    ]


def _exception_cells(item: dict[str, Any]) -> tuple[Any, ...]:
    return tuple(map(neutralised, _exception_values(item)))


def _exception_values(item: dict[str, Any]) -> tuple[Any, ...]:
    return (
        item["id"],
        item["agency"] or "",
        vietnamese(SOURCES, item["source"]),
        vietnamese(EXCEPTION_TYPES, item["type"]),
        vietnamese(EXCEPTION_STATUSES, item["status"]),
        vietnamese(RESOLUTIONS, item["resolution"]),
        item["amount"],
        " ".join(map(str, item["line_ids"])),
        " ".join(item["internal_keys"]),
    )


def to_xlsx(report: DayReport) -> bytes:
    # Imported here, as in parsers.sheets: a process that never exports does not hold openpyxl
    # (docs/performance.md, "Memory"); `gateway serve` checks it at start (cli.LAZY_MODULES).
    from openpyxl import Workbook
    from openpyxl.styles import Font

    book = Workbook()
    sheet = book.active
    assert sheet is not None
    sheet.title = "Tổng hợp"
    bold = Font(bold=True)
    for label, value in report.summary_rows():
        sheet.append([label, neutralised(value)])
    sheet.append([])
    sheet.append(list(ACCOUNT_HEADER))
    for cell in sheet[sheet.max_row]:
        cell.font = bold
    for row in report.accounts:
        sheet.append(list(_account_cells(row)))
    sheet.column_dimensions["A"].width = 40
    for column in "BCDE":
        sheet.column_dimensions[column].width = 18
    exceptions = book.create_sheet("Ngoại lệ")
    exceptions.append(list(EXCEPTION_HEADER))
    for cell in exceptions[1]:
        cell.font = bold
    for item in report.open_exceptions:
        exceptions.append(list(_exception_cells(item)))
    tables = [sheet, exceptions]
    for title, (header, rows) in zip(SECTION_SHEETS, _sections(report), strict=True):
        table = book.create_sheet(title)
        table.append(list(header))
        for cell in table[1]:
            cell.font = bold
        for cells in rows:
            table.append(list(cells))
        table.column_dimensions["A"].width = 18
        table.column_dimensions["B"].width = 32
        tables.append(table)
    for sheet_ in tables:
        for row_cells in sheet_.iter_rows():
            for cell in row_cells:
                if isinstance(cell.value, int):
                    cell.number_format = "#,##0"
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def to_csv(report: DayReport) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for label, value in report.summary_rows():
        writer.writerow([label, neutralised(value)])
    writer.writerow([])
    writer.writerow(ACCOUNT_HEADER)
    for row in report.accounts:
        writer.writerow(["" if v is None else v for v in _account_cells(row)])
    for header, rows in _sections(report):
        writer.writerow([])
        writer.writerow(header)
        writer.writerows(rows)
    writer.writerow([])
    writer.writerow(EXCEPTION_HEADER)
    for item in report.open_exceptions:
        writer.writerow(_exception_cells(item))
    return ("\ufeff" + buffer.getvalue()).encode()  # BOM: Excel opens Vietnamese correctly
