"""Published VNPAY signing vectors (tests/vectors/vnpay_public.json), every one reproduced."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl, urlsplit
from zoneinfo import ZoneInfo

import pytest
from vnpay_helpers import load_vectors, terminal

from providers.payment.vnpay import (
    build_payment_url,
    canonical_query,
    parse_ipn,
    querydr_request,
    refund_request,
    sign,
    verify_query,
)
from providers.payment.vnpay.codec import QUERYDR_REQUEST_FIELDS, REFUND_REQUEST_FIELDS

VECTORS = load_vectors()
HO_CHI_MINH = ZoneInfo("Asia/Ho_Chi_Minh")
KINDS = {"hmac_sha512", "ipn_query", "payment_url", "querydr_request", "refund_request"}


def _of(kind: str) -> list[Any]:
    return [pytest.param(v, id=v["id"]) for v in VECTORS if v["kind"] == kind]


def _ict(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=HO_CHI_MINH)


# The arguments our builders take to produce each vector's message.
BUILDER_INPUTS: dict[str, dict[str, Any]] = {
    "V5": {
        "txn_ref": "HS-2024-0001",
        "amount_vnd": 50_000,
        "order_info": "Le phi ho so 0001 ~*!()",
        "ip_addr": "127.0.0.1",
        "return_url": "https://gw.example.vn/return",
        "create_date": _ict(2024, 1, 1, 12, 0, 0),
        "expire_date": _ict(2024, 1, 1, 12, 15, 0),
    },
    "V8": {
        "request_id": "REQ0001",
        "txn_ref": "HS-2024-0001",
        "transaction_date": _ict(2024, 1, 1, 12, 0, 0),
        "create_date": _ict(2024, 1, 1, 13, 0, 0),
        "ip_addr": "10.0.0.1",
        "order_info": "Truy vấn HS-2024-0001",  # folded to the vector's ASCII
    },
    "V9": {
        "request_id": "REF0001",
        "transaction_type": "02",
        "txn_ref": "HS-2024-0001",
        "amount_vnd": 50_000,
        "transaction_no": "14422574",
        "transaction_date": _ict(2024, 1, 1, 12, 0, 0),
        "create_by": "officer01",
        "create_date": _ict(2024, 1, 2, 9, 0, 0),
        "ip_addr": "10.0.0.1",
        "order_info": "Hoàn phí HS-2024-0001",
    },
}

API_BUILDERS: dict[str, tuple[Any, tuple[str, ...]]] = {
    "querydr_request": (querydr_request, QUERYDR_REQUEST_FIELDS),
    "refund_request": (refund_request, REFUND_REQUEST_FIELDS),
}


def test_vector_file_covers_every_kind_with_unique_ids() -> None:
    assert {v["kind"] for v in VECTORS} == KINDS
    assert len({v["id"] for v in VECTORS}) == len(VECTORS)
    kinds_with_builders = {v["kind"] for v in VECTORS if v["id"] in BUILDER_INPUTS}
    assert kinds_with_builders == {"payment_url", "querydr_request", "refund_request"}


@pytest.mark.parametrize("vector", _of("hmac_sha512"))
def test_hmac_sha512_vector(vector: dict[str, Any]) -> None:
    assert sign(vector["key"], vector["message"]) == vector["hash"]


@pytest.mark.parametrize("vector", _of("ipn_query") + _of("payment_url"))
def test_query_vector_canonical_string_and_hash(vector: dict[str, Any]) -> None:
    assert canonical_query(vector["params"]) == vector["canonical"]
    assert sign(vector["secret"], vector["canonical"]) == vector["hash"]
    assert verify_query(vector["secret"], {**vector["params"], "vnp_SecureHash": vector["hash"]})


@pytest.mark.parametrize("vector", _of("ipn_query"))
def test_ipn_vector_is_accepted_by_parse_ipn(vector: dict[str, Any]) -> None:
    params = {**vector["params"], "vnp_SecureHash": vector["hash"]}
    secrets = {vector["params"]["vnp_TmnCode"]: vector["secret"]}

    result = parse_ipn(params, secrets.get)

    assert result.txn_ref == vector["params"]["vnp_TxnRef"]
    assert result.amount_vnd * 100 == int(vector["params"]["vnp_Amount"])
    assert result.succeeded is (vector["params"]["vnp_ResponseCode"] == "00")


@pytest.mark.parametrize("vector", _of("payment_url"))
def test_build_payment_url_reproduces_the_vector(vector: dict[str, Any]) -> None:
    url = build_payment_url(terminal(), **BUILDER_INPUTS[vector["id"]])

    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == terminal().payment_url
    assert parts.query == f"{vector['canonical']}&vnp_SecureHash={vector['hash']}"
    assert dict(parse_qsl(parts.query)) == {**vector["params"], "vnp_SecureHash": vector["hash"]}


@pytest.mark.parametrize("vector", _of("querydr_request") + _of("refund_request"))
def test_api_request_vector_hash(vector: dict[str, Any]) -> None:
    assert sign(vector["secret"], vector["message"]) == vector["hash"]


@pytest.mark.parametrize("vector", _of("querydr_request") + _of("refund_request"))
def test_api_request_builder_reproduces_message_and_hash(vector: dict[str, Any]) -> None:
    build, fields = API_BUILDERS[vector["kind"]]
    body = build(terminal(), **BUILDER_INPUTS[vector["id"]])

    assert "|".join(body[name] for name in fields) == vector["message"]
    assert body["vnp_SecureHash"] == vector["hash"]
    assert set(body) == {*fields, "vnp_SecureHash"}
