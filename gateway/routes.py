"""Every route of the service, in one place."""

from __future__ import annotations

from aiohttp import web

from gateway.api import openapi
from gateway.pages import (
    console,
    console_attempts,
    console_auth,
    console_payments,
    console_receipts,
    console_refunds,
    console_webhooks,
)
from gateway.pages.front import setup_front
from gateway.pages.operator import setup_operator_pages


def setup_routes(app: web.Application) -> None:
    add = app.router
    # Every documented route, each declared with its documentation (gateway/api/spec.py).
    for route in openapi.ROUTES:
        add.add_route(route.method, route.path, route.handler)

    # -- staff console (server-rendered; session cookie + CSRF): gateway/pages/console*.py --
    add.add_get("/console/login", console_auth.login_form)
    add.add_post("/console/login", console_auth.login)
    add.add_post("/console/logout", console_auth.logout)
    add.add_get("/console", console.dashboard)
    add.add_post("/console/days/{day}/run", console.run_day)
    add.add_post("/console/days/{day}/close", console.close_day)
    add.add_post("/console/tax-notices/{notice_id}/dismiss", console.dismiss_notice)
    add.add_get("/console/days/{day}/report.{format:xlsx|csv}", console.day_report)
    add.add_get("/console/payments", console_payments.payment_list)
    add.add_get("/console/payments/{payment_id}", console_payments.payment_detail)
    add.add_get("/console/attempts/{attempt_id}", console_attempts.attempt_detail)
    add.add_post("/console/attempts/{attempt_id}/propose", console_attempts.propose_resolution)
    add.add_post("/console/attempts/{attempt_id}/decide", console_attempts.decide_resolution)
    add.add_get("/console/refunds/{refund_id}", console_refunds.refund_detail)
    add.add_post("/console/refunds/{refund_id}/propose", console_refunds.propose_resolution)
    add.add_post("/console/refunds/{refund_id}/decide", console_refunds.decide_resolution)
    add.add_get("/console/webhooks", console_webhooks.endpoint_list)
    add.add_get("/console/webhooks/{endpoint_id}", console_webhooks.endpoint_detail)
    add.add_post("/console/webhooks/{endpoint_id}/test", console_webhooks.send_test)
    add.add_post("/console/webhooks/{endpoint_id}/recover", console_webhooks.recover)
    add.add_post(
        "/console/webhooks/{endpoint_id}/events/{event_id}/redeliver", console_webhooks.redeliver
    )
    add.add_get("/console/statements", console.statements_form)
    add.add_post("/console/statements", console.upload_statement)
    add.add_get("/console/exceptions", console.exception_list)
    add.add_get("/console/exceptions/{exception_id}", console.exception_detail)
    add.add_post("/console/exceptions/{exception_id}/resolve", console.resolve_exception)
    add.add_post("/console/exceptions/{exception_id}/approve", console.approve_exception)
    add.add_get("/console/receipts", console_receipts.receipt_list)
    add.add_get("/console/receipts/{receipt_id}", console_receipts.receipt_detail)
    add.add_post("/console/receipts/{receipt_id}/corrections", console_receipts.propose_correction)
    add.add_post(
        "/console/receipt-corrections/{correction_id}/decide", console_receipts.decide_correction
    )
    # -- end of staff console --

    setup_operator_pages(app)
    setup_front(app)
