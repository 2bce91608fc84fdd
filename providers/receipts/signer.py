"""XML-DSig signing and verification of the gateway's receipt documents, with ``signxml``.

Spec ``/work/shared/specs/e-receipts.md`` §9 (QĐ 1271/QĐ-CT, [V] for the placement):
``SigningTime`` in ``Signature/Object/SignatureProperties/SignatureProperty`` and
``X509SubjectName`` + ``X509Certificate`` in ``KeyInfo/X509Data``. Algorithms,
canonicalisation, references and Id attributes are [U]; the choices here:

- RSA-SHA256 over SignedInfo, SHA-256 digests, exclusive C14N 1.0 everywhere;
- the ``Signature`` sits inside the document it signs, in ``DSCKS`` (after ``TTChung`` and
  ``DLieu``). Its elements carry the ``ds:`` prefix: the spec's example declares the XML-DSig
  namespace as the default one, which would also put the un-prefixed ``SigningTime`` into the
  XML-DSig namespace when the document is read back; with a prefix ``SigningTime`` stays in
  no namespace, and the two forms are the same XML-DSig to any verifier;
- three References: ``#<TTChung Id>``, ``#<DLieu Id>`` and ``#prop`` (the ``Object`` holding
  the signing time). They point at the siblings of ``DSCKS``, as the Vietnamese e-invoice
  formats reference their data element, so no referenced element contains the signature and
  no enveloped-signature transform is needed. This is signxml's *detached* construction,
  because it is the one whose ``signature_properties`` puts a signed ``SignatureProperties``
  inside the ``Signature`` (signxml PR #160); the result is then placed in ``DSCKS``;
- ``X509SubjectName`` is added beside signxml's ``X509Certificate`` by a signature annotator
  (signxml's extension point for ``KeyInfo``), written RFC 4514.

:func:`verify_xml` checks the signature, the digests, the certificate chain up to the given
CA, and that the references are the document's own ``TTChung`` and ``DLieu`` (so a signed
part cannot be moved aside and replaced by an unsigned one).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from lxml import etree
from signxml import (  # type: ignore[attr-defined]  # signxml re-exports these names
    CanonicalizationMethod,
    DigestAlgorithm,
    SignatureConstructionMethod,
    SignatureMethod,
    XMLSigner,
    XMLVerifier,
)
from signxml import exceptions as signxml_errors
from signxml.util import X509CertChainVerifier
from signxml.verifier import SignatureConfiguration

from providers.receipts import schema
from providers.receipts.errors import CertificateExpired, CertificateProblem, InvalidSignature

__all__ = [
    "CertificateExpired",
    "CertificateProblem",
    "InvalidSignature",
    "SigningIdentity",
    "load_pem",
    "load_pkcs12",
    "sign_xml",
    "signing_time_of",
    "verify_xml",
]

DS: Final = "http://www.w3.org/2000/09/xmldsig#"
#: The ``Id`` signxml gives the ``Object`` that holds the signature properties.
PROPERTIES_OBJECT_ID: Final = "prop"
C14N: Final = CanonicalizationMethod.EXCLUSIVE_XML_CANONICALIZATION_1_0
_ZONE: Final = ZoneInfo(schema.TIMEZONE)


def _parser() -> etree.XMLParser:
    """No entities, no network, no huge trees: the input may come from outside."""
    return etree.XMLParser(resolve_entities=False, no_network=True, remove_comments=False)


@dataclass(frozen=True)
class SigningIdentity:
    """An RSA private key, its certificate and the chain of intermediates (may be empty)."""

    private_key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...] = field(default=())

    def certificate_pem(self) -> bytes:
        """The certificate, then the chain, PEM."""
        return b"".join(
            cert.public_bytes(serialization.Encoding.PEM)
            for cert in (self.certificate, *self.chain)
        )

    @property
    def not_valid_after(self) -> datetime:
        return self.certificate.not_valid_after_utc

    @property
    def not_valid_before(self) -> datetime:
        return self.certificate.not_valid_before_utc

    @property
    def subject_name(self) -> str:
        """The certificate's subject, RFC 4514 (as written in ``X509SubjectName``)."""
        return self.certificate.subject.rfc4514_string()

    def check_valid_at(self, moment: datetime) -> None:
        """Raise :class:`CertificateExpired` or :class:`CertificateProblem`
        (``certificate_not_yet_valid``) unless the certificate is valid at ``moment``."""
        if moment.tzinfo is None:
            raise ValueError("the moment must be timezone-aware")
        if moment < self.not_valid_before:
            raise CertificateProblem(
                "certificate_not_yet_valid",
                f"the signing certificate ({self.subject_name}) is valid only from "
                f"{_shown(self.not_valid_before)}",
            )
        if moment > self.not_valid_after:
            raise CertificateExpired(
                "certificate_expired",
                f"the signing certificate ({self.subject_name}) expired on "
                f"{_shown(self.not_valid_after)}",
            )


def _shown(moment: datetime) -> str:
    return moment.astimezone(_ZONE).strftime("%Y-%m-%d %H:%M:%S GMT+7")


def _identity(
    key: object,
    certificate: x509.Certificate | None,
    chain: tuple[x509.Certificate, ...],
    source: str,
    now: datetime | None,
) -> SigningIdentity:
    if certificate is None:
        raise CertificateProblem("certificate_unreadable", f"{source} holds no certificate")
    if not isinstance(key, rsa.RSAPrivateKey):
        raise CertificateProblem(
            "certificate_unreadable", f"{source} holds no RSA private key (RSA-SHA256 signing)"
        )
    if _spki(key.public_key()) != _spki(certificate.public_key()):
        raise CertificateProblem(
            "key_mismatch",
            f"the private key in {source} does not belong to the certificate "
            f"{certificate.subject.rfc4514_string()}",
        )
    identity = SigningIdentity(private_key=key, certificate=certificate, chain=chain)
    if now is not None:
        identity.check_valid_at(now)
    return identity


def _spki(public_key: Any) -> bytes:
    return bytes(
        public_key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise CertificateProblem(
            "certificate_unreadable", f"cannot read the {what} {path}: {error.strerror}"
        ) from None


def load_pkcs12(
    path: Path, password: bytes | None, *, now: datetime | None = None
) -> SigningIdentity:
    """The key, certificate and chain of a PKCS#12 (``.p12``/``.pfx``) file. With ``now``,
    the certificate must also be valid at that moment."""
    data = _read(path, "PKCS#12 file")
    try:
        key, certificate, extra = pkcs12.load_key_and_certificates(data, password)
    except ValueError:
        raise CertificateProblem(
            "certificate_unreadable",
            f"cannot open the PKCS#12 file {path}: wrong password or not a PKCS#12 file",
        ) from None
    return _identity(key, certificate, tuple(extra), f"PKCS#12 file {path}", now)


def load_pem(
    key_path: Path,
    cert_path: Path,
    password: bytes | None = None,
    *,
    now: datetime | None = None,
) -> SigningIdentity:
    """A PEM private key and a PEM file holding the certificate, then any intermediates."""
    key_data, cert_data = _read(key_path, "key file"), _read(cert_path, "certificate file")
    try:
        key = serialization.load_pem_private_key(key_data, password)
    except (ValueError, TypeError):
        raise CertificateProblem(
            "certificate_unreadable",
            f"cannot read the private key {key_path}: wrong password or not a PEM key",
        ) from None
    try:
        certificates = x509.load_pem_x509_certificates(cert_data)
    except ValueError:
        raise CertificateProblem(
            "certificate_unreadable", f"{cert_path} holds no PEM certificate"
        ) from None
    return _identity(
        key, certificates[0], tuple(certificates[1:]), f"{key_path} and {cert_path}", now
    )


def _id_of(element: etree._Element | None, what: str) -> str:
    if element is None or not element.get(schema.ID_ATTRIBUTE):
        raise InvalidSignature(
            "invalid_signature", f"the document has no {what} with an {schema.ID_ATTRIBUTE}"
        )
    return str(element.get(schema.ID_ATTRIBUTE))


def _parts(root: etree._Element) -> tuple[str, str, etree._Element]:
    """The Ids of the root's ``TTChung`` and ``DLieu`` and its ``DSCKS`` element; each must
    occur exactly once as a child of the root."""
    found = {}
    for name in ("general", "data", "signatures"):
        children = root.findall(schema.ENVELOPE[name])
        if len(children) != 1:
            raise InvalidSignature(
                "invalid_signature",
                f"the document needs exactly one {schema.ENVELOPE[name]} under "
                f"{root.tag}, found {len(children)}",
            )
        found[name] = children[0]
    return (
        _id_of(found["general"], schema.ENVELOPE["general"]),
        _id_of(found["data"], schema.ENVELOPE["data"]),
        found["signatures"],
    )


def _add_subject_name(sig_root: etree._Element, signing_settings: Any) -> None:
    """signxml annotator: ``X509SubjectName`` first in the ``X509Data`` it wrote."""
    x509_data = sig_root.find(f"{{{DS}}}KeyInfo/{{{DS}}}X509Data")
    chain = signing_settings.cert_chain
    if x509_data is None or not chain:
        raise CertificateProblem("certificate_unreadable", "no certificate to name in KeyInfo")
    subject = etree.Element(f"{{{DS}}}X509SubjectName")
    subject.text = chain[0].subject.rfc4514_string()
    x509_data.insert(0, subject)


def sign_xml(xml: bytes, identity: SigningIdentity, signing_time: datetime) -> bytes:
    """The document ``xml`` (from :func:`~providers.receipts.document.build_receipt_xml` or
    :func:`~providers.receipts.summary.build_summary_xml`) with its signature in ``DSCKS``.

    ``signing_time`` is when the collector applies the signature (NĐ 254 Điều 24.5), written
    GMT+7; the certificate must be valid then (:class:`CertificateExpired`,
    :class:`CertificateProblem`). A document that already carries a signature is refused."""
    identity.check_valid_at(signing_time)
    try:
        root = etree.fromstring(xml, parser=_parser())
    except etree.XMLSyntaxError as error:
        raise InvalidSignature("invalid_signature", f"not well-formed XML: {error}") from None
    general_id, data_id, signatures = _parts(root)
    if len(signatures):
        raise InvalidSignature("invalid_signature", "the document is already signed")
    document = root.get(schema.ID_ATTRIBUTE) or general_id
    signature_id = f"{document}-CKS"

    signing_time_element = etree.Element(schema.SIGNATURE["signing_time"])
    signing_time_element.text = signing_time.astimezone(_ZONE).strftime(schema.DATETIME_FORMAT)
    # signxml moves Id and Target from the given element onto its SignatureProperty.
    signing_time_element.set("Id", f"{document}-SigningTime")
    signing_time_element.set("Target", f"#{signature_id}")

    signer = XMLSigner(
        method=SignatureConstructionMethod.detached,
        signature_algorithm=SignatureMethod.RSA_SHA256,
        digest_algorithm=DigestAlgorithm.SHA256,
        c14n_algorithm=C14N,
    )

    def set_signature_id(sig_root: etree._Element, signing_settings: Any) -> None:
        sig_root.set("Id", signature_id)

    annotators: list[Callable[..., None]] = [_add_subject_name, set_signature_id]
    signer.signature_annotators.extend(annotators)
    try:
        signature = signer.sign(
            root,
            key=identity.private_key,
            cert=[identity.certificate, *identity.chain],
            reference_uri=[f"#{general_id}", f"#{data_id}"],
            id_attribute=schema.ID_ATTRIBUTE,
            signature_properties=[signing_time_element],
        )
    except signxml_errors.SignXMLException as error:
        raise InvalidSignature("invalid_signature", f"cannot sign the document: {error}") from None
    signatures.append(signature)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


class _MemoryCAChainVerifier(X509CertChainVerifier):
    """signxml's chain verifier with the trusted CAs given as PEM bytes, not a file."""

    def __init__(self, ca_pem: bytes, **kwargs: Any) -> None:
        super().__init__(ca_pem_file="<memory>", **kwargs)  # type: ignore[no-untyped-call]
        self._ca_pem = ca_pem

    @property
    def store(self) -> x509.verification.Store:
        return x509.verification.Store(x509.load_pem_x509_certificates(self._ca_pem))


class _Verifier(XMLVerifier):
    def __init__(self, ca_pem: bytes) -> None:
        super().__init__()
        self._ca_pem = ca_pem

    def get_cert_chain_verifier(self, ca_pem_file: Any, ee_policy: Any, ca_policy: Any) -> Any:
        return _MemoryCAChainVerifier(
            self._ca_pem,
            verification_time=self._get_cert_verification_time(),  # type: ignore[no-untyped-call]
            ee_policy=ee_policy,
            ca_policy=ca_policy,
        )


def signing_time_of(signed: bytes) -> datetime:
    """The ``SigningTime`` written in a signed document (not verified: call
    :func:`verify_xml` for that)."""
    root = _parse_signed(signed)
    found = root.findall(f".//{{{DS}}}SignatureProperty/{schema.SIGNATURE['signing_time']}")
    if len(found) != 1 or not found[0].text:
        raise InvalidSignature("invalid_signature", "the signature has no single SigningTime")
    try:
        moment = datetime.strptime(found[0].text, schema.DATETIME_FORMAT).replace(tzinfo=_ZONE)
    except ValueError:
        raise InvalidSignature(
            "invalid_signature", f"SigningTime {found[0].text!r} is not YYYY-MM-DDThh:mm:ss"
        ) from None
    return moment


def _parse_signed(signed: bytes) -> etree._Element:
    try:
        return etree.fromstring(signed, parser=_parser())
    except etree.XMLSyntaxError as error:
        raise InvalidSignature("invalid_signature", f"not well-formed XML: {error}") from None


def verify_xml(signed: bytes, trusted_ca_pem: bytes, *, at: datetime | None = None) -> None:
    """Raise :class:`InvalidSignature` unless ``signed`` carries one valid signature, by a
    certificate the CA in ``trusted_ca_pem`` issued, over its own ``TTChung``, ``DLieu`` and
    signing time.

    The certificate must be valid ``at`` that moment; by default the document's own
    ``SigningTime`` (a receipt stays verifiable after the certificate expires, as long as it
    was valid when it signed)."""
    root = _parse_signed(signed)
    general_id, data_id, signatures = _parts(root)
    if len(signatures) != 1 or signatures[0].tag != f"{{{DS}}}Signature":
        raise InvalidSignature(
            "invalid_signature",
            f"{schema.ENVELOPE['signatures']} must hold exactly one XML-DSig Signature",
        )
    moment = at if at is not None else signing_time_of(signed)
    for wanted in (general_id, data_id, PROPERTIES_OBJECT_ID):
        holders = root.xpath(f"//*[@{schema.ID_ATTRIBUTE}=$id]", id=wanted)
        if len(holders) != 1:  # a second element with a signed Id would be a wrapping attack
            raise InvalidSignature(
                "invalid_signature", f"Id {wanted!r} occurs {len(holders)} times"
            )
    config = SignatureConfiguration(
        expect_references=3,
        location=f"./{schema.ENVELOPE['signatures']}/",
        signature_methods=frozenset({SignatureMethod.RSA_SHA256}),
        digest_algorithms=frozenset({DigestAlgorithm.SHA256}),
        verification_time=moment.astimezone(UTC),
    )
    try:
        # validate_schema=False: the XML-DSig schema wants a SignatureProperty's content in
        # another namespace (##other), and spec §9's SigningTime has none. The structure
        # signxml relies on is still checked as it reads it, and the references below.
        results: Any = _Verifier(trusted_ca_pem).verify(
            root, expect_config=config, id_attribute=schema.ID_ATTRIBUTE, validate_schema=False
        )
    except signxml_errors.InvalidCertificate as error:
        raise InvalidSignature(
            "untrusted_certificate", f"the signing certificate is not trusted: {error}"
        ) from None
    except (signxml_errors.SignXMLException, ValueError) as error:
        raise InvalidSignature(
            "invalid_signature", f"the signature does not verify: {error}"
        ) from None
    uris = [
        reference.get("URI")
        for reference in results[0].signature_xml.findall(f"{{{DS}}}SignedInfo/{{{DS}}}Reference")
    ]
    if uris != [f"#{general_id}", f"#{data_id}", f"#{PROPERTIES_OBJECT_ID}"]:
        raise InvalidSignature(
            "invalid_signature", f"the signature references {uris}, not this document's parts"
        )
