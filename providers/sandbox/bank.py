"""A collection bank: accepts transfers into its accounts and notifies the gateway.

``POST /transfers`` ``{"bin", "account_number", "amount", "description"}`` books a credit and
sends a signed credit notice (:mod:`providers.payment.vietqr.notice`) to ``notify_url``. The
first delivery is made before answering; if the gateway does not answer 2xx the bank retries
in the background every ``retry_seconds`` up to ``max_attempts`` times, as banks do.
``POST /transfers/{transaction_id}/resend`` sends the same notice again (a duplicate).
``GET /transfers`` lists what was booked.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import aiohttp
from aiohttp import web

from providers.payment.vietqr import notice as wire
from providers.sandbox.redelivery import Background, redeliver

ICT = timezone(timedelta(hours=7))


@dataclass
class SandboxBankConfig:
    bin: str
    secret: bytes
    notify_url: str
    retry_seconds: float = 2.0
    max_attempts: int = 10
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class Transfer:
    notice: wire.CreditNotice
    deliveries: list[int] = field(default_factory=list)  # HTTP status per attempt, 0 = no answer

    @property
    def delivered(self) -> bool:
        return any(200 <= status < 300 for status in self.deliveries)

    def as_json(self) -> dict[str, Any]:
        return {**self.notice.to_json(), "delivered": self.delivered, "attempts": self.deliveries}


CONFIG = web.AppKey("sandbox_bank_config", SandboxBankConfig)
TRANSFERS = web.AppKey("sandbox_bank_transfers", dict[str, Transfer])
SESSION = web.AppKey("sandbox_bank_session", aiohttp.ClientSession)
REDELIVERIES = web.AppKey("sandbox_bank_redeliveries", Background)


def create_bank_app(config: SandboxBankConfig) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    app[TRANSFERS] = {}
    app[REDELIVERIES] = Background()
    app.cleanup_ctx.append(_session)
    app.router.add_post("/transfers", book_transfer)
    app.router.add_get("/transfers", list_transfers)
    app.router.add_post("/transfers/{transaction_id}/resend", resend)
    return app


async def _session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        app[SESSION] = session
        yield
        await app[REDELIVERIES].cancel()


def _error(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"code": code, "detail": detail}, status=status)


async def book_transfer(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    try:
        data = await request.json()
    except json.JSONDecodeError:
        return _error(400, "malformed_json", "body is not JSON")
    if not isinstance(data, dict):
        return _error(400, "malformed_json", "body must be an object")
    amount = data.get("amount")
    if type(amount) is not int or amount <= 0:
        return _error(422, "invalid_amount", "amount must be a positive integer number of VND")
    if data.get("bin") != config.bin:
        return _error(404, "unknown_bank", f"this sandbox bank has BIN {config.bin}")
    account = data.get("account_number")
    if not isinstance(account, str) or not account:
        return _error(422, "invalid_account", "account_number is required")
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > 210:
        return _error(422, "invalid_description", "description: text of at most 210 characters")
    now = config.clock()
    # Unique across restarts: the gateway de-duplicates notices by this id.
    transaction_id = f"SBX{now:%y%m%d%H%M%S}{secrets.token_hex(4).upper()}"
    credit = wire.CreditNotice(
        transaction_id=transaction_id,
        bin=config.bin,
        account_number=account,
        amount=amount,
        # Real banks wrap what the payer typed in their own prefix and suffix.
        description=f"SBXBANK.{transaction_id}.{description}.CT tu 0123456789",
        booked_at=now.astimezone(ICT),
    )
    transfer = Transfer(credit)
    request.app[TRANSFERS][transaction_id] = transfer
    await _deliver(request.app, transfer)
    return web.json_response(transfer.as_json(), status=201)


async def list_transfers(request: web.Request) -> web.Response:
    return web.json_response([t.as_json() for t in request.app[TRANSFERS].values()])


async def resend(request: web.Request) -> web.Response:
    transfer = request.app[TRANSFERS].get(request.match_info["transaction_id"])
    if transfer is None:
        return _error(404, "unknown_transfer", "no such transfer")
    await _deliver(request.app, transfer)
    return web.json_response(transfer.as_json())


async def _deliver(app: web.Application, transfer: Transfer) -> None:
    """One attempt now; if it fails, the rest in the background."""
    if await _attempt(app, transfer):
        return
    app[REDELIVERIES].start(_retry(app, transfer))


async def _retry(app: web.Application, transfer: Transfer) -> None:
    config = app[CONFIG]
    # Then gives up, as a bank would; the transfer stays listed as not delivered
    await redeliver(
        lambda: _attempt(app, transfer),
        tries=config.max_attempts - 1,
        interval=config.retry_seconds,
    )


async def _attempt(app: web.Application, transfer: Transfer) -> bool:
    config = app[CONFIG]
    body = json.dumps(transfer.notice.to_json(), ensure_ascii=False).encode()
    timestamp = int(config.clock().timestamp())
    headers = {
        "Content-Type": "application/json",
        wire.TIMESTAMP_HEADER: str(timestamp),
        wire.SIGNATURE_HEADER: wire.sign(config.secret, timestamp, body),
    }
    try:
        async with app[SESSION].post(config.notify_url, data=body, headers=headers) as response:
            status = response.status
    except (aiohttp.ClientError, TimeoutError):
        status = 0
    transfer.deliveries.append(status)
    return 200 <= status < 300
