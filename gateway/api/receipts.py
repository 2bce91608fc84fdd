"""E-receipt endpoints (biên lai điện tử): parse → service → render. Agency scope as for
payments: a receipt of another agency is ``not_found``."""

from __future__ import annotations

from aiohttp import web

from gateway.api.payments import PORTAL_ROLES
from gateway.api.spec import Reply, Route
from gateway.core.errors import FieldError, NotFound, ValidationFailed
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.responses import parse_query, respond
from gateway.keys import RECEIPTS
from gateway.models.receipts import (
    CertificateQuery,
    Receipt,
    ReceiptList,
    ReceiptPage,
    ReceiptQuery,
)

#: Who reads receipts: the portal and counter (their payments'), finance staff (their agencies').
READERS = (*PORTAL_ROLES, Role.FINANCE, Role.FINANCE_APPROVER)
#: A receipt id in a path. The routes below are registered in this order, so
#: ``signing-certificate`` and ``<id>.xml`` are matched before ``{receipt_id}`` could take them.
RECEIPT_ID = "{receipt_id}"


async def payment_receipts(request: web.Request) -> web.Response:
    who = await principal(request, *READERS)
    found = await request.app[RECEIPTS].of_payment(who, request.match_info["payment_id"])
    return respond(ReceiptList.model_validate({"data": found}))


async def get_receipt(request: web.Request) -> web.Response:
    who = await principal(request, *READERS)
    return respond(
        Receipt.model_validate(
            await request.app[RECEIPTS].get(who, request.match_info["receipt_id"])
        )
    )


async def receipt_xml(request: web.Request) -> web.Response:
    who = await principal(request, *READERS)
    receipt_id = request.match_info["receipt_id"]
    body = await request.app[RECEIPTS].xml(who, receipt_id)
    return web.Response(
        body=body,
        content_type="application/xml",
        charset="utf-8",
        headers={"Content-Disposition": f'attachment; filename="{receipt_id}.xml"'},
    )


async def list_receipts(request: web.Request) -> web.Response:
    who = await principal(request, *READERS)
    query = parse_query(ReceiptQuery, request)
    page = await request.app[RECEIPTS].list_page(
        who,
        agency_code=query.agency_code,
        issued_from=query.issued_from,
        issued_to=query.issued_to,
        symbol=query.symbol,
        status=query.status.value if query.status else None,
        limit=query.limit,
        cursor=query.cursor,
    )
    return respond(ReceiptPage.model_validate(page))


async def signing_certificate(request: web.Request) -> web.Response:
    who = await principal(request, *READERS)
    query = parse_query(CertificateQuery, request)
    service = request.app[RECEIPTS]
    codes = await service.issuing_agencies(who)
    if query.agency_code is not None:
        if query.agency_code not in codes:
            raise NotFound("no agency of yours issues receipts under this code")
        code = query.agency_code
    elif len(codes) == 1:
        code = codes[0]
    elif not codes:
        raise NotFound("none of your agencies issues receipts through the gateway")
    else:
        raise ValidationFailed(
            [FieldError("agency_code", "required", f"one of {', '.join(codes)}")]
        )
    pem = service.certificate(code)
    if pem is None:
        raise NotFound("this agency's receipts are not signed by the gateway")
    return web.Response(body=pem, content_type="application/x-pem-file")


_RECEIPT = {200: Reply("The receipt", Receipt)}
_NOT_FOUND = {404: "`not_found` (also for other agencies' receipts)"}

ROUTES = (
    Route(
        "GET",
        "/v1/payments/{payment_id}/receipts",
        payment_receipts,
        "A payment's e-receipts (one, or one for phí and one for lệ phí)",
        READERS,
        {200: Reply("The payment's receipts, oldest first", ReceiptList)},
        {404: "`not_found` (also for other agencies' payments)"},
    ),
    Route(
        "GET",
        "/v1/receipts/signing-certificate",
        signing_certificate,
        "The certificate (PEM) the agency's receipts are signed with",
        READERS,
        {200: Reply("PEM certificate", media=("application/x-pem-file",))},
        {404: "`not_found`", 422: "`validation_failed`: `agency_code` is required"},
        query=CertificateQuery,
    ),
    Route(
        "GET",
        "/v1/receipts",
        list_receipts,
        "List receipts of the caller's agencies, newest first",
        READERS,
        {200: Reply("A page of receipts", ReceiptPage)},
        {400: "`invalid_cursor`", 422: "`validation_failed`"},
        query=ReceiptQuery,
    ),
    Route(
        "GET",
        f"/v1/receipts/{RECEIPT_ID}.xml",
        receipt_xml,
        "The signed XML of a receipt (XML-DSig)",
        READERS,
        {200: Reply("The signed receipt (UTF-8 XML)", media=("application/xml",))},
        {404: "`not_found` (also while the receipt is pending)"},
    ),
    Route(
        "GET",
        f"/v1/receipts/{RECEIPT_ID}",
        get_receipt,
        "Get a receipt",
        READERS,
        _RECEIPT,
        _NOT_FOUND,
    ),
)
