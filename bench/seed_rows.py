"""What the PostgreSQL benchmarks write straight into a freshly migrated database, bypassing
the service: the bench agency and API client, and bills (``payments`` rows) by COPY. Shared by
``ipn_apply.py`` and ``webhook_delivery.py``, which run as scripts from this folder."""

from __future__ import annotations

from datetime import datetime
from typing import Any

CLIENT_ID = "benchclient"
PAYMENT_COLUMNS = [
    "id",
    "agency_id",
    "client_id",
    "dossier_code",
    "payer",
    "amount",
    "currency",
    "reference",
    "status",
    "vietqr_payload",
    "metadata",
    "expires_at",
    "created_at",
    "updated_at",
    "sequence",
]


async def insert_agency_and_client(
    conn: Any, bank_bin: str, account_number: str, now: datetime
) -> int:
    """The agency ``BENCH`` and the portal client ``benchclient``; returns the agency's id."""
    await conn.execute(
        "INSERT INTO api_clients (id, name, role, key_hash, created_at)"
        " VALUES ($1, 'bench', 'portal', 'x', $2)",
        CLIENT_ID,
        now,
    )
    agency_id: int = await conn.fetchval(
        "INSERT INTO agencies (code, name, bank_bin, account_number, account_name, created_at)"
        " VALUES ('BENCH', 'Bench', $1, $2, 'BENCH', $3) RETURNING id",
        bank_bin,
        account_number,
        now,
    )
    return agency_id


def payment_row(
    number: int,
    agency_id: int,
    reference: str,
    *,
    status: str,
    amount: int,
    expires_at: datetime,
    now: datetime,
    sequence: int,
    payer: str = "{}",
    vietqr_payload: str = "",
) -> tuple[Any, ...]:
    """A ``payments`` row of ``benchclient`` (id ``pay_<number>``) in ``PAYMENT_COLUMNS`` order."""
    return (
        f"pay_{number:026d}",
        agency_id,
        CLIENT_ID,
        "HS-1",
        payer,
        amount,
        "VND",
        reference,
        status,
        vietqr_payload,
        "{}",
        expires_at,
        now,
        now,
        sequence,
    )


async def copy_payments(conn: Any, rows: list[tuple[Any, ...]]) -> None:
    await conn.copy_records_to_table("payments", records=rows, columns=PAYMENT_COLUMNS)
