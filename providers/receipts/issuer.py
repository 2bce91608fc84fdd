"""What every receipt issuer implements: the gateway's own signer (the agency's own software,
or the gateway operator as its delegate) and external e-receipt providers (VNPT, ...).

Issuance methods per NĐ 254/2026 Điều 26.1 (``/work/shared/specs/e-receipts.md`` §5, §11.3):
on the unit's own software or through a service provider. An issuer is chosen per agency by
configuration; the gateway calls :meth:`ReceiptIssuer.issue` once per receipt and keeps what
comes back. Corrections are capabilities an issuer has or has not (TT 91/2026 Điều 20,
spec §7: a replacement receipt; a standalone cancellation is unverified for 2026): check with
``isinstance(issuer, ReplacingIssuer)`` / ``CancellingIssuer``; an issuer without one does
not implement it (no ``NotImplementedError``).

``issue`` must be safe to call again for the same document after a failure that left the
outcome unknown: an external issuer keys the receipt by ``document.receipt_id`` and looks it
up before publishing again, so a receipt is never issued twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Protocol, runtime_checkable

from providers.receipts.document import ReceiptDocument


@dataclass(frozen=True)
class IssuedReceipt:
    """A receipt as issued.

    ``xml`` is the legally valid document (signed); ``provider`` names the issuer
    (``self``, ``vnpt``); ``external_key`` is the issuer's key for it (VNPT's fkey), for
    looking it up, replacing or cancelling it there; ``lookup_code`` is what a citizen types
    on the issuer's portal to find it; ``number`` is the number the issuer gave when it
    numbers receipts itself (an external provider), else ``None`` (the document's own).
    """

    xml: bytes
    provider: str
    external_key: str | None
    lookup_code: str | None
    number: int | None = None


class ReceiptIssuer(Protocol):
    #: The issuer's name in configuration and in :attr:`IssuedReceipt.provider`.
    name: ClassVar[str]

    async def issue(self, document: ReceiptDocument) -> IssuedReceipt:
        """Issue the receipt ``document`` describes, once."""
        ...


@runtime_checkable
class ReplacingIssuer(Protocol):
    async def replace(self, original_key: str, document: ReceiptDocument) -> IssuedReceipt:
        """Issue ``document`` as the replacement of the receipt under ``original_key``."""
        ...


@runtime_checkable
class CancellingIssuer(Protocol):
    async def cancel(self, external_key: str) -> None:
        """Cancel the receipt under ``external_key`` at the issuer."""
        ...
