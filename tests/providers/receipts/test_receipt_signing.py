"""XML-DSig of every kind of document, checked by ``verify_xml`` and independently by
Debian's ``xmlsec1`` (spec ``e-receipts.md`` §9): a receipt, one receipt of a phí/lệ phí
split, a replacement, a daily summary; tampering fails both verifiers."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from lxml import etree
from receipt_samples import (
    AGENCY,
    SIGNED_AT,
    TAX_CODE,
    make_receipt,
    make_replacement,
    new_sandbox,
    xmlsec_verify,
)

from providers.receipts.document import ReceiptLine, build_receipt_xml
from providers.receipts.errors import InvalidSignature
from providers.receipts.sandbox_ca import ensure_sandbox_identity
from providers.receipts.signer import (
    CertificateExpired,
    CertificateProblem,
    SigningIdentity,
    sign_xml,
    signing_time_of,
    verify_xml,
)
from providers.receipts.summary import DailySummary, SummaryRow, build_summary_xml

DS = "{http://www.w3.org/2000/09/xmldsig#}"


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[SigningIdentity, bytes]:
    return new_sandbox(tmp_path_factory.mktemp("receipt-ca"))


@pytest.fixture(scope="module")
def other_ca(tmp_path_factory: pytest.TempPathFactory) -> tuple[SigningIdentity, bytes]:
    """Another throwaway CA with a certificate for the same agency name and tax code."""
    return new_sandbox(tmp_path_factory.mktemp("other-ca"))


def _summary() -> bytes:
    row = SummaryRow(
        template_code="EBL01",
        symbol="26TAB",
        number=1,
        issued_on=date(2026, 7, 1),
        fee_name="Phí chứng thực bản sao",
        amount=135_000,
        exchange_rate=None,
        status="Mới",
        correction_period=None,
        related=None,
        explanation=None,
        note=None,
    )
    summary = DailySummary(
        agency_name=AGENCY,
        agency_tax_code=TAX_CODE,
        business_date=date(2026, 7, 1),
        rows=(row,),
        created_at=SIGNED_AT,
    )
    return build_summary_xml(summary)


DOCUMENTS = {
    "receipt": lambda: build_receipt_xml(make_receipt()),
    "split_charge_receipt": lambda: build_receipt_xml(
        make_receipt(
            receipt_id="rcp_split_charge",
            number=3,
            lines=(ReceiptLine(kind="charge", code="LP-01", name="Lệ phí hộ tịch", amount=8_000),),
        )
    ),
    "replacement": lambda: build_receipt_xml(make_replacement()),
    "daily_summary": _summary,
}


@pytest.mark.parametrize("kind", DOCUMENTS)
def test_every_kind_of_document_verifies_with_xmlsec1_and_verify_xml(
    kind: str, sandbox: tuple[SigningIdentity, bytes], tmp_path: Path
) -> None:
    identity, ca_pem = sandbox
    signed = sign_xml(DOCUMENTS[kind](), identity, SIGNED_AT)
    verify_xml(signed, ca_pem)
    result = xmlsec_verify(signed, ca_pem, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "SignedInfo References (ok/all): 3/3" in result.stderr


@pytest.mark.parametrize("kind", DOCUMENTS)
def test_a_document_with_a_changed_amount_fails_both_verifiers(
    kind: str, sandbox: tuple[SigningIdentity, bytes], tmp_path: Path
) -> None:
    identity, ca_pem = sandbox
    signed = sign_xml(DOCUMENTS[kind](), identity, SIGNED_AT)
    tampered = signed.replace(b"<STien>", b"<STien>1", 1)
    assert tampered != signed
    with pytest.raises(InvalidSignature, match="Digest mismatch") as raised:
        verify_xml(tampered, ca_pem)
    assert raised.value.code == "invalid_signature"
    assert xmlsec_verify(tampered, ca_pem, tmp_path).returncode != 0


def test_a_receipt_with_a_changed_number_or_signing_time_fails_both_verifiers(
    sandbox: tuple[SigningIdentity, bytes], tmp_path: Path
) -> None:
    identity, ca_pem = sandbox
    signed = sign_xml(build_receipt_xml(make_receipt()), identity, SIGNED_AT)
    for old, new in (
        (b"<SBLai>1</SBLai>", b"<SBLai>7</SBLai>"),
        (b"<SigningTime>2026-07-01T09:30:15", b"<SigningTime>2026-06-30T09:30:15"),
    ):
        tampered = signed.replace(old, new)
        assert tampered != signed
        with pytest.raises(InvalidSignature):
            verify_xml(tampered, ca_pem)
        assert xmlsec_verify(tampered, ca_pem, tmp_path).returncode != 0


def test_a_receipt_signed_under_another_ca_is_not_trusted_by_either_verifier(
    sandbox: tuple[SigningIdentity, bytes],
    other_ca: tuple[SigningIdentity, bytes],
    tmp_path: Path,
) -> None:
    _, ca_pem = sandbox
    stranger, _ = other_ca
    signed = sign_xml(build_receipt_xml(make_receipt()), stranger, SIGNED_AT)
    with pytest.raises(InvalidSignature) as raised:
        verify_xml(signed, ca_pem)
    assert raised.value.code == "untrusted_certificate"
    assert xmlsec_verify(signed, ca_pem, tmp_path).returncode != 0


def test_the_signature_has_the_shape_the_tax_format_requires(
    sandbox: tuple[SigningIdentity, bytes],
) -> None:
    identity, _ = sandbox
    root = etree.fromstring(sign_xml(build_receipt_xml(make_receipt()), identity, SIGNED_AT))
    signature = root.find(f"DSCKS/{DS}Signature")
    assert signature is not None
    info = signature.find(f"{DS}SignedInfo")
    assert info.find(f"{DS}CanonicalizationMethod").get("Algorithm") == (
        "http://www.w3.org/2001/10/xml-exc-c14n#"
    )
    assert info.find(f"{DS}SignatureMethod").get("Algorithm") == (
        "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
    )
    assert [reference.get("URI") for reference in info.iterfind(f"{DS}Reference")] == [
        "#BL-rcp_01J2X8ZK4Q-TTChung",
        "#BL-rcp_01J2X8ZK4Q-DLieu",
        "#prop",
    ]
    x509_data = signature.find(f"{DS}KeyInfo/{DS}X509Data")
    assert x509_data.findtext(f"{DS}X509SubjectName") == (
        "UID=MST:0301234567,CN=Ủy ban nhân dân phường Bến Nghé,C=VN"
    )
    assert x509_data.findtext(f"{DS}X509Certificate")
    signing_time = signature.findtext(
        f"{DS}Object/{DS}SignatureProperties/{DS}SignatureProperty/SigningTime"
    )
    assert signing_time == "2026-07-01T09:30:15"  # GMT+7


def test_the_signing_time_reads_back_as_the_moment_of_signing(
    sandbox: tuple[SigningIdentity, bytes],
) -> None:
    identity, _ = sandbox
    signed = sign_xml(build_receipt_xml(make_receipt()), identity, SIGNED_AT)
    assert signing_time_of(signed) == SIGNED_AT


def test_a_receipt_stays_verifiable_after_its_certificate_expired(
    sandbox: tuple[SigningIdentity, bytes],
) -> None:
    identity, ca_pem = sandbox
    signed = sign_xml(build_receipt_xml(make_receipt()), identity, SIGNED_AT)
    verify_xml(signed, ca_pem)  # checked at the signing time, whatever today is
    with pytest.raises(InvalidSignature, match="not trusted"):
        verify_xml(signed, ca_pem, at=identity.not_valid_after + timedelta(days=1))


def test_signing_with_an_expired_certificate_is_refused(tmp_path: Path) -> None:
    identity, _ = ensure_sandbox_identity(
        tmp_path, agency_name=AGENCY, tax_code=TAX_CODE, now=SIGNED_AT - timedelta(days=3 * 365)
    )
    with pytest.raises(CertificateExpired, match="expired on") as raised:
        sign_xml(build_receipt_xml(make_receipt()), identity, SIGNED_AT)
    assert raised.value.code == "certificate_expired"


def test_signing_before_the_certificate_is_valid_is_refused(tmp_path: Path) -> None:
    identity, _ = ensure_sandbox_identity(
        tmp_path, agency_name=AGENCY, tax_code=TAX_CODE, now=SIGNED_AT + timedelta(days=10)
    )
    with pytest.raises(CertificateProblem, match="valid only from") as raised:
        sign_xml(build_receipt_xml(make_receipt()), identity, SIGNED_AT)
    assert raised.value.code == "certificate_not_yet_valid"


def test_a_document_that_is_already_signed_is_not_signed_again(
    sandbox: tuple[SigningIdentity, bytes],
) -> None:
    identity, _ = sandbox
    signed = sign_xml(build_receipt_xml(make_receipt()), identity, SIGNED_AT)
    with pytest.raises(InvalidSignature, match="already signed"):
        sign_xml(signed, identity, SIGNED_AT)


def test_an_unsigned_document_does_not_verify(sandbox: tuple[SigningIdentity, bytes]) -> None:
    _, ca_pem = sandbox
    with pytest.raises(InvalidSignature, match="exactly one XML-DSig Signature"):
        verify_xml(build_receipt_xml(make_receipt()), ca_pem)


def test_signed_parts_moved_aside_for_forged_ones_do_not_verify(
    sandbox: tuple[SigningIdentity, bytes],
) -> None:
    """Signature wrapping: the signed DLieu is kept (hidden) and a forged one is shown."""
    identity, ca_pem = sandbox
    root = etree.fromstring(sign_xml(build_receipt_xml(make_receipt()), identity, SIGNED_AT))
    original = root.find("DLieu")
    forged = etree.fromstring(etree.tostring(original))
    forged.find("TgTTTBSo").text = "1000"
    root.replace(original, forged)
    root.find(f"DSCKS/{DS}Signature/{DS}Object").append(original)
    with pytest.raises(InvalidSignature, match="occurs 2 times"):
        verify_xml(etree.tostring(root), ca_pem)


def test_text_that_is_not_xml_does_not_verify(sandbox: tuple[SigningIdentity, bytes]) -> None:
    _, ca_pem = sandbox
    with pytest.raises(InvalidSignature, match="not well-formed"):
        verify_xml(b"<BLDT>", ca_pem)
