"""Form 04/SS-CTĐT (notice of receipt errors, TT 91/2026 Điều 20) as XML, pure, and its
message to the tax authority's sandbox: the receipt concerned (template, symbol, number,
date), the kind of error and the reason; the names from the one schema module; a bad value
refused with a stable code; the notice travels as its own message type and an unsigned one
is refused with the notice's own reason text."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any
from uuid import UUID

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from lxml import etree

from providers.receipts import schema
from providers.receipts.error_notice import ErrorNotice, NoticeRow, build_notice_xml
from providers.receipts.errors import InvalidDocument
from providers.receipts.tax_authority import (
    MESSAGE_TYPES,
    Reason,
    Rejected,
    TaxAuthorityClient,
    TaxAuthorityEndpoint,
    TaxAuthorityError,
    build_message,
    parse_message,
)
from providers.sandbox.tax_authority import SandboxTaxAuthorityConfig, create_tax_authority_app

SENDER = "K0312345678"
TAX_CODE = "0312345678"
UUID_1 = UUID("3f2b8c1e-9d4a-4c6b-8e2f-1a2b3c4d5e6f")
NOW = datetime(2026, 11, 23, 2, 0, tzinfo=UTC)
ROW = NoticeRow(
    template_code="EBL01",
    symbol="26TAB",
    number=42,
    issued_on=date(2026, 11, 22),
    error_kind="Tên người nộp; Số tiền bằng chữ",
    reason="Ghi sai họ tên người nộp",
)
NOTICE = ErrorNotice(
    reference="rtn_abc123",
    agency_name="Sở Tư pháp Thành phố Hồ Chí Minh",
    agency_tax_code=TAX_CODE,
    notified_on=date(2026, 11, 23),
    rows=(ROW,),
    created_at=NOW,
)


def test_the_notice_names_the_receipt_the_error_and_the_reason() -> None:
    root = etree.fromstring(build_notice_xml(NOTICE))

    assert root.tag == schema.ENVELOPE["notice_root"] and root.get("Id") == "TB-rtn_abc123"
    head = root.find(schema.ENVELOPE["general"])
    assert head is not None
    general = schema.NOTICE_GENERAL
    assert head.findtext(general["form"]) == "04/SS-CTĐT"
    assert head.findtext(general["notified_on"]) == "2026-11-23"
    assert head.findtext(general["created_at"]) == "2026-11-23T09:00:00"  # GMT+7
    assert head.findtext(general["collector_tax_code"]) == TAX_CODE
    data = schema.NOTICE_DATA
    [row] = root.iter(data["row"])
    assert [(child.tag, child.text) for child in row] == [
        (data["row_number"], "1"),
        (data["template_code"], "EBL01"),
        (data["symbol"], "26TAB"),
        (data["number"], "42"),
        (data["issued_on"], "2026-11-22"),
        (data["nature"], "Giải trình"),
        (data["error_kind"], "Tên người nộp; Số tiền bằng chữ"),
        (data["reason"], "Ghi sai họ tên người nộp"),
    ]
    signatures = root.find(schema.ENVELOPE["signatures"])
    assert signatures is not None and len(signatures) == 0  # the signer's place


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"symbol": "26TAF"}, "invalid_symbol"),  # F is not one of the 20 letters
        ({"template_code": "EBL03"}, "invalid_template_code"),
        ({"number": 0}, "invalid_number"),
        ({"reason": "  "}, "invalid_document"),
        ({"error_kind": ""}, "invalid_document"),
    ],
)
def test_a_bad_row_is_refused_with_a_stable_code(change: dict[str, Any], code: str) -> None:
    bad = ErrorNotice(**{**NOTICE.__dict__, "rows": (NoticeRow(**{**ROW.__dict__, **change}),)})
    with pytest.raises(InvalidDocument) as refused:
        build_notice_xml(bad)
    assert refused.value.code == code


def test_a_notice_without_a_receipt_or_with_a_bad_tax_code_is_refused() -> None:
    for bad, code in (
        (ErrorNotice(**{**NOTICE.__dict__, "rows": ()}), "invalid_document"),
        (ErrorNotice(**{**NOTICE.__dict__, "agency_tax_code": "123"}), "invalid_tax_code"),
    ):
        with pytest.raises(InvalidDocument) as refused:
            build_notice_xml(bad)
        assert refused.value.code == code


def test_the_notice_travels_as_its_own_message_type() -> None:
    message = build_message(
        build_notice_xml(NOTICE), "error_notice", sender_code=SENDER, tax_code=TAX_CODE, uuid=UUID_1
    )

    received = parse_message(message.body)
    assert (
        received.message_type == MESSAGE_TYPES["error_notice"] != MESSAGE_TYPES["receipt_summary"]
    )
    assert received.message_id == SENDER + UUID_1.hex.upper()
    with pytest.raises(TaxAuthorityError) as refused:
        build_message(
            b"<a/>", "technical_answer", sender_code=SENDER, tax_code=TAX_CODE, uuid=UUID_1
        )
    assert refused.value.code == "invalid_message"


@pytest.fixture
async def client(aiohttp_server: Any) -> AsyncIterator[TaxAuthorityClient]:
    server: TestServer = await aiohttp_server(
        create_tax_authority_app(SandboxTaxAuthorityConfig(clock=lambda: NOW))
    )
    endpoint = TaxAuthorityEndpoint(str(server.make_url("/")), SENDER)
    async with aiohttp.ClientSession() as session:
        yield TaxAuthorityClient(session, endpoint, 0.5, connect_wait_seconds=0.01)


async def test_an_unsigned_notice_is_refused_with_the_notices_reason(
    client: TaxAuthorityClient,
) -> None:
    message = client.notice_message(build_notice_xml(NOTICE), tax_code=TAX_CODE, uuid=UUID_1)

    answer = await client.send(message)

    assert answer == Rejected(
        (Reason("UNSIGNED", "Thông báo biên lai điện tử có sai sót chưa được ký số"),)
    )
