"""The application factory: settings in, a wired ``web.Application`` out."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from config import Settings
from gateway.background import claiming_loops
from gateway.background import loops as periodic_work
from gateway.core.ids import Clock, system_clock
from gateway.http.middleware import observe, problems
from gateway.keys import (
    ATTEMPT_RESOLUTIONS,
    ATTEMPTS,
    BANK_CREDITS,
    CALLBACKS,
    CARRIER_SYNC,
    CLOCK,
    DATABASE,
    DELIVERY,
    ENDPOINTS,
    EVENTS,
    IMPORTS,
    LEDGER,
    METRICS,
    NOTIFICATION_RECEIPTS,
    NOTIFICATION_VIEWS,
    NOTIFICATIONS,
    OPERATORS,
    PAYMENTS,
    POLLER,
    POSTAL_ORDERS,
    PRINCIPALS,
    RECEIPT_CORRECTIONS,
    RECEIPT_SUMMARIES,
    RECEIPT_TAX_NOTICES,
    RECEIPTS,
    RECON_RUNS,
    REFUNDS,
    REPORTS,
    SERVICES,
    SETTINGS,
    STAFF,
    TERMINALS,
    VNPOST_PUSHES,
    WALLET_CALLBACKS,
    WORKFLOW,
)
from gateway.observability import Metrics
from gateway.routes import setup_routes
from gateway.services.wiring import build_services


def create_app(
    settings: Settings,
    *,
    clock: Clock = system_clock,
    background: bool = True,
    first_process: bool = True,
) -> web.Application:
    """Build the service. ``background=False`` leaves out the periodic work (delivery,
    expiry, polling): tests drive it directly, and ``gateway worker`` processes can own it.
    ``first_process=False`` (the second and later of ``gateway serve --processes N``) runs
    only the loops that claim their work in the database (:data:`gateway.background.CLAIMING`)."""
    # The transport allows the largest upload; each route enforces its own, smaller limit.
    app = web.Application(
        middlewares=[observe, problems],
        client_max_size=max(settings.max_body_bytes, settings.max_upload_bytes),
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(_services)
    if settings.sandbox:
        from gateway.sandbox import mount_sandboxes, sandbox_context

        app.cleanup_ctx.append(sandbox_context)
        mount_sandboxes(app)
    if background:
        app.cleanup_ctx.append(periodic_work if first_process else claiming_loops)
    setup_routes(app)
    return app


async def _services(app: web.Application) -> AsyncIterator[None]:
    """The services of :func:`build_services`, open for the life of the application. Each
    is also under its own typed key, which handlers and pages read."""
    async with build_services(app[SETTINGS], clock=app[CLOCK], metrics=app[METRICS]) as services:
        app[SERVICES] = services
        app[DATABASE] = services.database
        app[PRINCIPALS] = services.principals
        app[PAYMENTS] = services.payments
        app[BANK_CREDITS] = services.bank_credits
        app[ATTEMPTS] = services.attempts
        app[ATTEMPT_RESOLUTIONS] = services.resolutions
        app[REFUNDS] = services.refunds
        app[TERMINALS] = services.terminals
        app[CALLBACKS] = services.callbacks
        app[WALLET_CALLBACKS] = services.wallet_callbacks
        app[POLLER] = services.poller
        app[STAFF] = services.staff
        app[ENDPOINTS] = services.endpoints
        app[EVENTS] = services.events
        app[DELIVERY] = services.delivery
        app[IMPORTS] = services.imports
        app[WORKFLOW] = services.workflow
        app[RECON_RUNS] = services.recon_runs
        app[REPORTS] = services.reports
        app[LEDGER] = services.ledger
        app[POSTAL_ORDERS] = services.postal_orders
        app[CARRIER_SYNC] = services.carrier_sync
        app[VNPOST_PUSHES] = services.vnpost_pushes
        app[OPERATORS] = services.operators
        app[NOTIFICATIONS] = services.notifications
        app[NOTIFICATION_VIEWS] = services.notification_views
        app[NOTIFICATION_RECEIPTS] = services.notification_receipts
        app[RECEIPTS] = services.receipts
        app[RECEIPT_SUMMARIES] = services.receipt_summaries
        app[RECEIPT_TAX_NOTICES] = services.receipt_tax_notices
        app[RECEIPT_CORRECTIONS] = services.receipt_corrections
        yield
