"""A POS cloud and its card terminals, in memory: the acquirer's service the gateway drives.

The ``/v1/...`` routes speak the protocol of :mod:`providers.payment.pos.codec`: every request
must be signed with the merchant secret (else 401 with the failing check's code) and every
answer and callback is signed. Terminals appear on first use under any id and run one sale at
a time. A callback is first sent the moment its sale becomes final; if the receiver does not
answer 2xx, the cloud retries in the background every ``retry_seconds`` up to ``max_attempts``
deliveries in all.

What the cardholder does is played by unsigned ``/sandbox/...`` routes (they stand for hands
at the counter, not for the protocol)::

    POST /sandbox/terminals/{terminal_id}/script
         {"outcome": "approve"|"decline"|"no_answer", "delay_ms": 0,
          "card_brand": "VISA" (optional), "decline_reason": "insufficient_funds" (optional),
          "before_reply": false (optional)}
         what happens to every later sale on that terminal, until replaced; the default is
         approve after 0 ms. ``no_answer`` leaves a sale ``sent_to_terminal`` until cancelled.
         ``before_reply``: the card is tapped, and the callback's first delivery made, before
         the push is answered (a card faster than the cloud's reply to the push).
    POST /sandbox/terminals/{terminal_id}/complete
         {"outcome": "approve"|"decline"|"time_out", ...}: finish the current sale now
         (deterministic tests: no timers), callback first attempt before answering.
    GET  /sandbox/sales      every sale with its terminal and callback delivery statuses.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final

import aiohttp
from aiohttp import web

from providers.payment.pos import codec as wire
from providers.payment.pos.codec import CardBrand, SaleResult
from providers.payment.pos.errors import PosError
from providers.payment.pos.statuses import SaleStatus
from providers.sandbox.redelivery import Background, redeliver

ICT: Final = timezone(timedelta(hours=7))
SCRIPT_OUTCOMES: Final = frozenset({"approve", "decline", "no_answer"})
COMPLETE_OUTCOMES: Final = frozenset({"approve", "decline", "time_out"})
MAX_DELAY_MS: Final = 600_000

# Issuer prefixes the way Vietnamese acquirers see them: NAPAS domestic cards start 9704xx.
CARD_PREFIXES: Final[dict[CardBrand, tuple[str, ...]]] = {
    CardBrand.NAPAS: ("970436", "970415", "970418", "970422", "970407", "970405"),
    CardBrand.VISA: ("422151", "445093", "471374", "404160"),
    CardBrand.MASTERCARD: ("512341", "545301", "222300"),
    CardBrand.JCB: ("356999", "354100", "352800"),
}


@dataclass
class SandboxPosConfig:
    merchant_id: str
    secret: bytes
    retry_seconds: float = 2.0
    max_attempts: int = 10
    tolerance_seconds: int = wire.DEFAULT_TOLERANCE_SECONDS
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class Script:
    outcome: str = "approve"
    delay_ms: int = 0
    card_brand: CardBrand | None = None  # None: a brand drawn at random per sale
    decline_reason: str = "insufficient_funds"
    before_reply: bool = False


@dataclass
class Terminal:
    terminal_id: str
    script: Script = field(default_factory=Script)
    current: CloudSale | None = None
    cardholder: asyncio.Task[None] | None = None  # the scripted card, while it is "coming"

    @property
    def busy(self) -> bool:
        return self.current is not None and not self.current.result.final


@dataclass
class CloudSale:
    terminal_id: str
    request: dict[str, Any]  # the push as first accepted: a replay must match it
    callback_url: str
    result: SaleResult
    deliveries: list[int] = field(default_factory=list)  # HTTP status per attempt, 0 = none

    def as_json(self) -> dict[str, Any]:
        return {
            "terminal_id": self.terminal_id,
            **self.result.to_json(),
            "deliveries": self.deliveries,
        }


CONFIG = web.AppKey("sandbox_pos_config", SandboxPosConfig)
TERMINALS = web.AppKey("sandbox_pos_terminals", dict[str, Terminal])
SALES = web.AppKey("sandbox_pos_sales", dict[str, CloudSale])
SESSION = web.AppKey("sandbox_pos_session", aiohttp.ClientSession)
BACKGROUND = web.AppKey("sandbox_pos_background", Background)


def create_pos_app(config: SandboxPosConfig) -> web.Application:
    app = web.Application(middlewares=[verify_signature])
    app[CONFIG] = config
    app[TERMINALS] = {}
    app[SALES] = {}
    app[BACKGROUND] = Background()
    app.cleanup_ctx.append(_session)
    app.router.add_post("/v1/terminals/{terminal_id}/sales", push_sale)
    app.router.add_post("/v1/terminals/{terminal_id}/sales/{sale_id}/cancel", cancel_sale)
    app.router.add_get("/v1/terminals/{terminal_id}/sales/{sale_id}", get_sale)
    app.router.add_post("/sandbox/terminals/{terminal_id}/script", set_script)
    app.router.add_post("/sandbox/terminals/{terminal_id}/complete", complete_now)
    app.router.add_get("/sandbox/sales", list_sales)
    return app


async def _session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        app[SESSION] = session
        yield
        await app[BACKGROUND].cancel()


# -- the protocol -------------------------------------------------------------------------


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def verify_signature(request: web.Request, handler: Handler) -> web.StreamResponse:
    if not request.path.startswith("/v1/"):
        return await handler(request)
    config = request.app[CONFIG]
    try:
        wire.verify(
            config.secret,
            timestamp=request.headers.get(wire.TIMESTAMP_HEADER),
            signature=request.headers.get(wire.SIGNATURE_HEADER),
            body=await request.read(),
            now=int(config.clock().timestamp()),
            tolerance_seconds=config.tolerance_seconds,
        )
    except PosError as error:
        return _signed(request.app, {"code": error.code, "detail": error.message}, 401)
    return await handler(request)


def _signed(app: web.Application, data: dict[str, Any], status: int = 200) -> web.Response:
    config = app[CONFIG]
    body = wire.encode_json(data)
    headers = wire.signed_headers(config.secret, int(config.clock().timestamp()), body)
    return web.Response(body=body, status=status, headers=headers)


def _refuse(app: web.Application, status: int, code: str, detail: str) -> web.Response:
    return _signed(app, {"code": code, "detail": detail}, status)


async def push_sale(request: web.Request) -> web.Response:
    app = request.app
    data = await _json(request)
    problem = _check_push(app[CONFIG], data)
    if problem:
        return _refuse(app, 422, *problem)
    terminal = _terminal(app, request.match_info["terminal_id"])
    accepted = {"sale_id": data["sale_id"], "status": SaleStatus.SENT_TO_TERMINAL.value}
    known = app[SALES].get(data["sale_id"])
    if known is not None:
        # Idempotent: the first answer again, whatever happened since; details must match.
        if known.request != data or known.terminal_id != terminal.terminal_id:
            return _refuse(app, 422, "sale_id_reused", "this sale_id belongs to another sale")
        return _signed(app, accepted, 202)
    if terminal.busy:
        return _refuse(app, 409, "terminal_busy", "the terminal is running another sale")
    sale = CloudSale(
        terminal_id=terminal.terminal_id,
        request=data,
        callback_url=data["callback_url"],
        result=SaleResult(data["sale_id"], SaleStatus.SENT_TO_TERMINAL, data["amount"]),
    )
    app[SALES][sale.result.sale_id] = sale
    terminal.current = sale
    if terminal.script.outcome != "no_answer" and terminal.script.before_reply:
        await _card(app, terminal, sale, terminal.script)  # the callback lands first
    elif terminal.script.outcome != "no_answer":
        terminal.cardholder = app[BACKGROUND].start(_cardholder(app, terminal, sale))
    return _signed(app, accepted, 202)


def _check_push(config: SandboxPosConfig, data: Any) -> tuple[str, str] | None:
    if not isinstance(data, dict):
        return ("malformed", "body must be a JSON object")
    if data.get("merchant_id") != config.merchant_id:
        return ("unknown_merchant", "merchant_id is not this merchant")
    for name in ("sale_id", "reference", "description", "callback_url"):
        if not isinstance(data.get(name), str):
            return ("malformed", f"{name} must be a string")
    if not wire.ID_PATTERN.fullmatch(data["sale_id"]):
        return ("malformed", "sale_id must be 1–64 letters, digits, '_' or '-'")
    amount = data.get("amount")
    if type(amount) is not int or not 0 < amount <= wire.MAX_AMOUNT:
        return ("invalid_amount", "amount must be a positive integer number of VND")
    if data.get("currency") != wire.CURRENCY:
        return ("unsupported_currency", "only VND is accepted")
    if not data["callback_url"].startswith(("https://", "http://")):
        return ("malformed", "callback_url must be an absolute URL")
    return None


async def cancel_sale(request: web.Request) -> web.Response:
    app = request.app
    sale = _find(request)
    if sale is None:
        return _refuse(app, 404, "unknown_sale", "no such sale on this terminal")
    data = await _json(request)
    expected = {"merchant_id": app[CONFIG].merchant_id, "sale_id": sale.result.sale_id}
    if not isinstance(data, dict) or {k: data.get(k) for k in expected} != expected:
        return _refuse(app, 422, "malformed", "body must name this merchant and sale")
    if sale.result.final:
        body = {"code": "not_cancellable", "status": sale.result.status.value}
        return _signed(app, body, 409)
    await _finish(app, sale, SaleStatus.CANCELLED)
    return _signed(app, {"sale_id": sale.result.sale_id, "status": "cancelling"}, 202)


async def get_sale(request: web.Request) -> web.Response:
    sale = _find(request)
    if sale is None:
        return _refuse(request.app, 404, "unknown_sale", "no such sale on this terminal")
    return _signed(request.app, sale.result.to_json())


def _find(request: web.Request) -> CloudSale | None:
    sale = request.app[SALES].get(request.match_info["sale_id"])
    if sale is None or sale.terminal_id != request.match_info["terminal_id"]:
        return None
    return sale


# -- the cardholder -----------------------------------------------------------------------


async def set_script(request: web.Request) -> web.Response:
    data = await _json(request)
    script, problem = _script(data, SCRIPT_OUTCOMES)
    if script is None:
        return web.json_response({"code": "invalid_script", "detail": problem}, status=422)
    terminal = _terminal(request.app, request.match_info["terminal_id"])
    terminal.script = script
    return web.json_response(_script_json(script))


async def complete_now(request: web.Request) -> web.Response:
    script, problem = _script(await _json(request), COMPLETE_OUTCOMES)
    if script is None:
        return web.json_response({"code": "invalid_outcome", "detail": problem}, status=422)
    terminal = _terminal(request.app, request.match_info["terminal_id"])
    sale = terminal.current
    if sale is None or sale.result.final:
        detail = "the terminal is not waiting for a card"
        return web.json_response({"code": "no_sale_in_progress", "detail": detail}, status=409)
    await _card(request.app, terminal, sale, script)
    return web.json_response(sale.as_json())


async def list_sales(request: web.Request) -> web.Response:
    return web.json_response([sale.as_json() for sale in request.app[SALES].values()])


def _script(data: Any, outcomes: frozenset[str]) -> tuple[Script | None, str]:
    if not isinstance(data, dict) or data.get("outcome") not in outcomes:
        return None, f"outcome must be one of {sorted(outcomes)}"
    delay = data.get("delay_ms", 0)
    if type(delay) is not int or not 0 <= delay <= MAX_DELAY_MS:
        return None, f"delay_ms must be an integer in 0..{MAX_DELAY_MS}"
    brand = data.get("card_brand")
    if brand is not None and brand not in CARD_PREFIXES:
        return None, f"card_brand must be one of {[b.value for b in CardBrand]}"
    reason = data.get("decline_reason", Script.decline_reason)
    if not isinstance(reason, str) or not 0 < len(reason) <= 128:
        return None, "decline_reason must be text of 1–128 characters"
    before_reply = data.get("before_reply", False)
    if type(before_reply) is not bool:
        return None, "before_reply must be true or false"
    card_brand = CardBrand(brand) if brand is not None else None
    return Script(data["outcome"], delay, card_brand, reason, before_reply), ""


def _script_json(script: Script) -> dict[str, Any]:
    brand = script.card_brand.value if script.card_brand else None
    return {
        "outcome": script.outcome,
        "delay_ms": script.delay_ms,
        "card_brand": brand,
        "decline_reason": script.decline_reason,
        "before_reply": script.before_reply,
    }


async def _cardholder(app: web.Application, terminal: Terminal, sale: CloudSale) -> None:
    script = terminal.script
    await asyncio.sleep(script.delay_ms / 1000)
    if not sale.result.final:
        await _card(app, terminal, sale, script)


async def _card(app: web.Application, terminal: Terminal, sale: CloudSale, script: Script) -> None:
    """The cardholder acts: taps a card (approve/decline) or walks away (time_out)."""
    if script.outcome == "time_out":
        await _finish(app, sale, SaleStatus.TIMED_OUT)
        return
    now = app[CONFIG].clock().astimezone(ICT)
    brand = script.card_brand or _pick(tuple(CardBrand))
    card = {
        "masked_pan": f"{_pick(CARD_PREFIXES[brand])}******{_digits(4)}",
        "card_brand": brand,
        # RRN as acquirers build it: last digit of the year, day of year, hour, sequence.
        "rrn": f"{now:%y}"[-1] + f"{now:%j%H}" + _digits(6),
    }
    if script.outcome == "approve":
        await _finish(app, sale, SaleStatus.APPROVED, approval_code=_digits(6), **card)
    else:
        await _finish(app, sale, SaleStatus.DECLINED, decline_reason=script.decline_reason, **card)


def _pick(choices: tuple[Any, ...]) -> Any:
    return choices[secrets.randbelow(len(choices))]


def _digits(count: int) -> str:
    return f"{secrets.randbelow(10**count):0{count}d}"


# -- completion and callbacks -------------------------------------------------------------


async def _finish(app: web.Application, sale: CloudSale, status: SaleStatus, **card: Any) -> None:
    """Make the sale final, free its terminal, and call back: once now, then in the background."""
    completed_at = app[CONFIG].clock().astimezone(ICT)
    sale.result = replace(sale.result, status=status, completed_at=completed_at, **card)
    terminal = app[TERMINALS][sale.terminal_id]
    if terminal.cardholder is not None and terminal.cardholder is not asyncio.current_task():
        terminal.cardholder.cancel()  # a cancel or a forced completion beat the scripted card
    terminal.cardholder = None
    if await _attempt(app, sale):
        return
    app[BACKGROUND].start(_redeliver(app, sale))


async def _redeliver(app: web.Application, sale: CloudSale) -> None:
    config = app[CONFIG]
    # Then gives up, as the cloud would; the sale stays listed as not delivered
    await redeliver(
        lambda: _attempt(app, sale),
        tries=config.max_attempts - 1,
        interval=config.retry_seconds,
    )


async def _attempt(app: web.Application, sale: CloudSale) -> bool:
    config = app[CONFIG]
    body = wire.encode_json(sale.result.to_json())
    headers = wire.signed_headers(config.secret, int(config.clock().timestamp()), body)
    try:
        async with app[SESSION].post(sale.callback_url, data=body, headers=headers) as response:
            status = response.status
    except (aiohttp.ClientError, TimeoutError):
        status = 0
    sale.deliveries.append(status)
    return 200 <= status < 300


# -- helpers ------------------------------------------------------------------------------


def _terminal(app: web.Application, terminal_id: str) -> Terminal:
    """Terminals appear on first use under any id."""
    return app[TERMINALS].setdefault(terminal_id, Terminal(terminal_id))


async def _json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
