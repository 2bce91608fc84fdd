"""Periodic work: webhook delivery, payment expiry, the janitor that queries quiet provider
attempts (``provider_polling``, :mod:`gateway.services.polling`), postal submission and sync.
``gateway serve`` runs these loops in-process by default; ``gateway worker`` runs them in a
process of its own. Every loop claims its work from the database, so any number
of processes can run them side by side."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web

from gateway.keys import (
    CARRIER_SYNC,
    DELIVERY,
    NOTIFICATIONS,
    PAYMENTS,
    POLLER,
    RECEIPTS,
    SETTINGS,
)

log = structlog.get_logger(__name__)

Job = Callable[[], Awaitable[int]]


def jobs(app: web.Application) -> list[tuple[str, float, Job]]:
    settings = app[SETTINGS]
    return [
        ("payment_expiry", settings.payments.expiry_sweep_seconds, app[PAYMENTS].expire_due),
        ("webhook_delivery", settings.webhooks.poll_seconds, app[DELIVERY].run_until_idle),
        ("provider_polling", settings.poll_seconds, app[POLLER].run_once),
        ("postal_submission", settings.vnpost.poll_seconds, app[CARRIER_SYNC].submit_due),
        ("postal_cancellation", settings.vnpost.poll_seconds, app[CARRIER_SYNC].cancel_requested),
        ("postal_sync", settings.vnpost.poll_seconds, app[CARRIER_SYNC].sync_due),
        (
            "citizen_notifications",
            settings.notifications.poll_seconds,
            app[NOTIFICATIONS].run_until_idle,
        ),
        ("pending_receipts", settings.receipts.retry_seconds, app[RECEIPTS].issue_pending),
    ]


async def _repeat(name: str, interval: float, job: Job) -> None:
    while True:
        try:
            done = await job()
            if done:
                log.info("background_job_done", job=name, count=done)
        except Exception:
            log.exception("background_job_failed", job=name)
        await asyncio.sleep(interval)


async def loops(app: web.Application) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(_repeat(*job)) for job in jobs(app)]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
