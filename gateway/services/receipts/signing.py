"""The gateway's own receipt issuer: build the receipt's XML and sign it with the agency's
identity (XML-DSig, ``providers.receipts.signer``), behind one small Protocol so that an
external e-receipt provider can take its place per agency.

Identities (``/work/shared/specs/e-receipts.md`` §9): a PKCS#12 file + password or a PEM key
+ certificate per agency (``[receipts.agencies.<code>]``); in sandbox mode without either, a
throwaway CA and agency certificate in ``data_dir/receipts/<code>/``. Outside sandbox mode an
identity that cannot be read, or a certificate that is not valid now, stops start-up
(:func:`load_identities` raises :class:`config.ConfigError` naming the key).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Protocol

from config import ConfigError, Settings
from providers.receipts.document import ReceiptDocument, build_receipt_xml
from providers.receipts.errors import ReceiptError
from providers.receipts.sandbox_ca import ensure_sandbox_identity
from providers.receipts.signer import SigningIdentity, load_pem, load_pkcs12, sign_xml


class ReceiptSigner(Protocol):
    """Turns a receipt's data into its signed XML for one agency."""

    #: What ``receipts.provider`` records (``gateway``: signed here).
    provider: str

    def sign(self, agency_code: str, document: ReceiptDocument, now: datetime) -> bytes:
        """The signed XML; raises ``ReceiptError`` (e.g. ``certificate_expired``) when it
        cannot be signed now."""
        ...


class GatewaySigner:
    """Signs with each agency's identity (:func:`load_identities`)."""

    provider = "gateway"

    def __init__(
        self, identities: Mapping[str, SigningIdentity], sandbox_cas: Mapping[str, bytes]
    ) -> None:
        self.identities = dict(identities)
        self.sandbox_cas = dict(sandbox_cas)

    def sign(self, agency_code: str, document: ReceiptDocument, now: datetime) -> bytes:
        return sign_xml(build_receipt_xml(document), self.identities[agency_code], now)

    def certificate_pem(self, agency_code: str) -> bytes | None:
        """The agency's certificate and chain (PEM); in sandbox mode the throwaway CA's
        certificate follows, so a reader can verify the sandbox's receipts."""
        identity = self.identities.get(agency_code)
        if identity is None:
            return None
        return identity.certificate_pem() + self.sandbox_cas.get(agency_code, b"")


def load_signer(settings: Settings, now: datetime) -> GatewaySigner:
    """Every configured agency's signing identity: outside sandbox mode it must be valid at
    ``now``, else :class:`ConfigError` naming the agency's key (start-up stops)."""
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
    return GatewaySigner(identities, cas)
