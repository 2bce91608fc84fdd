"""The application factory: settings in, a wired ``web.Application`` out."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from aiohttp import web

from config import Settings
from gateway.db import Database
from gateway.domain.ids import Clock, system_clock
from gateway.http.middleware import observe, problems
from gateway.keys import BANK_CREDITS, CLOCK, DATABASE, METRICS, PAYMENTS, SETTINGS
from gateway.observability import Metrics
from gateway.routes import setup_routes
from gateway.services import payment_state
from gateway.services.bank_credits import BankCreditService
from gateway.services.payments import PaymentService

log = structlog.get_logger(__name__)


def create_app(
    settings: Settings, *, clock: Clock = system_clock, background: bool = True
) -> web.Application:
    """Build the service. ``background=False`` leaves out the periodic loops (tests drive
    them directly)."""
    app = web.Application(middlewares=[observe, problems], client_max_size=settings.max_body_bytes)
    app[SETTINGS] = settings
    app[CLOCK] = clock
    app[METRICS] = Metrics()
    app.cleanup_ctx.append(_database)
    if settings.sandbox:
        from gateway.sandbox import mount_sandboxes, sandbox_context

        app.cleanup_ctx.append(sandbox_context)
        mount_sandboxes(app)
    if background:
        app.cleanup_ctx.append(_expiry_loop)
    setup_routes(app)
    return app


async def _database(app: web.Application) -> AsyncIterator[None]:
    settings = app[SETTINGS]
    database = Database(settings.database_dsn)
    app[DATABASE] = database
    context = payment_state.Context(app[CLOCK], settings.base_url)
    app[PAYMENTS] = PaymentService(database, app[CLOCK], settings.payments, settings.base_url)
    app[BANK_CREDITS] = BankCreditService(
        database, context, settings.banks, settings.payments.reference_prefix
    )
    yield
    await database.close()


async def _expiry_loop(app: web.Application) -> AsyncIterator[None]:
    interval = app[SETTINGS].payments.expiry_sweep_seconds

    async def loop() -> None:
        while True:
            try:
                expired = await app[PAYMENTS].expire_due()
                if expired:
                    log.info("payments_expired", count=expired)
            except Exception:
                log.exception("expiry_sweep_failed")
            await asyncio.sleep(interval)

    task = asyncio.create_task(loop())
    yield
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
