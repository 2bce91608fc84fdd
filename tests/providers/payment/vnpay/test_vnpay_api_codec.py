"""querydr/refund requests and answers, status tables, settings and errors (pure parts)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from vnpay_helpers import NOON_ICT, SECRET, TMN, terminal

from providers.payment.vnpay import (
    Outcome,
    VnpayError,
    VnpayTerminal,
    parse_query_response,
    parse_refund_response,
    querydr_request,
    refund_request,
)
from providers.payment.vnpay.codec import (
    QUERYDR_RESPONSE_FIELDS,
    REFUND_RESPONSE_FIELDS,
    pipe_hash,
)
from providers.payment.vnpay.statuses import (
    PAYMENT_RESPONSE_CODES,
    REFUND_RESPONSE_CODES,
    TRANSACTION_STATUSES,
    payment_outcome,
    query_outcome,
    refund_outcome,
    refund_query_outcome,
)


def _query_answer(**overrides: str) -> dict[str, str]:
    answer = {
        "vnp_ResponseId": "4f9b2c",
        "vnp_Command": "querydr",
        "vnp_ResponseCode": "00",
        "vnp_Message": "QueryDR Success",
        "vnp_TmnCode": TMN,
        "vnp_TxnRef": "HS-2024-0001",
        "vnp_Amount": "5000000",
        "vnp_OrderInfo": "Le phi ho so 0001",
        "vnp_BankCode": "NCB",
        "vnp_PayDate": "20240101120500",
        "vnp_TransactionNo": "14422574",
        "vnp_TransactionType": "01",
        "vnp_TransactionStatus": "00",
        "vnp_PromotionCode": "",
        "vnp_PromotionAmount": "",
    }
    answer.update(overrides)
    answer["vnp_SecureHash"] = pipe_hash(SECRET, answer, QUERYDR_RESPONSE_FIELDS)
    return answer


def _refund_args(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "request_id": "REF0001",
        "transaction_type": "03",
        "txn_ref": "HS-2024-0001",
        "amount_vnd": 20_000,
        "transaction_no": "14422574",
        "transaction_date": NOON_ICT,
        "create_by": "officer01",
        "create_date": NOON_ICT + timedelta(days=1),
        "ip_addr": "10.0.0.1",
        "order_info": "Hoan phi",
    }
    args.update(overrides)
    return args


# -- requests ------------------------------------------------------------------------------


def test_querydr_request_has_vnpay_fields_and_amount_free_body() -> None:
    body = querydr_request(
        terminal(),
        request_id="REQ0001",
        txn_ref="HS-2024-0001",
        transaction_date=NOON_ICT,
        create_date=NOON_ICT + timedelta(hours=1),
        ip_addr="10.0.0.1",
        order_info="Truy van",
    )
    assert body["vnp_Command"] == "querydr"
    assert (body["vnp_TransactionDate"], body["vnp_CreateDate"]) == (
        "20240101120000",
        "20240101130000",
    )


def test_refund_amount_is_sent_times_100_and_transaction_no_is_optional() -> None:
    body = refund_request(terminal(), **_refund_args(transaction_no=None))
    assert body["vnp_Amount"] == "2000000"
    assert body["vnp_TransactionNo"] == ""


@pytest.mark.parametrize(
    "overrides",
    [
        {"transaction_type": "01"},
        {"order_info": "a|b"},
        {"create_by": "x|y"},
        {"request_id": "R" * 33},
        {"transaction_no": "N/A"},
        {"amount_vnd": 0},
    ],
    ids=["type", "pipe-info", "pipe-create-by", "long-request-id", "transaction-no", "amount"],
)
def test_bad_refund_arguments_are_invalid_field(overrides: dict[str, Any]) -> None:
    with pytest.raises(VnpayError) as caught:
        refund_request(terminal(), **_refund_args(**overrides))
    assert caught.value.code == "invalid_field"


# -- answers -------------------------------------------------------------------------------


def test_signed_query_answer_is_parsed() -> None:
    result = parse_query_response(SECRET, _query_answer())

    assert result.found is True
    assert (result.txn_ref, result.amount_vnd, result.transaction_status) == (
        "HS-2024-0001",
        50_000,
        "00",
    )
    assert result.outcome is Outcome.SUCCEEDED
    assert result.promotion_code is None


def test_query_answer_not_found_is_a_result_with_unknown_outcome() -> None:
    answer = _query_answer(vnp_ResponseCode="91", vnp_Amount="", vnp_TransactionStatus="")
    result = parse_query_response(SECRET, answer)
    assert (result.found, result.amount_vnd, result.outcome) == (False, None, Outcome.UNKNOWN)


def test_query_answer_for_a_pending_payment_is_pending() -> None:
    result = parse_query_response(SECRET, _query_answer(vnp_TransactionStatus="01"))
    assert result.outcome is Outcome.PENDING


@pytest.mark.parametrize(
    "change",
    [
        {"vnp_TransactionStatus": "02"},
        {"vnp_SecureHash": None},
        {"vnp_SecureHash": "upper"},
    ],
    ids=["tampered", "unsigned", "upper-case"],
)
def test_query_answer_that_is_not_signed_is_rejected(change: dict[str, Any]) -> None:
    answer: dict[str, Any] = _query_answer()
    for name, value in change.items():
        if value is None:
            del answer[name]
        elif value == "upper":
            answer[name] = answer[name].upper()
        else:
            answer[name] = value
    with pytest.raises(VnpayError) as caught:
        parse_query_response(SECRET, answer)
    assert caught.value.code == "signature_invalid"


@pytest.mark.parametrize(
    "body", [[], "text", {"vnp_ResponseCode": 0}], ids=["list", "string", "number"]
)
def test_query_answer_of_the_wrong_shape_is_malformed(body: Any) -> None:
    with pytest.raises(VnpayError) as caught:
        parse_query_response(SECRET, body)
    assert caught.value.code == "malformed"


def test_refund_answer_is_signed_over_its_own_field_list() -> None:
    answer = {
        "vnp_ResponseId": "r1",
        "vnp_Command": "refund",
        "vnp_ResponseCode": "02",
        "vnp_Message": "Refund amount exceeds",
        "vnp_TmnCode": TMN,
        "vnp_TxnRef": "HS-2024-0001",
        "vnp_Amount": "2000000",
    }
    answer["vnp_SecureHash"] = pipe_hash(SECRET, answer, REFUND_RESPONSE_FIELDS)

    result = parse_refund_response(SECRET, answer)

    assert (result.accepted, result.outcome, result.amount_vnd) == (False, Outcome.FAILED, 20_000)
    # The querydr order (two more fields) would give a different message, hence a bad hash.
    answer["vnp_SecureHash"] = pipe_hash(SECRET, answer, QUERYDR_RESPONSE_FIELDS)
    with pytest.raises(VnpayError):
        parse_refund_response(SECRET, answer)


# -- status tables -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("response_code", "transaction_status", "outcome"),
    [
        ("00", "00", Outcome.SUCCEEDED),
        ("24", "02", Outcome.FAILED),  # customer cancelled
        ("51", "02", Outcome.FAILED),  # insufficient funds
        ("11", "02", Outcome.FAILED),  # timed out on VNPAY's page
        ("24", "01", Outcome.FAILED),  # cancelled beats "not finished"
        ("99", "00", Outcome.UNKNOWN),  # vector V4: status says paid, response code does not
        ("00", "02", Outcome.UNKNOWN),
        ("07", "00", Outcome.UNKNOWN),  # suspected fraud: money held
        ("99", "01", Outcome.PENDING),
        ("00", "04", Outcome.UNKNOWN),  # reversal
        ("42", "42", Outcome.UNKNOWN),  # codes VNPAY does not document
    ],
)
def test_payment_outcome(response_code: str, transaction_status: str, outcome: Outcome) -> None:
    assert payment_outcome(response_code, transaction_status) is outcome


def test_query_outcome_only_trusts_an_answered_query() -> None:
    assert query_outcome("00", "00") is Outcome.SUCCEEDED
    assert query_outcome("00", "01") is Outcome.PENDING
    assert query_outcome("00", "02") is Outcome.FAILED
    assert query_outcome("91", "") is Outcome.UNKNOWN
    assert query_outcome("97", "00") is Outcome.UNKNOWN


def test_refund_outcome_separates_declines_from_unknowns() -> None:
    assert refund_outcome("00") is Outcome.SUCCEEDED
    assert {c for c, o in REFUND_RESPONSE_CODES.items() if o is Outcome.UNKNOWN} == {
        "94",
        "98",
        "99",
    }
    assert refund_outcome("02") is Outcome.FAILED
    assert refund_outcome("77") is Outcome.UNKNOWN


@pytest.mark.parametrize(
    ("response_code", "transaction_type", "transaction_status", "outcome"),
    [
        ("00", "02", "05", Outcome.PENDING),  # VNPAY is processing the refund
        ("00", "03", "06", Outcome.SUCCEEDED),  # sent to the payer's bank
        ("00", "02", "00", Outcome.SUCCEEDED),
        ("00", "03", "09", Outcome.FAILED),  # the refund was declined
        ("00", "02", "77", Outcome.PENDING),  # a status no table names: not guessed
        ("00", "01", "00", Outcome.PENDING),  # about the payment: nothing about the refund
        ("00", "01", "09", Outcome.PENDING),
        ("91", "", "", Outcome.PENDING),  # not found
        ("94", "02", "06", Outcome.PENDING),  # the query itself was not answered
    ],
)
def test_refund_query_outcome_is_read_only_from_an_answer_about_a_refund(
    response_code: str, transaction_type: str, transaction_status: str, outcome: Outcome
) -> None:
    assert refund_query_outcome(response_code, transaction_type, transaction_status) is outcome


def test_a_query_answer_about_a_refund_says_so_and_carries_the_refunds_amount() -> None:
    answer = _query_answer(
        vnp_TransactionType="03", vnp_TransactionStatus="06", vnp_Amount="2000000"
    )
    result = parse_query_response(SECRET, answer)
    assert (result.about_refund, result.amount_vnd) == (True, 20_000)
    assert result.refund_outcome is Outcome.SUCCEEDED
    assert result.outcome is Outcome.SUCCEEDED  # the payment itself went through
    payment = parse_query_response(SECRET, _query_answer())
    assert (payment.about_refund, payment.refund_outcome) == (False, Outcome.PENDING)


def test_tables_use_two_digit_codes_and_known_outcomes() -> None:
    for table in (PAYMENT_RESPONSE_CODES, TRANSACTION_STATUSES, REFUND_RESPONSE_CODES):
        assert all(len(code) == 2 and code.isdigit() for code in table)
        assert set(table.values()) <= set(Outcome)
    assert {o.value for o in Outcome} == {"succeeded", "failed", "pending", "unknown"}


# -- settings and errors -------------------------------------------------------------------


def test_terminal_repr_hides_the_secret() -> None:
    text = repr(terminal())
    assert SECRET not in text
    assert SECRET not in str(terminal())
    assert TMN in text


def test_terminal_refuses_empty_values() -> None:
    with pytest.raises(ValueError, match="hash_secret"):
        VnpayTerminal(TMN, "", "https://p", "https://a")


def test_error_carries_code_rsp_code_and_retryable() -> None:
    error = VnpayError("provider_unavailable", "down")
    assert (error.code, error.rsp_code, error.retryable) == ("provider_unavailable", None, True)
    with pytest.raises(ValueError, match="unknown VnpayError code"):
        VnpayError("oops", "x")
