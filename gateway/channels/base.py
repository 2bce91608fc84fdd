"""What a payment channel can do, one small Protocol per capability.

A channel that lacks a capability does not implement its Protocol (POS has no refund API:
refunds for card payments go to finance staff), and callers check with ``isinstance``.
Provider outcomes are values: a decline is an :class:`Outcome` with status ``failed``, not
an exception; only "we do not know" (a timeout) is special, and it leads to a query.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ClassVar, Generic, Protocol, TypeVar, runtime_checkable
from urllib.parse import urlsplit

from gateway.core.errors import ServiceUnavailable
from gateway.core.statuses import AttemptStatus


@dataclass(frozen=True)
class BillLine:
    kind: str  # fee (phí) | charge (lệ phí) | postal
    code: str | None
    description: str
    amount: int


@dataclass(frozen=True)
class Bill:
    """What a channel that carries the whole bill needs (DVCQG's ``ThongTinBienLai``): the
    dossier, procedure, agency with its collection and treasury accounts, payer and lines."""

    dossier_code: str
    procedure_code: str | None
    procedure_name: str | None
    agency_code: str
    agency_name: str
    bank_bin: str
    account_number: str
    account_name: str
    revenue_account: str | None
    payer_name: str
    lines: tuple[BillLine, ...]


@dataclass(frozen=True)
class AttemptRequest:
    """Everything a channel needs to start taking money for one attempt."""

    attempt_id: str
    provider_reference: str
    agency_code: str
    payment_id: str
    payment_reference: str
    amount: int
    description: str
    created_at: datetime
    expires_at: datetime
    client_ip: str
    terminal_id: str | None = None
    bank_code: str | None = None
    locale: str = "vn"
    bill: Bill | None = None


@dataclass(frozen=True)
class Started:
    status: AttemptStatus  # pending (waiting for the payer), failed, or unknown
    next_action: dict[str, Any] | None = None
    failure_code: str | None = None


@dataclass(frozen=True)
class Outcome:
    """What the provider says about an attempt (callback or query)."""

    status: AttemptStatus
    amount: int | None = None
    provider_transaction_id: str | None = None
    failure_code: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    #: When the money moved, as the provider states it (bank booking, ``vnp_PayDate``, POS
    #: ``completed_at``, COD collection); judged by :func:`gateway.core.money.money_time`.
    paid_at: datetime | None = None


@dataclass(frozen=True)
class AttemptRef:
    attempt_id: str
    provider_reference: str
    agency_code: str
    amount: int
    terminal_id: str | None
    created_at: datetime
    client_ip: str = "127.0.0.1"
    #: When the payer's time on the provider's page ends (redirect channels).
    expires_at: datetime | None = None


@dataclass(frozen=True)
class RefundRequest:
    refund_id: str
    provider_reference: str
    attempt: AttemptRef
    provider_transaction_id: str | None
    amount: int
    full: bool
    reason: str
    requested_by: str
    requested_at: datetime
    #: The payment's other refunds, for a provider whose query answers about the payment
    #: (VNPAY querydr): to tell an answer about this refund from one about another.
    others: tuple[OtherRefund, ...] = ()


@dataclass(frozen=True)
class OtherRefund:
    """Another refund of the same payment, as :class:`RefundRequest` carries it."""

    amount: int
    status: str  # pending | succeeded | failed
    provider_transaction_id: str | None


@dataclass(frozen=True)
class RefundOutcome:
    status: str  # succeeded | failed | pending (outcome unknown: query later)
    provider_transaction_id: str | None = None
    failure_code: str | None = None


class Channel(Protocol):
    name: ClassVar[str]

    def available_for(self, agency_code: str) -> bool:
        """Whether this agency can take money through the channel (has credentials)."""
        ...

    async def start(self, request: AttemptRequest) -> Started: ...


@runtime_checkable
class OwnReference(Protocol):
    """A channel whose provider wants its order ids in a shape of its own (ZaloPay's
    ``yyMMdd_…``); the others use :func:`gateway.services.attempts.reference_for`."""

    def reference(self, attempt_id: str, created_at: datetime) -> str: ...


@runtime_checkable
class Queryable(Protocol):
    async def query(self, attempt: AttemptRef) -> Outcome | None:
        """The provider's current word on the attempt; ``None``: it does not know it."""
        ...


@runtime_checkable
class Cancellable(Protocol):
    async def cancel(self, attempt: AttemptRef) -> bool:
        """Ask the provider to stop the attempt; the result arrives like any other. Raises
        :class:`ProviderUnavailable` when the provider cannot be asked right now."""
        ...


class ProviderUnavailable(ServiceUnavailable):
    code = "provider_unavailable"
    title = "The payment provider cannot be reached; retry later"


@runtime_checkable
class Explains(Protocol):
    def failure_message(self, failure_code: str) -> str | None:
        """What the citizen reads (Vietnamese) about an attempt that failed with this code;
        ``None``: not one of this channel's codes."""
        ...


@runtime_checkable
class Refundable(Protocol):
    async def refund(self, request: RefundRequest) -> RefundOutcome: ...


@runtime_checkable
class RefundQueryable(Protocol):
    async def query_refund(self, request: RefundRequest) -> RefundOutcome:
        """The provider's current word on a refund it was sent (``request`` as it was sent,
        ``requested_at`` included); ``pending`` while it is still at work. Raises
        :class:`ProviderUnavailable` when the provider cannot be asked right now."""
        ...


C = TypeVar("C")


@dataclass(frozen=True)
class PerAgency(Generic[C]):
    """A provider's credentials per agency code, and the default for every other agency
    (VNPAY terminals, DVCQG partner codes, MoMo merchants, ZaloPay apps)."""

    by_agency: Mapping[str, C]
    default: C | None
    #: What one of them is, for the error: "VNPAY terminal", "MoMo merchant", ...
    what: str

    def of(self, agency_code: str) -> C:
        found = self.by_agency.get(agency_code, self.default)
        if found is None:
            raise LookupError(f"agency {agency_code} has no {self.what}")
        return found

    def covers(self, agency_code: str) -> bool:
        return agency_code in self.by_agency or self.default is not None

    def all(self) -> list[C]:
        return [item for item in [*self.by_agency.values(), self.default] if item is not None]

    def find(self, matches: Callable[[C], bool]) -> C | None:
        """The first one ``matches`` (a callback names its merchant by its own code)."""
        return next((item for item in self.all() if matches(item)), None)

    def origins(self, url_of: Callable[[C], str], known: Iterable[str] = ()) -> tuple[str, ...]:
        """The origins (scheme://host) of ``url_of`` each, and the ``known`` page origins:
        where the checkout page's form may lead (the CSP's form-action)."""
        found = {
            f"{parts.scheme}://{parts.netloc}" for parts in map(urlsplit, map(url_of, self.all()))
        }
        return tuple(sorted(found | set(known)))
