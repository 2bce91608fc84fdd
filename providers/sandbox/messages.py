"""Zalo ZNS and eSMS, in memory: where the gateway's citizen notifications go in sandbox
mode and in tests. Mounted at ``/sandbox/messages``.

Provider routes (the protocols of :mod:`providers.notify.zalo_zns.codec` and
:mod:`providers.notify.sms.codec`)::

    POST /zns/message/template      checks the ``access_token`` header and the fields, answers
         ``{"error": 0, "data": {"msg_id", "sent_time", "quota"}}`` — or ``-118`` for a number
         switched to "no Zalo account", a template error for a template switched to "rejected",
         ``-124`` for a wrong token. The same ``tracking_id`` again answers the first msg_id.
    POST /esms/MainService.svc/json/SendMultipleMessage_V4_post_json/
         checks ApiKey/SecretKey (101), the text (GSM-7, no diacritics), answers
         ``{"CodeResult": "100", "SMSID"}``; the same ``RequestId`` again answers 124

Control routes (unsigned; they stand for the network and the handset)::

    GET  /                  an HTML page of every message received
    GET  /list              the same as JSON (newest last)
    POST /switches          {"no_zalo_account": ["84…"], "reject_templates": ["<id>"],
                             "unavailable": n}: numbers without Zalo, templates refused, and
                             the next n sends answered 503
    POST /{message_id}/receipt   the handset got it: the provider's delivery receipt is sent
         to the gateway now (again when called again: a replayed receipt); answers what the
         gateway answered. With ``auto_receipt_seconds`` set, every accepted message gets its
         receipt that long after it was accepted.
"""

from __future__ import annotations

import asyncio
import html
import json
import re
import secrets
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from providers.sandbox.redelivery import Background

ZNS_TEMPLATE_REJECTED = -109
_ZNS_PHONE = re.compile(r"84[0-9]{9,10}")
_GSM_TEXT = re.compile(r"[A-Za-z0-9 \n!\"$'()*+,\-./:;=>?_]*")


@dataclass
class SandboxMessagesConfig:
    zns_access_token: str
    esms_api_key: str
    esms_secret_key: str
    #: Where delivery receipts go (the gateway's callbacks, with their secret path segment).
    zns_receipt_url: str
    sms_receipt_url: str
    auto_receipt_seconds: float | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))


@dataclass
class Received:
    message_id: str
    channel: str  # zns | sms
    tracking_id: str
    phone: str
    received_at: datetime
    template_id: str | None = None
    template_data: dict[str, Any] = field(default_factory=dict)
    text: str | None = None
    #: HTTP status of each delivery receipt sent to the gateway.
    receipts: list[int] = field(default_factory=list)
    #: How many sends carried this tracking id (a repeat is answered, never delivered twice).
    sends: int = 1

    def as_json(self) -> dict[str, Any]:
        return {
            "message_id": self.message_id,
            "channel": self.channel,
            "tracking_id": self.tracking_id,
            "phone": self.phone,
            "template_id": self.template_id,
            "template_data": self.template_data,
            "text": self.text,
            "received_at": self.received_at.isoformat(),
            "receipts": self.receipts,
            "sends": self.sends,
        }


@dataclass
class Switches:
    no_zalo_account: set[str] = field(default_factory=set)
    reject_templates: set[str] = field(default_factory=set)
    unavailable: int = 0


CONFIG = web.AppKey("sandbox_messages_config", SandboxMessagesConfig)
MESSAGES = web.AppKey("sandbox_messages", dict[str, Received])
BY_TRACKING = web.AppKey("sandbox_messages_by_tracking", dict[tuple[str, str], str])
SWITCHES = web.AppKey("sandbox_messages_switches", Switches)
SESSION = web.AppKey("sandbox_messages_session", aiohttp.ClientSession)
WORK = web.AppKey("sandbox_messages_work", Background)


def create_messages_app(config: SandboxMessagesConfig) -> web.Application:
    app = web.Application()
    app[CONFIG] = config
    app[MESSAGES] = {}
    app[BY_TRACKING] = {}
    app[SWITCHES] = Switches()
    app[WORK] = Background()
    app.cleanup_ctx.append(_session)
    app.router.add_post("/zns/message/template", zns_send)
    app.router.add_post("/esms/MainService.svc/json/SendMultipleMessage_V4_post_json/", sms_send)
    app.router.add_get("/", page)
    app.router.add_get("/list", listing)
    app.router.add_post("/switches", switches)
    app.router.add_post("/{message_id}/receipt", receipt)
    return app


async def _session(app: web.Application) -> AsyncIterator[None]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        app[SESSION] = session
        yield
        await app[WORK].cancel()


async def _json(request: web.Request) -> dict[str, Any] | None:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) else None


def _unavailable(app: web.Application) -> bool:
    switches = app[SWITCHES]
    if switches.unavailable > 0:
        switches.unavailable -= 1
        return True
    return False


def _accept(app: web.Application, message: Received) -> None:
    app[MESSAGES][message.message_id] = message
    app[BY_TRACKING][(message.channel, message.tracking_id)] = message.message_id
    delay = app[CONFIG].auto_receipt_seconds
    if delay is not None:
        app[WORK].start(_later(app, message, delay))


async def _later(app: web.Application, message: Received, delay: float) -> None:
    await asyncio.sleep(delay)
    await _send_receipt(app, message)


async def zns_send(request: web.Request) -> web.Response:
    app, config = request.app, request.app[CONFIG]
    if _unavailable(app):
        return web.json_response({"error": -1, "message": "unavailable"}, status=503)
    if request.headers.get("access_token") != config.zns_access_token:
        return web.json_response({"error": -124, "message": "Access token is invalid"})
    data = await _json(request)
    if data is None:
        return web.json_response({"error": -100, "message": "Body is not JSON"})
    phone, template_id = data.get("phone"), data.get("template_id")
    tracking_id, template_data = data.get("tracking_id"), data.get("template_data")
    if not isinstance(phone, str) or not _ZNS_PHONE.fullmatch(phone):
        return web.json_response({"error": -108, "message": "Phone number is invalid"})
    if not isinstance(template_id, str) or not isinstance(template_data, dict):
        return web.json_response({"error": -112, "message": "Template data is invalid"})
    if not isinstance(tracking_id, str) or not tracking_id:
        return web.json_response({"error": -100, "message": "tracking_id is required"})
    if phone in app[SWITCHES].no_zalo_account:
        return web.json_response({"error": -118, "message": "Zalo account not existed"})
    if template_id in app[SWITCHES].reject_templates:
        return web.json_response(
            {"error": ZNS_TEMPLATE_REJECTED, "message": "Template is invalid or not approved"}
        )
    now = config.clock()
    known = app[BY_TRACKING].get(("zns", tracking_id))
    msg_id = known or secrets.token_hex(16)
    if known is not None:
        app[MESSAGES][known].sends += 1
    else:
        _accept(
            app,
            Received(
                msg_id,
                "zns",
                tracking_id,
                phone,
                now,
                template_id=template_id,
                template_data=template_data,
            ),
        )
    return web.json_response(
        {
            "error": 0,
            "message": "Success",
            "data": {
                "msg_id": msg_id,
                "sent_time": str(int(now.timestamp() * 1000)),
                "sending_mode": "1",
                "quota": {"dailyQuota": "500", "remainingQuota": "499"},
            },
        }
    )


async def sms_send(request: web.Request) -> web.Response:
    app, config = request.app, request.app[CONFIG]
    if _unavailable(app):
        return web.json_response({"CodeResult": "99"}, status=503)
    data = await _json(request)
    if data is None:
        return web.json_response({"CodeResult": "99", "ErrorMessage": "Body is not JSON"})
    if data.get("ApiKey") != config.esms_api_key or data.get("SecretKey") != config.esms_secret_key:
        return web.json_response({"CodeResult": "101", "ErrorMessage": "Authorize failed"})
    content, phone, request_id = data.get("Content"), data.get("Phone"), data.get("RequestId")
    if not isinstance(content, str) or not _GSM_TEXT.fullmatch(content) or len(content) > 459:
        return web.json_response({"CodeResult": "146", "ErrorMessage": "Content not allowed"})
    if not isinstance(phone, str) or not phone.isdigit() or not isinstance(request_id, str):
        return web.json_response({"CodeResult": "99", "ErrorMessage": "Phone or RequestId"})
    known = app[BY_TRACKING].get(("sms", request_id))
    if known is not None:
        app[MESSAGES][known].sends += 1
        return web.json_response({"CodeResult": "124", "ErrorMessage": "Duplicate RequestId"})
    sms_id = secrets.token_hex(12)
    _accept(app, Received(sms_id, "sms", request_id, phone, config.clock(), text=content))
    return web.json_response({"CodeResult": "100", "CountRegenerate": 0, "SMSID": sms_id})


async def listing(request: web.Request) -> web.Response:
    return web.json_response([m.as_json() for m in request.app[MESSAGES].values()])


async def page(request: web.Request) -> web.Response:
    rows = "".join(
        "<tr>"
        f"<td>{html.escape(m.received_at.isoformat(timespec='seconds'))}</td>"
        f"<td>{m.channel}</td><td>{html.escape(m.phone)}</td>"
        f"<td>{html.escape(m.text or (m.template_id or '') + ' ' + json.dumps(m.template_data, ensure_ascii=False))}</td>"  # noqa: E501
        f"<td>{', '.join(str(s) for s in m.receipts) or '–'}</td>"
        f'<td><form method="post" action="{html.escape(m.message_id)}/receipt">'
        "<button>Gửi báo nhận</button></form></td></tr>"
        for m in reversed(list(request.app[MESSAGES].values()))
    )
    text = (
        '<!doctype html><html lang="vi"><head><meta charset="utf-8"><link rel="icon" '
        'href="data:,"><title>Tin nhắn đã gửi (sandbox)</title></head><body>'
        "<h1>Tin nhắn Zalo ZNS và SMS đã nhận (sandbox)</h1>"
        '<p><a href="list">JSON</a></p><table border="1"><thead><tr><th>Lúc</th><th>Kênh</th>'
        "<th>Số</th><th>Nội dung</th><th>Báo nhận</th><th></th></tr></thead>"
        f"<tbody>{rows}</tbody></table></body></html>"
    )
    return web.Response(text=text, content_type="text/html")


async def switches(request: web.Request) -> web.Response:
    data = await _json(request)
    if data is None:
        return web.json_response({"code": "malformed_json"}, status=400)
    current = request.app[SWITCHES]
    if isinstance(data.get("no_zalo_account"), list):
        current.no_zalo_account = {str(p) for p in data["no_zalo_account"]}
    if isinstance(data.get("reject_templates"), list):
        current.reject_templates = {str(t) for t in data["reject_templates"]}
    if type(data.get("unavailable")) is int:
        current.unavailable = data["unavailable"]
    return web.json_response(
        {
            "no_zalo_account": sorted(current.no_zalo_account),
            "reject_templates": sorted(current.reject_templates),
            "unavailable": current.unavailable,
        }
    )


async def receipt(request: web.Request) -> web.Response:
    message = request.app[MESSAGES].get(request.match_info["message_id"])
    if message is None:
        return web.json_response({"code": "unknown_message"}, status=404)
    status, body = await _send_receipt(request.app, message)
    return web.json_response({"gateway_status": status, "gateway_answer": body})


async def _send_receipt(app: web.Application, message: Received) -> tuple[int, Any]:
    config, session = app[CONFIG], app[SESSION]
    now_ms = str(int(config.clock().timestamp() * 1000))
    try:
        if message.channel == "zns":
            event = {
                "app_id": "sandbox",
                "event_name": "user_received_message",
                "timestamp": now_ms,
                "message": {"msg_id": message.message_id, "delivery_time": now_ms},
            }
            call = session.post(config.zns_receipt_url, json=event)
        else:
            query = {
                "SMSID": message.message_id,
                "SendStatus": "5",
                "SendSuccess": "1",
                "SendFailed": "0",
                "TypeId": "2",
                "telcoid": "1",
            }
            call = session.get(f"{config.sms_receipt_url}?{urlencode(query)}")
        async with call as response:
            status = response.status
            try:
                body: Any = await response.json(content_type=None)
            except (json.JSONDecodeError, UnicodeDecodeError):
                body = None
    except (aiohttp.ClientError, TimeoutError):
        status, body = 0, None
    message.receipts.append(status)
    return status, body
