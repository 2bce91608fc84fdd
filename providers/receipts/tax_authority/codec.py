"""The tax authority's message envelope around a same-day receipt summary (or a notice of
receipt errors, 04/SS-CTĐT: the same envelope, ``MLTDiep`` ``error_notice``), and its answer.

Source: ``/work/shared/specs/e-receipts.md`` §6 (form 01/TH-BLĐT, sent the same day, signed)
and §9 (QĐ 1271/QĐ-CT: UTF-8; ``TTChung`` general information + ``DLieu`` data; sender and
receiver codes ``MNGui``/``MNNhan``; message id = ``MNGui`` + UUID v4 in upper case without
dashes; at most 2 MB per message; ``dateTime`` as ``YYYY-MM-DDThh:mm:ss`` in GMT+7).

**Unverified** (spec §9, §12: the tag tables of QĐ 1271 are not available in a reliable copy
and no format decision for NĐ 254 / TT 91 is known): the root element ``TDiep``, the other
``TTChung`` children (``PBan``, ``MLTDiep``, ``MTDTChieu``, ``MST``, ``SLuong``), the message
type codes, the answer's ``TBao`` shape and its ``TTTNhan`` values. They follow the tax
authority's e-invoice transport format of the previous regime and are kept as the data
below (:data:`TAGS`, :data:`MESSAGE_TYPES`) so that a published XSD replaces them in one
place. Request, in full::

    <TDiep>
      <TTChung>
        <PBan>2.1.0</PBan> <MNGui>K0312345678</MNGui> <MNNhan>TCT</MNNhan>
        <MLTDiep>400</MLTDiep> <MTDiep>K0312345678{UUID4 HEX UPPER}</MTDiep>
        <MTDTChieu/> <MST>0312345678</MST> <SLuong>1</SLuong>
      </TTChung>
      <DLieu>{the signed 01/TH-BLĐT document, byte for byte, without its XML declaration}</DLieu>
    </TDiep>

The signed summary travels unchanged (its XML-DSig stays valid once taken out of
``DLieu``). Answer (HTTP 200; ``MTDTChieu`` and ``TBao/MTDiep`` repeat our message id;
``TTTNhan`` 0 = accepted, 1 = rejected with the reasons in ``DSLDo``)::

    <TDiep>
      <TTChung> ... <MNGui>TCT</MNGui> <MLTDiep>999</MLTDiep> <MTDiep>TCT…</MTDiep>
                <MTDTChieu>{our message id}</MTDTChieu> ... </TTChung>
      <DLieu><TBao><MTDiep>{our message id}</MTDiep><NNhan>2026-11-22T09:00:00</NNhan>
             <TTTNhan>1</TTTNhan>
             <DSLDo><LDo><MLoi>BAD_SIGNATURE</MLoi><MTa>Chữ ký số không hợp lệ</MTa></LDo>
             </DSLDo></TBao></DLieu>
    </TDiep>

The reference of an accepted summary is the answer's own ``MTDiep``. Everything here is
pure: the UUID, the times and the summary are arguments.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID
from xml.etree.ElementTree import Element  # types only; parsing goes through defusedxml
from xml.sax.saxutils import escape
from zoneinfo import ZoneInfo

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring
from lxml import etree

from providers.receipts import schema

from .errors import INVALID_MESSAGE, MALFORMED, TOO_LARGE, TaxAuthorityError
from .settings import PARTY_CODE

#: QĐ 1271/QĐ-CT: a message may not exceed 2 MB (spec §9).
MAX_MESSAGE_BYTES: Final = schema.MAX_MESSAGE_BYTES
VIETNAM: Final = ZoneInfo("Asia/Ho_Chi_Minh")
#: The envelope's version (``PBan``). Unverified.
PROTOCOL_VERSION: Final = "2.1.0"
#: ``MLTDiep`` per message kind. Unverified: take the values from the current format decision.
#: ``error_notice`` carries a notice of receipt errors (04/SS-CTĐT), as ``300`` carried the
#: e-invoice error notice (04/SS-HĐĐT) of the previous regime.
MESSAGE_TYPES: Final = {"receipt_summary": "400", "error_notice": "300", "technical_answer": "999"}
#: ``TTTNhan`` of an answer: the message was taken (0) or refused (1). Unverified.
ANSWER_ACCEPTED: Final = "0"
ANSWER_REJECTED: Final = "1"
#: Element names (unverified, see the module docstring), in one place.
TAGS: Final = {
    "root": "TDiep",
    "header": "TTChung",
    "version": "PBan",
    "sender": "MNGui",
    "receiver": "MNNhan",
    "type": "MLTDiep",
    "id": "MTDiep",
    "answers": "MTDTChieu",
    "tax_code": "MST",
    "count": "SLuong",
    "data": "DLieu",
    "notice": "TBao",
    "received_at": "NNhan",
    "result": "TTTNhan",
    "reasons": "DSLDo",
    "reason": "LDo",
    "reason_code": "MLoi",
    "reason_text": "MTa",
}
TAX_CODE: Final = re.compile(r"^\d{10}(?:-?\d{3})?$")
_DECLARATION: Final = re.compile(rb"^\s*<\?xml[^>]*\?>\s*")
_BOM: Final = b"\xef\xbb\xbf"


@dataclass(frozen=True)
class Reason:
    """Why the tax authority refused a message: its code and its Vietnamese text."""

    code: str
    message_vi: str


@dataclass(frozen=True)
class Accepted:
    """The summary was taken; ``reference`` is the tax authority's id for its answer."""

    reference: str


@dataclass(frozen=True)
class Rejected:
    """The summary was refused, for these reasons (at least one)."""

    reasons: tuple[Reason, ...]


Answer = Accepted | Rejected


@dataclass(frozen=True)
class Message:
    """A message ready to send: its id (to send it again unchanged) and its bytes."""

    message_id: str
    body: bytes


def message_id(sender_code: str, uuid: UUID) -> str:
    """``MNGui`` + the UUID v4 in upper case without dashes (QĐ 1271, spec §9)."""
    if not PARTY_CODE.fullmatch(sender_code) or sender_code == "TCT":
        raise TaxAuthorityError(INVALID_MESSAGE, "the sender code is not V/K + a tax code")
    if uuid.version != 4:
        raise TaxAuthorityError(INVALID_MESSAGE, "a message id needs a version 4 UUID")
    return sender_code + uuid.hex.upper()


def xml_datetime(moment: datetime) -> str:
    """A QĐ 1271 ``dateTime``: wall-clock time in Vietnam (GMT+7), no offset."""
    if moment.tzinfo is None:
        raise ValueError("a timezone-aware time is required")
    return moment.astimezone(VIETNAM).strftime("%Y-%m-%dT%H:%M:%S")


def build_summary_message(
    summary_xml: bytes,
    *,
    sender_code: str,
    tax_code: str,
    uuid: UUID,
    receiver_code: str = "TCT",
) -> Message:
    """The envelope carrying one signed 01/TH-BLĐT summary of the agency ``tax_code``.

    Raises ``invalid_message`` (summary not UTF-8 XML, bad codes) or ``too_large`` (over
    :data:`MAX_MESSAGE_BYTES`), before anything is sent.
    """
    return build_message(
        summary_xml,
        "receipt_summary",
        sender_code=sender_code,
        tax_code=tax_code,
        uuid=uuid,
        receiver_code=receiver_code,
    )


def build_message(
    document: bytes,
    kind: str,
    *,
    sender_code: str,
    tax_code: str,
    uuid: UUID,
    receiver_code: str = "TCT",
) -> Message:
    """The envelope carrying one signed document of ``kind`` (a key of
    :data:`MESSAGE_TYPES`: ``receipt_summary``, ``error_notice``) of the agency ``tax_code``.

    Raises ``invalid_message`` (document not UTF-8 XML, bad codes, unknown kind) or
    ``too_large`` (over :data:`MAX_MESSAGE_BYTES`), before anything is sent.
    """
    if kind not in MESSAGE_TYPES or kind == "technical_answer":
        raise TaxAuthorityError(INVALID_MESSAGE, f"no message type for {kind!r}")
    if not TAX_CODE.fullmatch(tax_code):
        raise TaxAuthorityError(INVALID_MESSAGE, "the tax code must be 10 or 13 digits")
    if not PARTY_CODE.fullmatch(receiver_code):
        raise TaxAuthorityError(INVALID_MESSAGE, "the receiver code is not V/K + tax code or TCT")
    identifier = message_id(sender_code, uuid)
    header = _header(
        sender_code,
        receiver_code,
        MESSAGE_TYPES[kind],
        identifier,
        "",
        tax_code,
    )
    body = b"".join(
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n',
            f"<{TAGS['root']}>{header}<{TAGS['data']}>".encode(),
            document_body(document),
            f"</{TAGS['data']}></{TAGS['root']}>".encode(),
        )
    )
    if len(body) > MAX_MESSAGE_BYTES:
        raise TaxAuthorityError(
            TOO_LARGE, f"the message is {len(body)} bytes, over the {MAX_MESSAGE_BYTES} limit"
        )
    return Message(identifier, body)


def document_body(xml: bytes) -> bytes:
    """``xml`` without its BOM and XML declaration, once checked to be one well-formed UTF-8
    document without a DTD (so it can sit inside another document byte for byte)."""
    if not xml.strip():
        raise TaxAuthorityError(INVALID_MESSAGE, "the document is empty")
    _parse(xml, INVALID_MESSAGE)
    document = xml.removeprefix(_BOM)
    declaration = _DECLARATION.match(document)
    if declaration:
        encoding = re.search(rb"encoding\s*=\s*[\"']([^\"']+)", declaration[0])
        if encoding and encoding[1].lower() not in (b"utf-8", b"utf8"):
            raise TaxAuthorityError(INVALID_MESSAGE, "the document must be encoded in UTF-8")
        document = document[declaration.end() :]
    return document.rstrip()


def parse_answer(status: int, body: bytes, sent_id: str) -> Answer:
    """The tax authority's answer to the message ``sent_id``.

    Raises ``malformed`` when it is not the documented shape, not 200, or answers another
    message (the caller decides about 5xx before calling this).
    """
    if status != 200:
        raise TaxAuthorityError(MALFORMED, f"unexpected HTTP status {status}", status)
    root = _parse(body, MALFORMED)
    header = _child(root, "header")
    if _text(header, "answers") != sent_id:
        raise TaxAuthorityError(MALFORMED, "the answer is about another message")
    notice = _child(_child(root, "data"), "notice")
    result = _text(notice, "result")
    if result == ANSWER_ACCEPTED:
        return Accepted(_text(header, "id"))
    if result != ANSWER_REJECTED:
        raise TaxAuthorityError(MALFORMED, f"unknown {TAGS['result']} {result!r}")
    reasons = tuple(
        Reason(_text(item, "reason_code"), _text(item, "reason_text"))
        for item in _child(notice, "reasons").findall(TAGS["reason"])
    )
    if not reasons:
        raise TaxAuthorityError(MALFORMED, "a refusal without reasons")
    return Rejected(reasons)


# -- the receiving side (the sandbox, and tests) -----------------------------------------


@dataclass(frozen=True)
class ReceivedMessage:
    """A message as the tax authority reads it; ``document`` is the one element inside
    ``DLieu`` as a document of its own (its signature verifies as it was made)."""

    message_id: str
    sender_code: str
    receiver_code: str
    message_type: str
    tax_code: str
    document: bytes


def parse_message(body: bytes) -> ReceivedMessage:
    """The header and data of a message (raises ``malformed``)."""
    root = _parse(body, MALFORMED)
    if root.tag != TAGS["root"]:
        raise TaxAuthorityError(MALFORMED, f"the root element is not {TAGS['root']}")
    header = _child(root, "header")
    # lxml keeps the prefixes and namespace declarations the signer canonicalised; the
    # standard library would rename them. The text was already checked by defusedxml.
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    data = etree.fromstring(body, parser).find(TAGS["data"])
    children = [] if data is None else [c for c in data if isinstance(c.tag, str)]
    if len(children) != 1:
        raise TaxAuthorityError(MALFORMED, f"{TAGS['data']} must hold exactly one document")
    return ReceivedMessage(
        message_id=_text(header, "id"),
        sender_code=_text(header, "sender"),
        receiver_code=_text(header, "receiver"),
        message_type=_text(header, "type"),
        tax_code=_text(header, "tax_code"),
        document=etree.tostring(children[0], encoding="utf-8", with_tail=False),
    )


def build_answer(
    received: ReceivedMessage, answer: Answer, *, uuid: UUID, received_at: datetime
) -> bytes:
    """The tax authority's answer to ``received``; an :class:`Accepted` answer's
    ``reference`` must be the id the answer itself carries (``TCT`` + ``uuid``)."""
    identifier = "TCT" + uuid.hex.upper()
    header = _header(
        "TCT",
        received.sender_code,
        MESSAGE_TYPES["technical_answer"],
        identifier,
        received.message_id,
        received.tax_code,
    )
    t = TAGS
    if isinstance(answer, Accepted):
        result, reasons = ANSWER_ACCEPTED, ""
    else:
        result = ANSWER_REJECTED
        items = "".join(
            f"<{t['reason']}><{t['reason_code']}>{escape(r.code)}</{t['reason_code']}>"
            f"<{t['reason_text']}>{escape(r.message_vi)}</{t['reason_text']}></{t['reason']}>"
            for r in answer.reasons
        )
        reasons = f"<{t['reasons']}>{items}</{t['reasons']}>"
    notice = (
        f"<{t['notice']}><{t['id']}>{escape(received.message_id)}</{t['id']}>"
        f"<{t['received_at']}>{xml_datetime(received_at)}</{t['received_at']}>"
        f"<{t['result']}>{result}</{t['result']}>{reasons}</{t['notice']}>"
    )
    document = f"<{t['root']}>{header}<{t['data']}>{notice}</{t['data']}></{t['root']}>"
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + document.encode()


# -- helpers ------------------------------------------------------------------------------


def _header(
    sender: str, receiver: str, kind: str, identifier: str, answers: str, tax_code: str
) -> str:
    t = TAGS
    values = (
        ("version", PROTOCOL_VERSION),
        ("sender", sender),
        ("receiver", receiver),
        ("type", kind),
        ("id", identifier),
        ("answers", answers),
        ("tax_code", tax_code),
        ("count", "1"),
    )
    fields = "".join(f"<{t[name]}>{escape(value)}</{t[name]}>" for name, value in values)
    return f"<{t['header']}>{fields}</{t['header']}>"


def _parse(xml: bytes, code: str) -> Element:
    try:
        root: Element = fromstring(xml, forbid_dtd=True)
    except (ParseError, DefusedXmlException, ValueError) as exc:
        raise TaxAuthorityError(code, f"not well-formed XML: {type(exc).__name__}") from exc
    return root


def _child(parent: Element, name: str) -> Element:
    child = parent.find(TAGS[name])
    if child is None:
        raise TaxAuthorityError(MALFORMED, f"{parent.tag} has no {TAGS[name]}")
    return child


def _text(parent: Element, name: str) -> str:
    return (_child(parent, name).text or "").strip()
