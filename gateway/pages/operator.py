"""The postal operators' console (``/operator``, server-rendered, Vietnamese): today's pickups
and deliveries of their post offices, an order with its history, the forms to accept it,
report an event and record a handover, and the printable handover record (biên bản bàn
giao), the batch record of a pickup round (biên bản giao nhận hồ sơ) and shipping label.

Each handler parses, calls :class:`gateway.services.postal.operators.OperatorService` — the
same service, with the same checks, as the operator API — and renders. Session, role, CSRF
and error pages: :mod:`gateway.pages.operator_auth`. After a successful POST the browser is
sent on with 303; a refused one shows the order again with the reason and what was typed.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from gateway.core.errors import GatewayError, NotFound
from gateway.keys import CLOCK, NOTIFICATION_VIEWS, OPERATORS
from gateway.pages import operator_forms as forms
from gateway.pages import operator_labels as labels
from gateway.pages.console_auth import Form, see_other
from gateway.pages.operator_auth import PREFIX, action, logout, page, view
from gateway.services.postal.operators import BATCH_HANDOVER_PREFIX, Operator
from gateway.services.staff import StaffUser

__all__ = ["setup_operator_pages"]


def _today(request: web.Request) -> tuple[datetime, datetime]:
    """The current Asia/Ho_Chi_Minh day as ``[start, end)``."""
    now = request.app[CLOCK]().astimezone(forms.VIETNAM)
    start = datetime.combine(now.date(), time(0), tzinfo=forms.VIETNAM)
    return start, start + timedelta(days=1)


#: A pickup the post holds: collected from the citizen, not yet handed to the agency.
_HELD = frozenset({"picked_up", "in_transit", "out_for_delivery"})


@view
async def today(request: web.Request, user: StaffUser, operator: Operator) -> web.StreamResponse:
    start, end = _today(request)
    orders = await request.app[OPERATORS].today(operator, start, end)
    pickups = [order for order in orders if order["leg"] == "pickup"]
    # The dossiers the postmen hold, to hand to the agencies under one batch record.
    held = [order["id"] for order in pickups if order["status"] in _HELD]
    return page(
        "today.html",
        user=user,
        nav="today",
        day=start.date(),
        has_offices=bool(operator.office_ids),
        pickups=pickups,
        batch_url=f"{PREFIX}/handover-batch?{urlencode({'order': held}, doseq=True)}"
        if held
        else None,
        deliveries=[order for order in orders if order["leg"] == "delivery"],
    )


# -- one order ---------------------------------------------------------------------------


#: Vietnamese words for the citizen messages listed on an order's page.
NOTICE_LABELS: dict[str, dict[str, str]] = {
    "kinds": {
        "postal_picked_up": "Đã nhận bưu gửi",
        "postal_out_for_delivery": "Đang phát",
        "postal_delivered": "Đã phát",
        "postal_delivery_failed": "Phát không thành công",
    },
    "channels": {"zns": "Zalo", "sms": "SMS"},
    "statuses": {
        "queued": "Đang chờ gửi",
        "sent": "Đã gửi",
        "delivered": "Đã đến máy",
        "failed": "Không gửi được",
    },
    "reasons": {
        "opted_out": "người dân đã từ chối nhận tin",
        "invalid_phone": "số điện thoại không hợp lệ",
        "no_zalo_account": "số chưa có Zalo, gửi SMS",
        "template_rejected": "mẫu tin bị từ chối",
        "gave_up": "đã thử lại nhiều lần",
    },
}


def _order_id(request: web.Request) -> str:
    return request.match_info["order_id"]


async def _detail(
    request: web.Request,
    user: StaffUser,
    operator: Operator,
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
    event_form: dict[str, str] | None = None,
    handover_form: dict[str, str] | None = None,
) -> web.Response:
    order = await request.app[OPERATORS].get(operator, _order_id(request))
    now = forms.local_input(request.app[CLOCK]())
    # The order is in the operator's scope (get raised otherwise): its messages are too.
    notices = await request.app[NOTIFICATION_VIEWS].of_postal_order(order["id"])
    return page(
        "order.html",
        status=status,
        user=user,
        nav="order",
        notice=notice,
        error=error,
        order=order,
        notifications=notices,
        notice_labels=NOTICE_LABELS,
        event_statuses=forms.EVENT_STATUSES,
        document_rows=forms.DOCUMENT_ROWS,
        event_form=event_form or _fresh_event(order, now),
        handover_form=handover_form or _fresh_handover(order, now),
    )


def _fresh_event(order: dict[str, Any], now: str) -> dict[str, str]:
    return {"event_id": forms.form_id(), "status": "", "occurred_at": now}


def _fresh_handover(order: dict[str, Any], now: str) -> dict[str, str]:
    """A handover form guessed from the order: the next step of its leg."""
    done = {handover["kind"] for handover in order["handovers"]}
    kind = "delivered" if "collected" in done else "collected"
    agency_side = (order["leg"] == "pickup") == (kind == "delivered")
    counterpart = order["recipient"] if kind == "delivered" else order["sender"]
    return {
        "handover_id": forms.form_id(),
        "kind": kind,
        "at": now,
        "counterpart_name": "" if agency_side else counterpart["name"],
        "counterpart_role": "agency_officer" if agency_side else "citizen",
        "cod_collected": str(order["cod_amount"] or "") if kind == "delivered" else "",
    }


@view
async def order_detail(
    request: web.Request, user: StaffUser, operator: Operator
) -> web.StreamResponse:
    return await _detail(
        request, user, operator, notice=labels.NOTICES.get(request.rel_url.query.get("msg", ""))
    )


def _to_order(order_id: str, msg: str) -> web.Response:
    return see_other(f"{PREFIX}/orders/{order_id}?{urlencode({'msg': msg})}")


async def _accept(
    request: web.Request, user: StaffUser, operator: Operator, form: Form
) -> web.StreamResponse:
    try:
        await request.app[OPERATORS].accept(operator, _order_id(request))
    except NotFound:
        raise
    except GatewayError as exc:
        message = labels.error_message(exc)
        return await _detail(request, user, operator, error=message, status=exc.http_status)
    return _to_order(_order_id(request), "accepted")


async def _event(
    request: web.Request, user: StaffUser, operator: Operator, form: Form
) -> web.StreamResponse:
    try:
        report = forms.event(form)
        result = await request.app[OPERATORS].report_event(operator, _order_id(request), report)
    except NotFound:
        raise
    except GatewayError as exc:
        message = labels.error_message(exc)
        return await _detail(
            request, user, operator, error=message, status=exc.http_status, event_form=form.fields
        )
    return _to_order(_order_id(request), "event" if result.body["applied"] else "event_stored")


async def _handover(
    request: web.Request, user: StaffUser, operator: Operator, form: Form
) -> web.StreamResponse:
    try:
        report = forms.handover(form)
        await request.app[OPERATORS].record_handover(operator, _order_id(request), report)
    except NotFound:
        raise
    except GatewayError as exc:
        values = {k: v for k, v in form.fields.items() if k != "id_number"}  # not shown again
        message = labels.error_message(exc)
        return await _detail(
            request, user, operator, error=message, status=exc.http_status, handover_form=values
        )
    return _to_order(_order_id(request), "handover")


accept_order = action(_accept)
report_event = action(_event)
record_handover = action(_handover)


# -- printable ---------------------------------------------------------------------------

_TITLES = {
    "pickup": "BIÊN BẢN BÀN GIAO HỒ SƠ",
    "delivery": "BIÊN BẢN BÀN GIAO KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH",
}


@view
async def handover_record(
    request: web.Request, user: StaffUser, operator: Operator
) -> web.StreamResponse:
    """The handover record to print and sign: the one asked for (``?handover=``), else the
    latest, else a blank one to fill in by hand."""
    order = await request.app[OPERATORS].get(operator, _order_id(request))
    wanted = request.rel_url.query.get("handover")
    handovers = order["handovers"]
    if wanted:
        chosen = next((h for h in handovers if h["id"] == wanted), None)
        if chosen is None:
            raise NotFound("no such handover")
    else:
        chosen = handovers[-1] if handovers else None
    giver_is_postal = chosen is not None and chosen["kind"] == "delivered"
    # The counterpart is the agency when a pickup reaches it or a result leaves it.
    counterpart_is_agency = (order["leg"] == "pickup") == giver_is_postal
    citizen = order["sender"] if order["leg"] == "pickup" else order["recipient"]
    address = citizen["address"]
    return page(
        "handover_record.html",
        user=user,
        order=order,
        handover=chosen,
        title=_TITLES.get(order["leg"], "BIÊN BẢN BÀN GIAO"),
        giver_is_postal=giver_is_postal,
        counterpart_is_agency=counterpart_is_agency,
        counterpart_address=", ".join(
            part
            for part in (address["street"], address["ward_name"], address["province_name"])
            if part
        ),
    )


@view
async def label(request: web.Request, user: StaffUser, operator: Operator) -> web.StreamResponse:
    order = await request.app[OPERATORS].get(operator, _order_id(request))
    return page("label.html", user=user, order=order)


@view
async def handover_batch(
    request: web.Request, user: StaffUser, operator: Operator
) -> web.StreamResponse:
    wanted = list(dict.fromkeys(request.rel_url.query.getall("order", [])))
    notice = labels.NOTICES.get(request.rel_url.query.get("msg", ""))
    return await _batch(request, user, operator, wanted, notice=notice)


async def _sign_batch(
    request: web.Request, user: StaffUser, operator: Operator, form: Form
) -> web.StreamResponse:
    wanted = [order_id for order_id in form.get("orders").split(",") if order_id]
    complete = {order_id for order_id in wanted if form.get(f"complete_{order_id}")}
    try:
        signed_at = forms.moment(form.get("signed_at"), "signed_at")
        await request.app[OPERATORS].sign_batch(
            operator, wanted, complete, form.get("receiver_name").strip(), signed_at
        )
    except NotFound:
        raise
    except GatewayError as exc:
        return await _batch(
            request, user, operator, wanted, error=labels.error_message(exc), status=exc.http_status
        )
    query = urlencode({"order": wanted, "msg": "batch_signed"}, doseq=True)
    return see_other(f"{PREFIX}/handover-batch?{query}")


sign_batch = action(_sign_batch)


async def _batch(
    request: web.Request,
    user: StaffUser,
    operator: Operator,
    wanted: list[str],
    *,
    notice: str | None = None,
    error: str | None = None,
    status: int = 200,
) -> web.Response:
    """The batch record (biên bản giao nhận hồ sơ, Decision 45/2016 Điều 7) of the selected
    dossiers (``?order=`` repeated): one sheet per post office and agency, each dossier with
    its slip number, barcode and a completeness box, to print and sign at the agency; the
    form under it records the signing (:meth:`OperatorService.sign_batch`)."""
    if not wanted:
        raise NotFound("no dossier selected")
    service = request.app[OPERATORS]
    orders = [await service.get(operator, order_id) for order_id in wanted]
    orders.sort(key=lambda order: (order["created_at"], order["tracking_number"] or ""))
    rounds: dict[tuple[str, str], dict[str, Any]] = {}
    for order in orders:
        office = order["post_office"]
        key = (office["code"] or "", order["agency_name"])
        rounds.setdefault(
            key, {"office": office, "agency_name": order["agency_name"], "orders": []}
        )["orders"].append(order)
    for order in orders:
        order["batch_handover"] = next(
            (
                h
                for h in order["handovers"]
                if h["handover_id"] == f"{BATCH_HANDOVER_PREFIX}{order['id']}"
            ),
            None,
        )
    return page(
        "handover_batch.html",
        status=status,
        user=user,
        rounds=list(rounds.values()),
        day=_today(request)[0].date(),
        orders_field=",".join(order["id"] for order in orders),
        now=forms.local_input(request.app[CLOCK]()),
        notice=notice,
        error=error,
    )


def setup_operator_pages(app: web.Application) -> None:
    """Add the operator console routes."""
    add = app.router
    add.add_get(PREFIX, today)
    add.add_post(f"{PREFIX}/logout", logout)
    add.add_get(f"{PREFIX}/orders/{{order_id}}", order_detail)
    add.add_post(f"{PREFIX}/orders/{{order_id}}/accept", accept_order)
    add.add_post(f"{PREFIX}/orders/{{order_id}}/events", report_event)
    add.add_post(f"{PREFIX}/orders/{{order_id}}/handovers", record_handover)
    add.add_get(f"{PREFIX}/orders/{{order_id}}/handover-record", handover_record)
    add.add_get(f"{PREFIX}/orders/{{order_id}}/label", label)
    add.add_get(f"{PREFIX}/handover-batch", handover_batch)
    add.add_post(f"{PREFIX}/handover-batch", sign_batch)
