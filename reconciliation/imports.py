"""Importing a statement file: parsed once, accepted whole or quarantined whole.

- The file's SHA-256 identifies it: uploading the same bytes again answers the earlier
  import (accepted or quarantined) and changes nothing.
- A file that cannot be read, does not tie to its own control totals, or has any bad row is
  **quarantined** with the reason and every row error (line number and why); none of its lines
  is used. Nothing is ever half-imported: the finance officer fixes the file and uploads it again.
- A file with a line on a closed day is refused outright (a closed day is immutable).
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Mapping
from dataclasses import asdict
from datetime import date
from typing import Any

from sqlalchemy import Select, and_, func, insert, or_, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import day_closes, statement_imports, statement_lines
from gateway.core.errors import (
    Conflict,
    FieldError,
    GatewayError,
    ParseTimeout,
    PayloadTooLarge,
    ValidationFailed,
)
from gateway.core.fields import iso
from gateway.core.ids import Clock, new_id
from gateway.core.statuses import IMPORTS, ImportStatus
from reconciliation import parsers
from reconciliation.audit import record
from reconciliation.bank_layouts import BANK_FORMATS, bank_layout
from reconciliation.bank_mappings import BankMappings
from reconciliation.ledger import day_bounds
from reconciliation.model import ParsedFile, ParseError, RowError, Source, StatementLine
from reconciliation.parsers import ColumnMapping, codes
from reconciliation.scope import Scope, require_deployment_wide, require_import_scope

#: The ``source`` field of an upload names the file's format; each belongs to one side.
FORMAT_SOURCES: dict[str, Source] = {
    "camt053": Source.BANK,
    "camt054": Source.BANK,
    "mt940": Source.BANK,
    "bank_csv": Source.BANK,
    "bank_xlsx": Source.BANK,
    "vnpay_day": Source.VNPAY,
    "pos_settlement": Source.POS,
    "treasury_csv": Source.TREASURY,
    "treasury_xlsx": Source.TREASURY,
    "vnpost_cod": Source.COD,
}


#: Row notes that do not make a file wrong: a pending (not yet booked) entry is left out of
#: the statement's lines and balances by the parser, and reported for information.
INFORMATIONAL = frozenset({"not_booked"})

#: The ``reason`` of an accepted file all of whose lines repeat lines already imported.
ONLY_REPEATS = "only_repeats: every line was already imported from another file"


class DayClosed(Conflict):
    code = "day_closed"
    title = "The business day is closed; its records cannot change"


def import_view(row: Any, *, duplicate: bool = False) -> dict[str, Any]:
    return {
        "id": row.id,
        "source": row.source,
        "format": row.format,
        "account": row.account,
        "filename": row.filename,
        "file_hash": row.file_hash,
        "status": row.status,
        "reason": row.reason,
        "line_count": row.line_count,
        "error_count": row.error_count,
        "row_errors": row.row_errors,
        "control": row.control,
        "period_start": row.period_start.isoformat() if row.period_start else None,
        "period_end": row.period_end.isoformat() if row.period_end else None,
        "created_at": iso(row.created_at),
        "overlapping": row.overlapping,
        "duplicate": duplicate,
    }


class ImportService:
    """``max_bytes`` is the upload limit (``max_upload_bytes``): a larger file is refused
    with ``payload_too_large`` and nothing is stored, whichever way it arrives.
    ``parse_timeout`` (``parse_timeout_seconds``) bounds the wall-clock time of reading a file:
    past it the upload is refused with ``parse_timeout`` and nothing is stored."""

    def __init__(
        self,
        db: Database,
        clock: Clock,
        max_bytes: int = 50 * 1024 * 1024,
        parse_timeout: float = 30.0,
    ) -> None:
        self.db = db
        self.clock = clock
        self.max_bytes = max_bytes
        self.parse_timeout = parse_timeout
        self.mappings = BankMappings(db, clock)
        #: Files being parsed in a worker thread right now (for health and tests).
        self.parsing = 0

    async def import_file(
        self,
        *,
        format: str,
        data: bytes,
        filename: str | None,
        account: str | None,
        actor: str,
        scope: Scope,
        bank_profile: str | None = None,
        mapping: str | None = None,
    ) -> dict[str, Any]:
        """Import one statement file. A bank CSV/XLSX export names its layout: a shipped
        ``bank_profile`` or a JSON ``mapping`` (:mod:`reconciliation.bank_layouts`), else the
        layout saved for ``account`` (:mod:`reconciliation.bank_mappings`). A file outside the
        caller's ``scope`` is refused and nothing is stored
        (:func:`reconciliation.scope.require_import_scope`)."""
        source = FORMAT_SOURCES.get(format)
        if source is None:
            raise ValidationFailed(
                [FieldError("source", "invalid_choice", f"one of {', '.join(FORMAT_SOURCES)}")]
            )
        if source not in (Source.BANK, Source.TREASURY):
            require_deployment_wide(scope, f"a {source.value} file")
        saved = None
        if format in BANK_FORMATS and not bank_profile and not mapping:
            async with self.db.read() as conn:
                saved = await self.mappings.layout(conn, account)
        layout = bank_layout(format, bank_profile, mapping, saved)
        if len(data) > self.max_bytes:
            raise PayloadTooLarge(f"statement files are limited to {self.max_bytes} bytes")
        digest = hashlib.sha256(data).hexdigest()
        async with self.db.read() as conn:
            earlier = await self._by_hash(conn, digest)
            if earlier is not None:
                await _stored_in_scope(conn, scope, earlier)
        if earlier is not None:
            return import_view(earlier, duplicate=True)
        parsed: ParsedFile | None = None
        reason: str | None = None
        file_errors: list[dict[str, Any]] = []
        try:
            parsed = await self._parse(format, data, layout)
        except ParseError as exc:
            reason = f"{exc.code}: {exc.message}"
            # Row 0: the file as a whole (a header without the mapped columns, a zip bomb…).
            file_errors = [asdict(RowError(0, exc.code, exc.message))]
        bad_rows = [e for e in parsed.errors if e.code not in INFORMATIONAL] if parsed else []
        if bad_rows:
            reason = f"row_errors: {len(bad_rows)} row(s) could not be read"
        import_id = new_id("imp")
        rows = [_line_row(import_id, line, account) for line in parsed.lines] if parsed else []
        account = account or (parsed.account if parsed else None)
        reason = reason or _overlong(rows, account)
        async with self.db.write() as conn:
            if await self._by_hash(conn, digest) is not None:  # a concurrent upload won
                return import_view(await self._by_hash(conn, digest), duplicate=True)
            if parsed is not None and reason is None:
                await self._refuse_closed_days(conn, parsed)
            await require_import_scope(
                conn,
                scope,
                source,
                _named_accounts(account, parsed, rows),  # a form cannot vouch for a file
                {r["agency_code"] for r in rows},
                accepted=reason is None,
            )
            lines = parsed.lines if parsed is not None else ()
            overlapping = 0
            if reason is None and rows:
                overlapping = await link_overlaps(conn, source, rows)
            only_repeats = reason is None and bool(rows) and overlapping == len(rows)
            await IMPORTS.insert(
                conn,
                ImportStatus.QUARANTINED if reason else ImportStatus.ACCEPTED,
                id=import_id,
                source=source.value,
                format=format,
                account=(account or "")[:34] or None,  # a longer one was refused above
                filename=(filename or "")[:255] or None,
                file_hash=digest,
                size=len(data),
                reason=reason[:255] if reason else (ONLY_REPEATS if only_repeats else None),
                line_count=0 if reason else len(lines),  # lines kept, not lines read
                overlapping=overlapping,
                error_count=len(parsed.errors) if parsed else len(file_errors),
                row_errors=[asdict(error) for error in parsed.errors] if parsed else file_errors,
                control=asdict(parsed.control) if parsed else {},
                period_start=parsed.period_start if parsed else None,
                period_end=parsed.period_end if parsed else None,
                imported_by=actor,
                created_at=self.clock(),
            )
            if reason is None and lines:
                await conn.execute(insert(statement_lines), rows)
            await record(
                conn,
                self.clock(),
                actor,
                "statement_imported",
                "statement_import",
                import_id,
                {
                    "format": format,
                    "status": ImportStatus.QUARANTINED if reason else ImportStatus.ACCEPTED,
                    "lines": len(lines),
                    "overlapping": overlapping,
                    "reason": reason,
                },
            )
            return import_view(await self._by_hash(conn, digest))

    async def _parse(self, format: str, data: bytes, layout: ColumnMapping | None) -> ParsedFile:
        """Parse in a worker thread (a large file must not stall callbacks and health checks)
        for at most :attr:`parse_timeout` seconds. A thread cannot be stopped: past the limit
        its result is dropped when it ends; the upload limit and the XLSX expansion checks
        bound how long that can be."""
        options = {} if layout is None else {"mapping": layout}
        self.parsing += 1
        try:
            return await asyncio.wait_for(
                asyncio.to_thread(parsers.parse, format, data, max_bytes=self.max_bytes, **options),
                self.parse_timeout,
            )
        except TimeoutError:
            raise ParseTimeout(
                f"the file was not read within {self.parse_timeout:g} s; nothing was stored"
            ) from None
        finally:
            self.parsing -= 1

    async def of_day(self, day: date, actor: str, scope: Scope) -> list[dict[str, Any]]:
        """The files of business day ``day``, oldest first: those imported that day
        (Asia/Ho_Chi_Minh) and those whose period covers it. A file is listed to deployment-wide
        staff, to whoever uploaded it, and to staff whose agencies own it (its account or its
        treasury lines); a file that names no owner only to the first two."""
        start, end = day_bounds(day)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(statement_imports)
                    .where(
                        or_(
                            and_(
                                statement_imports.c.created_at >= start,
                                statement_imports.c.created_at < end,
                            ),
                            and_(
                                statement_imports.c.period_start <= day,
                                func.coalesce(
                                    statement_imports.c.period_end, statement_imports.c.period_start
                                )
                                >= day,
                            ),
                        )
                    )
                    .order_by(statement_imports.c.created_at, statement_imports.c.id)
                )
            ).all()
            shown = []
            for row in rows:
                if scope.all_agencies or row.imported_by == actor:
                    shown.append(row)
                    continue
                try:
                    await _stored_in_scope(conn, scope, row)
                except GatewayError:
                    continue
                if row.account or row.source != Source.BANK:
                    shown.append(row)
        return [import_view(row) for row in shown]

    async def _by_hash(self, conn: AsyncConnection, digest: str) -> Any:
        return (
            await conn.execute(
                select(statement_imports).where(statement_imports.c.file_hash == digest)
            )
        ).first()

    async def _refuse_closed_days(self, conn: AsyncConnection, parsed: ParsedFile) -> None:
        days = sorted({line.booking_date for line in parsed.lines})
        if not days:
            return
        closed = (
            (
                await conn.execute(
                    select(day_closes.c.business_date).where(day_closes.c.business_date.in_(days))
                )
            )
            .scalars()
            .all()
        )
        if closed:
            listed = ", ".join(day.isoformat() for day in sorted(closed))
            raise DayClosed(f"the file has lines on closed day(s) {listed}")


async def _stored_in_scope(conn: AsyncConnection, scope: Scope, earlier: Any) -> None:
    """The scope check of an earlier import of the same bytes (its answer tells about it)."""
    if scope.all_agencies:
        return
    lines = (
        await conn.execute(
            select(statement_lines.c.account, statement_lines.c.agency_code)
            .where(statement_lines.c.import_id == earlier.id)
            .distinct()
        )
    ).all()
    await require_import_scope(
        conn,
        scope,
        Source(earlier.source),
        {a for a in [earlier.account, *(line.account for line in lines)] if a},
        {line.agency_code for line in lines},
        accepted=earlier.status == ImportStatus.ACCEPTED,
    )


def _named_accounts(
    account: str | None, parsed: ParsedFile | None, rows: list[dict[str, Any]]
) -> set[str]:
    """Every account an upload names: the form's, the file's own and its lines' (a file of
    another agency's account is refused whatever the form says)."""
    named = [account, parsed.account if parsed else None, *(row["account"] for row in rows)]
    return {a for a in named if a}


def _line_row(import_id: str, line: StatementLine, account: str | None) -> dict[str, Any]:
    return {
        "import_id": import_id,
        "source": line.source.value,
        "line_no": line.line_no,
        "amount": line.amount,
        "direction": line.direction.value,
        "booking_date": line.booking_date,
        "value_date": line.value_date,
        "reference": line.reference,
        "provider_txn_id": line.provider_txn_id,
        "end_to_end_id": line.end_to_end_id,
        "text": line.text,
        "account": line.account or account,
        "status": line.status,
        "fee_kind": line.fee_kind,
        "agency_code": line.agency_code,
        "document_no": line.document_no,
    }


def _overlong(rows: list[dict[str, Any]], account: str | None) -> str | None:
    """``bad_field: …`` for the first value longer than its column allows (a file's text is
    the outside world's: PostgreSQL would refuse it mid-insert), else ``None``."""
    limit = getattr(statement_imports.c.account.type, "length", None)
    if account and limit and len(account) > limit:
        return f"{codes.BAD_FIELD}: the statement account is longer than {limit} characters"
    for row in rows:
        for name, value in row.items():
            limit = getattr(statement_lines.c[name].type, "length", None)
            if isinstance(value, str) and limit and len(value) > limit:
                return (
                    f"{codes.BAD_FIELD}: line {row['line_no']}: {name} is longer than "
                    f"{limit} characters"
                )
    return None


def _entry_key(row: Mapping[str, Any]) -> tuple[object, ...]:
    """Booking date, amount, direction and text of a line of one account: what two exports of
    one entry share when at most one of them carries the bank's transaction id."""
    return (
        row["account"],
        row["booking_date"],
        row["amount"],
        row["direction"],
        row["text"],
    )


def _txn_key(row: Mapping[str, Any]) -> tuple[object, ...]:
    return (row["account"], row["provider_txn_id"], row["amount"], row["direction"])


def accepted_lines(source: Source, first: date, last: date) -> Select[Any]:
    """The lines of ``source`` booked from ``first`` to ``last`` that count: from accepted
    files, each entry once (a line repeating another file's is left out), in import order."""
    return (
        select(statement_lines)
        .join(statement_imports, statement_imports.c.id == statement_lines.c.import_id)
        .where(
            statement_imports.c.status == ImportStatus.ACCEPTED,
            statement_lines.c.source == source.value,
            statement_lines.c.duplicate_of.is_(None),  # a repeat is counted once
            statement_lines.c.booking_date >= first,
            statement_lines.c.booking_date <= last,
        )
        .order_by(statement_lines.c.id)
    )


async def link_overlaps(conn: AsyncConnection, source: Source, rows: list[dict[str, Any]]) -> int:
    """Set ``duplicate_of`` on each of ``rows`` that repeats a line of an earlier accepted
    file of the same source and account (an intraday export, then the end-of-day one) and
    return how many do. Lines are paired one to one: two equal transfers in the new file
    repeat two earlier lines, not one.

    Two imports of one source are linked one after the other: on PostgreSQL a transaction
    lock per source makes the second wait for the first to commit, so it sees its lines
    (SQLite has one writer at a time already)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
            {"key": f"statement_overlaps:{source.value}"},
        )
    days = [row["booking_date"] for row in rows]
    earlier = (await conn.execute(accepted_lines(source, min(days), max(days)))).all()
    # Two lines are one entry when both carry the bank's transaction id and it is the same,
    # or when one of them has none (an intraday export without it, the end-of-day camt.053
    # with it) and date, amount, direction and text agree. Each earlier line is taken once.
    by_txn: dict[tuple[object, ...], list[int]] = {}
    by_entry: dict[tuple[object, ...], list[tuple[int, bool]]] = {}
    for line in earlier:
        values = line._asdict()
        if values["provider_txn_id"]:
            by_txn.setdefault(_txn_key(values), []).append(line.id)
        by_entry.setdefault(_entry_key(values), []).append(
            (line.id, bool(values["provider_txn_id"]))
        )
    taken: set[int] = set()
    overlapping = 0
    for row in rows:
        has_txn = bool(row["provider_txn_id"])
        same = by_txn.get(_txn_key(row), []) if has_txn else []
        same = [line_id for line_id in same if line_id not in taken]
        if not same:
            same = [
                line_id
                for line_id, line_has_txn in by_entry.get(_entry_key(row), [])
                if line_id not in taken and not (has_txn and line_has_txn)
            ]
        row["duplicate_of"] = same[0] if same else None
        if same:
            taken.add(same[0])
            overlapping += 1
    return overlapping
