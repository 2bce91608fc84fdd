"""Agencies (cơ quan, đơn vị): who collects the fees and into which account."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import agencies
from gateway.core.errors import AgencyNotInScope, Conflict, FieldError, ValidationFailed
from gateway.core.ids import Clock
from providers.payment.vietqr import VietQRError, to_qr_text


@dataclass(frozen=True)
class AgencyDetails:
    """What an agency is added with: its code, name and collecting account."""

    code: str
    name: str
    bank_bin: str
    account_number: str
    account_name: str
    kbnn_code: str | None = None
    revenue_account: str | None = None
    fees_pending_account: str | None = None


@dataclass(frozen=True)
class Agency(AgencyDetails):
    """A stored agency: its details and the id the database gave it."""

    id: int = field(kw_only=True)


@dataclass(frozen=True)
class NewAgency(AgencyDetails):
    def validate(self) -> None:
        errors: list[FieldError] = []
        if not re.fullmatch(r"[A-Z0-9_.-]{2,32}", self.code):
            errors.append(FieldError("code", "invalid", "2–32 of A–Z, 0–9, '_', '.', '-'"))
        if not self.name.strip():
            errors.append(FieldError("name", "required", "name is required"))
        if not re.fullmatch(r"\d{6}", self.bank_bin):
            errors.append(FieldError("bank_bin", "invalid", "a NAPAS BIN has 6 digits"))
        if not re.fullmatch(r"[A-Za-z0-9]{1,19}", self.account_number):
            errors.append(FieldError("account_number", "invalid", "1–19 letters or digits"))
        try:
            to_qr_text(self.account_name, "account_name", 100)
        except VietQRError as exc:
            errors.append(FieldError("account_name", exc.code, exc.message))
        if errors:
            raise ValidationFailed(errors)


def _agency(row: object) -> Agency:
    return Agency(**{name: getattr(row, name) for name in Agency.__dataclass_fields__})


async def add_agency(db: Database, clock: Clock, new: NewAgency) -> Agency:
    new.validate()
    async with db.write() as conn:
        if await find_agency(conn, new.code) is not None:
            raise Conflict(f"agency {new.code} already exists")
        values = dict(new.__dict__)
        result = await conn.execute(
            insert(agencies).values(**values, created_at=clock()).returning(agencies.c.id)
        )
        return Agency(id=result.scalar_one(), **values)


#: Built once (every payment creation looks its agency up).
_BY_CODE = select(agencies).where(agencies.c.code == bindparam("code"))


async def find_agency(conn: AsyncConnection, code: str) -> Agency | None:
    row = (await conn.execute(_BY_CODE, {"code": code})).first()
    return None if row is None else _agency(row)


#: What a payment takes from its agency (into its QR and its API view): a known agency whose
#: row still has these values is as good as one just read.
AGENCY_AS_USED = ("code", "name", "bank_bin", "account_number", "account_name")


class AgencyCache:
    """Agencies by code, as last read; for a writer that checks, in the statement that uses
    an agency, that its row still has the values it used (:data:`AGENCY_AS_USED`), and
    calls :meth:`forget` and reads again when it does not. An unknown code is not kept."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._by_code: dict[str, Agency] = {}

    async def get(self, code: str) -> Agency | None:
        agency = self._by_code.get(code)
        if agency is None:
            async with self.db.read() as conn:
                agency = await find_agency(conn, code)
            if agency is not None:
                self._by_code[code] = agency
        return agency

    def forget(self, code: str) -> None:
        self._by_code.pop(code, None)

    @staticmethod
    def unchanged(agency_id: Any, prefix: str) -> Any:
        """The condition "the agency ``agency_id`` still has the values used" (parameters
        ``<prefix><field>`` of :data:`AGENCY_AS_USED`, given by :meth:`params`)."""
        return (
            select(agencies.c.id)
            .where(
                agencies.c.id == agency_id,
                *(agencies.c[name] == bindparam(prefix + name) for name in AGENCY_AS_USED),
            )
            .exists()
        )

    @staticmethod
    def params(agency: Agency, prefix: str) -> dict[str, Any]:
        return {prefix + name: getattr(agency, name) for name in AGENCY_AS_USED}


async def agency_in_scope(conn: AsyncConnection, agency_code: str, scope: frozenset[int]) -> Agency:
    """The agency a request names by ``agency_code``, if its id is in ``scope`` (the caller's
    :attr:`~gateway.services.clients.Principal.agency_ids`): an unknown code is a field error
    (``unknown_agency``), a known one outside the scope :class:`AgencyNotInScope`."""
    agency = await find_agency(conn, agency_code)
    if agency is None:
        raise ValidationFailed(
            [FieldError("agency_code", "unknown_agency", "no agency has this code")]
        )
    if agency.id not in scope:
        raise AgencyNotInScope()
    return agency


async def get_agency_by_id(conn: AsyncConnection, agency_id: int) -> Agency:
    row = (await conn.execute(select(agencies).where(agencies.c.id == agency_id))).one()
    return _agency(row)


async def list_agencies(db: Database) -> list[Agency]:
    async with db.read() as conn:
        rows = (await conn.execute(select(agencies).order_by(agencies.c.code))).all()
    return [_agency(row) for row in rows]
