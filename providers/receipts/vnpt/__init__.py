"""VNPT e-receipts (VNPT Invoice web services): an external provider that numbers, signs and
keeps receipts for an agency.

:class:`VnptClient` publishes a receipt exactly once under our key (fkey) — a lost answer or
a duplicate fkey is settled by looking the fkey up, never by publishing blindly — and looks
up, views, downloads and cancels it. The SOAP protocol, with what is unverified, is in
:mod:`.codec`; VNPT's ``ERR:n`` codes and statuses are tables in :mod:`.results`; every
failure is a :class:`VnptError` (:mod:`.errors`).
"""

from .client import VnptClient
from .codec import Published, ReceiptState, VnptInvoice, VnptLine
from .errors import VnptError
from .settings import VnptAccount

__all__ = [
    "Published",
    "ReceiptState",
    "VnptAccount",
    "VnptClient",
    "VnptError",
    "VnptInvoice",
    "VnptLine",
]
