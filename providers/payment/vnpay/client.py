"""Calls to VNPAY's merchant API (``querydr``, ``refund``): the only module that awaits.

Retry policy, one for the provider:

* ``query`` is a read, so it is retried on connection errors, timeouts and HTTP 5xx: at most
  3 attempts, exponential wait from ``retry_wait_seconds``. Each attempt is a new request
  (new vnp_RequestId and vnp_CreateDate), because VNPAY answers ``94`` to a repeated id.
  Spent retries raise ``VnpayError("provider_unavailable")`` (``retryable``).
* ``refund`` moves money and is never retried. Anything but a verified answer (no
  connection, timeout, 5xx, garbage, bad signature) raises
  ``VnpayError("refund_outcome_unknown")``: the caller must query and reconcile, not resend.

A verified answer is returned as a value whatever VNPAY's code says (a decline is a result).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp

from providers.common.http import Spent, Transient, post, read_with_retries

from .codec import parse_query_response, parse_refund_response, querydr_request, refund_request
from .errors import MALFORMED, PROVIDER_UNAVAILABLE, REFUND_OUTCOME_UNKNOWN, VnpayError
from .model import QueryResult, RefundResult
from .settings import VnpayTerminal

QUERY_ATTEMPTS = 3


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _new_request_id() -> str:
    return uuid.uuid4().hex  # 32 characters, VNPAY's maximum


class VnpayClient:
    """VNPAY's transaction API for one terminal, over a caller-owned aiohttp session.

    ``clock`` and ``new_request_id`` are injectable so that tests and replays are exact.
    """

    def __init__(
        self,
        session: aiohttp.ClientSession,
        terminal: VnpayTerminal,
        timeout_seconds: float = 10,
        *,
        clock: Callable[[], datetime] = _utc_now,
        new_request_id: Callable[[], str] = _new_request_id,
        retry_wait_seconds: float = 0.25,
    ) -> None:
        self._session = session
        self._terminal = terminal
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._clock = clock
        self._new_request_id = new_request_id
        self._retry_wait = retry_wait_seconds

    async def query(
        self, *, txn_ref: str, transaction_date: datetime, ip_addr: str, order_info: str
    ) -> QueryResult:
        """Ask VNPAY for the state of payment ``txn_ref`` (``transaction_date`` is the
        payment URL's vnp_CreateDate)."""

        def body() -> dict[str, str]:  # a new vnp_RequestId and vnp_CreateDate each time
            return querydr_request(
                self._terminal,
                request_id=self._new_request_id(),
                txn_ref=txn_ref,
                transaction_date=transaction_date,
                create_date=self._clock(),
                ip_addr=ip_addr,
                order_info=order_info,
            )

        try:
            answer = await read_with_retries(
                lambda: self._post(body()), attempts=QUERY_ATTEMPTS, wait_seconds=self._retry_wait
            )
        except Spent as spent:
            raise VnpayError(PROVIDER_UNAVAILABLE, f"querydr {spent}") from spent.__cause__
        result = parse_query_response(self._terminal.hash_secret.reveal(), answer)
        _check_echo(result.tmn_code, result.txn_ref, self._terminal.tmn_code, txn_ref)
        return result

    async def refund(
        self,
        *,
        request_id: str,
        transaction_type: str,
        txn_ref: str,
        amount_vnd: int,
        transaction_no: str | None,
        transaction_date: datetime,
        create_by: str,
        ip_addr: str,
        order_info: str,
    ) -> RefundResult:
        """Ask VNPAY to refund ``amount_vnd`` of payment ``txn_ref``; sent exactly once.

        ``request_id`` is the caller's (store it first, to find this refund again).
        """
        body = refund_request(
            self._terminal,
            request_id=request_id,
            transaction_type=transaction_type,
            txn_ref=txn_ref,
            amount_vnd=amount_vnd,
            transaction_no=transaction_no,
            transaction_date=transaction_date,
            create_by=create_by,
            create_date=self._clock(),
            ip_addr=ip_addr,
            order_info=order_info,
        )
        try:
            answer = await self._post(body)
            result = parse_refund_response(self._terminal.hash_secret.reveal(), answer)
            _check_echo(result.tmn_code, result.txn_ref, self._terminal.tmn_code, txn_ref)
        except (Transient, VnpayError) as exc:
            raise VnpayError(
                REFUND_OUTCOME_UNKNOWN,
                f"refund {request_id} of {txn_ref} sent, no verified answer ({exc}): "
                "query the transaction before doing anything else",
            ) from exc
        return result

    async def _post(self, body: dict[str, str]) -> Any:
        status, content = await post(
            self._session, self._terminal.api_url, self._timeout, json=body
        )
        if status != 200:
            raise VnpayError(MALFORMED, f"VNPAY answered HTTP {status}")
        try:
            return json.loads(content)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise VnpayError(MALFORMED, "VNPAY's answer is not JSON") from None


def _check_echo(tmn_code: str, txn_ref: str, sent_tmn_code: str, sent_txn_ref: str) -> None:
    """A signed answer about another terminal or transaction is not an answer to us."""
    if (tmn_code and tmn_code != sent_tmn_code) or (txn_ref and txn_ref != sent_txn_ref):
        raise VnpayError(MALFORMED, f"answer is for {tmn_code}/{txn_ref}, not {sent_txn_ref}")
