"""Same-day receipt summaries to the tax authority (01/TH-BLĐT), for finance staff: parse →
service → render. Agency scope: a finance key sees its agencies' summaries (a
deployment-wide key, every agency's)."""

from __future__ import annotations

from aiohttp import web

from gateway.api.spec import Reply, Route
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.responses import parse_query, respond
from gateway.keys import RECEIPT_SUMMARIES
from gateway.models.receipt_summaries import ReceiptSummaryPage, ReceiptSummaryQuery

FINANCE = (Role.FINANCE, Role.FINANCE_APPROVER)


async def list_summaries(request: web.Request) -> web.Response:
    who = await principal(request, *FINANCE)
    query = parse_query(ReceiptSummaryQuery, request)
    page = await request.app[RECEIPT_SUMMARIES].list_page(
        who.agency_ids,
        all_agencies=who.all_agencies,
        business_date=query.business_date,
        agency_code=query.agency_code,
        status=query.status.value if query.status else None,
        limit=query.limit,
        cursor=query.cursor,
    )
    return respond(ReceiptSummaryPage.model_validate(page))


#: Registered before ``/v1/receipts/{receipt_id}``, which would otherwise take the path.
ROUTES = (
    Route(
        "GET",
        "/v1/receipts/summaries",
        list_summaries,
        "Same-day summaries of receipts sent to the tax authority (01/TH-BLĐT), newest first",
        FINANCE,
        {200: Reply("A page of summaries", ReceiptSummaryPage)},
        {400: "`invalid_cursor`", 422: "`validation_failed`"},
        query=ReceiptSummaryQuery,
    ),
)
