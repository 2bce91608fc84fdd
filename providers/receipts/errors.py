"""The errors of the e-receipt document and signer.

::

    ValueError
    └── ProviderError (providers.common)
          └── ReceiptError(code, message)
                ├── InvalidDocument      a document that must not be built or signed
                │                        (invalid_template_code, invalid_symbol, ...)
                ├── InvalidSignature     a signed document that does not verify
                │                        (invalid_signature, untrusted_certificate)
                └── CertificateProblem   the signing identity cannot sign
                      │                  (certificate_unreadable, key_mismatch,
                      │                   certificate_not_yet_valid)
                      └── CertificateExpired   certificate_expired

Each is a ``ValueError`` whose ``code`` is stable; the message says what is wrong in words a
person can act on. None is retryable: the same input fails the same way.
"""

from __future__ import annotations

from typing import ClassVar

from providers.common.errors import ProviderError

__all__ = [
    "CertificateExpired",
    "CertificateProblem",
    "InvalidDocument",
    "InvalidSignature",
    "ReceiptError",
]


class ReceiptError(ProviderError):
    ERROR_CODES: ClassVar[frozenset[str]] = frozenset(
        {
            "invalid_template_code",
            "invalid_symbol",
            "invalid_number",
            "invalid_amount",
            "invalid_tax_code",
            "invalid_time",
            "invalid_document",
            "invalid_signature",
            "untrusted_certificate",
            "certificate_unreadable",
            "key_mismatch",
            "certificate_not_yet_valid",
            "certificate_expired",
        }
    )


class InvalidDocument(ReceiptError):
    """The document's data breaks a rule of the decree or of the format."""


class InvalidSignature(ReceiptError):
    """The signed document was changed after signing, carries no valid signature, or was
    signed with a certificate the given CA did not issue."""


class CertificateProblem(ReceiptError):
    """The key or certificate cannot be used to sign (unreadable, not matching, not yet
    valid)."""


class CertificateExpired(CertificateProblem):
    """The certificate's validity ended before the signing time."""
