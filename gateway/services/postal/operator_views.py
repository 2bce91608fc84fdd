"""What a postal operator sees of an order: the parties in full (they deliver, so phones and
streets are unsealed for them — never for the portal, never in a log), ward and province
names, and the handovers recorded so far.

Pure functions of rows and a :class:`~gateway.services.sealing.Sealer`; the queries that
produce the rows live in :mod:`gateway.services.postal.operators`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.db.schema import (
    agencies,
    api_clients,
    post_offices,
    postal_handovers,
    postal_orders,
    staff_users,
)
from gateway.core.fields import iso
from gateway.core.postal import admin_units
from gateway.services.postal import state
from gateway.services.sealing import Sealer

#: The order columns of a view, with its agency and post office.
VIEW_COLUMNS = (
    *state.ORDER_COLUMNS,
    agencies.c.name.label("agency_name"),
    post_offices.c.code.label("office_code"),
    post_offices.c.name.label("office_name"),
)


def view_query() -> Any:
    """``SELECT`` of :data:`VIEW_COLUMNS`; callers add their conditions."""
    return (
        select(*VIEW_COLUMNS)
        .join(agencies, agencies.c.id == postal_orders.c.agency_id)
        .outerjoin(post_offices, post_offices.c.id == postal_orders.c.post_office_id)
    )


def national_phone(e164: str) -> str:
    """``+84912345678`` → ``0912345678``, as written on a Vietnamese label."""
    return "0" + e164[3:] if e164.startswith("+84") else e164


def party(sealer: Sealer, role: str, stored: dict[str, Any]) -> dict[str, Any]:
    """A sender or recipient as the operator sees it: full phone and street."""
    address = stored["address"]
    ward = admin_units.ward(address["ward_code"])
    province = admin_units.province(address["province_code"])
    phone = sealer.open(stored["phone"], f"postal.{role}.phone")
    return {
        "name": stored["name"],
        "phone": phone,
        "phone_national": national_phone(phone),
        "address": {
            "street": sealer.open(address["street"], f"postal.{role}.street"),
            "ward_code": address["ward_code"],
            "ward_name": ward.name if ward else None,
            "province_code": address["province_code"],
            "province_name": province.name if province else None,
            "legacy_district": address.get("legacy_district"),
        },
    }


def handover_summary(row: Any) -> dict[str, Any]:
    return {
        "id": row.id,
        "handover_id": row.external_id,
        "kind": row.kind,
        "at": iso(row.at),
        "counterpart_name": row.counterpart_name,
        "counterpart_role": row.counterpart_role,
        "cod_collected": row.cod_collected,
    }


def handover(row: Any, names: dict[str, str] | None = None) -> dict[str, Any]:
    """A handover in full, the identity number masked (the sealed one is never shown)."""
    identity = None
    if row.id_type is not None:
        identity = {"id_type": row.id_type, "id_number_masked": row.id_number_masked}
    return {
        **handover_summary(row),
        "documents": row.documents,
        "seal_number": row.seal_number,
        "identity": identity,
        "proof_reference": row.proof_reference,
        "recorded_by": (names or {}).get(row.recorded_by, row.recorded_by.split(":", 1)[0]),
        "created_at": iso(row.created_at),
    }


def order(
    sealer: Sealer,
    row: Any,
    handovers: list[Any],
    *,
    events: list[Any] | None = None,
    names: dict[str, str] | None = None,
) -> dict[str, Any]:
    """An order row (of :func:`view_query`) as the operator sees it: with a summary of its
    handovers in the feed, or with its events and full handovers when ``events`` is given."""
    window = None
    if row.pickup_window_start is not None:
        window = {"start": iso(row.pickup_window_start), "end": iso(row.pickup_window_end)}
    view: dict[str, Any] = {
        "id": row.id,
        "status": row.status,
        "leg": row.leg,
        "attempt": row.attempt,
        "service": row.service,
        "tracking_number": row.tracking_number,
        "client_reference": row.client_reference,
        "agency_code": row.agency_code,
        "agency_name": row.agency_name,
        "post_office": {"code": row.office_code, "name": row.office_name},
        "dossier_code": row.dossier_code,
        "sender": party(sealer, "sender", row.sender),
        "recipient": party(sealer, "recipient", row.recipient),
        "weight_grams": row.weight_grams,
        "cod_amount": row.cod_amount,
        "cod_collected": row.cod_collected,
        "cod_collected_at": iso(row.cod_collected_at),
        "note": row.note,
        "pickup_window": window,
        "accepted_at": iso(row.accepted_at),
        "accepted_by": (names or {}).get(row.accepted_by or "", _kind(row.accepted_by)),
        "handed_over_at": iso(row.handed_over_at),
        "cancel_state": row.cancel_state,
        "review_reason": row.review_reason,
        "status_at": iso(row.status_at),
        "created_at": iso(row.created_at),
        "updated_at": iso(row.updated_at),
    }
    if events is None:
        view["handovers"] = [handover_summary(h) for h in handovers]
    else:
        view["handovers"] = [handover(h, names) for h in handovers]
        view["events"] = [state.render_event(event) for event in events]
    return view


def _kind(reporter: str | None) -> str | None:
    """``operator:<client id>`` → ``operator``: who, without naming another client's id."""
    return None if reporter is None else reporter.split(":", 1)[0]


async def handovers_of(conn: AsyncConnection, order_ids: list[str]) -> dict[str, list[Any]]:
    """The orders' handovers, oldest first."""
    found: dict[str, list[Any]] = {order_id: [] for order_id in order_ids}
    if not order_ids:
        return found
    rows = await conn.execute(
        select(postal_handovers)
        .where(postal_handovers.c.order_id.in_(order_ids))
        .order_by(postal_handovers.c.at, postal_handovers.c.id)
    )
    for row in rows:
        found[row.order_id].append(row)
    return found


async def reporter_names(conn: AsyncConnection, reporters: list[str | None]) -> dict[str, str]:
    """``operator:<client id>`` / ``staff:<user id>`` → the client's or the person's name,
    for the printed handover record and the console."""
    clients = {r.split(":", 1)[1] for r in reporters if r and r.startswith("operator:")}
    users = {r.split(":", 1)[1] for r in reporters if r and r.startswith("staff:")}
    names: dict[str, str] = {}
    if clients:
        rows = await conn.execute(
            select(api_clients.c.id, api_clients.c.name).where(api_clients.c.id.in_(clients))
        )
        names.update({f"operator:{row.id}": row.name for row in rows})
    if users:
        rows = await conn.execute(
            select(staff_users.c.id, staff_users.c.display_name).where(staff_users.c.id.in_(users))
        )
        names.update({f"staff:{row.id}": row.display_name for row in rows})
    return names


#: The start of the feed: a cursor before every order.
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
