"""E-receipt endpoints (biên lai điện tử): parse → service → render. Agency scope as for
payments: a receipt of another agency is ``not_found``."""

from __future__ import annotations

from aiohttp import web

from gateway.api.payments import PORTAL_ROLES
from gateway.api.reconciliation import APPROVERS, FINANCE, actor_of, finance_actor
from gateway.api.spec import IDEMPOTENCY_KEY, Reply, Route
from gateway.core.errors import FieldError, NotFound, ValidationFailed
from gateway.core.roles import Role
from gateway.http.auth import principal
from gateway.http.idempotent import create_once, replay_headers
from gateway.http.responses import parse_query, read_json, respond
from gateway.keys import RECEIPT_CORRECTIONS, RECEIPTS
from gateway.models.receipts import (
    CertificateQuery,
    CorrectionList,
    DelegationQuery,
    ProposeCorrection,
    Receipt,
    ReceiptCorrection,
    ReceiptDelegationList,
    ReceiptList,
    ReceiptPage,
    ReceiptQuery,
    RejectCorrection,
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


async def list_delegations(request: web.Request) -> web.Response:
    who = await principal(request, *FINANCE)
    query = parse_query(DelegationQuery, request)
    found = await request.app[RECEIPTS].delegations(query.agency_code, who)
    return respond(ReceiptDelegationList.model_validate({"data": found}))


_RECEIPT = {200: Reply("The receipt", Receipt)}
_NOT_FOUND = {404: "`not_found` (also for other agencies' receipts)"}

#: Registered before ``/v1/receipts/{receipt_id}``, which would otherwise take the path.
DELEGATION_ROUTES = (
    Route(
        "GET",
        "/v1/receipts/delegations",
        list_delegations,
        "Delegation agreements under which the gateway operator issues the caller's agencies' "
        "receipts as their delegate (NĐ 254/2026 Điều 4.6)",
        FINANCE,
        {200: Reply("The agreements", ReceiptDelegationList)},
        {422: "`validation_failed`"},
        query=DelegationQuery,
    ),
)

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


# -- corrections (TT 91/2026 Điều 20), maker-checker -----------------------------------------


async def receipt_corrections(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    found = await request.app[RECEIPT_CORRECTIONS].of_receipt(
        actor, request.match_info["receipt_id"]
    )
    return respond(CorrectionList.model_validate({"data": found}))


async def propose_correction(request: web.Request) -> web.Response:
    who = await principal(request, *FINANCE)
    actor = actor_of(who)
    data = await read_json(request)
    body = data if isinstance(data, dict) else {}
    service = request.app[RECEIPT_CORRECTIONS]
    stored = await create_once(
        request,
        who,
        data,
        lambda conn: service.propose_in(
            conn,
            actor,
            request.match_info["receipt_id"],
            body.get("reason", ""),
            body.get("fields"),
        ),
    )
    return respond(
        ReceiptCorrection.model_validate(stored.body),
        status=stored.status,
        headers=replay_headers(stored),
    )


async def get_correction(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *FINANCE)
    found = await request.app[RECEIPT_CORRECTIONS].get(actor, request.match_info["correction_id"])
    return respond(ReceiptCorrection.model_validate(found))


async def approve_correction(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *APPROVERS)
    found = await request.app[RECEIPT_CORRECTIONS].approve(
        actor, request.match_info["correction_id"]
    )
    return respond(ReceiptCorrection.model_validate(found))


async def reject_correction(request: web.Request) -> web.Response:
    actor = await finance_actor(request, *APPROVERS)
    data = await read_json(request)
    reason = data.get("reason", "") if isinstance(data, dict) else ""
    found = await request.app[RECEIPT_CORRECTIONS].reject(
        actor, request.match_info["correction_id"], reason if isinstance(reason, str) else ""
    )
    return respond(ReceiptCorrection.model_validate(found))


CORRECTION = "/v1/receipt-corrections/{correction_id}"
_CORRECTION = {200: Reply("The correction", ReceiptCorrection)}
_CORRECTION_NOT_FOUND = {404: "`not_found` (also for other agencies' corrections)"}

CORRECTION_ROUTES = (
    Route(
        "GET",
        f"/v1/receipts/{RECEIPT_ID}/corrections",
        receipt_corrections,
        "A receipt's corrections (notices and replacements), oldest first",
        FINANCE,
        {200: Reply("The receipt's corrections", CorrectionList)},
        _NOT_FOUND,
    ),
    Route(
        "POST",
        f"/v1/receipts/{RECEIPT_ID}/corrections",
        propose_correction,
        "Propose a correction of a receipt (maker); it awaits another person's approval",
        FINANCE,
        {201: Reply("Proposed (or the stored response of a retried key)", ReceiptCorrection)},
        {
            403: "`forbidden`",
            **_NOT_FOUND,
            409: "`receipt_replaced`: the receipt was replaced (correct its replacement); "
            "`invalid_transition`: the receipt is pending; `idempotency_key_reused`",
            422: "`validation_failed`: `reason` → `required`, `fields` → `required`, "
            "`fields.<name>` → `unknown_field`, `fields.amount_in_words` → "
            "`does_not_read_the_amount`, `fields.items.<n>.*` → `invalid`",
        },
        body=ProposeCorrection,
        params=(IDEMPOTENCY_KEY,),
        description="Only `payer_name`, `payer_address`, `amount_in_words` corrected: a "
        "`notify` correction (form 04/SS-CTĐT, no new receipt). With `items`: a `replace` "
        "correction (a replacement receipt). TT 91/2026 Điều 20.",
    ),
    Route(
        "GET",
        CORRECTION,
        get_correction,
        "Get a receipt correction",
        FINANCE,
        _CORRECTION,
        _CORRECTION_NOT_FOUND,
    ),
    Route(
        "POST",
        f"{CORRECTION}/approve",
        approve_correction,
        "Approve a correction (checker: not the person who proposed it): the notice is "
        "recorded (`receipt.error_notified`) or the replacement issued (`receipt.replaced`)",
        APPROVERS,
        _CORRECTION,
        {
            403: "`forbidden`: approving needs `finance_approver`",
            **_CORRECTION_NOT_FOUND,
            409: "`self_approval`: the approver is the person who proposed it (whichever key or "
            "console user each used); `invalid_transition`: already approved or rejected; "
            "`receipt_replaced`: the receipt was replaced meanwhile; `receipt_not_issuable`: "
            "the replacement cannot be numbered or signed now (`reason`)",
        },
    ),
    Route(
        "POST",
        f"{CORRECTION}/reject",
        reject_correction,
        "Turn a proposed correction down (checker), with a reason; the receipt is unchanged",
        APPROVERS,
        _CORRECTION,
        {
            403: "`forbidden`: rejecting needs `finance_approver`",
            **_CORRECTION_NOT_FOUND,
            409: "`invalid_transition`: already approved or rejected",
            422: "`validation_failed`: `reason` → `required`",
        },
        body=RejectCorrection,
    ),
)
