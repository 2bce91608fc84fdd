"""Messages to the tax authority about receipts, for finance staff: the same-day summaries
(01/TH-BLĐT) and the notices of receipt errors (04/SS-CTĐT). Parse → service → render. Agency
scope: a finance key sees its agencies' (a deployment-wide key, every agency's); another
agency's notice is ``not_found``."""

from __future__ import annotations

from aiohttp import web

from gateway.api.reconciliation import finance_actor
from gateway.api.spec import Reply, Route
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.responses import parse_query, read_json, respond
from gateway.keys import RECEIPT_SUMMARIES, RECEIPT_TAX_NOTICES
from gateway.models.receipt_summaries import ReceiptSummaryPage, ReceiptSummaryQuery
from gateway.models.receipts import DismissTaxNotice, TaxNotice, TaxNoticePage, TaxNoticeQuery
from reconciliation.scope import Scope

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


async def list_tax_notices(request: web.Request) -> web.Response:
    who = await principal(request, *FINANCE)
    query = parse_query(TaxNoticeQuery, request)
    page = await request.app[RECEIPT_TAX_NOTICES].list_page(
        Scope(who.agency_ids, who.all_agencies),
        agency_code=query.agency_code,
        status=query.status.value if query.status else None,
        day=query.day,
        limit=query.limit,
        cursor=query.cursor,
    )
    return respond(TaxNoticePage.model_validate(page))


async def dismiss_tax_notice(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    data = await read_json(request)
    reason = data.get("reason", "") if isinstance(data, dict) else ""
    found = await request.app[RECEIPT_TAX_NOTICES].dismiss(
        actor, request.match_info["notice_id"], reason if isinstance(reason, str) else ""
    )
    return respond(TaxNotice.model_validate(found))


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
    Route(
        "GET",
        "/v1/receipts/tax-notices",
        list_tax_notices,
        "Notices of receipt errors sent to the tax authority on their own (04/SS-CTĐT), in "
        "every status, newest first",
        FINANCE,
        {200: Reply("A page of notices", TaxNoticePage)},
        {400: "`invalid_cursor`", 422: "`validation_failed`"},
        query=TaxNoticeQuery,
    ),
    Route(
        "POST",
        "/v1/receipts/tax-notices/{notice_id}/dismiss",
        dismiss_tax_notice,
        "Dismiss a rejected or failed notice, with a reason: it stays listed (`dismissed`, "
        "with who, when and why) and is no longer warned of on the dashboard or at day close",
        FINANCE,
        {200: Reply("The dismissed notice", TaxNotice)},
        {
            403: "`forbidden`",
            404: "`not_found` (also for other agencies' notices)",
            409: "`receipt_tax_notice_not_dismissible`: the notice is not rejected or failed "
            "(`current`)",
            422: "`validation_failed`: `reason` → `required` | `too_long`",
        },
        body=DismissTaxNotice,
        description="A corrected notice is a new `notify` correction of the receipt "
        "(maker-checker), sent as a new message; dismiss the old one naming it. docs/receipts.md, "
        '"Dealing with a rejected or failed notice".',
    ),
)
