"""The agency's signing identity: PKCS#12 and PEM files, clear errors for a wrong password, a
key of another certificate, an expired or not-yet-valid certificate; and the sandbox CA that
is made once and reused."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID
from receipt_samples import AGENCY, SIGNED_AT, TAX_CODE, make_receipt, new_sandbox

from providers.receipts.document import build_receipt_xml
from providers.receipts.sandbox_ca import ensure_sandbox_identity
from providers.receipts.signer import (
    CertificateExpired,
    CertificateProblem,
    SigningIdentity,
    load_pem,
    load_pkcs12,
    sign_xml,
    verify_xml,
)


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory: pytest.TempPathFactory) -> tuple[SigningIdentity, bytes]:
    return new_sandbox(tmp_path_factory.mktemp("receipt-ca"))


def _pem_key(key: rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def _p12(identity: SigningIdentity, password: bytes | None, ca_pem: bytes) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        b"agency",
        identity.private_key,
        identity.certificate,
        [x509.load_pem_x509_certificate(ca_pem)],
        encryption,
    )


def test_a_pkcs12_file_gives_an_identity_that_signs_verifiable_receipts(
    sandbox: tuple[SigningIdentity, bytes], tmp_path: Path
) -> None:
    identity, ca_pem = sandbox
    path = tmp_path / "agency.p12"
    path.write_bytes(_p12(identity, b"mat-khau", ca_pem))
    loaded = load_pkcs12(path, b"mat-khau", now=SIGNED_AT)
    assert loaded.certificate == identity.certificate
    assert len(loaded.chain) == 1
    assert loaded.certificate_pem().startswith(identity.certificate_pem())
    assert loaded.not_valid_after == identity.not_valid_after
    verify_xml(sign_xml(build_receipt_xml(make_receipt()), loaded, SIGNED_AT), ca_pem)


def test_a_pkcs12_file_with_the_wrong_password_is_refused(
    sandbox: tuple[SigningIdentity, bytes], tmp_path: Path
) -> None:
    identity, ca_pem = sandbox
    path = tmp_path / "agency.p12"
    path.write_bytes(_p12(identity, b"mat-khau", ca_pem))
    with pytest.raises(CertificateProblem, match="wrong password") as raised:
        load_pkcs12(path, b"sai")
    assert raised.value.code == "certificate_unreadable"


def test_a_missing_certificate_file_is_refused_with_its_path(tmp_path: Path) -> None:
    with pytest.raises(CertificateProblem, match=r"missing\.p12") as raised:
        load_pkcs12(tmp_path / "missing.p12", None)
    assert raised.value.code == "certificate_unreadable"


def test_a_pem_key_and_certificate_give_the_identity(
    sandbox: tuple[SigningIdentity, bytes], tmp_path: Path
) -> None:
    identity, ca_pem = sandbox
    key_path, cert_path = tmp_path / "agency.key", tmp_path / "agency.crt"
    key_path.write_bytes(_pem_key(identity.private_key, b"mat-khau"))
    cert_path.write_bytes(identity.certificate_pem() + ca_pem)
    loaded = load_pem(key_path, cert_path, b"mat-khau", now=SIGNED_AT)
    assert loaded.certificate == identity.certificate
    assert loaded.chain == (x509.load_pem_x509_certificate(ca_pem),)


def test_a_key_that_does_not_belong_to_the_certificate_is_refused(
    sandbox: tuple[SigningIdentity, bytes], tmp_path: Path
) -> None:
    identity, _ = sandbox
    key_path, cert_path = tmp_path / "other.key", tmp_path / "agency.crt"
    key_path.write_bytes(_pem_key(rsa.generate_private_key(public_exponent=65537, key_size=2048)))
    cert_path.write_bytes(identity.certificate_pem())
    with pytest.raises(CertificateProblem, match="does not belong") as raised:
        load_pem(key_path, cert_path)
    assert raised.value.code == "key_mismatch"


def test_loading_an_expired_certificate_is_refused_with_its_end_date(
    sandbox: tuple[SigningIdentity, bytes], tmp_path: Path
) -> None:
    identity, ca_pem = sandbox
    path = tmp_path / "agency.p12"
    path.write_bytes(_p12(identity, None, ca_pem))
    later = identity.not_valid_after + timedelta(seconds=1)
    with pytest.raises(CertificateExpired, match="expired on 20") as raised:
        load_pkcs12(path, None, now=later)
    assert raised.value.code == "certificate_expired"


def test_loading_a_certificate_not_yet_valid_is_refused(
    sandbox: tuple[SigningIdentity, bytes], tmp_path: Path
) -> None:
    identity, ca_pem = sandbox
    path = tmp_path / "agency.p12"
    path.write_bytes(_p12(identity, None, ca_pem))
    with pytest.raises(CertificateProblem, match="valid only from") as raised:
        load_pkcs12(path, None, now=identity.not_valid_before - timedelta(seconds=1))
    assert raised.value.code == "certificate_not_yet_valid"


def test_the_sandbox_certificate_names_the_agency_and_its_tax_code(
    sandbox: tuple[SigningIdentity, bytes],
) -> None:
    identity, ca_pem = sandbox
    subject = identity.certificate.subject
    assert subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == AGENCY
    assert subject.get_attributes_for_oid(NameOID.USER_ID)[0].value == f"MST:{TAX_CODE}"
    assert identity.private_key.key_size == 2048
    identity.certificate.verify_directly_issued_by(x509.load_pem_x509_certificate(ca_pem))


def test_the_sandbox_ca_and_certificate_are_reused_after_a_restart(tmp_path: Path) -> None:
    first, first_ca = new_sandbox(tmp_path)
    again, again_ca = new_sandbox(tmp_path)
    assert again.certificate == first.certificate
    assert again_ca == first_ca
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"agency-{TAX_CODE}.pem",
        "sandbox-ca.pem",
    ]
    assert (tmp_path / "sandbox-ca.pem").stat().st_mode & 0o077 == 0  # keys readable by owner only


def test_processes_starting_together_agree_on_one_sandbox_ca_and_certificate(
    tmp_path: Path,
) -> None:
    with ThreadPoolExecutor(max_workers=4) as pool:
        made = list(pool.map(lambda _: new_sandbox(tmp_path), range(4)))
    assert len({ca_pem for _, ca_pem in made}) == 1
    assert len({identity.certificate for identity, _ in made}) == 1
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        f"agency-{TAX_CODE}.pem",
        "sandbox-ca.pem",
    ]


def test_an_expired_sandbox_certificate_is_replaced_under_the_same_ca(tmp_path: Path) -> None:
    first, ca_pem = new_sandbox(tmp_path)
    later = first.not_valid_after + timedelta(days=1)
    renewed, renewed_ca = ensure_sandbox_identity(
        tmp_path, agency_name=AGENCY, tax_code=TAX_CODE, now=later
    )
    assert renewed_ca == ca_pem
    assert renewed.certificate != first.certificate
    renewed.check_valid_at(later)


def test_each_agency_gets_its_own_certificate_from_the_one_sandbox_ca(tmp_path: Path) -> None:
    first, ca_pem = new_sandbox(tmp_path)
    second, second_ca = ensure_sandbox_identity(
        tmp_path, agency_name="Sở Tư pháp tỉnh Lâm Đồng", tax_code="5800123456", now=SIGNED_AT
    )
    assert second_ca == ca_pem
    assert second.certificate.public_key() != first.certificate.public_key()
    signed = sign_xml(
        build_receipt_xml(make_receipt(agency_tax_code="5800123456")), second, SIGNED_AT
    )
    verify_xml(signed, ca_pem)


@pytest.mark.parametrize(("name", "tax_code"), [("", TAX_CODE), (AGENCY, "12345")])
def test_a_sandbox_identity_needs_a_name_and_a_tax_code(
    tmp_path: Path, name: str, tax_code: str
) -> None:
    with pytest.raises(ValueError, match=r"empty|10 digits"):
        ensure_sandbox_identity(tmp_path, agency_name=name, tax_code=tax_code, now=SIGNED_AT)
