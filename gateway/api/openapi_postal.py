"""The postal part of ``/openapi.json``: the portal's postal orders and VNPost's status
pushes, their paths and component schemas.

The request schema comes from the pydantic model that validates the request
(:class:`gateway.api.postal_schemas.CreatePostalOrder`); the response schemas describe
:func:`gateway.services.postal.state.render` and are checked against real responses by the
test suite (``additionalProperties: false``: a field added to the view without documenting
it fails those tests). The webhook events about orders (``postal.order.*``) are listed with
the other event types in :mod:`gateway.api.openapi_schemas`.

:mod:`gateway.api.openapi` imports this module when it builds the document (this module
uses its operation helpers).
"""

from __future__ import annotations

from typing import Any

from gateway.api.openapi_schemas import (
    _TEXT_OR_NULL,
    _TIME,
    _TIME_OR_NULL,
    _event,
    _fixed,
    _id,
    _of_kind,
    _page_of,
    ref,
)
from gateway.core.postal.orders import (
    CANCELLABLE,
    ORDER_STATUSES,
    SUBMIT_FAILED,
    SUBMITTING,
    Leg,
)
from gateway.core.postal.phones import UNKNOWN_RANGE
from providers.common.postal import PostalStatus
from providers.postal.vnpost.codec import ITEM_CODE_PATTERN

#: What an order's ``status`` can be, along an order's life.
POSTAL_ORDER_STATUSES = [
    str(status) for status in (SUBMITTING, SUBMIT_FAILED, *PostalStatus) if status in ORDER_STATUSES
]
#: What an event of an order's history can say (``unknown``: a carrier code outside the
#: table, kept as history only).
POSTAL_EVENT_STATUSES = [status.value for status in PostalStatus]
#: Who reported an event.
POSTAL_EVENT_SOURCES = ["vnpost", "operator", "staff", "gateway"]
CANCEL_STATES = ["requested", "confirmed", "refused"]
PUSH_OUTCOMES = {
    "applied": "Stored, and it moved the order",
    "stored": "Stored as history only: older or lower-ranked than the order's status, an "
    "undocumented code, or the order is final",
    "duplicate": "This push (item code, status code, time) was received before",
    "deferred": "A final status or a COD code: stored, and believed only once the order is "
    "read back from VNPost (by the next pass of the background loop)",
    "unknown_order": "No order has this item code; the push is kept for review",
}

_CANCELLABLE = [status for status in POSTAL_ORDER_STATUSES if status in CANCELLABLE]
_S10 = f"^{ITEM_CODE_PATTERN.pattern}$"


def _code_list(codes: list[str]) -> str:
    return ", ".join(f"`{code}`" for code in codes)


_PARTY = _fixed(
    {
        "name": {"type": "string"},
        "phone": {
            "type": "string",
            "pattern": "^[0-9]{3}\\*+[0-9]{3}$",
            "description": "Masked national number, e.g. `091****678`: enough to recognise, "
            "not to call",
        },
        "address": _fixed(
            {
                "ward_code": {"type": "string"},
                "ward_name": {
                    "type": ["string", "null"],
                    "description": "From the official list of communes and wards",
                },
                "province_code": {"type": "string"},
                "province_name": _TEXT_OR_NULL,
            },
            "Codes and names only: the street stays in the gateway (encrypted at rest)",
        ),
    },
    "A sender or recipient as the portal sees it",
)

_TRACKING_EVENT = _fixed(
    {
        "status": {
            "type": "string",
            "enum": POSTAL_EVENT_STATUSES,
            "description": "The normalised status the report means",
        },
        "carrier_code": {
            "type": ["integer", "null"],
            "description": "VNPost's own status code (0–29), for the carrier's reports",
        },
        "source": {
            "type": "string",
            "enum": POSTAL_EVENT_SOURCES,
            "description": "`vnpost`: the carrier (push or read); `operator`: a post "
            "office through the operator API; `staff`: a post office's staff through the "
            "operator console; `gateway`: the gateway itself (e.g. the carrier accepted the "
            "order)",
        },
        "occurred_at": _TIME,
        "received_at": _TIME,
        "location": {"type": "string"},
        "note": {"type": "string"},
        "applied": {
            "type": "boolean",
            "description": "Whether it moved the order (else kept as history: older, "
            "lower-ranked, or the order was final)",
        },
    },
    "One report about the order, in the order received",
)

_ORDER_PROPERTIES: dict[str, Any] = {
    "id": _id("pso"),
    "status": {
        "type": "string",
        "enum": POSTAL_ORDER_STATUSES,
        "description": "`submitting` until VNPost accepts the order (`created`), "
        "`submit_failed` when it refused it (see `last_error`); then VNPost's statuses. "
        "`delivered`, `returned`, `cancelled`, `lost` and `submit_failed` are final",
    },
    "leg": {
        "type": "string",
        "enum": [leg.value for leg in Leg],
        "description": "`pickup`: the citizen's dossier to the agency; `delivery`: the "
        "agency's result to the citizen",
    },
    "attempt": {
        "type": "integer",
        "minimum": 1,
        "description": "1 for the dossier's first order of this leg, then one more per new "
        "order after one ended",
    },
    "carrier": {"type": "string", "enum": ["vnpost"]},
    "service": {"type": "string", "enum": ["standard", "express"]},
    "client_reference": {
        "type": "string",
        "pattern": "^BC[PD][0-9]+-[A-Z2-7]{16}$",
        "description": "Our reference at the carrier (VNPost `sale_order_code`), fixed at booking",
    },
    "tracking_number": {
        "type": ["string", "null"],
        "pattern": _S10,
        "description": "VNPost's item code (UPU S10, e.g. `EB123456785VN`); null until the "
        "carrier accepts the order",
    },
    "agency_code": {"type": "string"},
    "dossier_code": {"type": "string"},
    "sender": ref("PostalPartySummary"),
    "recipient": ref("PostalPartySummary"),
    "weight_grams": {"type": "integer", "minimum": 1},
    "cod_amount": {
        "type": ["integer", "null"],
        "description": "VND the postman collects on delivery",
    },
    "cod_collected": {
        "type": ["integer", "null"],
        "description": "VND the postman collected (confirmed by reading the order back)",
    },
    "cod_collected_at": _TIME_OR_NULL,
    "payment_id": {
        **_id("pay"),
        "type": ["string", "null"],
        "description": "The fee payment the order collects (COD) or accompanies",
    },
    "note": {"type": "string"},
    "pickup_window": {
        "oneOf": [{"type": "null"}, _fixed({"start": _TIME, "end": _TIME})],
        "description": "Pickup leg: when the citizen expects the postman",
    },
    "cancel_state": {
        "type": ["string", "null"],
        "enum": [*CANCEL_STATES, None],
        "description": "null: no cancellation asked; `requested`: asked, VNPost not yet "
        "told or not yet answered; `confirmed`: the order is `cancelled`; `refused`: VNPost "
        "refused (a postman got there first) and the order goes on",
    },
    "accepted_at": {
        **_TIME_OR_NULL,
        "description": "When the serving post office accepted the order (operator API/console)",
    },
    "handed_over_at": {
        **_TIME_OR_NULL,
        "description": "Pickup leg: when the dossier reached the agency (the procedure's "
        "processing time starts)",
    },
    "result_undelivered": {
        "type": "boolean",
        "description": "Delivery leg: the result came back or was lost; the agency holds it "
        "for the citizen or books a new delivery",
    },
    "last_error": {
        "type": ["string", "null"],
        "description": "The carrier's last refusal or failure while submitting, as "
        "`<code>: <message>`",
    },
    "status_at": {**_TIME, "description": "When the order reached its status"},
    "created_at": _TIME,
    "updated_at": _TIME,
    "events": {
        "type": "array",
        "items": ref("PostalTrackingEvent"),
        "description": "The order's history",
    },
}

_WARNING = _fixed(
    {
        "field": {"type": "string", "description": "e.g. `recipient.phone`"},
        "code": {
            "type": "string",
            "enum": [UNKNOWN_RANGE],
            "description": "`unknown_range`: a mobile-shaped number in a range the phone "
            "metadata does not know yet; accepted on its shape alone",
        },
    },
    "Accepted, but worth a look",
)

_STATUS_PUSH = {
    "type": "object",
    "required": ["item_code", "status", "time"],
    "description": "VNPost's status push. Unknown fields are ignored; `location` and `note` "
    "are not signed and are kept as information only.",
    "properties": {
        "item_code": {"type": "string", "pattern": _S10, "description": "The tracking number"},
        "sale_order_code": {"type": "string", "description": "Our `client_reference`"},
        "status": {
            "type": "integer",
            "description": "VNPost's status code (0–29; another code is stored, never applied)",
        },
        "time": {
            "type": "string",
            "pattern": "^[0-9]{2}/[0-9]{2}/[0-9]{4} [0-9]{2}:[0-9]{2}:[0-9]{2}$",
            "description": "dd/mm/yyyy hh:mm:ss, wall-clock time in Vietnam (GMT+7)",
        },
        "location": {"type": ["string", "null"]},
        "note": {"type": ["string", "null"]},
    },
}

SCHEMAS: dict[str, Any] = {
    "PostalPartySummary": _PARTY,
    "PostalTrackingEvent": _TRACKING_EVENT,
    "PostalOrder": _fixed(_ORDER_PROPERTIES),
    "PostalWarning": _WARNING,
    "PostalOrderCreated": _fixed(
        {
            **_ORDER_PROPERTIES,
            "warnings": {"type": "array", "items": ref("PostalWarning")},
        },
        "The order, with what was accepted but is worth a look",
    ),
    "PostalOrderPage": _page_of("PostalOrder"),
    "PostalOrderEvent": _event(
        _of_kind("postal"),
        {"postal_order": ref("PostalOrder")},
        "The order as it is after the change",
        subject="postal order",
    ),
    "VnpostStatusPush": _STATUS_PUSH,
    "VnpostPushAck": _fixed(
        {
            "status": {"const": "accepted"},
            "outcome": {
                "type": "string",
                "enum": list(PUSH_OUTCOMES),
                "description": "; ".join(
                    f"`{name}`: {text}" for name, text in PUSH_OUTCOMES.items()
                ),
            },
        }
    ),
}


def postal_schemas() -> dict[str, Any]:
    """Nothing left: the postal schemas are generated (gateway.models.postal, webhooks.models)."""
    return {}
