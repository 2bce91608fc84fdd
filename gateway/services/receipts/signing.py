"""The gateway's own receipt issuer: build the receipt's XML and sign it with the agency's
identity (XML-DSig, ``providers.receipts.signer``), behind the ``ReceiptIssuer`` Protocol of
``providers.receipts.issuer``.

Identities (``/work/shared/specs/e-receipts.md`` §9): a PKCS#12 file + password or a PEM key
+ certificate per agency (``[receipts.agencies.<code>]``); in sandbox mode without either, a
throwaway CA and agency certificate in ``data_dir/receipts/<code>/``. Outside sandbox mode an
identity that cannot be read, or a certificate that is not valid now, stops start-up
(:func:`load_identities` raises :class:`config.ConfigError` naming the key).
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import ClassVar

from config import ConfigError, Settings
from providers.receipts.document import ReceiptDocument, build_receipt_xml
from providers.receipts.errors import ReceiptError
from providers.receipts.issuer import IssuedReceipt
from providers.receipts.sandbox_ca import ensure_sandbox_identity
from providers.receipts.signer import SigningIdentity, load_pem, load_pkcs12, sign_xml


class GatewayIssuer:
    """The gateway's own issuer for one agency: builds the receipt's XML and signs it with the
    agency's identity at the receipt's time of issue (a
    :class:`~providers.receipts.issuer.ReceiptIssuer`; the gateway numbers the receipt)."""

    name: ClassVar[str] = "gateway"

    def __init__(self, identity: SigningIdentity, sandbox_ca_pem: bytes = b"") -> None:
        self.identity = identity
        self.sandbox_ca_pem = sandbox_ca_pem

    async def issue(self, document: ReceiptDocument) -> IssuedReceipt:
        """Raises ``ReceiptError`` (e.g. ``certificate_expired``) when it cannot sign now."""
        xml = sign_xml(build_receipt_xml(document), self.identity, document.issued_at)
        return IssuedReceipt(xml=xml, provider=self.name, external_key=None, lookup_code=None)

    def certificate_pem(self) -> bytes:
        """The agency's certificate and chain (PEM); in sandbox mode the throwaway CA's
        certificate follows, so a reader can verify the sandbox's receipts."""
        return self.identity.certificate_pem() + self.sandbox_ca_pem


def load_issuers(settings: Settings, now: datetime) -> dict[str, GatewayIssuer]:
    """Every configured agency's issuer, by agency code, with its signing identity: outside
    sandbox mode the certificate must be valid at ``now``, else :class:`ConfigError` naming
    the agency's key (start-up stops)."""
    identities, cas = {}, {}
    for code, agency in settings.receipts.agencies.items():
        key = f"receipts.agencies.{code}"
        try:
            if agency.pkcs12_file is not None:
                secret = agency.pkcs12_password
                password = secret.get_secret_value().encode() if secret is not None else None
                identities[code] = load_pkcs12(agency.pkcs12_file, password, now=now)
            elif agency.key_file is not None and agency.certificate_file is not None:
                identities[code] = load_pem(agency.key_file, agency.certificate_file, now=now)
            elif settings.sandbox:
                identities[code], cas[code] = ensure_sandbox_identity(
                    Path(settings.data_dir) / "receipts" / code,
                    agency_name=agency.legal_name,
                    tax_code=agency.tax_code,
                    now=now,
                )
            else:  # the settings refuse this already; kept for a settings object built by hand
                raise ConfigError(key, "no signing identity is configured")
        except (ReceiptError, ValueError) as exc:
            raise ConfigError(key, f"the signing identity cannot be used: {exc}") from None
    return {
        code: GatewayIssuer(identity, cas.get(code, b"")) for code, identity in identities.items()
    }
