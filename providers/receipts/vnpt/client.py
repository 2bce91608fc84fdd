"""The VNPT e-receipt client: the only module of this package that awaits the network.

Retry policy: reads (look-up, view, download) are retried on connection errors, timeouts and
5xx. A publish is sent once; when its answer is lost (timeout, 5xx, connection dropped) or
VNPT says the fkey is taken (``ERR:13``), the fkey is **looked up first**: a receipt found
under it with our pattern and serial is adopted (nothing is numbered twice), and only when
none is found is the publish sent again — still protected by ``ERR:13``. A cancellation is
sent once; a lost answer is ``outcome_unknown`` (look the fkey up).
"""

from __future__ import annotations

from typing import ClassVar

import aiohttp
from tenacity import AsyncRetrying, retry_if_exception, stop_after_attempt, wait_exponential

from providers.receipts.document import ReceiptDocument
from providers.receipts.issuer import IssuedReceipt

from . import codec, results
from .codec import Credentials, Published, ReceiptState, VnptInvoice
from .errors import DUPLICATE_KEY, OUTCOME_UNKNOWN, REJECTED, UNAVAILABLE, VnptError
from .settings import VnptAccount


class _Transient(Exception):
    """A read that may succeed if repeated: connection error, timeout or 5xx."""


def read_retry_policy(attempts: int, wait_seconds: float) -> AsyncRetrying:
    """The one retry policy of this provider for reads."""
    return AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait_exponential(multiplier=wait_seconds, max=wait_seconds * 8),
        retry=retry_if_exception(lambda exc: isinstance(exc, _Transient)),
        reraise=True,
    )


class VnptClient:
    """Publish, replace, look up, view and cancel receipts on one VNPT tenant; a
    :class:`~providers.receipts.issuer.ReceiptIssuer`, a
    :class:`~providers.receipts.issuer.ReplacingIssuer` and a
    :class:`~providers.receipts.issuer.CancellingIssuer`.

    ``timeout_seconds`` bounds each HTTP exchange; ``read_attempts``/``read_wait_seconds``
    shape the read retries; ``publish_attempts`` bounds the publishes of one receipt (each
    after the first preceded by a look-up).
    """

    name: ClassVar[str] = "vnpt"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        account: VnptAccount,
        timeout_seconds: float,
        *,
        read_attempts: int = 3,
        read_wait_seconds: float = 0.5,
        publish_attempts: int = 2,
    ) -> None:
        self._session = session
        self._account = account
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self._read_attempts = read_attempts
        self._read_wait = read_wait_seconds
        self._publish_attempts = publish_attempts

    @property
    def _credentials(self) -> Credentials:
        a = self._account
        return Credentials(a.username, a.password.reveal(), a.account, a.ac_pass.reveal())

    async def issue(self, document: ReceiptDocument) -> IssuedReceipt:
        """Publish ``document`` under its ``receipt_id`` (the fkey) with its template code as
        pattern and its symbol as serial, and fetch the receipt's XML. Safe to call again
        after any failure: a receipt already published under the fkey is adopted. VNPT
        numbers the receipt: :attr:`IssuedReceipt.number` is VNPT's number."""
        invoice = codec.invoice_from_document(document)
        published = await self.publish(invoice, document.template_code, document.symbol)
        xml = await self.download_xml(invoice.fkey)
        return IssuedReceipt(xml, self.name, invoice.fkey, invoice.fkey, published.number)

    async def replace(self, original_key: str, document: ReceiptDocument) -> IssuedReceipt:
        """Publish ``document`` (which names the receipt it replaces, ``document.replaces``) as
        the replacement of the receipt VNPT holds under ``original_key``: the same once-only
        publish under the replacement's own fkey, naming the original (``codec``: the
        operation and tags are unverified data). VNPT numbers it and marks the original
        replaced. Raises as :meth:`publish`; ``rejected`` (``ERR:8``) when the original is not
        there to replace — unless VNPT already holds this replacement issued under its fkey
        (an earlier round's lost answer), which is adopted."""
        invoice = codec.invoice_from_document(document, replaces_fkey=original_key)
        published = await self.publish(invoice, document.template_code, document.symbol)
        xml = await self.download_xml(invoice.fkey)
        return IssuedReceipt(xml, self.name, invoice.fkey, invoice.fkey, published.number)

    async def publish(self, invoice: VnptInvoice, pattern: str, serial: str) -> Published:
        """Create and publish one receipt under ``invoice.fkey``, exactly once.

        Raises ``invalid_field`` (nothing sent), ``unauthorized``, ``rejected`` (with
        ``provider_code``), ``duplicate_key`` (the fkey holds another receipt),
        ``outcome_unknown`` (still no answer after the look-ups), ``unavailable``.
        """
        request = codec.build_publish(self._credentials, invoice, pattern, serial)
        for attempt in range(1, self._publish_attempts + 1):
            if attempt > 1:
                adopted = await self._adopt(invoice.fkey, pattern, serial)
                if adopted is not None:
                    return adopted
            try:
                result = await self._send_once(request)
                table = results.REPLACE if invoice.replaces else results.PUBLISH
                return codec.parse_published(result, invoice.fkey, table)
            except VnptError as error:
                if error.code == DUPLICATE_KEY:
                    adopted = await self._adopt(invoice.fkey, pattern, serial)
                    if adopted is not None:
                        return adopted
                    raise
                if error.code == REJECTED and invoice.replaces is not None:
                    # VNPT's order of checks is unverified: a replacement published by an
                    # earlier round whose answer was lost may be refused as "the original is
                    # replaced already" (ERR:8) rather than ERR:13. Look its fkey up first and
                    # adopt it if VNPT holds it issued.
                    adopted = await self._adopted_replacement(invoice.fkey, pattern, serial)
                    if adopted is not None:
                        return adopted
                    raise
                if error.code != OUTCOME_UNKNOWN or attempt == self._publish_attempts:
                    raise
        raise AssertionError("unreachable")  # pragma: no cover  (the loop returns or raises)

    async def lookup(self, fkey: str) -> ReceiptState | None:
        """The receipt VNPT holds under ``fkey``, or ``None``."""
        result = await self._read(codec.build_lookup(self._credentials, fkey))
        return codec.parse_lookup(result, fkey)

    async def view(self, fkey: str) -> str:
        """VNPT's HTML rendering of the receipt under ``fkey`` (raises ``not_found``)."""
        request = codec.build_portal("getInvViewFkey", self._credentials, fkey)
        return codec.parse_view(await self._read(request))

    async def download_xml(self, fkey: str) -> bytes:
        """The receipt's XML as VNPT keeps it (raises ``not_found``)."""
        request = codec.build_portal("downloadInvFkeyNoPay", self._credentials, fkey)
        return codec.parse_download(await self._read(request))

    async def cancel(self, external_key: str) -> None:
        """Cancel the receipt under ``external_key`` (its fkey): un-confirm its payment, then
        cancel it. A receipt already cancelled is left as it is. Raises ``not_found``,
        ``rejected`` (replaced, or a status that cannot be cancelled), ``outcome_unknown``."""
        credentials = self._credentials
        unconfirm = codec.build_unconfirm(credentials, external_key)
        codec.parse_ok(await self._send_once(unconfirm), results.UNCONFIRM)
        try:
            cancel = codec.build_cancel(credentials, external_key)
            codec.parse_ok(await self._send_once(cancel), results.CANCEL)
        except VnptError as error:
            if error.code != REJECTED:
                raise
            state = await self.lookup(external_key)
            if state is None or state.state != "cancelled":
                raise

    async def _adopted_replacement(self, fkey: str, pattern: str, serial: str) -> Published | None:
        """After a refused replacement: the receipt VNPT holds issued under its ``fkey`` (the
        one we asked for), else ``None`` and the refusal stands."""
        try:
            return await self._adopt(fkey, pattern, serial)
        except VnptError as error:
            if error.code == DUPLICATE_KEY:
                return None
            raise

    async def _adopt(self, fkey: str, pattern: str, serial: str) -> Published | None:
        """The receipt already published under ``fkey``, if it is the one we asked for."""
        state = await self.lookup(fkey)
        if state is None:
            return None
        if (state.pattern, state.serial) != (pattern, serial) or state.state != "issued":
            raise VnptError(
                DUPLICATE_KEY,
                f"fkey already holds a {state.state} receipt {state.pattern};{state.serial}",
            )
        return Published(fkey, state.pattern, state.serial, state.number)

    # -- transport ------------------------------------------------------------------------

    async def _read(self, request: codec.WireRequest) -> str:
        try:
            async for attempt in read_retry_policy(self._read_attempts, self._read_wait):
                with attempt:
                    try:
                        status, body = await self._exchange(request)
                    except (aiohttp.ClientError, TimeoutError) as exc:
                        raise _Transient(type(exc).__name__) from exc
                    if status >= 500:
                        raise _Transient(f"HTTP {status}")
        except _Transient as exc:
            raise VnptError(UNAVAILABLE, f"read failed after retries: {exc}") from exc
        return codec.parse_result(status, body, request.operation)

    async def _send_once(self, request: codec.WireRequest) -> str:
        """Send a write exactly once; every doubt becomes outcome_unknown."""
        try:
            status, body = await self._exchange(request)
        except aiohttp.ClientConnectorError as exc:
            # DNS, refused connection, TLS handshake: the request never left.
            raise VnptError(UNAVAILABLE, f"cannot reach VNPT: {exc}") from exc
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise VnptError(OUTCOME_UNKNOWN, f"no answer: {type(exc).__name__}") from exc
        if status >= 500:
            raise VnptError(OUTCOME_UNKNOWN, f"VNPT answered HTTP {status}", status)
        return codec.parse_result(status, body, request.operation)

    async def _exchange(self, request: codec.WireRequest) -> tuple[int, bytes]:
        headers = {
            "Content-Type": "text/xml; charset=utf-8",
            "SOAPAction": f'"{request.action}"',
        }
        async with self._session.post(
            self._account.base_url + request.path,
            data=request.body,
            headers=headers,
            timeout=self._timeout,
        ) as response:
            return response.status, await response.read()
