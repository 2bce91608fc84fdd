"""Periodic work: webhook delivery, payment expiry, the janitor that queries quiet provider
attempts (``provider_polling``, :mod:`gateway.services.polling`), postal submission and sync,
citizen notifications. ``gateway serve`` runs these loops in-process by default; ``gateway
worker`` runs them in a process of its own.

The loops in :data:`CLAIMING` claim their work in the database before doing it (``FOR UPDATE
SKIP LOCKED``, or a lease written before the provider call), so any number of processes can
run them side by side. The others read what is due and then call the carrier without a claim
(postal cancellation and sync; stopping a closed bill's terminal sale): two processes running
them would both call the carrier for the same order. What they apply is idempotent, so that
is wasted calls, not wrong data; still ``gateway serve --processes N`` runs them in its first
process only (:func:`claiming_loops` in the others). A loop added here runs in the first
process only until it is listed in :data:`CLAIMING`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import structlog
from aiohttp import web

from gateway.keys import (
    ATTEMPTS,
    CARRIER_SYNC,
    DELIVERY,
    NOTIFICATIONS,
    PAYMENTS,
    POLLER,
    RECEIPT_SUMMARIES,
    RECEIPT_TAX_NOTICES,
    RECEIPTS,
    SETTINGS,
)

log = structlog.get_logger(__name__)

Job = Callable[[], Awaitable[int]]

#: Loops that claim each item in the database before working on it: safe in every process.
#: payment_expiry: SELECT ... FOR UPDATE SKIP LOCKED (PaymentService.expire_due);
#: webhook_delivery: FOR UPDATE SKIP LOCKED and locked_until (webhooks/delivery.py);
#: provider_polling: FOR UPDATE SKIP LOCKED, next_query_at moved forward (Poller._claim);
#: postal_submission: a lease (submit_due_at) set by a conditional UPDATE (CarrierSync.submit);
#: citizen_notifications: FOR UPDATE SKIP LOCKED intake, locked_until sends (notifications);
#: receipt_summaries: one revision per agency/day (unique, insert unless taken), sends claimed
#: FOR UPDATE SKIP LOCKED and a locked_until lease (receipts/transmission.py);
#: receipt_tax_notices: the same claim (receipts/tax_notices.py).
CLAIMING = frozenset(
    {
        "payment_expiry",
        "webhook_delivery",
        "provider_polling",
        "postal_submission",
        "citizen_notifications",
        "receipt_summaries",
        "receipt_tax_notices",
    }
)


def jobs(app: web.Application) -> list[tuple[str, float, Job]]:
    settings = app[SETTINGS]
    return [
        ("payment_expiry", settings.payments.expiry_sweep_seconds, app[PAYMENTS].expire_due),
        ("webhook_delivery", settings.webhooks.poll_seconds, app[DELIVERY].run_until_idle),
        ("provider_polling", settings.poll_seconds, app[POLLER].run_once),
        (
            "terminal_sales_stop",
            settings.payments.expiry_sweep_seconds,
            app[ATTEMPTS].stop_sales_of_closed_bills,
        ),
        ("postal_submission", settings.vnpost.poll_seconds, app[CARRIER_SYNC].submit_due),
        ("postal_cancellation", settings.vnpost.poll_seconds, app[CARRIER_SYNC].cancel_requested),
        ("postal_sync", settings.vnpost.poll_seconds, app[CARRIER_SYNC].sync_due),
        (
            "citizen_notifications",
            settings.notifications.poll_seconds,
            app[NOTIFICATIONS].run_until_idle,
        ),
        ("pending_receipts", settings.receipts.retry_seconds, app[RECEIPTS].issue_pending),
        (
            "receipt_summaries",
            settings.tax_authority.poll_seconds,
            app[RECEIPT_SUMMARIES].run_once,
        ),
        (
            "receipt_tax_notices",
            settings.tax_authority.poll_seconds,
            app[RECEIPT_TAX_NOTICES].send_due,
        ),
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
    """Every loop (a single process, a ``gateway worker``, or the first of several)."""
    async for _ in _run(jobs(app)):
        yield


async def claiming_loops(app: web.Application) -> AsyncIterator[None]:
    """Only the loops of :data:`CLAIMING` (the second and later of several processes)."""
    async for _ in _run([job for job in jobs(app) if job[0] in CLAIMING]):
        yield


async def _run(selected: list[tuple[str, float, Job]]) -> AsyncIterator[None]:
    tasks = [asyncio.create_task(_repeat(*job)) for job in selected]
    yield
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
