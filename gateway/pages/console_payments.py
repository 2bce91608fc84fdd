"""Payments in the finance console: search (dossier, reference, status, business dates, agency)
with paging, and one payment with its attempts, refunds, receipts and webhook deliveries.

The search is the API's list (:meth:`PaymentService.list_page`) with the signed-in user as
the caller, so the agency scope and the cursor are the API's; a business date range becomes
the ``created_from``/``created_to`` instants of Asia/Ho_Chi_Minh midnights.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from gateway.core.statuses import PaymentStatus
from gateway.keys import ATTEMPTS, EVENTS, PAYMENTS, RECEIPTS, REFUNDS
from gateway.models.requests import PaymentQuery
from gateway.pages import console_labels as labels
from gateway.pages.console_auth import PREFIX, page, page_links, view
from gateway.services.clients import Principal
from gateway.services.staff import StaffUser
from reconciliation.ledger import day_bounds
from reconciliation.model import business_day

PAGE_SIZE = 20
#: The filters the search form sends back, in order.
FILTERS = ("dossier_code", "reference", "status", "date_from", "date_to", "agency_code")


def as_principal(user: StaffUser) -> Principal:
    """The console user as a caller of the payment services: the same agency scope (a
    deployment-wide user's ``agency_ids`` already hold every agency)."""
    return Principal(
        client_id=user.id,
        role=user.role,
        agency_ids=user.agency_ids,
        all_agencies=user.all_agencies,
    )


def _search_query(
    filters: dict[str, str], cursor: str | None
) -> tuple[PaymentQuery | None, list[str]]:
    """The API query for the form's ``filters``, or the Vietnamese reasons it cannot be run."""
    problems = []
    first = business_day(filters["date_from"]) if filters["date_from"] else None
    last = business_day(filters["date_to"]) if filters["date_to"] else None
    if filters["date_from"] and first is None:
        problems.append("Ngày bắt đầu không hợp lệ (định dạng YYYY-MM-DD).")
    if filters["date_to"] and last is None:
        problems.append("Ngày kết thúc không hợp lệ (định dạng YYYY-MM-DD).")
    if first and last and first > last:
        problems.append("Ngày bắt đầu phải trước hoặc bằng ngày kết thúc.")
    if filters["status"] and filters["status"] not in set(PaymentStatus):
        problems.append("Trạng thái không hợp lệ.")
    if problems:
        return None, problems
    values: dict[str, Any] = {
        key: filters[key] or None for key in ("dossier_code", "reference", "status", "agency_code")
    }
    values["created_from"] = day_bounds(first)[0] if first else None
    values["created_to"] = day_bounds(last)[1] if last else None
    try:
        query = PaymentQuery.model_validate(
            {**values, "limit": PAGE_SIZE, "cursor": cursor}, strict=False
        )
    except ValidationError as exc:
        names = {
            "dossier_code": "Mã hồ sơ",
            "reference": "Mã thanh toán",
            "agency_code": "Mã đơn vị",
        }
        fields = sorted({str(error["loc"][0]) for error in exc.errors() if error["loc"]})
        return None, [f"{names.get(f, f)} không hợp lệ." for f in fields]
    return query, []


@view
async def payment_list(request: web.Request, user: StaffUser) -> web.StreamResponse:
    query_string = request.rel_url.query
    filters = {key: query_string.get(key, "").strip()[:64] for key in FILTERS}
    cursor = query_string.get("cursor") or None
    query, problems = _search_query(filters, cursor)
    result: dict[str, Any] = {"data": [], "next_cursor": None}
    if query is not None:
        result = await request.app[PAYMENTS].list_page(as_principal(user), query)
    shown = {key: value for key, value in filters.items() if value}
    return page(
        "console_payments.html",
        status=422 if problems else 200,
        user=user,
        nav="payments",
        error=" ".join(problems) or None,
        payments=result["data"],
        **page_links(f"{PREFIX}/payments", shown, result["next_cursor"], cursor),
        filters=filters,
        statuses=[(status.value, labels.LEDGER_STATUSES[status.value]) for status in PaymentStatus],
        labels=labels,
    )


@view
async def payment_detail(request: web.Request, user: StaffUser) -> web.StreamResponse:
    caller = as_principal(user)
    payment_id = request.match_info["payment_id"]
    payment = await request.app[PAYMENTS].get(caller, payment_id)  # 404 outside the scope
    return page(
        "console_payment.html",
        user=user,
        nav="payments",
        payment=payment,
        attempts=await request.app[ATTEMPTS].list(caller, payment_id),
        refunds=await request.app[REFUNDS].of_payment(caller, payment_id),
        receipts=await request.app[RECEIPTS].of_payment(caller, payment_id),
        events=await request.app[EVENTS].of_payment(payment_id),
        labels=labels,
    )
