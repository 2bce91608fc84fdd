"""The floor: the least a payment-creation endpoint can do on this stack.

A bare aiohttp application with one ``POST /v1/payments`` handler: parse the JSON body the
gateway receives, total its items, and insert one row with asyncpg into ``floor_payments``,
a table with the same columns, keys and indexes as the gateway's ``payments`` table. No
authentication, no idempotency record, no payment lines, no QR, no ORM. It answers 201 with a
small JSON object. ``bench/create_payments.py`` starts it as a separate process and drives it
with the same load as the gateway, so the gateway's throughput can be read as a fraction of
this one measured in the same run.

    python bench/floor_server.py --dsn postgresql://postgres@127.0.0.1:5432/DB --port 8181

``--processes N`` forks N such servers on the one port (SO_REUSEPORT), as
``gateway serve --processes N`` does, so the two can be compared process for process.
"""

from __future__ import annotations

import asyncio
import base64
import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg
from aiohttp import web
from processes import floor_parser, serve_on_one_port

POOL = web.AppKey("pool", asyncpg.Pool)

# Same columns, primary key, unique reference and indexes as ``payments`` (without the
# foreign keys: the floor has no agencies or clients to point at).
SCHEMA = """
CREATE TABLE IF NOT EXISTS floor_payments (
    id varchar(32) PRIMARY KEY,
    agency_id integer NOT NULL,
    client_id varchar(16) NOT NULL,
    dossier_code varchar(64) NOT NULL,
    procedure_code varchar(64),
    procedure_name varchar(255),
    payer json NOT NULL,
    amount bigint NOT NULL,
    currency varchar(3) NOT NULL,
    reference varchar(25) NOT NULL UNIQUE,
    status varchar(24) NOT NULL,
    review_reason varchar(64),
    vietqr_payload text NOT NULL,
    return_url text,
    metadata json NOT NULL,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    paid_at timestamptz
);
CREATE INDEX IF NOT EXISTS ix_floor_payments_agency_created
    ON floor_payments (agency_id, created_at, id);
CREATE INDEX IF NOT EXISTS ix_floor_payments_dossier ON floor_payments (dossier_code);
CREATE INDEX IF NOT EXISTS ix_floor_payments_status_expires
    ON floor_payments (status, expires_at);
"""

INSERT = """
INSERT INTO floor_payments (
    id, agency_id, client_id, dossier_code, procedure_code, procedure_name, payer, amount,
    currency, reference, status, vietqr_payload, return_url, metadata, expires_at,
    created_at, updated_at
) VALUES ($1, $2, $3, $4, $5, $6, $7::json, $8, $9, $10, $11, $12, $13, $14::json, $15,
          $16, $17)
"""

#: Stands in for the EMVCo payload the gateway computes (same order of length).
PAYLOAD_STUB = "00020101021238570010A00000072701270006970499011300110012345670208QRIBFTTA"


def _token(length: int) -> str:
    return base64.b32encode(secrets.token_bytes(17)).decode().rstrip("=").lower()[:length]


def _bad_request(message: str) -> web.Response:
    return web.json_response({"code": "bad_request", "detail": message}, status=400)


async def create_payment(request: web.Request) -> web.Response:
    try:
        data = json.loads(await request.read())
        items = data["items"]
        amount = sum(int(item["amount"]) for item in items)
        payer = data["payer"]
        dossier_code = str(data["dossier_code"])
    except (ValueError, KeyError, TypeError) as exc:
        return _bad_request(f"{type(exc).__name__}: {exc}")
    now = datetime.now(UTC)
    payment_id = f"pay_{_token(26)}"
    reference = f"DVC{_token(11).upper()}"
    await request.app[POOL].execute(
        INSERT,
        payment_id,
        1,
        "floorclient",
        dossier_code,
        data.get("procedure_code"),
        data.get("procedure_name"),
        json.dumps(payer, ensure_ascii=False),
        amount,
        "VND",
        reference,
        "pending",
        PAYLOAD_STUB,
        data.get("return_url"),
        json.dumps(data.get("metadata") or {}, ensure_ascii=False),
        now + timedelta(seconds=900),
        now,
        now,
    )
    return web.json_response(
        {"id": payment_id, "reference": reference, "amount": amount, "status": "pending"},
        status=201,
    )


async def readyz(request: web.Request) -> web.Response:
    await request.app[POOL].fetchval("SELECT 1")
    return web.json_response({"status": "ready"})


def create_app(dsn: str, pool_min: int, pool_max: int) -> web.Application:
    async def pool_context(app: web.Application) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(dsn, min_size=pool_min, max_size=pool_max)
        async with pool.acquire() as conn:
            await conn.execute(SCHEMA)
        app[POOL] = pool
        yield
        await pool.close()

    app = web.Application()
    app.cleanup_ctx.append(pool_context)
    app.router.add_post("/v1/payments", create_payment)
    app.router.add_get("/readyz", readyz)
    return app


def main() -> None:
    parser = floor_parser(__doc__.splitlines()[0])
    args = parser.parse_args()
    if args.processes > 1:
        # The table first, here: concurrent CREATE TABLE IF NOT EXISTS may collide.
        asyncio.run(create_schema(args.dsn))
    serve_on_one_port(lambda: create_app(args.dsn, args.pool_min, args.pool_max), args)


async def create_schema(dsn: str) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(SCHEMA)
    finally:
        await conn.close()


if __name__ == "__main__":
    main()
