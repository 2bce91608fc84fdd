"""Small builders shared by the VNPAY tests (real code, no mocks)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from providers.payment.vnpay import VnpayTerminal
from providers.payment.vnpay.wire import canonical_query, sign, signed_params

VECTORS_PATH = Path(__file__).resolve().parents[3] / "vectors" / "vnpay_public.json"
TMN = "TESTTMN1"
SECRET = "test_secret"
# 2024-01-01 12:00 in GMT+7, the time of vector V5.
NOON_ICT = datetime(2024, 1, 1, 5, 0, tzinfo=UTC)


def load_vectors() -> list[dict[str, Any]]:
    data: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
    vectors: list[dict[str, Any]] = data["vectors"]
    return vectors


def vector(vector_id: str) -> dict[str, Any]:
    return next(v for v in load_vectors() if v["id"] == vector_id)


def terminal(
    payment_url: str = "https://sandbox.vnpayment.vn/paymentv2/vpcpay.html",
    api_url: str = "https://sandbox.vnpayment.vn/merchant_webapi/api/transaction",
) -> VnpayTerminal:
    return VnpayTerminal(TMN, SECRET, payment_url, api_url)


def signed(params: dict[str, str], secret: str = SECRET) -> dict[str, str]:
    """``params`` plus the vnp_SecureHash VNPAY would add (the rule is pinned by the vectors)."""
    return {**params, "vnp_SecureHash": sign(secret, canonical_query(signed_params(params)))}


def ipn_params(**overrides: str) -> dict[str, str]:
    """The unsigned parameters of vector V7 (a successful IPN), with overrides."""
    params: dict[str, str] = dict(vector("V7")["params"])
    params.update(overrides)
    return params
