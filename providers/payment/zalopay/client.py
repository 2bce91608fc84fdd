"""Calls to ZaloPay's Open API v2: the only module of the connector that awaits.

Retry policy (spec ``specs/momo-zalopay.md`` §B, §E): ``query`` and ``query_refund`` are
reads, retried on connection errors, timeouts and HTTP 5xx (at most 3 tries); ``create`` is
sent once (the same ``app_trans_id`` again is answered -68 "order exists": the caller queries);
``refund`` is sent once and, without a readable answer, raises ``refund_outcome_unknown`` —
the refund is then looked up by its ``m_refund_id``. Requests are form-encoded.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import aiohttp

from providers.common.http import Spent, Transient, post, read_with_retries

from .codec import (
    Answer,
    create_request,
    parse_answer,
    parse_json,
    query_refund_request,
    query_request,
    refund_request,
)
from .errors import MALFORMED, PROVIDER_UNAVAILABLE, REFUND_OUTCOME_UNKNOWN, ZalopayError
from .settings import ZalopayApp

READ_ATTEMPTS = 3


def _utc_now() -> datetime:
    return datetime.now(UTC)


class ZalopayClient:
    def __init__(
        self,
        session: aiohttp.ClientSession,
        app: ZalopayApp,
        timeout_seconds: float = 10,
        *,
        clock: Callable[[], datetime] = _utc_now,
        retry_wait_seconds: float = 0.25,
    ) -> None:
        self._session = session
        self._app = app
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._clock = clock
        self._retry_wait = retry_wait_seconds

    async def create(
        self,
        *,
        trans_id: str,
        app_user: str,
        amount: int,
        description: str,
        redirect_url: str,
        callback_url: str,
    ) -> Answer:
        body = create_request(
            self._app,
            trans_id=trans_id,
            app_user=app_user,
            amount=amount,
            app_time=self._clock(),
            description=description,
            redirect_url=redirect_url,
            callback_url=callback_url,
        )
        try:
            return parse_answer(await self._post("/v2/create", body))
        except Transient as exc:
            raise ZalopayError(PROVIDER_UNAVAILABLE, f"create {trans_id}: {exc}") from exc

    async def query(self, *, trans_id: str) -> Answer:
        return await self._read("/v2/query", lambda: query_request(self._app, trans_id=trans_id))

    async def refund(
        self, *, refund_id: str, zp_trans_id: str, amount: int, description: str
    ) -> Answer:
        body = refund_request(
            self._app,
            refund_id=refund_id,
            zp_trans_id=zp_trans_id,
            amount=amount,
            description=description,
            timestamp=self._clock(),
        )
        try:
            return parse_answer(await self._post("/v2/refund", body))
        except (Transient, ZalopayError) as exc:
            raise ZalopayError(
                REFUND_OUTCOME_UNKNOWN, f"refund {refund_id} sent, no readable answer ({exc})"
            ) from exc

    async def query_refund(self, *, refund_id: str) -> Answer:
        return await self._read(
            "/v2/query_refund",
            lambda: query_refund_request(self._app, refund_id=refund_id, timestamp=self._clock()),
        )

    async def _read(self, path: str, build: Callable[[], dict[str, str]]) -> Answer:
        try:
            answer = await read_with_retries(
                lambda: self._post(path, build()),
                attempts=READ_ATTEMPTS,
                wait_seconds=self._retry_wait,
            )
        except Spent as spent:
            raise ZalopayError(PROVIDER_UNAVAILABLE, f"{path} {spent}") from spent.__cause__
        return parse_answer(answer)

    async def _post(self, path: str, body: dict[str, str]) -> dict[str, object]:
        url = self._app.api_url.rstrip("/") + path
        status, content = await post(self._session, url, self._timeout, data=body)
        if status != 200:
            raise ZalopayError(MALFORMED, f"ZaloPay answered HTTP {status}")
        return parse_json(content)
