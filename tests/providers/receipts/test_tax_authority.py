"""The tax-authority connector against the sandbox tax authority, nothing patched: a signed
summary is accepted, refused with reasons, or left without an answer (retryable), and a
message over 2 MB never leaves."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from providers.receipts.tax_authority import (
    MAX_MESSAGE_BYTES,
    Accepted,
    Reason,
    Rejected,
    TaxAuthorityClient,
    TaxAuthorityEndpoint,
    TaxAuthorityError,
    build_answer,
    build_summary_message,
    message_id,
    parse_answer,
    parse_message,
)
from providers.sandbox.tax_authority import SandboxTaxAuthorityConfig, create_tax_authority_app

SENDER = "K0312345678"
TAX_CODE = "0312345678"
UUID_1 = UUID("3f2b8c1e-9d4a-4c6b-8e2f-1a2b3c4d5e6f")
UUID_2 = UUID("7c9e6679-7425-40de-944b-e07fc1f90ae7")
NOW = datetime(2026, 11, 22, 10, 30, tzinfo=UTC)

SIGNED_SUMMARY = """<?xml version="1.0" encoding="UTF-8"?>
<BTHDLieu xmlns:ds="http://www.w3.org/2000/09/xmldsig#" Id="BTH-1">
  <DLBTHop><TTChung><MST>0312345678</MST><TNNT>Sở Tư pháp tỉnh Demo</TNNT></TTChung>
    <NDBTHDLieu><DSDLieu><DLieu><STT>1</STT><KHMSBLai>EBL01</KHMSBLai><KHBLai>26TAB</KHBLai>
      <SBLai>1</SBLai><NLap>2026-11-22</NLap><TLPhi>Lệ phí cấp đổi giấy phép lái xe</TLPhi>
      <STien>135000</STien><TThai>Mới</TThai></DLieu></DSDLieu></NDBTHDLieu></DLBTHop>
  <ds:Signature><ds:SignedInfo/><ds:SignatureValue>c2lnbmVk</ds:SignatureValue></ds:Signature>
</BTHDLieu>
""".encode()
UNSIGNED_SUMMARY = b'<?xml version="1.0" encoding="UTF-8"?><BTHDLieu><DLBTHop/></BTHDLieu>'


# -- the envelope, pure -------------------------------------------------------------------


def test_message_id_is_the_sender_code_and_the_uuid4_upper_case_without_dashes() -> None:
    assert message_id(SENDER, UUID_1) == "K03123456783F2B8C1E9D4A4C6B8E2F1A2B3C4D5E6F"


def test_a_uuid_that_is_not_version_4_makes_no_message_id() -> None:
    with pytest.raises(TaxAuthorityError) as caught:
        message_id(SENDER, UUID("6ba7b810-9dad-11d1-80b4-00c04fd430c8"))  # version 1
    assert caught.value.code == "invalid_message"


def test_the_envelope_carries_ttchung_and_the_signed_summary_byte_for_byte() -> None:
    message = build_summary_message(
        SIGNED_SUMMARY, sender_code=SENDER, tax_code=TAX_CODE, uuid=UUID_1
    )
    assert message.message_id == SENDER + UUID_1.hex.upper()
    received = parse_message(message.body)
    assert (received.sender_code, received.receiver_code) == (SENDER, "TCT")
    assert received.message_id == message.message_id
    assert received.tax_code == TAX_CODE
    body = SIGNED_SUMMARY.split(b"?>", 1)[1].strip()
    assert body in message.body  # not re-serialised: the signature stays valid
    assert received.document == body


def test_a_summary_that_is_not_xml_is_refused_before_anything_is_built() -> None:
    with pytest.raises(TaxAuthorityError) as caught:
        build_summary_message(b"<BTHDLieu>", sender_code=SENDER, tax_code=TAX_CODE, uuid=UUID_1)
    assert caught.value.code == "invalid_message"
    assert not caught.value.retryable


def test_a_summary_with_a_dtd_is_refused() -> None:
    xml = b'<!DOCTYPE x [<!ENTITY e "boom">]><BTHDLieu>&e;</BTHDLieu>'
    with pytest.raises(TaxAuthorityError) as caught:
        build_summary_message(xml, sender_code=SENDER, tax_code=TAX_CODE, uuid=UUID_1)
    assert caught.value.code == "invalid_message"


def test_a_bad_tax_code_or_sender_code_is_refused() -> None:
    with pytest.raises(TaxAuthorityError):
        build_summary_message(SIGNED_SUMMARY, sender_code=SENDER, tax_code="031234", uuid=UUID_1)
    with pytest.raises(TaxAuthorityError):
        build_summary_message(SIGNED_SUMMARY, sender_code="X1", tax_code=TAX_CODE, uuid=UUID_1)
    with pytest.raises(ValueError, match="sender_code"):
        TaxAuthorityEndpoint("https://tct.example", "0312345678")


def test_an_answer_about_another_message_is_malformed() -> None:
    message = build_summary_message(
        SIGNED_SUMMARY, sender_code=SENDER, tax_code=TAX_CODE, uuid=UUID_1
    )
    received = parse_message(message.body)
    answer = build_answer(
        received, Accepted("TCT" + UUID_2.hex.upper()), uuid=UUID_2, received_at=NOW
    )
    assert parse_answer(200, answer, message.message_id) == Accepted("TCT" + UUID_2.hex.upper())
    with pytest.raises(TaxAuthorityError) as caught:
        parse_answer(200, answer, SENDER + UUID_2.hex.upper())
    assert caught.value.code == "malformed"


def test_a_refusal_keeps_every_reason_in_vietnamese() -> None:
    message = build_summary_message(
        SIGNED_SUMMARY, sender_code=SENDER, tax_code=TAX_CODE, uuid=UUID_1
    )
    reasons = (Reason("E01", "Sai mã số thuế"), Reason("E02", "Số biên lai trùng & lặp"))
    answer = build_answer(
        parse_message(message.body), Rejected(reasons), uuid=UUID_2, received_at=NOW
    )
    assert parse_answer(200, answer, message.message_id) == Rejected(reasons)


# -- against the sandbox ------------------------------------------------------------------


@dataclass
class World:
    client: TaxAuthorityClient
    office: aiohttp.ClientSession  # the sandbox's control routes

    async def messages(self) -> list[dict[str, Any]]:
        async with self.office.get("/sandbox/messages") as response:
            return list(await response.json())

    async def script(self, *outcomes: dict[str, Any]) -> None:
        async with self.office.post("/sandbox/faults", json={"next": list(outcomes)}) as r:
            assert r.status == 200


async def _world(aiohttp_server: Any, config: SandboxTaxAuthorityConfig) -> AsyncIterator[World]:
    server: TestServer = await aiohttp_server(create_tax_authority_app(config))
    endpoint = TaxAuthorityEndpoint(str(server.make_url("/")), SENDER)
    async with (
        aiohttp.ClientSession() as session,
        aiohttp.ClientSession(server.make_url("/")) as office,
    ):
        yield World(TaxAuthorityClient(session, endpoint, 0.5, connect_wait_seconds=0.01), office)


@pytest.fixture
async def world(aiohttp_server: Any) -> AsyncIterator[World]:
    uuids = iter([UUID_2, UUID("9b2d3f6e-5a41-4c8f-b0d2-6e7f8a9b0c1d")])
    config = SandboxTaxAuthorityConfig(clock=lambda: NOW, uuids=lambda: next(uuids))
    async for world in _world(aiohttp_server, config):
        yield world


async def test_a_signed_summary_is_accepted_and_kept_by_the_tax_authority(world: World) -> None:
    answer = await world.client.send_summary(SIGNED_SUMMARY, tax_code=TAX_CODE, uuid=UUID_1)

    assert answer == Accepted("TCT" + UUID_2.hex.upper())
    [kept] = await world.messages()
    assert kept["message_id"] == SENDER + UUID_1.hex.upper()
    assert kept["outcome"] == "accepted"
    assert kept["reference"] == answer.reference
    assert "Lệ phí cấp đổi giấy phép lái xe" in kept["summary"]


async def test_an_unsigned_summary_is_rejected_with_the_reason(world: World) -> None:
    answer = await world.client.send_summary(UNSIGNED_SUMMARY, tax_code=TAX_CODE, uuid=UUID_1)

    assert answer == Rejected(
        (Reason("UNSIGNED", "Bảng tổng hợp dữ liệu biên lai điện tử chưa được ký số"),)
    )
    [kept] = await world.messages()
    assert kept["outcome"] == "rejected"


async def test_a_scripted_rejection_comes_back_with_its_reasons(world: World) -> None:
    await world.script(
        {"outcome": "reject", "reasons": [{"code": "E12", "message": "Sai số biên lai"}]}
    )

    answer = await world.client.send_summary(SIGNED_SUMMARY, tax_code=TAX_CODE, uuid=UUID_1)

    assert answer == Rejected((Reason("E12", "Sai số biên lai"),))


async def test_a_signature_that_does_not_verify_is_rejected(aiohttp_server: Any) -> None:
    checked: list[bytes] = []

    def verify(document: bytes) -> bool:  # a verifier that finds every signature wrong
        checked.append(document)
        return False

    config = SandboxTaxAuthorityConfig(verify_signature=verify, clock=lambda: NOW)
    async for world in _world(aiohttp_server, config):
        answer = await world.client.send_summary(SIGNED_SUMMARY, tax_code=TAX_CODE, uuid=UUID_1)
        assert isinstance(answer, Rejected)
        assert [r.code for r in answer.reasons] == ["BAD_SIGNATURE"]
        assert checked == [SIGNED_SUMMARY.split(b"?>", 1)[1].strip()]


async def test_a_timeout_is_retryable_and_the_same_message_sent_again_is_kept_once(
    world: World,
) -> None:
    await world.script({"outcome": "timeout"})
    message = world.client.summary_message(SIGNED_SUMMARY, tax_code=TAX_CODE, uuid=UUID_1)

    with pytest.raises(TaxAuthorityError) as caught:
        await world.client.send(message)
    assert caught.value.code == "outcome_unknown"
    assert caught.value.retryable and caught.value.outcome_unknown
    [kept] = await world.messages()
    assert kept["answered"] is False  # taken, but the answer never left

    answer = await world.client.send(message)
    assert answer == Accepted("TCT" + UUID_2.hex.upper())
    [kept] = await world.messages()
    assert kept["answered"] is True


async def test_an_outage_is_retryable_and_keeps_nothing(world: World) -> None:
    await world.script({"outcome": "unavailable"})

    with pytest.raises(TaxAuthorityError) as caught:
        await world.client.send_summary(SIGNED_SUMMARY, tax_code=TAX_CODE, uuid=UUID_1)

    assert caught.value.code == "unavailable"
    assert caught.value.retryable and not caught.value.outcome_unknown
    assert caught.value.http_status == 503
    assert await world.messages() == []


async def test_a_message_over_2_mb_is_refused_before_it_is_sent(world: World) -> None:
    rows = b"<DLieu><TLPhi>L\xe1\xbb\x87 ph\xc3\xad</TLPhi></DLieu>" * (MAX_MESSAGE_BYTES // 30)
    summary = (
        b"<BTHDLieu>"
        + rows
        + b"<ds:Signature xmlns:ds='http://www.w3.org/2000/09/xmldsig#'/></BTHDLieu>"
    )
    assert len(summary) > MAX_MESSAGE_BYTES

    with pytest.raises(TaxAuthorityError) as caught:
        await world.client.send_summary(summary, tax_code=TAX_CODE, uuid=UUID_1)

    assert caught.value.code == "too_large"
    assert not caught.value.retryable
    assert await world.messages() == []


async def test_an_unreachable_tax_authority_is_unavailable() -> None:
    endpoint = TaxAuthorityEndpoint("http://127.0.0.1:9", SENDER)  # the discard port: closed
    async with aiohttp.ClientSession() as session:
        client = TaxAuthorityClient(
            session, endpoint, 0.5, connect_attempts=2, connect_wait_seconds=0.01
        )
        with pytest.raises(TaxAuthorityError) as caught:
            await client.send_summary(SIGNED_SUMMARY, tax_code=TAX_CODE, uuid=UUID_1)
    assert caught.value.code == "unavailable"


def test_the_envelope_is_pinned_byte_for_byte() -> None:
    """The whole message for a fixed UUID (QĐ 1271 names [V]; the other tags are the
    unverified ones of ``codec.TAGS``): a change here changes what the tax authority gets."""
    summary = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<BTHDLieu Id="TH-1">'
        b'<ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/></BTHDLieu>\n'
    )
    message = build_summary_message(
        summary, sender_code="V0100109106", tax_code=TAX_CODE, uuid=UUID_1
    )
    assert message.body == (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b"<TDiep><TTChung><PBan>2.1.0</PBan><MNGui>V0100109106</MNGui><MNNhan>TCT</MNNhan>"
        b"<MLTDiep>400</MLTDiep><MTDiep>V01001091063F2B8C1E9D4A4C6B8E2F1A2B3C4D5E6F</MTDiep>"
        b"<MTDTChieu></MTDTChieu><MST>0312345678</MST><SLuong>1</SLuong></TTChung>"
        b'<DLieu><BTHDLieu Id="TH-1"><ds:Signature xmlns:ds="http://www.w3.org/2000/09/xmldsig#"/>'
        b"</BTHDLieu></DLieu></TDiep>"
    )


def test_a_summary_declared_in_another_encoding_is_refused() -> None:
    latin = '<?xml version="1.0" encoding="ISO-8859-1"?><BTHDLieu>Phí</BTHDLieu>'.encode("latin-1")
    with pytest.raises(TaxAuthorityError) as caught:
        build_summary_message(latin, sender_code=SENDER, tax_code=TAX_CODE, uuid=UUID_1)
    assert caught.value.code == "invalid_message"
