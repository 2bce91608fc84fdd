"""The postal operators' part of ``/openapi.json``: their feed of orders, one order, accepting
it, reporting events and recording handovers (:mod:`gateway.api.postal_operators`), with
their component schemas.

The request schemas come from the pydantic models that validate the requests
(:class:`gateway.api.postal_schemas.OperatorEvent`, :class:`~gateway.api.postal_schemas.Handover`);
the response schemas describe :mod:`gateway.services.postal.operator_views` and are checked
against real responses by the test suite (``additionalProperties: false``: a field added to a
view without documenting it fails those tests).

:mod:`gateway.api.openapi` imports this module when it builds the document (this module uses
its operation helpers).
"""

from __future__ import annotations

from typing import Any, get_args

from gateway.api.openapi import (
    _BODY_ERRORS,
    _json,
    _op,
    _param,
    _path,
    _problem,
)
from gateway.api.openapi_postal import _ORDER_PROPERTIES
from gateway.api.openapi_schemas import _TEXT_OR_NULL, _TIME, _fixed, _id, ref, request_schemas
from gateway.api.postal_schemas import Handover, IdentityCheck, OperatorEvent
from gateway.services.postal.operators import FEED_LIMIT_MAX, MAX_CLOCK_SKEW

PREFIX = "/v1/operator/orders"


def _choices(model: Any, field: str) -> list[str]:
    """The literal choices of a request model's field, so the views' enums cannot drift."""
    return list(get_args(model.model_fields[field].annotation))


_HANDOVER_KINDS = _choices(Handover, "kind")
_COUNTERPART_ROLES = _choices(Handover, "counterpart_role")
_ID_TYPES = _choices(IdentityCheck, "id_type")

_PARTY = _fixed(
    {
        "name": {"type": "string"},
        "phone": {"type": "string", "pattern": "^\\+84[0-9]+$", "description": "E.164"},
        "phone_national": {
            "type": "string",
            "pattern": "^0[0-9]+$",
            "description": "As written on a Vietnamese label, e.g. `0912345678`",
        },
        "address": _fixed(
            {
                "street": {"type": "string"},
                "ward_code": {"type": "string"},
                "ward_name": {
                    "type": ["string", "null"],
                    "description": "From the official list of communes and wards",
                },
                "province_code": {"type": "string"},
                "province_name": _TEXT_OR_NULL,
                "legacy_district": {
                    "type": ["string", "null"],
                    "description": "District of a pre-July-2025 address, as the portal wrote it",
                },
            }
        ),
    },
    "A sender or recipient as the operator sees it: they deliver, so the phone and the "
    "street are shown in full (unsealed for this answer only, never logged)",
)

_HANDOVER_SUMMARY: dict[str, Any] = {
    "id": _id("hov"),
    "handover_id": {"type": "string", "description": "The operator's own id of the handover"},
    "kind": {
        "type": "string",
        "enum": _HANDOVER_KINDS,
        "description": "`collected`: the postman took the parcel; `delivered`: the postman "
        "handed it over",
    },
    "at": _TIME,
    "counterpart_name": {"type": "string"},
    "counterpart_role": {"type": "string", "enum": _COUNTERPART_ROLES},
    "cod_collected": {"type": ["integer", "null"], "description": "VND collected (delivery)"},
}

_IDENTITY = _fixed(
    {
        "id_type": {"type": "string", "enum": _ID_TYPES},
        "id_number_masked": {
            "type": "string",
            "pattern": "^\\*+[0-9A-Za-z]{4}$",
            "description": "All but the last four characters hidden, e.g. `********1234`",
        },
    },
    "The identity document checked. The number is stored sealed and never shown again",
)

_HANDOVER = _fixed(
    {
        **_HANDOVER_SUMMARY,
        "documents": {
            "type": "array",
            "items": _fixed(
                {
                    "item": {"type": "string"},
                    "original": {
                        "type": "boolean",
                        "description": "true: bản chính (original); false: bản sao (copy)",
                    },
                    "count": {"type": "integer", "minimum": 1},
                }
            ),
        },
        "seal_number": _TEXT_OR_NULL,
        "identity": {"oneOf": [{"type": "null"}, ref("OperatorIdentityCheck")]},
        "proof_reference": _TEXT_OR_NULL,
        "recorded_by": {
            "type": "string",
            "description": "The API client's or console user's name (`operator`/`staff` if "
            "it is gone)",
        },
        "created_at": _TIME,
    },
    "A handover record (biên bản bàn giao) in full",
)

_SHARED = [
    "id",
    "status",
    "leg",
    "attempt",
    "service",
    "tracking_number",
    "client_reference",
    "agency_code",
]


def _order(handover: str, *, events: bool) -> dict[str, Any]:
    properties: dict[str, Any] = {
        **{name: _ORDER_PROPERTIES[name] for name in _SHARED},
        "agency_name": {"type": "string"},
        "post_office": _fixed(
            {"code": {"type": "string"}, "name": {"type": "string"}},
            "The office serving the agency",
        ),
        "dossier_code": _ORDER_PROPERTIES["dossier_code"],
        "sender": ref("OperatorParty"),
        "recipient": ref("OperatorParty"),
        **{
            name: _ORDER_PROPERTIES[name]
            for name in (
                "weight_grams",
                "cod_amount",
                "cod_collected",
                "cod_collected_at",
                "note",
                "pickup_window",
                "accepted_at",
            )
        },
        "accepted_by": {
            "type": ["string", "null"],
            "description": "Who accepted the order: the API client's or console user's name "
            "(when one order is read), `operator` or `staff` (in the feed); null until accepted",
        },
        **{
            name: _ORDER_PROPERTIES[name]
            for name in ("handed_over_at", "cancel_state", "status_at", "created_at", "updated_at")
        },
        "handovers": {"type": "array", "items": ref(handover), "description": "Oldest first"},
    }
    if events:
        properties["events"] = _ORDER_PROPERTIES["events"]
        return _fixed(properties, "An order of the operator's offices, with its history")
    return _fixed(properties, "An order of the operator's offices, as the feed lists it")


SCHEMAS: dict[str, Any] = {
    "OperatorParty": _PARTY,
    "OperatorIdentityCheck": _IDENTITY,
    "OperatorHandoverSummary": _fixed(_HANDOVER_SUMMARY, "A handover, as the feed lists it"),
    "OperatorHandover": _HANDOVER,
    "OperatorOrderSummary": _order("OperatorHandoverSummary", events=False),
    "OperatorOrder": _order("OperatorHandover", events=True),
    "OperatorOrderFeed": _fixed(
        {
            "data": {"type": "array", "items": ref("OperatorOrderSummary")},
            "next_cursor": {
                "type": "string",
                "description": "Always given: pass it as `cursor` to get what changed since "
                "(the same cursor again when nothing did)",
            },
            "has_more": {
                "type": "boolean",
                "description": "More orders changed after this page: ask again at once",
            },
        }
    ),
    "OperatorEventReported": _fixed(
        {
            "event_id": {"type": "string", "description": "The operator's id of the report"},
            "applied": {
                "type": "boolean",
                "description": "Whether it moved the order (else kept as history: older or "
                "lower-ranked than the order's status, the order is final or not yet with the "
                "carrier)",
            },
            "event": ref("PostalTrackingEvent"),
            "order": ref("OperatorOrder"),
        },
        "The event as stored (a resend: as first stored) and the order as it is now",
    ),
    "OperatorHandoverRecorded": _fixed(
        {"handover": ref("OperatorHandover"), "order": ref("OperatorOrder")},
        "The handover as stored (a resend: as first stored) and the order as it is now",
    ),
}


def operator_schemas() -> dict[str, Any]:
    """The operator response schemas plus the request schemas of the pydantic models."""
    return {**SCHEMAS, **request_schemas(OperatorEvent, Handover)}


_ROLE = (
    "Role: `postal_operator`, with a bearer API key scoped to post offices (`gateway "
    "clients create --role postal_operator --post-office <code>`). Only the orders routed to "
    "those offices (the office serving the order's agency when it was booked) are visible; "
    "any other order answers `404 not_found`, exactly as one "
    "that does not exist. (An `admin` key passes the role check but, scoped to no office, "
    "sees no order.)"
)
_ERRORS = {
    "401": _problem("Missing or invalid API key (`unauthenticated`)"),
    "403": _problem("`forbidden`: not a `postal_operator` key"),
}
_NOT_FOUND = {"404": _problem("`not_found` (also for orders outside the operator's offices)")}
_ORDER_ID = _path("order_id")
_REPLAYED = {
    "Idempotent-Replayed": {
        "required": True,
        "schema": {"const": "true"},
        "description": "The id was reported before with the same content",
    }
}
_SKEW = (
    f"more than {int(MAX_CLOCK_SKEW.total_seconds() // 60)} minutes ahead of the gateway's clock"
)


def _reported(schema: str, what: str, conflict: str, unprocessable: str) -> dict[str, Any]:
    """The answers of a report the operator identifies by its own id."""
    return {
        "201": _json(f"Recorded: a new {what}", ref(schema)),
        "200": {
            **_json(
                f"The same {what} id sent again with the same content: the first answer's "
                f"{what}, the order as it is now; nothing stored again",
                ref(schema),
            ),
            "headers": _REPLAYED,
        },
        **_BODY_ERRORS,
        **_ERRORS,
        **_NOT_FOUND,
        "409": _problem(conflict),
        "422": _problem(unprocessable),
    }


def operator_paths() -> dict[str, Any]:
    feed = [
        _param("cursor", "query", {"type": "string"}, "`next_cursor` of the last page", False),
        _param(
            "limit",
            "query",
            {"type": "integer", "minimum": 1, "maximum": FEED_LIMIT_MAX, "default": 50},
            "page size",
            False,
        ),
    ]
    one = [_ORDER_ID]
    return {
        PREFIX: {
            "get": _op(
                "The feed: orders of the operator's offices changed after the cursor, oldest "
                "change first",
                {
                    "200": _json("A page of the feed", ref("OperatorOrderFeed")),
                    "400": _problem("`invalid_cursor`"),
                    **_ERRORS,
                    "422": _problem("`validation_failed`: `limit` → `out_of_range`"),
                },
                params=feed,
                description="Ordered by `(updated_at, id)`. An order that changes (status, "
                "acceptance, a handover, COD) gets a new `updated_at` and comes again. Orders "
                "still `submitting` or `submit_failed` are left out (the carrier does not have "
                "them). Poll with the last `next_cursor`; no cursor starts from the beginning. "
                "Known limit: `updated_at` is the writer's clock, so on PostgreSQL two "
                "transactions committing out of order within a moment can let a poller step "
                "past the earlier one; it comes again at its next change, and an occasional "
                f"read from the start catches up. {_ROLE}",
            )
        },
        f"{PREFIX}/{{order_id}}": {
            "get": _op(
                "One order of the operator's offices, with its events and handovers",
                {"200": _json("The order", ref("OperatorOrder")), **_ERRORS, **_NOT_FOUND},
                params=one,
                description=_ROLE,
            )
        },
        f"{PREFIX}/{{order_id}}/accept": {
            "post": _op(
                "Accept (take on) an order",
                {
                    "200": _json(
                        "The order, `accepted_at` and `accepted_by` set. Accepting again by "
                        "the same operator answers the same",
                        ref("OperatorOrder"),
                    ),
                    **_ERRORS,
                    **_NOT_FOUND,
                    "409": _problem(
                        "`already_accepted`: another operator accepted it; "
                        "`order_not_acceptable` (`current` names the status): not with the "
                        "carrier yet (`submitting`, `submit_failed`) or final"
                    ),
                },
                params=one,
                description="Once per order; announced to the portal as "
                f"`postal.order.updated` (`accepted_at`). No body. {_ROLE}",
            )
        },
        f"{PREFIX}/{{order_id}}/events": {
            "post": _op(
                "Report what happened to the order (pickup assigned, picked up, failed, …)",
                _reported(
                    "OperatorEventReported",
                    "event",
                    "`duplicate_event`: the `event_id` was reported before with other content "
                    "(or for another order); nothing changed",
                    "`validation_failed` with field-level `errors`: besides the codes of the "
                    "shape, `event_id` → `reserved` (ids starting `handover:` belong to the "
                    f"handovers' own events), `occurred_at` → `in_future` ({_SKEW})",
                ),
                params=one,
                body={
                    "required": True,
                    "content": {"application/json": {"schema": ref("OperatorEvent")}},
                },
                description="De-duplicated by the operator's own `event_id` (no "
                "`Idempotency-Key`). Every event is stored; rank and time decide whether it "
                "moves the order (`applied`), exactly as for VNPost's reports, and a move is "
                f"announced to the portal as a `postal.order.*` webhook. {_ROLE}",
            )
        },
        f"{PREFIX}/{{order_id}}/handovers": {
            "post": _op(
                "Record a handover (biên bản bàn giao): the postman collected the parcel or "
                "delivered it",
                _reported(
                    "OperatorHandoverRecorded",
                    "handover",
                    "`duplicate_handover`: the `handover_id` was reported before with other "
                    "content (or for another order); nothing changed",
                    "`validation_failed` with field-level `errors` (`at` → `in_future`: "
                    f"{_SKEW}); `cod_not_expected`: `cod_collected` on an order without COD or "
                    "on a `collected` handover; `cod_amount_mismatch` (`cod_amount` names "
                    "the order's amount): not the order's `cod_amount`. Nothing is stored",
                ),
                params=one,
                body={
                    "required": True,
                    "content": {"application/json": {"schema": ref("Handover")}},
                },
                description="De-duplicated by the operator's own `handover_id`. In one "
                "transaction: the handover (the identity number sealed, only a masked copy "
                "shown), the COD if any (it pays the linked payment when that is still "
                "pending for exactly this amount), and its event (`collected` → `picked_up`, "
                "`delivered` → `delivered`), judged by rank and time like any report. A pickup "
                f"delivered to the agency sets `handed_over_at`. {_ROLE}",
            )
        },
    }
