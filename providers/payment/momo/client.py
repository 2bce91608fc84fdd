"""Calls to MoMo's API (``/create``, ``/query``, ``/refund``): the only module that awaits.

Retry policy, one for the provider (spec ``specs/momo-zalopay.md`` §A.4, §A.5, §E):

* ``query`` is a read: retried on connection errors, timeouts and HTTP 5xx, at most 3 times,
  each with a new ``requestId`` (MoMo wants a fresh one per query). Spent retries raise
  ``MomoError("provider_unavailable")``.
* ``create`` and ``refund`` are sent once. No readable answer raises ``provider_unavailable``
  (create: the caller marks the attempt ``unknown`` and queries it) or
  ``refund_outcome_unknown`` (refund: query, never resend blindly).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import aiohttp

from providers.common.http import Spent, Transient, post, read_with_retries

from .codec import (
    CreateResult,
    PaymentResult,
    RefundResult,
    create_request,
    parse_create_response,
    parse_json,
    parse_query_response,
    parse_refund_response,
    query_request,
    refund_request,
)
from .errors import MALFORMED, PROVIDER_UNAVAILABLE, REFUND_OUTCOME_UNKNOWN, MomoError
from .settings import MomoMerchant

QUERY_ATTEMPTS = 3


def _new_request_id() -> str:
    return uuid.uuid4().hex


class MomoClient:
    """MoMo's API for one merchant, over a caller-owned aiohttp session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        merchant: MomoMerchant,
        timeout_seconds: float = 10,
        *,
        new_request_id: Callable[[], str] = _new_request_id,
        retry_wait_seconds: float = 0.25,
    ) -> None:
        self._session = session
        self._merchant = merchant
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._new_request_id = new_request_id
        self._retry_wait = retry_wait_seconds

    async def create(
        self,
        *,
        order_id: str,
        request_id: str,
        amount: int,
        order_info: str,
        redirect_url: str,
        ipn_url: str,
    ) -> CreateResult:
        body = create_request(
            self._merchant,
            order_id=order_id,
            request_id=request_id,
            amount=amount,
            order_info=order_info,
            redirect_url=redirect_url,
            ipn_url=ipn_url,
        )
        try:
            return parse_create_response(await self._post("/create", body))
        except Transient as exc:
            raise MomoError(PROVIDER_UNAVAILABLE, f"create {order_id}: {exc}") from exc

    async def query(self, *, order_id: str) -> PaymentResult:
        def body() -> dict[str, Any]:  # MoMo wants a fresh requestId per query
            return query_request(
                self._merchant, order_id=order_id, request_id=self._new_request_id()
            )

        try:
            answer = await read_with_retries(
                lambda: self._post("/query", body()),
                attempts=QUERY_ATTEMPTS,
                wait_seconds=self._retry_wait,
            )
        except Spent as spent:
            raise MomoError(PROVIDER_UNAVAILABLE, f"query {spent}") from spent.__cause__
        result = parse_query_response(answer)
        if result.order_id != order_id or result.partner_code != self._merchant.partner_code:
            raise MomoError(MALFORMED, f"answer is about {result.order_id}, not {order_id}")
        return result

    async def refund(
        self, *, order_id: str, request_id: str, amount: int, trans_id: int, description: str
    ) -> RefundResult:
        body = refund_request(
            self._merchant,
            order_id=order_id,
            request_id=request_id,
            amount=amount,
            trans_id=trans_id,
            description=description,
        )
        try:
            return parse_refund_response(await self._post("/refund", body))
        except (Transient, MomoError) as exc:
            raise MomoError(
                REFUND_OUTCOME_UNKNOWN,
                f"refund {request_id} of {order_id} sent, no readable answer ({exc})",
            ) from exc

    async def _post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self._merchant.api_url.rstrip("/") + path
        status, content = await post(self._session, url, self._timeout, json=body)
        if status != 200:
            raise MomoError(MALFORMED, f"MoMo answered HTTP {status}")
        return parse_json(content)
