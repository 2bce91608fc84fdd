"""ZaloPay (Open API v2) through :mod:`providers.payment.zalopay`: create order, callback
reading, ``/v2/query`` for the janitor, refunds. Each agency may have its own app
(``[zalopay.apps.<agency>]``); the others use the default one. Spec:
``specs/momo-zalopay.md`` §B.

ZaloPay calls back only on success (at most 3 tries): a failed, cancelled or abandoned order
is found by querying. An abandoned order stays "processing" (3) at ZaloPay; once the
attempt's own time is up and ZaloPay is not processing it, the query reports nothing and the
janitor closes the attempt as ``expired`` (spec §B.5: ZaloPay's order lifetime is unknown).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import ClassVar

import aiohttp

from gateway.channels.base import (
    AttemptRef,
    AttemptRequest,
    Outcome,
    PerAgency,
    ProviderUnavailable,
    RefundOutcome,
    RefundRequest,
    Started,
)
from gateway.core.ids import Clock
from gateway.core.money import ChannelName
from gateway.core.statuses import AttemptStatus
from providers.payment import zalopay


def failure_code(sub_return_code: int | None) -> str:
    return f"zalopay_{sub_return_code if sub_return_code is not None else 2}"


def failure_message(code: str) -> str | None:
    """The citizen's Vietnamese message for a ZaloPay ``failure_code``
    (``zalopay_<sub_return_code>``)."""
    number = code.removeprefix("zalopay_")
    if number == code or not number.lstrip("-").isdigit():
        return None
    return zalopay.message(int(number))


def reference_suffix(attempt_id: str) -> str:
    return attempt_id.removeprefix("att_").upper()[:20]


class ZalopayChannel:
    name: ClassVar[str] = ChannelName.ZALOPAY

    def __init__(
        self,
        session: aiohttp.ClientSession,
        apps: Mapping[str, zalopay.ZalopayApp],
        default: zalopay.ZalopayApp | None,
        base_url: str,
        timeout_seconds: float,
        clock: Clock,
    ) -> None:
        self.session = session
        self.apps = PerAgency(apps, default, "ZaloPay app")
        self.base_url = base_url
        self.timeout_seconds = timeout_seconds
        self.clock = clock

    def app_for(self, agency_code: str) -> zalopay.ZalopayApp:
        return self.apps.of(agency_code)

    def failure_message(self, failure_code: str) -> str | None:
        """The citizen's Vietnamese message for a failed attempt (:class:`Explains`)."""
        return failure_message(failure_code)

    def origins(self) -> tuple[str, ...]:
        """Origins of the wallet's payment pages (the checkout page's form leads there): its
        API host and the page hosts it is known to use (zalopay.PAGE_ORIGINS)."""
        return self.apps.origins(lambda app: app.api_url, zalopay.PAGE_ORIGINS)

    def available_for(self, agency_code: str) -> bool:
        return self.apps.covers(agency_code)

    def key2_for(self, app_id: int) -> str | None:
        app = self.apps.find(lambda item: item.app_id == app_id)
        return None if app is None else app.key2.reveal()

    def reference(self, attempt_id: str, created_at: datetime) -> str:
        """``app_trans_id``: the Vietnam-time ``yyMMdd``, ``_``, the attempt's reference."""
        return zalopay.app_trans_id(created_at, reference_suffix(attempt_id))

    def _client(self, agency_code: str) -> zalopay.ZalopayClient:
        return zalopay.ZalopayClient(
            self.session, self.app_for(agency_code), self.timeout_seconds, clock=self.clock
        )

    async def start(self, request: AttemptRequest) -> Started:
        try:
            answer = await self._client(request.agency_code).create(
                trans_id=request.provider_reference,
                app_user=request.agency_code,  # never the citizen's data
                amount=request.amount,
                description=request.description,
                redirect_url=f"{self.base_url}/pay/{request.payment_id}",
                callback_url=f"{self.base_url}/callbacks/zalopay",
            )
        except zalopay.ZalopayError as exc:
            if exc.code == "provider_unavailable":  # ZaloPay may have it: query
                return Started(AttemptStatus.UNKNOWN)
            return Started(AttemptStatus.FAILED, failure_code=exc.code[:32])
        if answer.return_code == 1 and answer.order_url:
            return Started(AttemptStatus.PENDING, {"type": "redirect", "url": answer.order_url})
        if answer.sub_return_code == zalopay.ORDER_EXISTS:
            return Started(AttemptStatus.UNKNOWN)
        return Started(AttemptStatus.FAILED, failure_code=failure_code(answer.sub_return_code))

    async def query(self, attempt: AttemptRef) -> Outcome | None:
        try:
            answer = await self._client(attempt.agency_code).query(
                trans_id=attempt.provider_reference
            )
        except zalopay.ZalopayError as exc:
            raise ProviderUnavailable(f"ZaloPay did not answer the query: {exc.code}") from exc
        result = zalopay.outcome(answer.return_code)
        details = {"return_code": answer.return_code, "sub_return_code": answer.sub_return_code}
        if result is zalopay.Outcome.SUCCEEDED:
            return Outcome(
                AttemptStatus.SUCCEEDED,
                amount=answer.amount,
                provider_transaction_id=answer.zp_trans_id,
                details=details,
            )
        if result is zalopay.Outcome.FAILED:
            return Outcome(
                AttemptStatus.FAILED,
                failure_code=failure_code(answer.sub_return_code),
                details=details,
            )
        if result is zalopay.Outcome.PENDING:
            over = attempt.expires_at is not None and attempt.expires_at <= self.clock()
            if over and not answer.is_processing:
                return None  # abandoned: the janitor closes it once its grace is over
            return Outcome(AttemptStatus.PENDING, details=details)
        raise ProviderUnavailable(f"ZaloPay answered {answer.return_code} to the query")

    async def refund(self, request: RefundRequest) -> RefundOutcome:
        if not request.provider_transaction_id:
            return RefundOutcome("failed", failure_code="no_transaction_id")
        app = self.app_for(request.attempt.agency_code)
        refund_id = zalopay.m_refund_id(
            request.requested_at, app.app_id, request.provider_reference
        )
        client = self._client(request.attempt.agency_code)
        try:
            answer = await client.refund(
                refund_id=refund_id,
                zp_trans_id=request.provider_transaction_id,
                amount=request.amount,
                description=request.reason[:100],
            )
            if answer.return_code == 3:  # processing: ask once, as ZaloPay advises
                answer = await client.query_refund(refund_id=refund_id)
        except zalopay.ZalopayError as exc:
            if exc.code in ("refund_outcome_unknown", "provider_unavailable"):
                return RefundOutcome("pending", failure_code="outcome_unknown")
            return RefundOutcome("failed", failure_code=exc.code[:32])
        return _refund_outcome(answer)

    async def query_refund(self, request: RefundRequest) -> RefundOutcome:
        """ZaloPay's refund query (``/v2/query_refund``) for a refund still processing; its
        ``m_refund_id`` is rebuilt from the request as it was sent."""
        app = self.app_for(request.attempt.agency_code)
        refund_id = zalopay.m_refund_id(
            request.requested_at, app.app_id, request.provider_reference
        )
        try:
            answer = await self._client(request.attempt.agency_code).query_refund(
                refund_id=refund_id
            )
        except zalopay.ZalopayError as exc:
            raise ProviderUnavailable(
                f"ZaloPay did not answer the refund query: {exc.code}"
            ) from exc
        return _refund_outcome(answer)


def _refund_outcome(answer: zalopay.Answer) -> RefundOutcome:
    """A refund or refund-query answer: 1 refunded, 2 failed, anything else still pending."""
    result = zalopay.outcome(answer.return_code)
    if result is zalopay.Outcome.SUCCEEDED:
        return RefundOutcome("succeeded", provider_transaction_id=answer.refund_id)
    if result is zalopay.Outcome.FAILED:
        return RefundOutcome("failed", failure_code=failure_code(answer.sub_return_code))
    return RefundOutcome("pending", failure_code=failure_code(answer.sub_return_code))
