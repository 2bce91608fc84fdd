"""Bodies are refused while they are read: a chunked body (no declared length) sent to a
provider callback, before anyone is authenticated, is never held beyond the callback limit."""

from __future__ import annotations

import tracemalloc
from collections.abc import AsyncIterator

import pytest
from conftest import Gateway

MEGABYTE = 1024 * 1024


async def _chunked(total: int, chunk: int = 16 * 1024) -> AsyncIterator[bytes]:
    for _ in range(total // chunk):
        yield b"[" * chunk


@pytest.mark.parametrize(
    "path",
    ["/callbacks/bank/testbank", "/callbacks/pos", "/callbacks/vnpost", "/v1/payments"],
)
async def test_a_chunked_body_over_the_limit_is_refused_without_being_held(
    gateway: Gateway, path: str
) -> None:
    headers = {"Content-Type": "application/json"}
    if path == "/v1/payments":  # the API reads the body once the caller is known
        headers |= {**gateway.auth("portal"), "Idempotency-Key": "chunked-1"}
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        response = await gateway.client.post(path, data=_chunked(16 * MEGABYTE), headers=headers)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()

    assert response.status == 413
    assert (await response.json())["code"] == "payload_too_large"
    # The whole body buffered would be 16 MiB; refused while read, a small part of it.
    assert peak < 4 * MEGABYTE, f"peak {peak} bytes while refusing"


@pytest.mark.parametrize(
    "path",
    [
        "/callbacks/bank/testbank",
        "/callbacks/momo/ipn",
        "/callbacks/zalopay",
        "/callbacks/zns/any-secret",
    ],
)
async def test_a_callback_over_its_own_limit_is_refused_though_under_the_api_limit(
    gateway: Gateway, path: str
) -> None:
    body = b"{" + b" " * 40_000 + b"}"  # 40 KB: fine for an API body, not for a callback
    response = await gateway.client.post(
        path, data=body, headers={"Content-Type": "application/json"}
    )
    answer = await response.json()
    if path == "/callbacks/zalopay":  # ZaloPay reads only its own shape: -1, not retried
        assert (response.status, answer["return_code"]) == (200, -1)
        assert answer["return_message"] == "payload_too_large"
    else:
        assert (response.status, answer["code"]) == (413, "payload_too_large")
