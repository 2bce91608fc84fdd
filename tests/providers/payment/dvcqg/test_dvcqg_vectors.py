"""MaXacThuc against golden vectors (``tests/vectors/dvcqg_spec_field_orders.json``): the
text hashed in each message's documented field order, and its SHA-256 computed by coreutils
``sha256sum`` — an implementation independent of ours, run again here."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from providers.payment.dvcqg import FIELD_ORDERS, checksum, checksum_text, verify

VECTORS = json.loads(
    (Path(__file__).parents[3] / "vectors" / "dvcqg_spec_field_orders.json").read_text("utf-8")
)["vectors"]
IN_CI = os.environ.get("CI", "").lower() == "true"


def _ids(vector: dict[str, Any]) -> str:
    return str(vector["message"])


@pytest.mark.parametrize("vector", VECTORS, ids=_ids)
def test_the_hashed_text_follows_the_documented_field_order(vector: dict[str, Any]) -> None:
    fields = FIELD_ORDERS[vector["message"]]
    assert checksum_text(vector["fields"], fields, vector["secret"]) == vector["hashed_text"]


@pytest.mark.parametrize("vector", VECTORS, ids=_ids)
def test_checksum_matches_the_vector(vector: dict[str, Any]) -> None:
    assert checksum(vector["fields"], vector["message"], vector["secret"]) == vector["MaXacThuc"]
    signed = {**vector["fields"], "MaXacThuc": vector["MaXacThuc"].upper()}
    assert verify(signed, vector["message"], vector["secret"])  # any hex case


@pytest.mark.parametrize("vector", VECTORS, ids=_ids)
def test_an_independent_sha256_agrees(vector: dict[str, Any]) -> None:
    tool = shutil.which("sha256sum")
    if tool is None:
        message = "coreutils sha256sum is missing"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    done = subprocess.run(  # noqa: S603 — a fixed tool on fixed input
        [tool], input=vector["hashed_text"].encode("utf-8"), capture_output=True, check=True
    )
    assert done.stdout.split()[0].decode() == vector["MaXacThuc"]


def test_init_and_callback_orders_differ_where_the_spec_warns() -> None:
    """The order trap (§7): INIT has ThongTinGiaoDich|ThoiGianGD, the callback the reverse."""
    init, callback = FIELD_ORDERS["INIT"], FIELD_ORDERS["CALLBACK"]
    assert init.index("ThongTinGiaoDich") < init.index("ThoiGianGD")
    assert callback.index("ThoiGianGD") < callback.index("ThongTinGiaoDich")
