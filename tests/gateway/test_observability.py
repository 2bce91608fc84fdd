"""Health, readiness, Prometheus metrics, request ids and JSON logs without personal data."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import structlog
from conftest import METRICS_AUTH, Gateway, make_settings, payment_body
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from gateway.app import create_app
from gateway.observability import Metrics, configure_logging

PHONE = "0987654321"
EMAIL = "nguyen.van.an.private@example.vn"


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # configure_logging() bound the captured stdout


def log_lines(out: str) -> list[dict[str, Any]]:
    lines = [line for line in out.splitlines() if line.strip()]
    assert lines, "nothing was logged"
    return [json.loads(line) for line in lines]  # every line is one JSON object


async def metric_samples(gateway: Gateway) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = await gateway.client.get("/metrics", headers=METRICS_AUTH)
    assert response.status == 200
    assert response.content_type == "text/plain"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(await response.text())
        for sample in family.samples
    }


async def test_liveness(gateway: Gateway) -> None:
    response = await gateway.client.get("/healthz")
    assert response.status == 200
    assert (await response.json())["status"] == "ok"


async def test_readiness_checks_the_database(gateway: Gateway) -> None:
    response = await gateway.client.get("/readyz")
    assert response.status == 200
    assert (await response.json())["checks"] == {"database": "ok"}


async def test_readiness_fails_when_the_database_is_unreachable(aiohttp_client: Any) -> None:
    # Nothing listens on port 1: the service starts, but it is not ready.
    settings = make_settings("postgresql+asyncpg://postgres@127.0.0.1:1/gateway")
    client = await aiohttp_client(create_app(settings, background=False))

    response = await client.get("/readyz")
    assert response.status == 503
    assert (await response.json())["code"] == "service_unavailable"
    assert (await client.get("/healthz")).status == 200  # alive, though not ready


async def test_metrics_count_requests_and_created_payments(gateway: Gateway) -> None:
    before = await metric_samples(gateway)
    assert before[("gateway_payments_created_total", frozenset())] == 0

    key = uuid.uuid4().hex
    await gateway.create_payment(key=key)
    after = await metric_samples(gateway)
    assert after[("gateway_payments_created_total", frozenset())] == 1
    created = frozenset({("method", "POST"), ("route", "/v1/payments"), ("status", "201")})
    assert after[("gateway_http_requests_total", created)] == 1

    await gateway.create_payment(key=key)  # a replay returns the stored payment
    replayed = await metric_samples(gateway)
    assert replayed[("gateway_payments_created_total", frozenset())] == 1
    assert replayed[("gateway_http_requests_total", created)] == 2


async def test_unknown_paths_share_one_metrics_label(gateway: Gateway) -> None:
    for n in range(3):
        assert (await gateway.client.get(f"/no/such/path/{n}")).status == 404
    samples = await metric_samples(gateway)
    routes = {dict(labels)["route"] for name, labels in samples if name.startswith("gateway_http")}
    assert not any(route.startswith("/no/") for route in routes)
    unmatched = frozenset({("method", "GET"), ("route", "unmatched"), ("status", "404")})
    assert samples[("gateway_http_requests_total", unmatched)] == 3


def test_methods_http_does_not_define_share_one_metrics_label() -> None:
    """aiohttp's C parser refuses such methods before any handler; its pure-Python parser
    (``AIOHTTP_NO_EXTENSIONS``) lets them through, and each would add labels for good."""
    metrics = Metrics()
    for method in ("FOO", "BAR", "get", "POST"):
        metrics.observe_request(method, "unmatched", 404, 0.001)
    families = text_string_to_metric_families(generate_latest(metrics.registry).decode())
    methods = sorted(
        sample.labels["method"]
        for family in families
        if family.name == "gateway_http_requests"
        for sample in family.samples
        if sample.name == "gateway_http_requests_total"
    )
    assert methods == ["OTHER", "POST"]


@pytest.mark.parametrize(
    ("method", "path", "status"),
    [
        ("get", "/healthz", 200),
        ("get", "/metrics", 401),  # outside sandbox mode only with the metrics token
        ("get", "/openapi.json", 200),
        ("get", "/v1/payments", 401),
        ("post", "/v1/payments", 401),
        ("get", "/pay/pay_aaaaaaaaaaaaaaaaaaaaaaaaaa", 404),
        ("get", "/no/such/path", 404),
        ("delete", "/v1/payments", 405),
    ],
)
async def test_every_response_carries_a_request_id(
    gateway: Gateway, method: str, path: str, status: int
) -> None:
    response = await gateway.client.request(method, path)
    assert response.status == status
    assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", response.headers.get("X-Request-Id", ""))


async def test_request_ids_are_unique_per_request(gateway: Gateway) -> None:
    ids = {(await gateway.client.get("/healthz")).headers["X-Request-Id"] for _ in range(5)}
    assert len(ids) == 5


async def test_a_valid_incoming_request_id_is_echoed(gateway: Gateway) -> None:
    response = await gateway.client.get("/healthz", headers={"X-Request-Id": "portal-req.0042"})
    assert response.headers["X-Request-Id"] == "portal-req.0042"
    failed = await gateway.client.get("/v1/payments", headers={"X-Request-Id": "portal-req.0043"})
    assert failed.status == 401
    assert failed.headers["X-Request-Id"] == "portal-req.0043"


@pytest.mark.parametrize("incoming", ["short", "has spaces in it", "x" * 65, "semi;colon-1234"])
async def test_an_invalid_incoming_request_id_is_replaced(gateway: Gateway, incoming: str) -> None:
    response = await gateway.client.get("/healthz", headers={"X-Request-Id": incoming})
    assert response.headers["X-Request-Id"] != incoming
    assert re.fullmatch(r"[A-Za-z0-9._-]{8,64}", response.headers["X-Request-Id"])


async def test_log_lines_are_json_with_event_request_id_and_timestamp(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "info")
    response = await gateway.client.get("/healthz", headers={"X-Request-Id": "trace-me-0001"})
    assert response.status == 200

    lines = log_lines(capsys.readouterr().out)
    for line in lines:
        assert {"event", "timestamp", "level"} <= line.keys(), line
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z", line["timestamp"])
    [access] = [line for line in lines if line["event"] == "http_request"]
    assert access["request_id"] == "trace-me-0001"
    assert (access["method"], access["route"], access["status"]) == ("GET", "/healthz", 200)


async def test_log_lines_of_one_request_share_its_id(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "info")
    payment = await gateway.create_payment()
    capsys.readouterr()
    ack = await gateway.client.post(
        "/callbacks/bank/testbank",
        data=json.dumps({"reference": payment["reference"]}),
        headers={"Content-Type": "application/json", "X-Request-Id": "bank-call-0001"},
    )
    assert ack.status == 401  # unsigned

    lines = log_lines(capsys.readouterr().out)
    assert {line["event"] for line in lines} >= {"callback_rejected", "http_request"}
    assert {line.get("request_id") for line in lines} == {"bank-call-0001"}


async def test_the_payers_contact_data_never_reaches_the_logs(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "debug")
    payer = {"name": "Nguyễn Văn An", "phone": PHONE, "email": EMAIL}
    key = uuid.uuid4().hex
    headers = {**gateway.auth(), "Idempotency-Key": key}

    created = await gateway.client.post(
        "/v1/payments", json=payment_body(payer=payer), headers=headers
    )
    assert created.status == 201
    replayed = await gateway.client.post(
        "/v1/payments", json=payment_body(payer=payer), headers=headers
    )
    assert replayed.status == 201
    invalid = await gateway.client.post(
        "/v1/payments",
        json=payment_body(payer=payer, items=[]),
        headers={**gateway.auth(), "Idempotency-Key": uuid.uuid4().hex},
    )
    assert invalid.status == 422

    out = capsys.readouterr().out
    assert len(log_lines(out)) >= 3
    assert PHONE not in out
    assert EMAIL not in out


def test_personal_fields_are_redacted_wherever_a_caller_binds_them(
    capsys: pytest.CaptureFixture[str],
) -> None:
    configure_logging("json", "info")
    log = structlog.get_logger("test")
    log.info("top_level", phone=PHONE)
    log.info("nested", payer={"name": "An", "phone": PHONE, "contacts": [{"email": EMAIL}]})
    log.bind(api_key="gw_abcdefghij_" + "s" * 32).info("bound")
    try:
        raise ZeroDivisionError("boom")
    except ZeroDivisionError:
        log.error("failed", exc_info=True, payer={"phone": PHONE})

    out = capsys.readouterr().out
    lines = log_lines(out)
    assert [line["event"] for line in lines] == ["top_level", "nested", "bound", "failed"]
    assert "ZeroDivisionError: boom" in lines[3]["exception"]  # redaction keeps tracebacks
    assert lines[0]["phone"] == "[redacted]"
    assert lines[1]["payer"]["name"] == "An"
    assert PHONE not in out
    assert EMAIL not in out
    assert "s" * 32 not in out
