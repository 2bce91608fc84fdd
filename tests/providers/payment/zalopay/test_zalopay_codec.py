"""ZaloPay's MACs (``specs/momo-zalopay.md`` §B.2): the builders reproduce
``tests/vectors/zalopay_spec_mac_strings.json``, the callback is verified with key2 over the
raw ``data`` (checked against ``openssl dgst`` too), ids carry the Vietnam-time date."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from providers.common.secrets import Secret
from providers.payment.zalopay import (
    MAC_FIELDS,
    ZalopayApp,
    ZalopayError,
    app_trans_id,
    create_request,
    m_refund_id,
    mac,
    message,
    outcome,
    query_refund_request,
    query_request,
    refund_request,
    verify_callback,
)
from providers.payment.zalopay.statuses import Outcome

#: The independent oracle; under CI=true its absence fails the test instead of skipping it.
OPENSSL = shutil.which("openssl")
VECTORS = json.loads(
    (Path(__file__).parents[3] / "vectors" / "zalopay_spec_mac_strings.json").read_text("utf-8")
)
CASES = {case["message"]: case for case in VECTORS["cases"]}
APP = ZalopayApp(
    VECTORS["app_id"], Secret(VECTORS["key1"]), Secret(VECTORS["key2"]), "https://zlp.example"
)


def _ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


@pytest.mark.parametrize("case", VECTORS["cases"], ids=lambda case: case["message"])
def test_macs_match_the_vectors(case: dict[str, Any]) -> None:
    if "fields" in case:
        assert tuple(case["fields"]) == MAC_FIELDS[case["message"]]
        assert "|".join(case["fields"].values()) == case["data"]
    assert mac(VECTORS[case["key"]], case["data"]) == case["mac"]


def test_builders_sign_what_the_vectors_sign() -> None:
    create = create_request(
        APP,
        trans_id="261122_01JDZ7Q9ABCDEFGH1234",
        app_user="HCM",
        amount=185000,
        app_time=_ms(1732240800123),
        description="Thanh toán hồ sơ",
        redirect_url="https://dvc.example.gov.vn/pay/pay_01",
        callback_url="https://dvc.example.gov.vn/callbacks/zalopay",
    )
    assert create["mac"] == CASES["create"]["mac"]
    assert create["embed_data"] == CASES["create"]["fields"]["embed_data"]
    query = query_request(APP, trans_id="261122_01JDZ7Q9ABCDEFGH1234")
    assert query["mac"] == CASES["query"]["mac"] and "key1" not in query
    refund = refund_request(
        APP,
        refund_id="261123_2553_REF01JDZ8ABCDEFG",
        zp_trans_id="241122000000123",
        amount=50000,
        description="Hoàn tiền nộp thừa",
        timestamp=_ms(1732327200000),
    )
    assert refund["mac"] == CASES["refund"]["mac"]
    asked = query_refund_request(
        APP, refund_id="261123_2553_REF01JDZ8ABCDEFG", timestamp=_ms(1732327260000)
    )
    assert asked["mac"] == CASES["query_refund"]["mac"]


@pytest.mark.skipif(
    OPENSSL is None and os.environ.get("CI", "").lower() != "true",
    reason="openssl is not installed (it is required under CI=true)",
)
def test_callback_mac_agrees_with_openssl_for_vietnamese_text() -> None:
    data = json.dumps({"description": "Lệ phí trước bạ – Huế"}, ensure_ascii=False)
    assert OPENSSL is not None  # under CI=true a missing openssl fails here
    out = subprocess.run(  # noqa: S603 - a fixed command: the independent oracle
        [OPENSSL, "dgst", "-sha256", "-hmac", VECTORS["key2"]],
        input=data.encode("utf-8"),
        capture_output=True,
        check=True,
    ).stdout.decode()
    assert out.strip().rsplit("= ", 1)[-1] == mac(VECTORS["key2"], data)


def test_ids_carry_the_date_in_vietnam() -> None:
    late_evening_utc = datetime(2026, 11, 22, 17, 0, tzinfo=UTC)  # 00:00 on the 23rd in Vietnam
    assert app_trans_id(late_evening_utc, "ABC") == "261123_ABC"
    assert app_trans_id(datetime(2026, 11, 22, 16, 59, tzinfo=UTC), "ABC") == "261122_ABC"
    assert m_refund_id(late_evening_utc, 2553, "R1") == "261123_2553_R1"
    with pytest.raises(ZalopayError, match="invalid_field"):
        app_trans_id(late_evening_utc, "X" * 40)


def _callback(**changes: Any) -> bytes:
    body = {"data": CASES["callback"]["data"], "mac": CASES["callback"]["mac"], "type": 1}
    return json.dumps({**body, **changes}).encode()


def _key2(app_id: int) -> str | None:
    return VECTORS["key2"] if app_id == VECTORS["app_id"] else None


def test_the_vector_callback_verifies() -> None:
    data, raw = verify_callback(_callback(), _key2)
    assert (data.app_trans_id, data.amount, data.zp_trans_id) == (
        "261122_01JDZ7Q9ABCDEFGH1234",
        185000,
        "241122000000123",
    )
    assert raw == CASES["callback"]["data"]


def _reserialised() -> str:
    return json.dumps(json.loads(CASES["callback"]["data"]))  # same content, other bytes


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (_callback(mac=CASES["callback"]["mac"].upper()), "mac_invalid"),
        (_callback(data=_reserialised()), "mac_invalid"),
        (_callback(mac=None), "mac_invalid"),
        (_callback(type=2), "malformed"),
        (_callback(data={"app_id": 2553}), "malformed"),
        (b"data=1", "malformed"),
    ],
)
def test_a_bad_callback_raises_its_code(body: bytes, code: str) -> None:
    with pytest.raises(ZalopayError) as raised:
        verify_callback(body, _key2)
    assert raised.value.code == code


def test_codes_map_to_outcomes_and_vietnamese_messages() -> None:
    assert [outcome(code) for code in (1, 2, 3, -500)] == [
        Outcome.SUCCEEDED,
        Outcome.FAILED,
        Outcome.PENDING,
        Outcome.UNKNOWN,
    ]
    assert message(-329) == "Bạn đã hủy giao dịch ZaloPay."
    assert "-77" in message(-77)


def test_the_app_never_prints_its_keys() -> None:
    shown = repr(APP) + str(APP) + repr([APP])
    assert VECTORS["key1"] not in shown and VECTORS["key2"] not in shown
