"""Bank export layouts saved per collection account.

Finance staff who import the same bank's export every day save its :class:`ColumnMapping`
once for the account (API ``PUT /v1/reconciliation/bank-mappings/{account}``, the console,
or a ``mapping`` given with an upload and then saved); an upload of ``bank_csv``/``bank_xlsx``
for that account that names neither ``bank_profile`` nor ``mapping`` is read with it. Saving
again replaces the layout; each save is in the audit log with the keys saved.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db import Database
from gateway.core.db.schema import bank_mappings
from gateway.core.errors import FieldError, NotFound, ValidationFailed
from gateway.core.fields import iso
from gateway.core.ids import Clock
from reconciliation.audit import record
from reconciliation.bank_layouts import mapping_keys, mapping_of
from reconciliation.model import Source
from reconciliation.parsers import ColumnMapping
from reconciliation.scope import Scope, require_import_scope

#: As ``statement_imports.account``: an IBAN's 34 characters at most.
ACCOUNT_MAX = 34


def mapping_view(row: Any) -> dict[str, Any]:
    return {
        "account": row.account,
        "mapping": row.mapping,
        "updated_by": row.updated_by,
        "updated_at": iso(row.updated_at),
    }


class BankMappings:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def save(self, account: str, given: Any, actor: str, scope: Scope) -> dict[str, Any]:
        """Validate ``given`` (a decoded JSON object of ColumnMapping keys) and save it as
        ``account``'s layout, replacing any earlier one. Only staff of the agency owning the
        account (or deployment-wide staff) may: ``403 account_not_in_scope`` otherwise."""
        account = _account(account)
        keys = mapping_keys(mapping_of(given))
        now = self.clock()
        async with self.db.write() as conn:
            await _in_scope(conn, scope, account)
            upsert = sqlite_insert if conn.dialect.name == "sqlite" else postgres_insert
            statement = upsert(bank_mappings).values(
                account=account, mapping=keys, updated_by=actor, updated_at=now
            )
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["account"],
                    set_={"mapping": keys, "updated_by": actor, "updated_at": now},
                )
            )
            await record(
                conn, now, actor, "bank_mapping_saved", "bank_mapping", account, {"mapping": keys}
            )
            return mapping_view(await _row(conn, account))

    async def get(self, account: str, scope: Scope) -> dict[str, Any]:
        async with self.db.read() as conn:
            await _in_scope(conn, scope, _account(account))
            row = await _row(conn, _account(account))
        if row is None:
            raise NotFound(f"no bank mapping is saved for account {account}")
        return mapping_view(row)

    async def layout(self, conn: AsyncConnection, account: str | None) -> ColumnMapping | None:
        """The layout saved for ``account`` (as saved: surrounding blanks do not count), or None."""
        account = (account or "").strip()
        if not account:
            return None
        row = await _row(conn, account)
        return None if row is None else ColumnMapping(**row.mapping)


async def _row(conn: AsyncConnection, account: str) -> Any:
    return (
        await conn.execute(select(bank_mappings).where(bank_mappings.c.account == account))
    ).first()


def _account(account: str) -> str:
    account = account.strip()
    if not account or len(account) > ACCOUNT_MAX:
        raise ValidationFailed(
            [
                FieldError(
                    "account", "invalid", f"an account number of 1 to {ACCOUNT_MAX} characters"
                )
            ]
        )
    return account


async def _in_scope(conn: AsyncConnection, scope: Scope, account: str) -> None:
    """An account's layout is its agency's, like the account's statements."""
    await require_import_scope(conn, scope, Source.BANK, {account}, set(), accepted=True)
