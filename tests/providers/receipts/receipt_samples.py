"""What the e-receipt document tests share: a fixed signing time, the sandbox CA and an
agency identity, sample receipts, and Debian's ``xmlsec1`` as the independent verifier.

(A module, not a ``conftest.py``: the suite's tests import the top ``conftest`` by name.)"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from providers.receipts.document import ReceiptDocument, ReceiptLine, RelatedReceipt
from providers.receipts.sandbox_ca import ensure_sandbox_identity
from providers.receipts.signer import SigningIdentity
from providers.receipts.words import amount_in_words

IN_CI = os.environ.get("CI", "").lower() == "true"
#: 09:30:15 in Hà Nội on 1 July 2026.
SIGNED_AT = datetime(2026, 7, 1, 2, 30, 15, tzinfo=UTC)
AGENCY = "Ủy ban nhân dân phường Bến Nghé"
TAX_CODE = "0301234567"


def new_sandbox(directory: Path) -> tuple[SigningIdentity, bytes]:
    """A sandbox CA and the sample agency's identity under ``directory``."""
    return ensure_sandbox_identity(directory, agency_name=AGENCY, tax_code=TAX_CODE, now=SIGNED_AT)


def make_receipt(**changes: Any) -> ReceiptDocument:
    """The sample receipt (a phí and a lệ phí line), with ``changes`` applied; a change of
    the lines recomputes the total and the words unless they are given too."""
    lines = (
        ReceiptLine(kind="fee", code="P-CT01", name="Phí chứng thực bản sao", amount=100_000),
        ReceiptLine(kind="charge", code=None, name="Lệ phí cấp bản sao", amount=35_000),
    )
    doc = ReceiptDocument(
        receipt_id="rcp_01J2X8ZK4Q",
        template_code="EBL01",
        symbol="26TAB",
        number=1,
        issued_at=SIGNED_AT,
        agency_name=AGENCY,
        agency_tax_code=TAX_CODE,
        agency_address="29 Lê Duẩn, phường Bến Nghé, Quận 1, TP. Hồ Chí Minh",
        payer_name="Nguyễn Thị Hồng Nhung",
        payer_id_number="079190012345",
        payer_tax_code=None,
        payer_address=None,
        dossier_code="000.00.21.H29-260701-0001",
        procedure_name="Chứng thực bản sao từ bản chính giấy tờ, văn bản",
        channel="Chuyển khoản VietQR",
        transaction_reference="FT26182123456789",
        lines=lines,
        total=135_000,
        amount_in_words=amount_in_words(135_000),
    )
    if "lines" in changes:
        total = sum(line.amount for line in changes["lines"])
        changes.setdefault("total", total)
        changes.setdefault("amount_in_words", amount_in_words(total))
    return replace(doc, **changes)


def make_replacement() -> ReceiptDocument:
    """Receipt 2 replaces receipt 1 (the payer's name was right, the amount wrong)."""
    return make_receipt(
        receipt_id="rcp_01J2X9QW7M",
        number=2,
        replaces=RelatedReceipt(
            template_code="EBL01", symbol="26TAB", number=1, issued_at=SIGNED_AT
        ),
        note="Thay thế biên lai số 1 do sai số tiền",
    )


def xmlsec1() -> str:
    """Debian's xmlsec1; missing, the test skips on a developer machine and fails in CI."""
    path = shutil.which("xmlsec1")
    if path is None:
        message = "xmlsec1 is missing: apt-get install -y xmlsec1"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def xmlsec_verify(
    signed: bytes, ca_pem: bytes, directory: Path
) -> subprocess.CompletedProcess[str]:
    """Run ``xmlsec1 --verify`` on a signed document with ``ca_pem`` as the trusted CA, at
    the signing time (so the certificates' dates do not depend on today's date)."""
    program = xmlsec1()
    document, ca = directory / "signed.xml", directory / "ca.pem"
    document.write_bytes(signed)
    ca.write_bytes(ca_pem)
    return subprocess.run(  # noqa: S603 -- a fixed argument list to a Debian tool
        [
            program,
            "--verify",
            "--trusted-pem",
            str(ca),
            "--id-attr:Id",
            "TTChung",
            "--id-attr:Id",
            "DLieu",
            "--id-attr:Id",
            "http://www.w3.org/2000/09/xmldsig#:Object",
            "--verification-gmt-time",
            SIGNED_AT.strftime("%Y-%m-%d %H:%M:%S"),
            str(document),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
