"""The DVCQG payment platform through :mod:`providers.payment.dvcqg`: INIT and a redirect to
``UrlThanhToan``, QUERY (the only word that settles a payment), GET_BILL once paid. Each agency
uses its own partner code and secret from configuration; agencies without one use the default
partner. The Confirm callback is handled by :mod:`gateway.services.provider_callbacks` (a
hint that leads to a QUERY)."""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Mapping
from typing import Any, ClassVar

import aiohttp
import structlog

from gateway.channels.base import AttemptRef, AttemptRequest, Bill, Outcome, PerAgency, Started
from gateway.core.ids import Clock
from gateway.core.money import ChannelName
from gateway.core.statuses import AttemptStatus
from providers.payment import dvcqg

log = structlog.get_logger(__name__)

_ATTEMPT_STATUS = {
    dvcqg.Outcome.SUCCEEDED: AttemptStatus.SUCCEEDED,
    dvcqg.Outcome.FAILED: AttemptStatus.FAILED,
    dvcqg.Outcome.PENDING: AttemptStatus.PENDING,
    dvcqg.Outcome.UNKNOWN: AttemptStatus.UNKNOWN,
}
#: Our line kinds → ``LoaiPhiLePhi``; a postal line is neither phí nor lệ phí.
_FEE_KINDS: Mapping[str, dvcqg.model.FeeKind] = {"fee": "phi", "charge": "le_phi"}


def platform_bill(bill: Bill) -> dvcqg.Bill:
    """The gateway's bill as the platform's ``ThongTinBienLai``; ``invalid_field`` for a line
    that is neither phí nor lệ phí."""
    lines = []
    for line in bill.lines:
        kind = _FEE_KINDS.get(line.kind)
        if kind is None:
            raise dvcqg.DvcqgError("invalid_field", f"a {line.kind} line is not a phí/lệ phí")
        code = line.code or bill.procedure_code or ""
        lines.append(dvcqg.FeeLine(kind, code, line.description, line.amount))
    return dvcqg.Bill(
        dossier_code=bill.dossier_code,
        procedure_code=bill.procedure_code or "",
        procedure_name=bill.procedure_name or "",
        agency_code=bill.agency_code,
        agency_name=bill.agency_name,
        beneficiary_account=bill.account_number,
        beneficiary_bank=bill.bank_bin,
        beneficiary_name=bill.account_name,
        budget_account=bill.revenue_account or "",
        payer_name=bill.payer_name,
        lines=tuple(lines),
    )


class DvcqgChannel:
    name: ClassVar[str] = ChannelName.DVCQG

    def __init__(
        self,
        session: aiohttp.ClientSession,
        partners: Mapping[str, dvcqg.DvcqgPartner],
        default: dvcqg.DvcqgPartner | None,
        timeout_seconds: float,
        clock: Clock,
    ) -> None:
        self.session = session
        self.partners = PerAgency(partners, default, "DVCQG partner code")
        self.timeout_seconds = timeout_seconds
        self.clock = clock

    def partner_for(self, agency_code: str) -> dvcqg.DvcqgPartner:
        return self.partners.of(agency_code)

    def available_for(self, agency_code: str) -> bool:
        return self.partners.covers(agency_code)

    def origins(self) -> tuple[str, ...]:
        """Origins the checkout page's form may lead to: the platform's hosts. Where
        ``UrlThanhToan`` points is not public; it is taken to be INIT's host."""
        return self.partners.origins(lambda partner: partner.init_url)

    def secret_for(self, partner_code: str) -> str | None:
        """The secret of a partner by its ``MaDoiTac`` (callbacks name their partner)."""
        partner = self.partners.find(lambda item: item.partner_code == partner_code)
        return None if partner is None else partner.secret_key.reveal()

    def partner_code_for(self, agency_code: str) -> str | None:
        return (
            self.partner_for(agency_code).partner_code if self.available_for(agency_code) else None
        )

    def failure_message(self, failure_code: str) -> str | None:
        return dvcqg.failure_message(failure_code)

    def _client(self, agency_code: str) -> dvcqg.DvcqgClient:
        return dvcqg.DvcqgClient(self.session, self.partner_for(agency_code), self.timeout_seconds)

    async def start(self, request: AttemptRequest) -> Started:
        if request.bill is None:
            raise ValueError("a DVCQG attempt needs the bill")
        try:
            result = await self._client(request.agency_code).init(
                reference=request.provider_reference,
                bill=platform_bill(request.bill),
                transaction_time=request.created_at,
                ip=request.client_ip,
            )
        except dvcqg.DvcqgError as exc:
            # No URL, no payment: the citizen can only pay on the page INIT answers with.
            log.warning("dvcqg_init_failed", attempt_id=request.attempt_id, code=exc.code)
            code = "dvcqg_invalid_bill" if exc.code == "invalid_field" else "dvcqg_unavailable"
            return Started(AttemptStatus.FAILED, failure_code=code)
        if not result.accepted or result.payment_url is None:
            log.warning("dvcqg_init_refused", attempt_id=request.attempt_id, code=result.code)
            return Started(AttemptStatus.FAILED, failure_code="dvcqg_init_refused")
        return Started(AttemptStatus.PENDING, {"type": "redirect", "url": result.payment_url})

    async def query(self, attempt: AttemptRef) -> Outcome | None:
        """QUERY's word (raises :class:`~providers.payment.dvcqg.DvcqgError` when the platform
        cannot answer: nothing is assumed). Once paid, the platform's receipt (GET_BILL) is
        kept in the outcome's details, beside the gateway's own."""
        client = self._client(attempt.agency_code)
        transaction_time = dvcqg.format_time(attempt.created_at)
        result = await client.query(
            reference=attempt.provider_reference, transaction_time=transaction_time
        )
        status = _ATTEMPT_STATUS[result.outcome]
        details: dict[str, Any] = {"transaction_state": result.state}
        if result.bank_code:
            details["bank_code"] = result.bank_code
        if status is AttemptStatus.SUCCEEDED:
            details["platform_receipt"] = await self._receipt(client, attempt, transaction_time)
        return Outcome(
            status=status,
            amount=result.amount,
            provider_transaction_id=result.transaction_id,
            failure_code=f"dvcqg_{result.state}" if status is AttemptStatus.FAILED else None,
            details=details,
        )

    async def _receipt(
        self, client: dvcqg.DvcqgClient, attempt: AttemptRef, transaction_time: str
    ) -> dict[str, Any]:
        """GET_BILL's PDF, or why it is missing (the payment is settled either way)."""
        try:
            pdf = await client.get_bill(
                reference=attempt.provider_reference, transaction_time=transaction_time
            )
        except dvcqg.DvcqgError as exc:
            log.warning("dvcqg_bill_missing", attempt_id=attempt.attempt_id, code=exc.code)
            return {"error": exc.code}
        return {
            "media_type": "application/pdf",
            "sha256": hashlib.sha256(pdf).hexdigest(),
            "size": len(pdf),
            "content_base64": base64.b64encode(pdf).decode("ascii"),
        }
