"""INIT, callback, QUERY and GET_BILL messages (pure parts), settings and status tables."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from providers.payment.dvcqg import (
    Bill,
    DvcqgError,
    DvcqgPartner,
    FeeLine,
    Outcome,
    callback_reply,
    checksum,
    init_request,
    parse_bill,
    parse_callback,
    parse_init_response,
    parse_query_response,
    query_request,
    verify,
)
from providers.payment.dvcqg.statuses import FAILURE_MESSAGES, transaction_outcome

SECRET = "unit-secret"
PARTNER = DvcqgPartner("P1", SECRET, "https://p.test/init", "https://p.test/q", "https://p.test/b")
AT = datetime(2026, 7, 1, 2, 30, 15, tzinfo=UTC)  # 09:30:15 in Vietnam


def bill(*lines: FeeLine) -> Bill:
    return Bill(
        dossier_code="H29.22-0001",
        procedure_code="1.001234",
        procedure_name="Cấp đổi giấy phép lái xe",
        agency_code="HCM",
        agency_name="Sở Tư pháp",
        beneficiary_account="0011001234567",
        beneficiary_bank="970499",
        beneficiary_name="SO TU PHAP",
        payer_name="Nguyễn Văn An",
        lines=lines
        or (FeeLine("le_phi", "LP1", "Lệ phí", 135000), FeeLine("phi", "P1", "Phí", 50000)),
    )


def test_init_sends_the_total_the_time_in_vietnam_and_a_checksum_over_its_fields() -> None:
    body = init_request(PARTNER, reference="REF1", bill=bill(), transaction_time=AT, ip="10.0.0.5")

    assert (body["SoTien"], body["ThoiGianGD"], body["PhienBan"]) == (
        "185000",
        "20260701093015",
        "1.0.6",
    )
    assert body["ThongTinGiaoDich"] == "THANH TOAN HO SO H29.22-0001"
    assert body["MaXacThuc"] == checksum(body, "INIT", SECRET)
    assert [line["LoaiPhiLePhi"] for line in body["ThongTinBienLai"]["PhiLePhi"]] == ["2", "1"]
    assert body["ThongTinBienLai"]["MaDVC"] == "1.001234.01"


@pytest.mark.parametrize(
    "lines",
    [
        (FeeLine("le_phi", "X", "x", 0),),
        (FeeLine("postal", "X", "x", 10),),  # type: ignore[arg-type]
    ],
)
def test_init_refuses_a_line_that_cannot_be_sent(lines: Any) -> None:
    with pytest.raises(DvcqgError) as caught:
        init_request(
            PARTNER, reference="REF1", bill=bill(*lines), transaction_time=AT, ip="1.2.3.4"
        )
    assert caught.value.code == "invalid_field"


def test_init_refuses_a_naive_time_and_a_reference_with_a_pipe() -> None:
    with pytest.raises(DvcqgError):
        init_request(PARTNER, reference="A|B", bill=bill(), transaction_time=AT, ip="1.2.3.4")
    with pytest.raises(DvcqgError):
        naive = AT.replace(tzinfo=None)
        init_request(PARTNER, reference="REF", bill=bill(), transaction_time=naive, ip="1.2.3.4")


@pytest.mark.parametrize(
    ("answer", "accepted", "url"),
    [
        (
            {"error_code": "0", "message": json.dumps({"UrlThanhToan": "https://p/x"})},
            True,
            "https://p/x",
        ),
        ({"MaLoi": "00", "UrlThanhToan": "https://p/y"}, True, "https://p/y"),
        ({"error_code": "2", "message": json.dumps({"MoTaLoi": "Sai"})}, False, None),
        ({"MaLoi": "07", "MoTaLoi": "Lỗi"}, False, None),
    ],
)
def test_init_answers_in_either_envelope(answer: Any, accepted: bool, url: str | None) -> None:
    result = parse_init_response(answer)
    assert (result.accepted, result.payment_url) == (accepted, url)


@pytest.mark.parametrize(
    "answer",
    [
        [],
        {"foo": 1},
        {"error_code": "0", "message": "{}"},
        {"MaLoi": "00", "UrlThanhToan": "ftp://x"},
    ],
)
def test_an_init_answer_of_no_known_shape_is_malformed(answer: Any) -> None:
    with pytest.raises(DvcqgError) as caught:
        parse_init_response(answer)
    assert caught.value.code == "malformed"


def callback(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "LoaiBanTin": "CONFIRM", "MaLoi": "00", "MaDoiTac": "P1", "MaThamChieu": "REF1",
        "SoTien": "185000", "MaTienTe": "VND", "MaGiaoDich": "PP1", "MaNganHang": "VCB",
        "ThoiGianGD": "20260701093542", "ThongTinGiaoDich": "THANH TOAN HO SO H29",
    }  # fmt: skip
    body.update(fields)
    if "MaXacThuc" not in body:
        body["MaXacThuc"] = checksum(body, "CALLBACK", SECRET)
    return body


def secrets(code: str) -> str | None:
    return SECRET if code == "P1" else None


def test_a_signed_callback_is_parsed_and_a_numeric_amount_signs_as_digits() -> None:
    parsed = parse_callback(json.dumps(callback(SoTien=185000)).encode(), secrets)
    assert (parsed.reference, parsed.amount, parsed.says_paid) == ("REF1", 185000, True)


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"not json", "malformed"),
        (b"[]", "malformed"),
        (json.dumps(callback(MaDoiTac="P2")).encode(), "signature_invalid"),
        (json.dumps(callback(MaXacThuc="ab" * 32)).encode(), "signature_invalid"),
        (json.dumps(callback(MaXacThuc="zz")).encode(), "signature_invalid"),
        (json.dumps(callback(SoTien="1.5")).encode(), "malformed"),
        (json.dumps(callback(MaThamChieu="")).encode(), "malformed"),
        (json.dumps(callback(SoTien=True, MaXacThuc="ab" * 32)).encode(), "signature_invalid"),
    ],
)
def test_a_bad_callback_raises_a_stable_code(raw: bytes, code: str) -> None:
    with pytest.raises(DvcqgError) as caught:
        parse_callback(raw, secrets)
    assert caught.value.code == code


def test_the_reply_echoes_what_was_received() -> None:
    received = callback()
    assert callback_reply("P1", received, ok=False) == {
        "MaLoi": "99",
        "MoTaLoi": "Các lỗi khác",
        "MaDoiTac": "P1",
        "MaThamChieu": "REF1",
        "ThoiGianGD": "20260701093542",
        "MaXacThuc": received["MaXacThuc"],
    }


def test_query_and_get_bill_repeat_inits_time_and_sign_their_own_type() -> None:
    query = query_request(PARTNER, reference="REF1", transaction_time="20260701093015")
    bill_ = query_request(
        PARTNER, reference="REF1", transaction_time="20260701093015", kind="GET_BILL"
    )
    assert (query["LoaiBanTin"], bill_["LoaiBanTin"]) == ("QUERY", "GET_BILL")
    assert verify(query, "QUERY", SECRET) and verify(bill_, "GET_BILL", SECRET)
    assert query["MaXacThuc"] != bill_["MaXacThuc"]


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        ("1", Outcome.SUCCEEDED),
        ("3", Outcome.PENDING),
        ("4", Outcome.FAILED),
        ("2", Outcome.UNKNOWN),
    ],
)
def test_query_states_map_to_outcomes(state: str, outcome: Outcome) -> None:
    answer = {"MaLoi": "00", "TrangThaiGD": state, "MaThamChieu": "REF1", "SoTien": "185000"}
    result = parse_query_response(SECRET, answer)
    assert result.outcome is outcome and transaction_outcome(state) is outcome


def test_a_query_not_processed_or_wrongly_signed_is_an_error() -> None:
    with pytest.raises(DvcqgError) as not_processed:
        parse_query_response(SECRET, {"MaLoi": "01", "MoTaLoi": "x"})
    assert (not_processed.value.code, not_processed.value.retryable) == ("query_failed", True)
    with pytest.raises(DvcqgError) as forged:
        parse_query_response(SECRET, {"MaLoi": "00", "TrangThaiGD": "1", "MaXacThuc": "0" * 64})
    assert forged.value.code == "signature_invalid"


def test_get_bill_keeps_only_a_pdf() -> None:
    assert parse_bill("application/pdf", b"%PDF-1.4 ...") == b"%PDF-1.4 ..."
    with pytest.raises(DvcqgError) as caught:
        parse_bill("application/json", b'{"MaLoi": "01"}')
    assert caught.value.code == "not_a_pdf"


def test_the_partner_never_prints_its_secret() -> None:
    assert SECRET not in repr(PARTNER) and SECRET not in str(PARTNER)


def test_every_failure_message_is_vietnamese_text() -> None:
    assert all("Cổng Dịch vụ công quốc gia" in text for text in FAILURE_MESSAGES.values())
