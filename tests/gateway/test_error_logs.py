"""An unhandled database error is logged with its class and the request's id, never with the
statement's parameters (the payer's and recipient's names are among them). Both databases."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import structlog
from conftest import Gateway, payment_body
from sqlalchemy import text

from gateway.keys import DATABASE
from gateway.observability import configure_logging

#: ASCII on purpose: the JSON log renderer escapes non-ASCII text, which would hide a leak.
PAYER = "Tran Thi Bimat Khongduoclog"
MARKER = "FORCE-DB-ERROR"

_SQLITE_TRIGGER = f"""
CREATE TRIGGER refuse_marked_payments BEFORE INSERT ON payments
WHEN NEW.procedure_code = '{MARKER}'
BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END
"""
_POSTGRES_FUNCTION = f"""
CREATE FUNCTION refuse_marked_payments() RETURNS trigger AS $$
BEGIN
  IF NEW.procedure_code = '{MARKER}' THEN
    RAISE EXCEPTION 'refused by the test trigger' USING ERRCODE = 'check_violation';
  END IF;
  RETURN NEW;
END $$ LANGUAGE plpgsql
"""
_POSTGRES_TRIGGER = (
    "CREATE TRIGGER refuse_marked_payments BEFORE INSERT ON payments "
    "FOR EACH ROW EXECUTE FUNCTION refuse_marked_payments()"
)


@pytest.fixture(autouse=True)
def _reset_logging() -> Iterator[None]:
    yield
    structlog.reset_defaults()  # configure_logging() bound the captured stdout


@pytest.fixture
async def refusing(gateway: Gateway) -> AsyncIterator[Gateway]:
    """The gateway over a database that refuses payments of procedure ``MARKER`` (as a CHECK
    constraint would), so that creating one is an unhandled database error."""
    db = gateway.client.app[DATABASE]
    async with db.write() as conn:
        if db.is_sqlite:
            await conn.execute(text(_SQLITE_TRIGGER))
        else:
            await conn.execute(text(_POSTGRES_FUNCTION))
            await conn.execute(text(_POSTGRES_TRIGGER))
    yield gateway
    if not db.is_sqlite:  # the PostgreSQL database is shared by the session's tests
        async with db.write() as conn:
            await conn.execute(text("DROP TRIGGER refuse_marked_payments ON payments"))
            await conn.execute(text("DROP FUNCTION refuse_marked_payments()"))


async def test_a_database_error_is_logged_with_its_class_but_without_the_payers_name(
    refusing: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    configure_logging("json", "info")
    body = payment_body(procedure_code=MARKER, payer={"name": PAYER})
    response = await refusing.client.post(
        "/v1/payments",
        json=body,
        headers={**refusing.auth(), "Idempotency-Key": uuid.uuid4().hex},
    )

    assert response.status == 500
    problem = await response.json()
    assert problem["code"] == "internal_error"
    assert PAYER not in json.dumps(problem)
    out = capsys.readouterr().out
    lines: list[dict[str, Any]] = [json.loads(line) for line in out.splitlines() if line.strip()]
    failure = next(line for line in lines if line["event"] == "unhandled_error")
    assert failure["error"] == "IntegrityError"
    assert failure["request_id"] == response.headers["X-Request-Id"]
    assert "refused by the test trigger" in failure["exception"]  # the cause is still there
    assert PAYER not in out
    assert body["dossier_code"] not in out
