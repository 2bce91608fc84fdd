"""``/openapi.json``, generated: every documented route is a :class:`~gateway.api.spec.Route`
(declared at the end of its handler module), every body a pydantic model, and the top-level
``webhooks`` come from :mod:`webhooks.models`. :data:`ROUTES` is also what
:mod:`gateway.routes` registers, so a documented route is a served one and the reverse.

The callbacks and the checkout pages are declared here rather than beside their handlers:
those modules (:mod:`gateway.api.callbacks`, :mod:`gateway.pages.checkout`) read raw bytes or
render HTML and are kept free of the API's documentation.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from aiohttp import web

from gateway.api import (
    attempts,
    callbacks,
    dvcqg,
    health,
    notifications,
    payments,
    postal,
    postal_operators,
    receipt_summaries,
    receipts,
    reconciliation,
    webhooks,
)
from gateway.api.spec import Header, Param, Reply, Route, paths_and_schemas
from gateway.core.outbox import EVENT_TYPES
from gateway.http.responses import json_response
from gateway.models.callbacks import (
    BankCreditNotice,
    DvcqgConfirm,
    DvcqgReply,
    IpnAnswer,
    MomoIpn,
    NoticeAck,
    PosAck,
    PosSaleResult,
    ZalopayCallback,
    ZalopayReply,
)
from gateway.models.payments import CheckoutStatus
from gateway.pages import checkout
from gateway.pages import receipts as receipt_pages
from webhooks.models import EVENT_MODELS, Event

INFO = {
    "title": "Cổng thanh toán & bưu chính công ích",
    "version": "0.1.0",
    "description": "Fee payments (VietQR, VNPAY, card terminals) for online public services, "
    "and the postal pickup of dossiers and delivery of results (VNPost). Amounts are integer "
    "VND. Errors are application/problem+json with a stable code. Events reach the portal as "
    "signed webhooks (see `webhooks`).",
}


async def openapi_json(_request: web.Request) -> web.Response:
    return json_response(document())


# -- provider callbacks -------------------------------------------------------------------

_SIGNED = "`signature_missing`, `signature_invalid`, `timestamp_invalid`, `timestamp_stale`"
_SIGNED_QUERY = "All `vnp_*` parameters are covered by `vnp_SecureHash`."
_VNPAY_PARAMS = tuple(
    Param(name, "query", description=text, required=required)
    for name, text, required in (
        ("vnp_TmnCode", "the VNPAY terminal", True),
        ("vnp_TxnRef", "the attempt's `provider_reference`", True),
        ("vnp_Amount", "VND × 100", True),
        ("vnp_ResponseCode", "two digits", True),
        ("vnp_TransactionStatus", "two digits; paid only when both codes are `00`", True),
        ("vnp_SecureHash", "HMAC-SHA512 of the sorted parameters", True),
        ("vnp_TransactionNo", "VNPAY's transaction number", False),
        ("vnp_BankCode", "", False),
        ("vnp_PayDate", "yyyyMMddHHmmss, GMT+7", False),
    )
)
_SEE_OTHER = {"Location": Header()}
_HTML = ("text/html",)

CALLBACK_ROUTES = (
    Route(
        "POST",
        "/callbacks/bank/{bank}",
        callbacks.bank_credit_notice,
        "Signed credit notice from a collection bank",
        None,
        {200: Reply("Stored (and applied if it fits)", NoticeAck)},
        {
            400: "`malformed_notice`",
            401: _SIGNED,
            404: "`not_found`: no such bank configured",
        },
        body=BankCreditNotice,
        json_body=False,
        params=(Param("X-Bank-Timestamp", "header"), Param("X-Bank-Signature", "header")),
        description="HMAC-SHA256 over '<X-Bank-Timestamp>.<raw body>' in X-Bank-Signature as "
        "'v1=<hex>'. De-duplicated by transaction_id.",
    ),
    Route(
        "GET",
        "/callbacks/vnpay/ipn",
        callbacks.vnpay_ipn,
        "VNPAY's IPN (server to server): records the attempt's outcome",
        None,
        {200: Reply("Always HTTP 200; the outcome is in `RspCode`", IpnAnswer)},
        params=_VNPAY_PARAMS,
        description=f"{_SIGNED_QUERY} De-duplicated by the exact query string.",
    ),
    Route(
        "GET",
        "/callbacks/vnpay/return",
        callbacks.vnpay_return,
        "Where VNPAY sends the citizen back (display only, never a state change)",
        None,
        {
            303: Reply("To the checkout page `/pay/{payment_id}`", media=(), headers=_SEE_OTHER),
            400: Reply("The parameters are not signed by VNPAY or name no attempt", media=_HTML),
        },
        params=_VNPAY_PARAMS,
        description=_SIGNED_QUERY,
    ),
    Route(
        "POST",
        "/callbacks/pos",
        callbacks.pos_result,
        "Signed sale result from the POS cloud",
        None,
        {200: Reply("Recorded (or received before)", PosAck)},
        {
            400: "`malformed`: signed, but not the documented shape",
            401: _SIGNED,
            404: "`not_found`: no such sale (or no POS cloud configured)",
            409: "`terminal_not_busy` (the sale is no longer running), `amount_mismatch`; the "
            "result is kept for review",
        },
        body=PosSaleResult,
        json_body=False,
        params=(
            Param("X-Pos-Timestamp", "header", description="Unix seconds"),
            Param("X-Pos-Signature", "header", description="v1=<hex>"),
        ),
        description="HMAC-SHA256 with the merchant secret over '<X-Pos-Timestamp>.<raw body>' "
        "as 'v1=<hex>'. De-duplicated by sale and status.",
    ),
    Route(
        "POST",
        "/callbacks/dvcqg",
        callbacks.dvcqg_confirm,
        "The DVCQG payment platform's Confirm callback: a hint, settled only by QUERY",
        None,
        {
            200: Reply(
                "Always HTTP 200 with the documented echo (spec §4.2): MaLoi 00 when processed, "
                "99 for any refusal or failure (echoing what could be read)",
                DvcqgReply,
                headers={
                    "X-Gateway-Outcome": Header(
                        "MaLoi 00: `recorded`, `duplicate`, `already_final`", required=False
                    ),
                    "X-Gateway-Error": Header(
                        "MaLoi 99: `signature_invalid` (MaXacThuc wrong or an unknown "
                        "MaDoiTac; stored, up to dvcqg.max_forged_per_day a day), `malformed`, "
                        "`unknown_reference` (stored), `amount_mismatch` (stored), "
                        "`payload_too_large`, `not_configured`, `internal_error`",
                        required=False,
                    ),
                },
            ),
        },
        body=DvcqgConfirm,
        json_body=False,
        description="MaXacThuc = hex(SHA-256(LoaiBanTin|MaLoi|MaDoiTac|MaThamChieu|SoTien|"
        "MaTienTe|MaGiaoDich|MaNganHang|ThoiGianGD|ThongTinGiaoDich|secret)), compared "
        "case-insensitively. De-duplicated by the exact body. The gateway then asks QUERY; "
        "only TrangThaiGD = 1 with the attempt's amount pays the bill.",
    ),
    Route(
        "GET",
        "/callbacks/dvcqg/return",
        callbacks.dvcqg_return,
        "Where the platform's page sends the citizen back (display only, never a state change)",
        None,
        {
            303: Reply("To the checkout page `/pay/{payment_id}`", media=(), headers=_SEE_OTHER),
            400: Reply("No attempt has this MaThamChieu", media=_HTML),
        },
        params=(Param("MaThamChieu", "query", description="the attempt's provider_reference"),),
    ),
    # -- wallets (issue 12): MoMo and ZaloPay --
    Route(
        "POST",
        "/callbacks/momo/ipn",
        callbacks.momo_ipn,
        "MoMo's IPN (server to server): records the attempt's outcome",
        None,
        {204: Reply("Recorded (or received before, or about an attempt already final)", media=())},
        {
            400: "`malformed`",
            401: "`signature_invalid` (missing, wrong or not lower-case hex), `unknown_partner`",
            404: "`not_found`: no attempt has this `orderId` (kept)",
            409: "`partner_mismatch`, `amount_mismatch` (the money is kept for review)",
        },
        body=MomoIpn,
        json_body=False,
        description="De-duplicated by partner, order, result code and MoMo's transId.",
    ),
    Route(
        "POST",
        "/callbacks/zalopay",
        callbacks.zalopay_callback,
        "ZaloPay's callback (success only): records the payment",
        None,
        {200: Reply("Always HTTP 200; the outcome is in `return_code`", ZalopayReply)},
        body=ZalopayCallback,
        json_body=False,
        description="De-duplicated by app, app_trans_id and zp_trans_id.",
    ),
)

# -- the citizen's checkout pages ----------------------------------------------------------

CHECKOUT_ROUTES = (
    Route(
        "GET",
        "/pay/{payment_id}",
        checkout.checkout_page,
        "Checkout page for the citizen (HTML, Vietnamese)",
        None,
        {200: Reply("HTML page", media=_HTML), 404: Reply("HTML page", media=_HTML)},
    ),
    Route(
        "GET",
        "/pay/{payment_id}/status",
        checkout.checkout_status,
        "Status polled by the checkout page",
        None,
        {200: Reply("Current status", CheckoutStatus)},
        {404: "`not_found`"},
    ),
    Route(
        "POST",
        "/pay/{payment_id}/vnpay",
        checkout.pay_with_vnpay,
        "The checkout page's VNPAY button: start (or reuse) a VNPAY attempt",
        None,
        {
            303: Reply(
                "To VNPAY's payment page; back to `/pay/{payment_id}` when the payment cannot "
                "be paid through VNPAY (unknown, not pending, VNPAY not configured, provider "
                "refused)",
                media=(),
                headers=_SEE_OTHER,
            )
        },
    ),
    *(
        Route(
            "POST",
            f"/pay/{{payment_id}}/{method}",
            checkout.pay_with_wallet,
            f"The checkout page's {name} button: start (or reuse) a {name} attempt",
            None,
            {
                303: Reply(
                    f"To {name}'s payment page; back to `/pay/{{payment_id}}` when the payment "
                    f"cannot be paid through {name} (unknown, not pending, {name} not "
                    "configured for the agency, provider refused)",
                    media=(),
                    headers=_SEE_OTHER,
                )
            },
        )
        for method, name in (("momo", "MoMo"), ("zalopay", "ZaloPay"))
    ),
    Route(
        "POST",
        "/pay/{payment_id}/dvcqg",
        checkout.pay_with_dvcqg,
        "The checkout page's DVCQG button: start (or reuse) a DVCQG payment-platform attempt",
        None,
        {
            303: Reply(
                "To the platform's page (UrlThanhToan); back to `/pay/{payment_id}` when the "
                "payment cannot be paid there (unknown, not pending, not configured for the "
                "agency, INIT refused)",
                media=(),
                headers=_SEE_OTHER,
            )
        },
    ),
    Route(
        "GET",
        "/pay/{payment_id}/qr.png",
        checkout.qr_png,
        "VietQR image (PNG)",
        None,
        {200: Reply("PNG", media=("image/png",))},
        {404: "`not_found`"},
    ),
    Route(
        "GET",
        "/pay/{payment_id}/qr.svg",
        checkout.qr_svg,
        "VietQR image (SVG)",
        None,
        {200: Reply("SVG", media=("image/svg+xml",))},
        {404: "`not_found`"},
    ),
)

RECEIPT_PAGE_ROUTES = (
    Route(
        "GET",
        "/receipts/{receipt_id}.pdf",
        receipt_pages.receipt_pdf_page,
        "The e-receipt as a PDF download for the citizen (Vietnamese); not the legal receipt, "
        "which is the signed XML",
        None,
        {200: Reply("PDF", media=("application/pdf",)), 404: Reply("HTML page", media=_HTML)},
        params=(Param("t", "query", description="The receipt's view token (from `view_url`)"),),
    ),
    Route(
        "GET",
        "/receipts/{receipt_id}",
        receipt_pages.receipt_page,
        "The e-receipt as a printable page for the citizen (HTML, Vietnamese)",
        None,
        {200: Reply("HTML page", media=_HTML), 404: Reply("HTML page", media=_HTML)},
        params=(Param("t", "query", description="The receipt's view token (from `view_url`)"),),
    ),
)

#: Every documented route, in the order they are registered.
ROUTES: tuple[Route, ...] = (
    *health.ROUTES,
    Route(
        "GET",
        "/openapi.json",
        openapi_json,
        "This document",
        None,
        {200: Reply("OpenAPI 3.1")},
    ),
    *payments.ROUTES,
    *attempts.ROUTES,
    *dvcqg.ROUTES,
    *receipt_summaries.ROUTES,
    *receipts.DELEGATION_ROUTES,
    *receipts.ROUTES,
    *receipts.CORRECTION_ROUTES,
    *webhooks.ROUTES,
    *postal.ROUTES,
    *notifications.ROUTES,
    *reconciliation.ROUTES,
    *CALLBACK_ROUTES,
    *CHECKOUT_ROUTES,
    *RECEIPT_PAGE_ROUTES,
    *postal_operators.ROUTES,
)

# -- webhooks ------------------------------------------------------------------------------

_WEBHOOK_HEADERS = [
    Param(name, "header", description=text).as_dict()
    for name, text in (
        ("webhook-id", "The event id; the same on every retry: use it to drop duplicates"),
        ("webhook-timestamp", "Unix seconds of this attempt"),
        (
            "webhook-signature",
            "Space-separated `v1,<base64 HMAC-SHA256>` over '<webhook-id>.<webhook-timestamp>."
            "<raw body>' with the key after `whsec_` in the secret; during a rotation one "
            "signature per live secret",
        ),
    )
]


def _webhooks() -> dict[str, Any]:
    """One entry per event type: what a subscribed endpoint receives (Standard Webhooks)."""
    entries = {}
    for event_type, meaning in EVENT_TYPES.items():
        model = EVENT_MODELS[event_type.partition(".")[0]]
        schema = {
            "allOf": [
                {"$ref": f"#/components/schemas/{model.__name__}"},
                {"properties": {"type": {"const": event_type}}},
            ]
        }
        entries[event_type] = {
            "post": {
                "summary": meaning,
                "description": "Sent to every enabled endpoint subscribed to this type or to "
                '`"*"`. Verify with any Standard Webhooks library.',
                "parameters": _WEBHOOK_HEADERS,
                "requestBody": {
                    "required": True,
                    "content": {"application/json": {"schema": schema}},
                },
                "responses": {
                    "2XX": {"description": "Delivered"},
                    "410": {"description": "Disables the endpoint; its pending deliveries fail"},
                    "default": {
                        "description": "Retried with back-off for more than 72 hours, then the "
                        "delivery fails; redirects are not followed"
                    },
                },
            }
        }
    return entries


@cache
def document() -> dict[str, Any]:
    paths, schemas = paths_and_schemas(ROUTES, extra=(Event,))
    return {
        "openapi": "3.1.0",
        "info": INFO,
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}},
        },
        "paths": paths,
        "webhooks": _webhooks(),
    }
