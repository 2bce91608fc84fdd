"""A throwaway certificate authority and agency certificate for sandbox mode.

In sandbox mode the gateway signs receipts with a certificate it made itself: a CA
("CA thử nghiệm", never trusted by anyone else) and, per agency, an RSA 2048 certificate
issued by it. The files live in a directory of the gateway's data and are reused on restart,
so receipts signed before a restart still verify against the same CA.

Subject of an agency certificate: ``C=VN, CN=<agency name in Vietnamese>,
UID=MST:<tax code>``. Vietnamese public CAs (VNPT-CA, Viettel-CA, ...) write the
organisation's tax code as ``MST:<tax code>`` in the ``UID`` attribute (OID
0.9.2342.19200300.100.1.1) and its name in ``CN``; this follows them. [U] for the exact
attributes a given CA uses.

Files under ``directory`` (keys unencrypted, mode 0600; a sandbox key protects nothing):

- ``sandbox-ca.pem``: the CA key then the CA certificate;
- ``agency-<tax code>.pem``: the agency key then its certificate.

Each file holds key and certificate together and is published with a hard link that fails if
the name exists, so processes starting at the same time agree on one CA and one certificate per
agency (the first to write wins; the others read what it wrote).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from datetime import datetime, timedelta
from pathlib import Path
from typing import Final

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from providers.receipts.signer import SigningIdentity

__all__ = ["CA_NAME", "ensure_sandbox_identity", "sandbox_subject"]

CA_NAME: Final = "CA thử nghiệm của cổng thanh toán (không dùng thật)"
CA_VALIDITY: Final = timedelta(days=3650)
AGENCY_VALIDITY: Final = timedelta(days=730)
#: Certificates start a day before ``now`` so a clock a little behind still accepts them.
BACKDATE: Final = timedelta(days=1)
KEY_SIZE: Final = 2048
_TAX_CODE: Final = re.compile(r"\d{10}(-\d{3})?")


def sandbox_subject(agency_name: str, tax_code: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.COMMON_NAME, agency_name),
            x509.NameAttribute(NameOID.USER_ID, f"MST:{tax_code}"),
        ]
    )


def ensure_sandbox_identity(
    directory: Path, *, agency_name: str, tax_code: str, now: datetime
) -> tuple[SigningIdentity, bytes]:
    """The agency's sandbox signing identity and the sandbox CA certificate (PEM), created
    under ``directory`` the first time and read from there afterwards.

    A stored agency certificate that has expired at ``now``, names another agency or was not
    issued by the stored CA is replaced by a new one."""
    if not _TAX_CODE.fullmatch(tax_code):
        raise ValueError(f"tax code {tax_code!r} is not 10 digits (or 10 digits-3 digits)")
    if not agency_name.strip():
        raise ValueError("the agency name is empty")
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    directory.mkdir(parents=True, exist_ok=True)
    ca_path = directory / "sandbox-ca.pem"
    ca = _read(ca_path)
    if ca is None or not _usable(ca[1], now):
        ca = _publish(ca_path, *_new_ca(now), replace=ca is not None)
    ca_key, ca_cert = ca

    agency_path = directory / f"agency-{tax_code}.pem"
    agency = _read(agency_path)
    subject = sandbox_subject(agency_name, tax_code)
    if agency is None or not _fits(agency[1], subject, ca_cert, now):
        key, cert = _new_agency(subject, ca_key, ca_cert, now)
        agency = _publish(agency_path, key, cert, replace=agency is not None)
    key, cert = agency
    ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM)
    return SigningIdentity(private_key=key, certificate=cert), ca_pem


def _usable(cert: x509.Certificate, now: datetime) -> bool:
    return cert.not_valid_before_utc <= now <= cert.not_valid_after_utc


def _fits(
    cert: x509.Certificate, subject: x509.Name, ca_cert: x509.Certificate, now: datetime
) -> bool:
    if cert.subject != subject or not _usable(cert, now):
        return False
    try:
        cert.verify_directly_issued_by(ca_cert)
    except (ValueError, TypeError, InvalidSignature):  # another issuer, key type or signature
        return False
    return True


def _read(path: Path) -> tuple[rsa.RSAPrivateKey, x509.Certificate] | None:
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return None
    key = serialization.load_pem_private_key(data, None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA key")
    return key, x509.load_pem_x509_certificates(data)[0]


def _publish(
    path: Path, key: rsa.RSAPrivateKey, cert: x509.Certificate, *, replace: bool
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """Write key + certificate to ``path`` unless another process did first; return what
    ``path`` holds afterwards."""
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ) + cert.public_bytes(serialization.Encoding.PEM)
    temporary = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as file:
        file.write(data)
    try:
        if replace:
            os.replace(temporary, path)
        else:
            with contextlib.suppress(FileExistsError):
                os.link(temporary, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()
    stored = _read(path)
    assert stored is not None  # just written or written by another process
    return stored


def _new_ca(now: datetime) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.COMMON_NAME, CA_NAME),
        ]
    )
    public = key.public_key()
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(now + CA_VALIDITY)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _new_agency(
    subject: x509.Name, ca_key: rsa.RSAPrivateKey, ca_cert: x509.Certificate, now: datetime
) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_SIZE)
    public = key.public_key()
    not_after = min(now + AGENCY_VALIDITY, ca_cert.not_valid_after_utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(ca_cert.subject)
        .public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - BACKDATE)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert
