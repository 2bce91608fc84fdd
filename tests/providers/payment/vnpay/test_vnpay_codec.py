"""The payment URL and the IPN: encoding, amounts, dates, and what verification refuses."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from multidict import MultiDict
from vnpay_helpers import NOON_ICT, SECRET, TMN, ipn_params, signed, terminal

from providers.payment.vnpay import (
    GMT7,
    IPN_MESSAGES,
    Outcome,
    VnpayError,
    build_payment_url,
    canonical_query,
    ipn_response,
    parse_ipn,
    verify_query,
)
from providers.payment.vnpay.wire import (
    format_date,
    from_wire_amount,
    parse_date,
    to_wire_amount,
)

SECRETS = {TMN: SECRET}


def _url_params(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query, keep_blank_values=True))


def _payment_url(**overrides: Any) -> str:
    args: dict[str, Any] = {
        "txn_ref": "HS-2024-0001",
        "amount_vnd": 185_000,
        "order_info": "Le phi ho so",
        "ip_addr": "203.0.113.7",
        "return_url": "https://gw.example.vn/return",
        "create_date": NOON_ICT,
        "expire_date": NOON_ICT + timedelta(minutes=15),
    }
    args.update(overrides)
    return build_payment_url(terminal(), **args)


def _ipn_error(params: Any) -> VnpayError:
    with pytest.raises(VnpayError) as caught:
        parse_ipn(params, SECRETS.get)
    return caught.value


# -- wire: amounts, dates, encoding ------------------------------------------------------


def test_amount_is_multiplied_by_100_on_the_way_out_and_divided_on_the_way_in() -> None:
    assert to_wire_amount(185_000) == "18500000"
    assert from_wire_amount("18500000") == 185_000
    assert _url_params(_payment_url(amount_vnd=185_000))["vnp_Amount"] == "18500000"


@pytest.mark.parametrize("amount", [0, -1000, True, 1.5, "1000", 10_000_000_000])
def test_amount_that_is_not_a_positive_integer_vnd_is_refused(amount: Any) -> None:
    with pytest.raises(VnpayError) as caught:
        to_wire_amount(amount)
    assert caught.value.code == "invalid_field"


@pytest.mark.parametrize("text", ["", "0", "18500050", "1e5", "-100", " 100", "١٠٠"])
def test_wire_amount_that_is_not_whole_vnd_digits_is_malformed(text: str) -> None:
    with pytest.raises(VnpayError) as caught:
        from_wire_amount(text)
    assert caught.value.code == "malformed"


def test_dates_are_written_in_gmt_plus_7_from_utc_aware_datetimes() -> None:
    assert format_date(datetime(2024, 1, 1, 5, 0, tzinfo=UTC), "d") == "20240101120000"
    # 17:30 UTC is already the next day in Viet Nam.
    assert format_date(datetime(2024, 12, 31, 17, 30, tzinfo=UTC), "d") == "20250101003000"


def test_naive_datetime_is_refused() -> None:
    with pytest.raises(VnpayError) as caught:
        _payment_url(create_date=datetime(2024, 1, 1, 12, 0))
    assert caught.value.code == "invalid_field"


def test_dates_are_read_as_aware_gmt_plus_7() -> None:
    moment = parse_date("20240101120500", "d")
    assert moment == datetime(2024, 1, 1, 5, 5, tzinfo=UTC)
    assert moment.utcoffset() == timedelta(hours=7)


@pytest.mark.parametrize("text", ["2024010112050", "20241301120500", "2024-01-01T12:05"])
def test_bad_dates_are_malformed(text: str) -> None:
    with pytest.raises(VnpayError) as caught:
        parse_date(text, "d")
    assert caught.value.code == "malformed"


@pytest.mark.parametrize(
    ("value", "encoded"),
    [
        ("a b", "a+b"),
        ("~", "%7E"),
        ("*-._", "*-._"),
        ("!'()", "%21%27%28%29"),
        ("a+b&c=d/e", "a%2Bb%26c%3Dd%2Fe"),
        ("đ", "%C4%91"),
    ],
)
def test_form_encoding_follows_vnpay(value: str, encoded: str) -> None:
    assert canonical_query({"k": value}) == f"k={encoded}"


def test_canonical_query_sorts_by_name_and_drops_empty_values() -> None:
    assert canonical_query({"vnp_b": "2", "vnp_c": "", "vnp_a": "1"}) == "vnp_a=1&vnp_b=2"


# -- the payment URL -----------------------------------------------------------------------


def test_payment_url_carries_exactly_the_vnpay_parameters() -> None:
    params = _url_params(_payment_url())

    assert set(params) == {
        "vnp_Version", "vnp_Command", "vnp_TmnCode", "vnp_Amount", "vnp_CurrCode",
        "vnp_TxnRef", "vnp_OrderInfo", "vnp_OrderType", "vnp_Locale", "vnp_ReturnUrl",
        "vnp_IpAddr", "vnp_CreateDate", "vnp_ExpireDate", "vnp_SecureHash",
    }  # fmt: skip
    assert params["vnp_Version"] == "2.1.0"
    assert (params["vnp_Command"], params["vnp_CurrCode"]) == ("pay", "VND")
    assert (params["vnp_CreateDate"], params["vnp_ExpireDate"]) == (
        "20240101120000",
        "20240101121500",
    )
    assert verify_query(SECRET, params)


def test_payment_url_with_a_bank_code_adds_only_that() -> None:
    params = _url_params(_payment_url(bank_code="VNPAYQR", locale="en"))
    assert params["vnp_BankCode"] == "VNPAYQR"
    assert params["vnp_Locale"] == "en"
    assert len(params) == 15


def test_order_info_with_vietnamese_diacritics_is_folded_to_ascii() -> None:
    url = _payment_url(order_info="Lệ phí cấp đổi hộ chiếu – Đà Nẵng\n(lần 2)")
    assert _url_params(url)["vnp_OrderInfo"] == "Le phi cap doi ho chieu Da Nang (lan 2)"
    assert "vnp_OrderInfo=Le+phi+cap+doi+ho+chieu+Da+Nang+%28lan+2%29&" in url


def test_long_order_info_is_cut_to_255_characters() -> None:
    assert len(_url_params(_payment_url(order_info="x" * 300))["vnp_OrderInfo"]) == 255


@pytest.mark.parametrize(
    "overrides",
    [
        {"ip_addr": "localhost"},
        {"txn_ref": "HS 0001"},
        {"txn_ref": ""},
        {"locale": "fr"},
        {"return_url": "javascript:alert(1)"},
        {"order_info": "🙂"},
        {"bank_code": "N"},
        {"expire_date": NOON_ICT},
    ],
    ids=lambda o: next(iter(o)),
)
def test_bad_payment_arguments_are_invalid_field(overrides: dict[str, Any]) -> None:
    with pytest.raises(VnpayError) as caught:
        _payment_url(**overrides)
    assert caught.value.code == "invalid_field"


# -- the IPN -------------------------------------------------------------------------------


def test_valid_ipn_is_parsed_into_domain_values() -> None:
    result = parse_ipn(signed(ipn_params()), SECRETS.get)

    assert (result.tmn_code, result.txn_ref, result.amount_vnd) == (TMN, "HS-2024-0001", 50_000)
    assert (result.response_code, result.transaction_status) == ("00", "00")
    assert (result.transaction_no, result.bank_code, result.bank_tran_no, result.card_type) == (
        "14422574",
        "NCB",
        "VNP14422574",
        "ATM",
    )
    assert result.pay_date == datetime(2024, 1, 1, 12, 5, tzinfo=GMT7)
    assert result.succeeded is True
    assert result.outcome is Outcome.SUCCEEDED
    assert result.raw == signed(ipn_params())


def test_cancelled_payment_ipn_is_not_succeeded() -> None:
    params = ipn_params(vnp_ResponseCode="24", vnp_TransactionStatus="02", vnp_TransactionNo="0")
    result = parse_ipn(signed(params), SECRETS.get)
    assert result.succeeded is False
    assert result.outcome is Outcome.FAILED


def test_parameter_order_does_not_matter() -> None:
    reordered = dict(reversed(list(signed(ipn_params()).items())))
    assert parse_ipn(reordered, SECRETS.get).txn_ref == "HS-2024-0001"


def test_ipn_with_tampered_amount_is_rejected_with_97() -> None:
    tampered = {**signed(ipn_params()), "vnp_Amount": "500000000"}
    error = _ipn_error(tampered)
    assert (error.code, error.rsp_code) == ("signature_invalid", "97")


def test_upper_case_hash_is_rejected() -> None:
    params = signed(ipn_params())
    params["vnp_SecureHash"] = params["vnp_SecureHash"].upper()
    assert _ipn_error(params).code == "signature_invalid"


def test_missing_hash_is_rejected() -> None:
    assert _ipn_error(ipn_params()).code == "signature_invalid"


def test_hash_signed_with_another_secret_is_rejected() -> None:
    assert _ipn_error(signed(ipn_params(), secret="other")).code == "signature_invalid"


def test_extra_unsigned_vnp_parameter_is_rejected() -> None:
    params = {**signed(ipn_params()), "vnp_PromotionCode": "FREE"}
    assert _ipn_error(params).code == "signature_invalid"


def test_parameters_without_the_vnp_prefix_are_not_signed_and_are_ignored() -> None:
    # VNPAY signs only vnp_* parameters; the merchant's own query parameters are not read.
    params = {**signed(ipn_params()), "agency": "HCM"}
    result = parse_ipn(params, SECRETS.get)
    assert "agency" not in result.raw


def test_secure_hash_type_is_not_part_of_the_signed_text() -> None:
    params = {**signed(ipn_params()), "vnp_SecureHashType": "HmacSHA512"}
    assert parse_ipn(params, SECRETS.get).succeeded


def test_parameter_given_twice_is_malformed() -> None:
    params = MultiDict(signed(ipn_params()))
    params.add("vnp_Amount", "100")
    assert _ipn_error(params).code == "malformed"


def test_verify_query_refuses_a_repeated_name_even_if_one_value_is_signed() -> None:
    # The signed value last, a forged one first, where a reader's getone() would look.
    params = MultiDict([("vnp_Amount", "100")])
    params.extend(signed(ipn_params()))
    assert dict(params.items())["vnp_Amount"] == "5000000"  # last value wins in a dict
    assert verify_query(SECRET, params) is False


@pytest.mark.parametrize(
    "field", ["vnp_Amount", "vnp_TxnRef", "vnp_ResponseCode", "vnp_TransactionStatus"]
)
def test_signed_ipn_missing_a_required_field_is_malformed_with_99(field: str) -> None:
    params = ipn_params()
    del params[field]
    error = _ipn_error(signed(params))
    assert (error.code, error.rsp_code) == ("malformed", "99")


@pytest.mark.parametrize(
    "overrides",
    [
        {"vnp_Amount": "5000050"},
        {"vnp_Amount": "50000.00"},
        {"vnp_Amount": "0"},
        {"vnp_ResponseCode": "0"},
        {"vnp_TransactionStatus": "OK"},
        {"vnp_PayDate": "2024-01-01"},
    ],
    ids=["not-x100", "decimal", "zero", "short-code", "word-status", "iso-date"],
)
def test_signed_ipn_with_a_bad_value_is_malformed(overrides: dict[str, str]) -> None:
    assert _ipn_error(signed(ipn_params(**overrides))).code == "malformed"


def test_ipn_without_terminal_code_is_malformed() -> None:
    params = ipn_params()
    del params["vnp_TmnCode"]
    assert _ipn_error(signed(params)).code == "malformed"


def test_ipn_for_an_unknown_terminal_is_refused_with_97() -> None:
    error = _ipn_error(signed(ipn_params(vnp_TmnCode="OTHERTMN")))
    assert (error.code, error.rsp_code) == ("unknown_terminal", "97")


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("00", "Confirm Success"),
        ("01", "Order not found"),
        ("02", "Order already confirmed"),
        ("04", "invalid amount"),
        ("97", "Invalid signature"),
        ("99", "Unknow error"),
    ],
)
def test_ipn_response_uses_vnpay_messages(code: str, message: str) -> None:
    assert ipn_response(code) == {"RspCode": code, "Message": message}


def test_ipn_response_refuses_a_code_vnpay_does_not_know() -> None:
    assert set(IPN_MESSAGES) == {"00", "01", "02", "04", "97", "99"}
    with pytest.raises(ValueError, match="unknown IPN RspCode"):
        ipn_response("42")
