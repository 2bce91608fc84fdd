"""The tax authority's message endpoint, in memory: where same-day receipt summaries
(01/TH-BLĐT) and notices of receipt errors (04/SS-CTĐT) go.

``POST {path}`` (``/messages``) speaks the envelope of
:mod:`providers.receipts.tax_authority.codec` and answers 200 with the tax authority's
verdict: accepted (the answer's id is the reference), or rejected with reasons when the
receiver is not ``TCT``, the message id is not the sender's ``MNGui`` + 32 upper-case hex
digits, the message type is neither a receipt summary nor an error notice, the document
carries no XML-DSig ``Signature`` (``UNSIGNED``), or its signature does not verify
(``BAD_SIGNATURE``, when the sandbox was given a ``verify_signature`` function). A message id
it has already answered gets the same answer again, and is not kept twice (its
``deliveries`` counts every copy that arrived). A body over 2 MB is refused with 413.

What happens to the next messages is scripted by an unsigned control route (it stands for
the tax authority's systems, not for the protocol)::

    POST /sandbox/faults  {"next": [{"outcome": "reject", "reasons": [{"code": "...",
                                      "message": "..."}]},
                                     {"outcome": "timeout"}, {"outcome": "unavailable"}]}
         consumed one per message: ``reject`` refuses it with these reasons (default: one
         scripted reason); ``timeout`` takes and accepts it but never answers (the caller's
         timeout fires; the same message sent again gets the answer); ``unavailable``
         answers 503 and keeps nothing
    GET  /sandbox/messages  every message kept, oldest first, with its verdict
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from uuid import UUID, uuid4

from aiohttp import web
from defusedxml.ElementTree import fromstring

from providers.receipts.errors import ReceiptError
from providers.receipts.signer import verify_xml
from providers.receipts.tax_authority import codec
from providers.receipts.tax_authority.codec import Accepted, Reason, Rejected
from providers.receipts.tax_authority.errors import TaxAuthorityError

DSIG_SIGNATURE: Final = "{http://www.w3.org/2000/09/xmldsig#}Signature"
#: Reasons the sandbox gives, with their Vietnamese texts. The real codes are unverified.
#: The texts that name the document, for a notice (04/SS-CTĐT) rather than a summary.
NOTICE_REASONS: Final = {
    "UNSIGNED": "Thông báo biên lai điện tử có sai sót chưa được ký số",
    "BAD_SIGNATURE": "Chữ ký số trên thông báo biên lai điện tử có sai sót không hợp lệ",
}
REASONS: Final = {
    "WRONG_RECEIVER": "Mã nơi nhận không phải Tổng cục Thuế (TCT)",
    "BAD_MESSAGE_ID": "Mã thông điệp không đúng quy định (MNGui + UUID viết hoa, không dấu gạch)",
    "WRONG_TYPE": "Loại thông điệp không phải bảng tổng hợp hay thông báo sai sót biên lai điện tử",
    "UNSIGNED": "Bảng tổng hợp dữ liệu biên lai điện tử chưa được ký số",
    "BAD_SIGNATURE": "Chữ ký số trên bảng tổng hợp không hợp lệ",
    "SCRIPTED": "Dữ liệu bảng tổng hợp không hợp lệ (lỗi giả lập)",
}
OUTCOMES: Final = frozenset({"reject", "timeout", "unavailable"})
#: The message types taken, by their ``MLTDiep``.
KINDS: Final = {codec.MESSAGE_TYPES[kind]: kind for kind in ("receipt_summary", "error_notice")}


@dataclass
class SandboxTaxAuthorityConfig:
    #: ``verify_signature(document) -> bool`` checks a summary's XML-DSig; without it the
    #: sandbox only checks that a signature is there.
    verify_signature: Callable[[bytes], bool] | None = None
    path: str = "/messages"
    #: How long a ``timeout`` message is held at most (it is released at shutdown anyway).
    hold_seconds: float = 300.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    uuids: Callable[[], UUID] = uuid4


def sandbox_ca_verifier(directory: Path) -> Callable[[bytes], bool]:
    """A ``verify_signature`` for sandbox mode: a summary verifies when :func:`verify_xml`
    accepts it against any sandbox CA the gateway made under ``directory``
    (``<agency code>/sandbox-ca.pem``, read at each check, as the CAs appear at start-up).
    Without any CA there, every signature present passes."""

    def verify(document: bytes) -> bool:
        authorities = sorted(directory.glob("*/sandbox-ca.pem"))
        if not authorities:
            return True
        for authority in authorities:
            try:
                verify_xml(document, authority.read_bytes())
            except (ReceiptError, ValueError):
                continue
            return True
        return False

    return verify


@dataclass
class Scripted:
    outcome: str
    reasons: tuple[Reason, ...] = ()


@dataclass
class Office:
    received: list[dict[str, Any]] = field(default_factory=list)
    answers: dict[str, bytes] = field(default_factory=dict)  # by message id
    script: list[Scripted] = field(default_factory=list)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    #: Set whenever a message arrives (a test awaits it to act while a send is in flight).
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


CONFIG = web.AppKey("sandbox_tax_authority_config", SandboxTaxAuthorityConfig)
OFFICE = web.AppKey("sandbox_tax_authority_office", Office)


def create_tax_authority_app(config: SandboxTaxAuthorityConfig) -> web.Application:
    app = web.Application(client_max_size=codec.MAX_MESSAGE_BYTES * 2)
    app[CONFIG] = config
    app[OFFICE] = Office()
    app.on_shutdown.append(_release)
    app.router.add_post("/" + config.path.strip("/"), receive)
    app.router.add_post("/sandbox/faults", set_faults)
    app.router.add_get("/sandbox/messages", list_messages)
    return app


async def _release(app: web.Application) -> None:
    app[OFFICE].released.set()


async def receive(request: web.Request) -> web.Response:
    app = request.app
    office, config = app[OFFICE], app[CONFIG]
    body = await request.read()
    if len(body) > codec.MAX_MESSAGE_BYTES:
        return web.Response(status=413, text="the message is over 2 MB")
    scripted = office.script.pop(0) if office.script else None
    if scripted is not None and scripted.outcome == "unavailable":
        return web.Response(status=503, text="the service is unavailable (sandbox fault)")
    try:
        message = codec.parse_message(body)
    except TaxAuthorityError as error:
        return web.Response(status=400, text=error.message)
    office.arrived.set()
    answer = office.answers.get(message.message_id)
    for kept in office.received:
        if kept["message_id"] == message.message_id:
            kept["deliveries"] += 1
    if answer is None:
        answer = _answer(config, office, message, scripted)
    elif scripted is None or scripted.outcome != "timeout":
        for kept in office.received:  # the same message again: answered this time
            if kept["message_id"] == message.message_id:
                kept["answered"] = True
    if scripted is not None and scripted.outcome == "timeout":
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(office.released.wait(), config.hold_seconds)
    return web.Response(body=answer, content_type="application/xml", charset="utf-8")


def _answer(
    config: SandboxTaxAuthorityConfig,
    office: Office,
    message: codec.ReceivedMessage,
    scripted: Scripted | None,
) -> bytes:
    reasons = _reasons(config, message)
    if not reasons and scripted is not None and scripted.outcome == "reject":
        reasons = list(scripted.reasons) or [Reason("SCRIPTED", REASONS["SCRIPTED"])]
    uuid = config.uuids()
    verdict: codec.Answer = (
        Rejected(tuple(reasons)) if reasons else Accepted("TCT" + uuid.hex.upper())
    )
    answer = codec.build_answer(message, verdict, uuid=uuid, received_at=config.clock())
    office.answers[message.message_id] = answer
    office.received.append(
        {
            "message_id": message.message_id,
            "sender_code": message.sender_code,
            "tax_code": message.tax_code,
            "received_at": config.clock().isoformat(),
            "outcome": "accepted" if isinstance(verdict, Accepted) else "rejected",
            "reference": verdict.reference if isinstance(verdict, Accepted) else None,
            "reasons": [{"code": r.code, "message": r.message_vi} for r in reasons],
            "answered": scripted is None or scripted.outcome != "timeout",
            "kind": KINDS.get(message.message_type),
            "deliveries": 1,
            "document": message.document.decode(),
            "summary": message.document.decode(),  # the name before notices were sent too
        }
    )
    return answer


def _reasons(config: SandboxTaxAuthorityConfig, message: codec.ReceivedMessage) -> list[Reason]:
    found: list[str] = []
    if message.receiver_code != "TCT":
        found.append("WRONG_RECEIVER")
    sender = re.escape(message.sender_code)
    if not re.fullmatch(rf"{sender}[0-9A-F]{{32}}", message.message_id):
        found.append("BAD_MESSAGE_ID")
    if message.message_type not in KINDS:
        found.append("WRONG_TYPE")
    if DSIG_SIGNATURE not in _tags(message.document):
        found.append("UNSIGNED")
    elif config.verify_signature is not None and not config.verify_signature(message.document):
        found.append("BAD_SIGNATURE")
    texts = REASONS
    if KINDS.get(message.message_type) == "error_notice":
        texts = {**REASONS, **NOTICE_REASONS}
    return [Reason(code, texts[code]) for code in found]


def _tags(document: bytes) -> set[str]:
    return {element.tag for element in fromstring(document).iter()}


async def set_faults(request: web.Request) -> web.Response:
    try:
        data = await request.json()
        items = data["next"]
        script = [
            Scripted(
                item["outcome"],
                tuple(Reason(r["code"], r["message"]) for r in item.get("reasons", [])),
            )
            for item in items
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        return web.json_response({"detail": f"bad fault script: {exc}"}, status=422)
    if not all(s.outcome in OUTCOMES for s in script):
        return web.json_response({"detail": f"outcome must be in {sorted(OUTCOMES)}"}, status=422)
    request.app[OFFICE].script[:] = script
    return web.json_response({"next": [s.outcome for s in script]})


async def list_messages(request: web.Request) -> web.Response:
    return web.json_response(request.app[OFFICE].received)
