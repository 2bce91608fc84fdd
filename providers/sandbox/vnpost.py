"""VNPost's partner API: the carrier the gateway's postal legs drive.

The ``{path_prefix}/...`` routes (``/api``) speak the protocol of
:mod:`providers.postal.vnpost.codec`: ``POST /api/token`` sells a token valid
``token_ttl_seconds`` by the configured clock; every other ``/api`` route answers 401 to a
missing, wrong or expired token. Orders are idempotent per ``sale_order_code``: a second
create answers 409 ``DUPLICATE_REFERENCE``. Item codes are UPU S10 (``EB12345678`` + check
digit + ``VN``).

Status codes are those of the configured status profile
(:mod:`providers.postal.vnpost.statuses`: ``partner_order`` 0–29 or ``myvnpost`` 10–170), as
the gateway reads them. Orders live in memory and, when ``state_path`` is set (sandbox mode:
the gateway's data directory), in a JSON-lines file the sandbox owns: one line per change,
replayed at start (and then written back as one line per order), so a restarted carrier
knows its orders and never issues an item code twice. The file holds no personal data (the
parties are not kept).

What postmen do is played by unsigned control routes (they stand for the network, not for
the protocol)::

    POST /orders/{item_code}/advance   {"status": <code>}   a code of the configured profile
         (else 422 ``INVALID_STATUS``; an item code the carrier does not hold: 404
         ``NOT_FOUND``): moves the order, records the
         event and pushes the status webhook (first attempt before answering, then retries in
         the background every ``retry_seconds`` up to ``max_attempts`` deliveries in all)
    POST /orders/{item_code}/step      moves the order one step along a postman's usual path
    POST /sandbox/tick                 one step for every live order (what the timer does
         every ``auto_advance_seconds`` when that is set)
    POST /sandbox/faults               {"create": ["lost_answer" | "unavailable" |
                                        "invalid_answer", ...], "pushes": "drop" | "send"}:
         the next creates fail in turn — ``lost_answer`` creates the order but answers 500
         (the partner cannot know it exists), ``unavailable`` answers 503 and creates nothing,
         ``invalid_answer`` creates the order but answers 200 without a usable item code (an
         empty one); ``"pushes": "drop"`` stops
         status pushes (they are lost, not queued) until ``"send"``
    POST /sandbox/tokens/expire        every issued token expires now
    GET  /sandbox/orders               every order with its webhook delivery statuses
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final

import aiohttp
from aiohttp import web

from providers.postal.vnpost import codec as wire
from providers.postal.vnpost.statuses import (
    DEFAULT_PROFILE,
    PostalStatus,
    StatusProfile,
)
from providers.sandbox.redelivery import Background, redeliver

# Codes the partner may still cancel from: nothing has been picked up yet.
CANCELLABLE: Final = frozenset(
    {PostalStatus.CREATED, PostalStatus.PICKUP_ASSIGNED, PostalStatus.PICKUP_FAILED}
)
_S10_WEIGHTS: Final = (8, 6, 4, 2, 3, 5, 9, 7)


@dataclass
class SandboxVnpostConfig:
    username: str
    password: str
    customer_code: str
    webhook_url: str
    webhook_key: bytes
    retry_seconds: float = 2.0
    max_attempts: int = 10
    token_ttl_seconds: int = 3600
    path_prefix: str = "/api"
    #: When set, every live order takes one step along its path this often.
    auto_advance_seconds: float | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    #: The status table the carrier speaks (the gateway's ``vnpost.status_profile``).
    profile: StatusProfile = DEFAULT_PROFILE
    #: Where the orders are kept across restarts (JSON lines); None keeps them in memory only.
    state_path: Path | None = None


#: What the sandbox keeps of a create request: no parties (names, phones, addresses).
KEPT_REQUEST_FIELDS: Final = ("sale_order_code", "service_code", "addons", "weight")


@dataclass
class CarrierOrder:
    item_code: str
    request: dict[str, Any]
    status: int = 0
    serial: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)
    deliveries: list[int] = field(default_factory=list)  # HTTP status per push, 0 = none

    def as_json(self) -> dict[str, Any]:
        return {
            "item_code": self.item_code,
            "sale_order_code": self.request["sale_order_code"],
            "status": self.status,
            "events": self.events,
        }


@dataclass
class Carrier:
    tokens: dict[str, datetime] = field(default_factory=dict)
    orders: dict[str, CarrierOrder] = field(default_factory=dict)  # by item code
    by_reference: dict[str, str] = field(default_factory=dict)  # sale_order_code → item code
    create_faults: list[str] = field(default_factory=list)  # consumed one per create
    drop_pushes: bool = False
    serial: int = 12_345_677
    state_path: Path | None = None

    def keep(self, order: CarrierOrder) -> None:
        """Write the order as it now is to the state file (a line per change)."""
        if self.state_path is None:
            return
        with self.state_path.open("a", encoding="utf-8") as handle:
            handle.write(_state_line(order))

    def compact(self) -> None:
        """Rewrite the state file with one line per order, as it now is.

        Each change appends the whole order, so a file a long-running demo kept would hold every
        order once per event; a start writes it back to one line each. The new file is written
        beside the old one and then put in its place, so a crash leaves one or the other whole.
        """
        if self.state_path is None:
            return
        fresh = self.state_path.with_name(self.state_path.name + ".new")
        with fresh.open("w", encoding="utf-8") as handle:
            handle.writelines(_state_line(order) for order in self.orders.values())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(fresh, self.state_path)

    @classmethod
    def load(cls, state_path: Path | None) -> Carrier:
        """The carrier as its state file left it (a fresh one without a file)."""
        carrier = cls(state_path=state_path)
        if state_path is None or not state_path.exists():
            return carrier
        lines = 0  # read whole; a line cut short counts too, so the rewrite drops it
        with state_path.open(encoding="utf-8") as handle:
            for raw in handle:
                if not raw.strip():
                    continue
                try:
                    line = json.loads(raw)
                except json.JSONDecodeError:
                    lines += 1
                    continue  # a line cut short by a crash: the line before it stands
                order = CarrierOrder(
                    line["item_code"], line["request"], line["status"], line["serial"]
                )
                order.events = line["events"]
                carrier.orders[order.item_code] = order
                carrier.by_reference[order.request["sale_order_code"]] = order.item_code
                carrier.serial = max(carrier.serial, order.serial)
                lines += 1
        if lines > len(carrier.orders):
            carrier.compact()
        return carrier


def _state_line(order: CarrierOrder) -> str:
    line = {
        "item_code": order.item_code,
        "serial": order.serial,
        "request": order.request,
        "status": order.status,
        "events": order.events,
    }
    return json.dumps(line, ensure_ascii=False) + "\n"


CONFIG = web.AppKey("sandbox_vnpost_config", SandboxVnpostConfig)
CARRIER = web.AppKey("sandbox_vnpost_carrier", Carrier)
SESSION = web.AppKey("sandbox_vnpost_session", aiohttp.ClientSession)
BACKGROUND = web.AppKey("sandbox_vnpost_background", Background)


def create_vnpost_app(config: SandboxVnpostConfig) -> web.Application:
    app = web.Application(middlewares=[require_token])
    app[CONFIG] = config
    if config.state_path is not None:
        config.state_path.parent.mkdir(parents=True, exist_ok=True)
    app[CARRIER] = Carrier.load(config.state_path)
    app[BACKGROUND] = Background()
    app.cleanup_ctx.append(_session)
    api = config.path_prefix.rstrip("/")
    app.router.add_post(f"{api}/token", issue_token)
    app.router.add_post(f"{api}/orders", create_order)
    app.router.add_get(f"{api}/orders", find_order)
    app.router.add_get(f"{api}/orders/{{item_code}}", get_order)
    app.router.add_post(f"{api}/orders/{{item_code}}/cancel", cancel_order)
    app.router.add_get(f"{api}/orders/{{item_code}}/history", history)
    app.router.add_post("/orders/{item_code}/advance", advance)
    app.router.add_post("/orders/{item_code}/step", step)
    app.router.add_post("/sandbox/tick", tick)
    app.router.add_post("/sandbox/faults", set_faults)
    app.router.add_post("/sandbox/tokens/expire", expire_tokens)
    app.router.add_get("/sandbox/orders", list_orders)
    return app


async def _session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        app[SESSION] = session
        interval = app[CONFIG].auto_advance_seconds
        if interval:
            app[BACKGROUND].start(_timer(app, interval))
        yield
        await app[BACKGROUND].cancel()


async def _timer(app: web.Application, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        await _tick(app)


# -- the protocol -------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def require_token(request: web.Request, handler: Handler) -> web.StreamResponse:
    config = request.app[CONFIG]
    api = config.path_prefix.rstrip("/")
    if not request.path.startswith(f"{api}/") or request.path == f"{api}/token":
        return await handler(request)
    expires = request.app[CARRIER].tokens.get(request.headers.get(wire.TOKEN_HEADER, ""))
    if expires is None or config.clock() >= expires:
        return _error(401, "UNAUTHORIZED", "missing, wrong or expired token")
    return await handler(request)


def _error(status: int, code: str, detail: str) -> web.Response:
    return web.json_response({"code": code, "detail": detail}, status=status)


async def issue_token(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    data = await _json(request)
    expected = {
        "username": config.username,
        "password": config.password,
        "customer_code": config.customer_code,
    }
    if not isinstance(data, dict) or {k: data.get(k) for k in expected} != expected:
        return _error(401, "UNAUTHORIZED", "wrong username, password or customer code")
    token = secrets.token_urlsafe(24)
    expires_at = config.clock() + timedelta(seconds=config.token_ttl_seconds)
    request.app[CARRIER].tokens[token] = expires_at
    return web.json_response({"token": token, "expires_in": config.token_ttl_seconds})


async def create_order(request: web.Request) -> web.Response:
    app = request.app
    data = await _json(request)
    problem = _check_order(app[CONFIG], data)
    if problem:
        return _error(422, "INVALID_ORDER", problem)
    carrier = app[CARRIER]
    fault = carrier.create_faults.pop(0) if carrier.create_faults else None
    if fault == "unavailable":
        return _error(503, "UNAVAILABLE", "the order service is down (sandbox fault)")
    reference = data["sale_order_code"]
    if reference in carrier.by_reference:
        return _error(409, "DUPLICATE_REFERENCE", "this sale_order_code already has an order")
    carrier.serial += 1
    item_code = s10_item_code("EB", carrier.serial, "VN")
    kept = {name: data[name] for name in KEPT_REQUEST_FIELDS if name in data}
    order = CarrierOrder(item_code, kept, serial=carrier.serial)
    carrier.orders[item_code] = order
    carrier.by_reference[reference] = item_code
    _record(app, order, app[CONFIG].profile.created_code, "Đơn hàng đã được tạo")
    if fault == "lost_answer":
        return _error(500, "INTERNAL", "the order was created but the answer is lost")
    if fault == "invalid_answer":
        return web.json_response({"item_code": "", "sale_order_code": reference})
    return web.json_response({"item_code": item_code, "sale_order_code": reference})


def _check_order(config: SandboxVnpostConfig, data: Any) -> str | None:
    if not isinstance(data, dict):
        return "body must be a JSON object"
    if data.get("customer_code") != config.customer_code:
        return "customer_code is not this partner"
    if not isinstance(data.get("sale_order_code"), str):
        return "sale_order_code must be a string"
    if not wire.REFERENCE_PATTERN.fullmatch(data["sale_order_code"]):
        return "sale_order_code must be 1–50 letters, digits, '_' or '-'"
    if data.get("service_code") not in wire.SERVICE_CODES.values():
        return "service_code must be CTN or EMS"
    for role in ("sender", "receiver"):
        party = data.get(role)
        if not isinstance(party, dict) or not isinstance(party.get("address"), dict):
            return f"{role} must carry full_name, phone and address"
        address = party["address"]
        if not all(isinstance(address.get(k), str) for k in ("ward_code", "province_code")):
            return f"{role} address needs ward_code and province_code"
    weight = data.get("weight")
    if type(weight) is not int or weight <= 0:
        return "weight must be a positive integer number of grams"
    return None


async def find_order(request: web.Request) -> web.Response:
    carrier = request.app[CARRIER]
    item_code = carrier.by_reference.get(request.query.get("sale_order_code", ""))
    if item_code is None:
        return _error(404, "NOT_FOUND", "no order under this sale_order_code")
    return web.json_response(carrier.orders[item_code].as_json())


async def get_order(request: web.Request) -> web.Response:
    order = request.app[CARRIER].orders.get(request.match_info["item_code"])
    if order is None:
        return _error(404, "NOT_FOUND", "no such item code")
    return web.json_response(order.as_json())


async def history(request: web.Request) -> web.Response:
    order = request.app[CARRIER].orders.get(request.match_info["item_code"])
    if order is None:
        return _error(404, "NOT_FOUND", "no such item code")
    return web.json_response({"item_code": order.item_code, "events": order.events})


async def cancel_order(request: web.Request) -> web.Response:
    app = request.app
    order = app[CARRIER].orders.get(request.match_info["item_code"])
    if order is None:
        return _error(404, "NOT_FOUND", "no such item code")
    profile = app[CONFIG].profile
    if profile.normalise(order.status) not in CANCELLABLE:
        return _error(409, "NOT_CANCELLABLE", f"the order is at status {order.status}")
    await _move(app, order, profile.cancelled_code, "Hủy theo yêu cầu của khách hàng")
    return web.json_response(order.as_json())


# -- the network --------------------------------------------------------------------------


async def advance(request: web.Request) -> web.Response:
    app = request.app
    order = app[CARRIER].orders.get(request.match_info["item_code"])
    if order is None:
        return _error(404, "NOT_FOUND", "no such item code")
    data = await _json(request)
    code = data.get("status") if isinstance(data, dict) else None
    profile = app[CONFIG].profile
    if type(code) is not int or profile.meaning(code) is None:
        documented = ", ".join(str(c) for c in profile.codes)
        message = f"status must be a code of the {profile.name} table: {documented}"
        return _error(422, "INVALID_STATUS", message)
    location = data.get("location", "Bưu cục Sài Gòn")
    note = data.get("note", "")
    if not isinstance(location, str) or not isinstance(note, str):
        return _error(422, "INVALID_STATUS", "location and note must be text")
    await _move(app, order, code, note, location)
    return web.json_response({**order.as_json(), "deliveries": order.deliveries})


#: A postman's usual path per profile, from the created code: (without COD, with COD).
#: partner_order: assigned, picking up, picked up, accepted at the post office, in transit,
#: at the delivery office, out for delivery, delivered (then COD paid out, with COD).
#: myvnpost: accepted at the post office, delivered (then COD collected and remitted).
PATHS: Final[dict[str, tuple[tuple[int, ...], tuple[int, ...]]]] = {
    "partner_order": ((2, 4, 6, 7, 10, 11, 12, 14), (2, 4, 6, 7, 10, 11, 12, 14, 21)),
    "myvnpost": ((70, 100), (70, 100, 110, 120)),
}


def next_code(order: CarrierOrder, profile: StatusProfile) -> int | None:
    """The next code on the order's path, or None when it is done (or off the path)."""
    has_cod = any(addon.get("code") == "COD" for addon in order.request.get("addons", []))
    plain, with_cod = PATHS[profile.name]
    path = with_cod if has_cod else plain
    if order.status == profile.created_code:
        return path[0]
    if order.status in path[:-1]:
        return path[path.index(order.status) + 1]
    return None


async def step(request: web.Request) -> web.Response:
    app = request.app
    order = app[CARRIER].orders.get(request.match_info["item_code"])
    if order is None:
        return _error(404, "NOT_FOUND", "no such item code")
    code = next_code(order, app[CONFIG].profile)
    if code is None:
        return _error(409, "PATH_DONE", f"the order is at status {order.status}")
    await _move(app, order, code, "", "Bưu cục Sài Gòn")
    return web.json_response({**order.as_json(), "deliveries": order.deliveries})


async def tick(request: web.Request) -> web.Response:
    return web.json_response({"moved": await _tick(request.app)})


async def _tick(app: web.Application) -> int:
    moved = 0
    for order in list(app[CARRIER].orders.values()):
        code = next_code(order, app[CONFIG].profile)
        if code is not None:
            await _move(app, order, code, "", "Bưu cục Sài Gòn")
            moved += 1
    return moved


FAULTS: Final = frozenset({"lost_answer", "unavailable", "invalid_answer"})


async def set_faults(request: web.Request) -> web.Response:
    data = await _json(request)
    if not isinstance(data, dict):
        return _error(422, "INVALID_FAULTS", "the body must be a JSON object")
    faults = data.get("create", [])
    if not isinstance(faults, list) or not all(f in FAULTS for f in faults):
        return _error(422, "INVALID_FAULTS", f"create must list faults among {sorted(FAULTS)}")
    pushes = data.get("pushes", "send")
    if pushes not in ("drop", "send"):
        return _error(422, "INVALID_FAULTS", "pushes must be drop or send")
    carrier = request.app[CARRIER]
    carrier.create_faults[:] = faults
    carrier.drop_pushes = pushes == "drop"
    return web.json_response({"create": faults, "pushes": pushes})


async def expire_tokens(request: web.Request) -> web.Response:
    tokens = request.app[CARRIER].tokens
    now = request.app[CONFIG].clock()
    for token in tokens:
        tokens[token] = now
    return web.json_response({"expired": len(tokens)})


async def list_orders(request: web.Request) -> web.Response:
    orders = request.app[CARRIER].orders.values()
    return web.json_response([{**o.as_json(), "deliveries": o.deliveries} for o in orders])


def _record(
    app: web.Application, order: CarrierOrder, code: int, note: str, location: str = ""
) -> dict[str, Any]:
    event = {
        "status": code,
        "time": wire.format_time(app[CONFIG].clock()),
        "location": location,
        "note": note,
    }
    order.status = code
    order.events.append(event)
    app[CARRIER].keep(order)
    return event


async def _move(
    app: web.Application, order: CarrierOrder, code: int, note: str, location: str = ""
) -> None:
    """Record the event and push it: once now, then in the background until acknowledged."""
    event = _record(app, order, code, note, location)
    if app[CARRIER].drop_pushes:
        order.deliveries.append(0)
        return
    push = {
        "item_code": order.item_code,
        "sale_order_code": order.request["sale_order_code"],
        **event,
    }
    if not await _attempt(app, order, push):
        app[BACKGROUND].start(_redeliver(app, order, push))


async def _redeliver(app: web.Application, order: CarrierOrder, push: dict[str, Any]) -> None:
    config = app[CONFIG]
    # Then gives up, as VNPost would; the order stays listed with its failed deliveries
    await redeliver(
        lambda: _attempt(app, order, push),
        tries=config.max_attempts - 1,
        interval=config.retry_seconds,
    )


async def _attempt(app: web.Application, order: CarrierOrder, push: dict[str, Any]) -> bool:
    config = app[CONFIG]
    signature = wire.webhook_signature(
        config.webhook_key, push["item_code"], push["status"], push["time"]
    )
    headers = {"Content-Type": "application/json", wire.SIGNATURE_HEADER: signature}
    try:
        async with app[SESSION].post(
            config.webhook_url, data=wire.encode_json(push), headers=headers
        ) as response:
            status = response.status
    except (aiohttp.ClientError, TimeoutError):
        status = 0
    order.deliveries.append(status)
    return 200 <= status < 300


# -- helpers ------------------------------------------------------------------------------


def s10_item_code(prefix: str, serial: int, country: str) -> str:
    """A UPU S10 item identifier: 2 letters, 8-digit serial, check digit, country code."""
    digits = f"{serial % 100_000_000:08d}"
    check = 11 - sum(int(d) * w for d, w in zip(digits, _S10_WEIGHTS, strict=True)) % 11
    check = {10: 0, 11: 5}.get(check, check)
    return f"{prefix}{digits}{check}{country}"


async def _json(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
