"""The operator console's forms → the API's request models, so a report typed in the console
is checked exactly like one sent to the API. Times are typed in Vietnam time
(``datetime-local``); each form carries a fresh id drawn when it was shown, so sending the
same form twice (a double click, a reload) is recognised instead of recorded twice."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any, get_args
from zoneinfo import ZoneInfo

from gateway.core.errors import FieldError, ValidationFailed
from gateway.http.responses import parse_body
from gateway.models.postal_requests import Handover, OperatorEvent
from gateway.pages.console_auth import Form

VIETNAM = ZoneInfo("Asia/Ho_Chi_Minh")
#: Rows of the document checklist on the handover form (empty rows are skipped).
DOCUMENT_ROWS = 5

#: The statuses an operator may report, in the order of an order's life.
EVENT_STATUSES: tuple[str, ...] = get_args(OperatorEvent.model_fields["status"].annotation)


def form_id() -> str:
    """A fresh id for a report typed in the console."""
    return f"web-{secrets.token_hex(8)}"


def local_input(moment: datetime) -> str:
    """``datetime-local`` value of ``moment`` in Vietnam time."""
    return moment.astimezone(VIETNAM).strftime("%Y-%m-%dT%H:%M")


def moment(text: str, field: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationFailed([FieldError(field, "invalid", "not a date and time")]) from None
    return moment.replace(tzinfo=VIETNAM) if moment.tzinfo is None else moment


def event(form: Form) -> OperatorEvent:
    return parse_body(
        OperatorEvent,
        {
            "event_id": form.get("event_id"),
            "status": form.get("status"),
            "occurred_at": moment(form.get("occurred_at"), "occurred_at"),
            "location": form.get("location"),
            "note": form.get("note"),
        },
    )


def handover(form: Form) -> Handover:
    documents = []
    for row in range(DOCUMENT_ROWS):
        item = form.get(f"doc_item_{row}").strip()
        if not item:
            continue
        count = form.get(f"doc_count_{row}").strip() or "1"
        documents.append(
            {
                "item": item,
                "original": form.get(f"doc_original_{row}") == "1",
                "count": int(count) if count.isdigit() else count,
            }
        )
    data: dict[str, Any] = {
        "handover_id": form.get("handover_id"),
        "kind": form.get("kind"),
        "at": moment(form.get("at"), "at"),
        "documents": documents,
        "counterpart_name": form.get("counterpart_name"),
        "counterpart_role": form.get("counterpart_role"),
    }
    for name in ("seal_number", "proof_reference"):
        if form.get(name).strip():
            data[name] = form.get(name)
    if form.get("id_type"):
        data["identity"] = {"id_type": form.get("id_type"), "id_number": form.get("id_number")}
    cod = form.get("cod_collected").replace(".", "").replace(",", "").strip()
    if cod:
        data["cod_collected"] = int(cod) if cod.isdigit() else cod
    return parse_body(Handover, data)
