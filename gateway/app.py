"""The application factory: settings in, a wired ``web.Application`` out."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
from aiohttp import web

from config import Settings
from gateway.background import loops as periodic_work
from gateway.channels.registry import build_channels, pos_merchant
from gateway.channels.vnpay import VnpayChannel
from gateway.core.db import Database
from gateway.core.ids import Clock, system_clock
from gateway.http.middleware import observe, problems
from gateway.keys import (
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
    METRICS,
    OPERATORS,
    PAYMENTS,
    POLLER,
    POSTAL_ORDERS,
    PRINCIPALS,
    RECON_RUNS,
    REFUNDS,
    REPORTS,
    SETTINGS,
    STAFF,
    TERMINALS,
    VNPOST_PUSHES,
    WORKFLOW,
)
from gateway.observability import Metrics
from gateway.routes import setup_routes
from gateway.services import payment_state
from gateway.services.attempts import AttemptService
from gateway.services.bank_credits import BankCreditService
from gateway.services.clients import PrincipalCache
from gateway.services.payments import PaymentService
from gateway.services.polling import Poller
from gateway.services.postal.carrier import CarrierSync
from gateway.services.postal.operators import OperatorService
from gateway.services.postal.orders import PostalOrderService
from gateway.services.postal.pushes import PushReceiver
from gateway.services.postal.state import PostalContext
from gateway.services.provider_callbacks import ProviderCallbacks
from gateway.services.refunds import RefundService
from gateway.services.sealing import Sealer
from gateway.services.staff import StaffService
from gateway.services.terminals import TerminalService
from providers.postal.vnpost import VnpostAccount, VnpostClient
from reconciliation.imports import ImportService
from reconciliation.report import ReportService
from reconciliation.runs import RunService
from reconciliation.workflow import Workflow
from webhooks.delivery import DeliveryOptions, DeliveryWorker
from webhooks.endpoints import EndpointService
from webhooks.events import EventService
from webhooks.resolver import connector_options


def create_app(
    settings: Settings, *, clock: Clock = system_clock, background: bool = True
) -> web.Application:
    """Build the service. ``background=False`` leaves out the periodic work (delivery,
    expiry, polling): tests drive it directly, and ``gateway worker`` processes can own it."""
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
        app.cleanup_ctx.append(periodic_work)
    setup_routes(app)
    return app


def vnpost_client(settings: Settings, session: aiohttp.ClientSession, clock: Clock) -> VnpostClient:
    """VNPost's client; in sandbox mode without a URL, the mounted sandbox carrier."""
    vnpost = settings.vnpost
    base_url = vnpost.base_url or f"{settings.base_url}/sandbox/vnpost"
    account = VnpostAccount(
        username=vnpost.username,
        password=vnpost.password.get_secret_value(),
        customer_code=vnpost.customer_code,
        base_url=base_url,
        path_prefix=vnpost.path_prefix,
    )
    return VnpostClient(session, account, vnpost.timeout_seconds, clock)


async def _services(app: web.Application) -> AsyncIterator[None]:
    settings, clock = app[SETTINGS], app[CLOCK]
    database = Database(settings.database_dsn)
    app[DATABASE] = database
    app[PRINCIPALS] = PrincipalCache(database, clock)
    metrics = app[METRICS]
    context = payment_state.Context(
        clock,
        settings.base_url,
        on_paid=lambda channel: metrics.payments_paid.labels(channel).inc(),
    )
    sealer = Sealer(settings.pii.keyring(), settings.pii.current_key_id)
    app[PAYMENTS] = PaymentService(database, clock, settings.payments, settings.base_url, sealer)
    app[BANK_CREDITS] = BankCreditService(
        database, context, settings.banks, settings.payments.reference_prefix
    )
    hooks = settings.webhooks
    allow_private = hooks.allow_private_urls or settings.sandbox
    app[ENDPOINTS] = EndpointService(
        database,
        clock,
        allow_private=allow_private,
        secret_overlap=timedelta(hours=hooks.secret_overlap_hours),
    )
    app[EVENTS] = EventService(database, clock)
    app[IMPORTS] = ImportService(database, clock, settings.max_upload_bytes)
    app[WORKFLOW] = Workflow(database, clock)
    app[RECON_RUNS] = RunService(
        database, clock, app[WORKFLOW], reference_prefix=settings.payments.reference_prefix
    )
    app[REPORTS] = ReportService(database)
    app[STAFF] = StaffService(database, clock)
    connector = aiohttp.TCPConnector(limit=hooks.concurrency, **connector_options(allow_private))
    async with (
        aiohttp.ClientSession(connector=connector) as session,
        aiohttp.ClientSession() as provider_session,
    ):
        channels = build_channels(settings, provider_session, clock)
        app[ATTEMPTS] = AttemptService(database, context, channels, settings.vnpay.attempt_minutes)
        app[REFUNDS] = RefundService(database, context, channels)
        app[TERMINALS] = TerminalService(database, clock)
        vnpay_channel = channels.get("vnpay")
        app[CALLBACKS] = ProviderCallbacks(
            database,
            clock,
            app[ATTEMPTS],
            vnpay_channel if isinstance(vnpay_channel, VnpayChannel) else None,
            pos_merchant(settings),
        )
        app[POLLER] = Poller(
            database,
            app[ATTEMPTS],
            channels,
            {"vnpay": settings.vnpay.query_after_seconds, "pos": settings.pos.query_after_seconds},
        )
        postal = PostalContext(
            clock,
            context,
            sync_after=timedelta(seconds=settings.vnpost.sync_after_seconds),
            on_status=lambda status: metrics.postal_statuses.labels(status).inc(),
        )
        app[POSTAL_ORDERS] = PostalOrderService(database, postal, settings.vnpost, sealer)
        carrier = vnpost_client(settings, provider_session, clock)
        app[CARRIER_SYNC] = CarrierSync(database, postal, carrier, settings.vnpost, sealer)
        app[VNPOST_PUSHES] = PushReceiver(database, postal, settings.vnpost)
        app[OPERATORS] = OperatorService(database, postal, sealer)
        app[DELIVERY] = DeliveryWorker(
            database,
            clock,
            session,
            app[ENDPOINTS],
            DeliveryOptions(
                batch_size=hooks.batch_size,
                concurrency=hooks.concurrency,
                timeout_seconds=hooks.timeout_seconds,
                lease_seconds=hooks.lease_seconds,
            ),
        )
        yield
    await database.close()
