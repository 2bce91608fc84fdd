"""The same-work floor: the gateway's own database work for a request, from a bare handler.

A bare aiohttp application (asyncpg, the standard library; no SQLAlchemy, pydantic or
structlog) that sends PostgreSQL exactly what the gateway sends for the two requests the
benchmarks drive — the same statements, copied from the gateway's engine
(``before_cursor_execute``), with the same parameters per request and in the same transaction
shape — and answers as the gateway does. Beside the benches' one-statement floors it tells how
much of the gateway's cost is the database work itself and how much its Python
(docs/performance.md, "The same-work floor").

- ``POST /v1/payments`` (``bench/create_payments.py``): parse the JSON body, total its items,
  and run the gateway's one creation statement, in autocommit as the gateway's
  ``Database.driver_row`` does: the idempotency look-up and, in one ``WITH``, the payment,
  its lines, its VietQR attempt, the notification intake note and the idempotency key (6
  rows in 5 tables). A stored key is answered from its row. Not done: authentication (the
  gateway's key cache sends no statement), validation, the PII encryption of the phone (a
  stand-in of the same length is stored), the EMVCo payload (a stand-in of the same
  length) and the request fingerprint's canonical form (SHA-256 of the body instead). Rows
  go to ``--client-id``, an API client of the agency ``--agency-code``, so the bench can
  count them apart.
- ``GET /ipn`` (``bench/ipn_apply.py``): verify the HMAC-SHA512 of the ``vnp_*`` query
  parameters under ``--vnpay-secret`` (and the terminal code), then, in one transaction, the
  gateway's 5 statements: inbox event (``provider_events``) with the lock of the payment,
  lock and read of its attempts, the payment paid (returning the row the event body is made
  of) with the VNPAY attempt succeeded and the VietQR attempt closed, outbox event +
  notification note (and the webhook endpoints' look-up), the inbox event applied. Answers
  ``{"RspCode": "00", "Message": "Confirm Success"}``. Deliveries would follow for each
  webhook endpoint; the bench registers none, as for the gateway, so neither writes one.

    python bench/same_work_floor.py --dsn postgresql://postgres@127.0.0.1:5432/DB --port 8182 \\
        [--agency-code BENCH] [--client-id ID] [--vnpay-tmn T --vnpay-secret S] [--processes N]

``--processes N`` forks N servers on the one port (SO_REUSEPORT), as the other floors do.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote_plus

import asyncpg
from aiohttp import web
from processes import floor_parser, serve_on_one_port

POOL = web.AppKey("pool", asyncpg.Pool)
AGENCY = web.AppKey("agency", dict)
SETTINGS = web.AppKey("settings", argparse.Namespace)

#: The gateway's creation statement (gateway/services/payments.py, ``_CREATE_IN_ONE``), as its
#: engine sends it to PostgreSQL.
CREATE = """WITH found AS
(SELECT idempotency_keys.request_hash AS request_hash, idempotency_keys.status_code AS status_code, idempotency_keys.response_body AS response_body
FROM idempotency_keys
WHERE idempotency_keys.client_id = $20::VARCHAR AND idempotency_keys.key = $21::VARCHAR),
payment AS
(INSERT INTO payments (id, agency_id, client_id, dossier_code, procedure_code, procedure_name, payer, amount, currency, return_url, metadata, expires_at, created_at, updated_at, reference, vietqr_payload, status) SELECT $4::VARCHAR AS id, $5::INTEGER AS agency_id, $6::VARCHAR AS client_id, $7::VARCHAR AS dossier_code, $8::VARCHAR AS procedure_code, $9::VARCHAR AS procedure_name, $10::JSON AS payer, $11::BIGINT AS amount, $12::VARCHAR AS currency, $13::VARCHAR AS return_url, $14::JSON AS metadata, $15::TIMESTAMP WITH TIME ZONE AS expires_at, $3::TIMESTAMP WITH TIME ZONE AS created_at, $16::TIMESTAMP WITH TIME ZONE AS updated_at, $17::VARCHAR AS reference, $18::VARCHAR AS vietqr_payload, $19::VARCHAR AS anon_1
WHERE NOT (EXISTS (SELECT 1
FROM found)) AND (EXISTS (SELECT agencies.id
FROM agencies
WHERE agencies.id = $5::INTEGER AND agencies.code = $22::VARCHAR AND agencies.name = $23::VARCHAR AND agencies.bank_bin = $24::VARCHAR AND agencies.account_number = $25::VARCHAR AND agencies.account_name = $26::VARCHAR)) ON CONFLICT (reference) DO NOTHING RETURNING payments.id),
note AS
(INSERT INTO notification_intake (source_key, event_type, payment_id, created_at) SELECT $1::VARCHAR AS source_key, $2::VARCHAR AS event_type, payment.id AS payment_id, $3::TIMESTAMP WITH TIME ZONE AS created_at
FROM payment),
lines AS
(INSERT INTO payment_items (payment_id, position, kind, code, description, amount, budget_subitem) SELECT payment.id AS id, line.position AS position, line.kind AS kind, line.code AS code, line.description AS description, line.amount AS amount, line.budget_subitem AS budget_subitem
FROM payment JOIN unnest($27::INTEGER[], $28::VARCHAR(8)[], $29::VARCHAR(64)[], $30::VARCHAR(255)[], $31::BIGINT[], $32::VARCHAR(16)[]) AS line(position, kind, code, description, amount, budget_subitem) ON true),
attempt AS
(INSERT INTO attempts (id, payment_id, channel, provider_reference, amount, created_at, updated_at, status) SELECT $33::VARCHAR AS id, payment.id AS payment_id, $34::VARCHAR AS channel, $17::VARCHAR AS provider_reference, $11::BIGINT AS amount, $3::TIMESTAMP WITH TIME ZONE AS created_at, $3::TIMESTAMP WITH TIME ZONE AS updated_at, $35::VARCHAR AS anon_2
FROM payment),
stored AS
(INSERT INTO idempotency_keys (client_id, key, request_hash, status_code, response_body, created_at) SELECT $20::VARCHAR AS anon_3, $21::VARCHAR AS anon_4, $36::VARCHAR AS anon_5, 201, $37::VARCHAR AS anon_6, $3::TIMESTAMP WITH TIME ZONE AS anon_7
FROM payment)
 SELECT (SELECT payment.id
FROM payment) AS payment_id, EXISTS (SELECT agencies.id
FROM agencies
WHERE agencies.id = $5::INTEGER AND agencies.code = $22::VARCHAR AND agencies.name = $23::VARCHAR AND agencies.bank_bin = $24::VARCHAR AND agencies.account_number = $25::VARCHAR AND agencies.account_name = $26::VARCHAR) AS agency_unchanged, (SELECT found.request_hash
FROM found) AS found_request_hash, (SELECT found.status_code
FROM found) AS found_status_code, (SELECT found.response_body
FROM found) AS found_response_body"""  # noqa: E501 -- verbatim

#: The gateway's 5 statements of a VNPAY IPN (gateway/core/inbox.py, the attempts and
#: payments repositories, the outbox), in the order it sends them in one transaction: the
#: inbox event stored with the payment locked, its attempts locked and read, the payment
#: paid with the VNPAY attempt succeeded and the VietQR attempt closed, the outbox event
#: with its note and the endpoints' look-up, the inbox event applied.
IPN_RECEIVE = """WITH stored AS
(INSERT INTO provider_events (provider, event_key, received_at, payload, outcome, amount) VALUES ($1::VARCHAR, $2::VARCHAR, $3::TIMESTAMP WITH TIME ZONE, $4::VARCHAR, $5::VARCHAR, $6::BIGINT) ON CONFLICT (provider, event_key) DO NOTHING RETURNING provider_events.id)
 SELECT (SELECT stored.id
FROM stored) AS event_id, (SELECT payments.id
FROM payments
WHERE payments.id = (SELECT attempts.payment_id
FROM attempts
WHERE attempts.channel = $7::VARCHAR AND attempts.provider_reference = $8::VARCHAR) FOR UPDATE OF payments) AS alongside"""  # noqa: E501
IPN_LOCK_ATTEMPTS = """SELECT attempts.id, attempts.payment_id, attempts.channel, attempts.status, attempts.provider_reference, attempts.provider_transaction_id, attempts.amount, attempts.terminal_id, attempts.next_action, attempts.details, attempts.failure_code, attempts.review_reason, attempts.expires_at, attempts.created_at, attempts.updated_at, attempts.next_query_at, attempts.query_count, attempts.flagged_at, payments.status AS payment_status, payments.amount AS payment_amount, payments.expires_at AS payment_expires_at, payments.created_at AS payment_created_at, payments.reference AS payment_reference, payments.dossier_code, payments.agency_id, agencies.code AS agency_code, (SELECT count(*) AS count_1
FROM attempts AS others
WHERE others.payment_id = attempts.payment_id AND others.id != attempts.id AND (others.status = $1::VARCHAR OR others.status = $2::VARCHAR OR others.status = $3::VARCHAR)) AS others_open
FROM attempts JOIN payments ON payments.id = attempts.payment_id JOIN agencies ON agencies.id = payments.agency_id
WHERE attempts.payment_id = $4::VARCHAR ORDER BY attempts.id FOR UPDATE OF attempts"""  # noqa: E501
IPN_PAYMENT_PAID = """WITH moved AS
(UPDATE attempts SET status=$5::VARCHAR, provider_transaction_id=$6::VARCHAR, details=$7::JSON, updated_at=$8::TIMESTAMP WITH TIME ZONE, next_query_at=$9::TIMESTAMP WITH TIME ZONE WHERE attempts.id = $10::VARCHAR AND attempts.status = $11::VARCHAR RETURNING attempts.id),
closed AS
(UPDATE attempts SET status=$12::VARCHAR, updated_at=$13::TIMESTAMP WITH TIME ZONE, next_query_at=$14::TIMESTAMP WITH TIME ZONE WHERE attempts.payment_id = $15::VARCHAR AND attempts.id != $16::VARCHAR AND (attempts.status = $17::VARCHAR OR attempts.status = $18::VARCHAR))
 UPDATE payments SET status=$1::VARCHAR, updated_at=$2::TIMESTAMP WITH TIME ZONE, paid_at=$3::TIMESTAMP WITH TIME ZONE, sequence=(payments.sequence + $4::INTEGER) WHERE payments.id = $19::VARCHAR AND payments.status = $20::VARCHAR RETURNING payments.id, payments.agency_id, payments.client_id, payments.dossier_code, payments.procedure_code, payments.procedure_name, payments.payer, payments.amount, payments.currency, payments.reference, payments.status, payments.review_reason, payments.vietqr_payload, payments.return_url, payments.metadata, payments.expires_at, payments.created_at, payments.updated_at, payments.paid_at, payments.sequence, (SELECT agencies.code
FROM agencies
WHERE agencies.id = payments.agency_id) AS agency_code, (SELECT agencies.name
FROM agencies
WHERE agencies.id = payments.agency_id) AS agency_name, (SELECT agencies.bank_bin
FROM agencies
WHERE agencies.id = payments.agency_id) AS bank_bin, (SELECT agencies.account_number
FROM agencies
WHERE agencies.id = payments.agency_id) AS account_number, (SELECT agencies.account_name
FROM agencies
WHERE agencies.id = payments.agency_id) AS account_name, (SELECT coalesce(json_agg(json_build_object('kind', payment_items.kind, 'code', payment_items.code, 'description', payment_items.description, 'amount', payment_items.amount, 'budget_subitem', payment_items.budget_subitem) ORDER BY payment_items.position), '[]'::json) AS coalesce_1
FROM payment_items
WHERE payment_items.payment_id = payments.id) AS lines, (SELECT count(*) AS count_1
FROM moved) AS attempt_moved"""  # noqa: E501
IPN_OUTBOX = """WITH event AS
(INSERT INTO outbox_events (id, type, client_id, payment_id, postal_order_id, sequence, body, created_at) VALUES ($1::VARCHAR, $2::VARCHAR, $3::VARCHAR, $4::VARCHAR, $5::VARCHAR, $6::INTEGER, $7::VARCHAR, $8::TIMESTAMP WITH TIME ZONE) RETURNING outbox_events.id),
note AS
(INSERT INTO notification_intake (source_key, event_type, payment_id, postal_order_id, subject_status, created_at) VALUES ($9::VARCHAR, $10::VARCHAR, $11::VARCHAR, $12::VARCHAR, $13::VARCHAR, $14::TIMESTAMP WITH TIME ZONE) RETURNING notification_intake.id)
 SELECT webhook_endpoints.id, webhook_endpoints.events
FROM webhook_endpoints
WHERE webhook_endpoints.client_id = $15::VARCHAR AND webhook_endpoints.disabled_at IS NULL"""  # noqa: E501
IPN_APPLIED = "UPDATE provider_events SET outcome=$1::VARCHAR, reason=$2::VARCHAR, payment_id=$3::VARCHAR WHERE provider_events.id = $4::INTEGER"  # noqa: E501

#: Stand-ins of the gateway's parameters of the same length: the EMVCo payload (for the
#: bench's bodies, 156 characters) and the encrypted phone number.
PAYLOAD_STUB = (
    "00020101021238570010A00000072701270006970499011300110012345670208QRIBFTTA5303704"
    "54061850005802VN62470125000.00.12.H29-241122-00000814DVCF3CZXJSHYD76304C3D4"
)
PHONE_STUB = "v1.bench." + "x" * 64

CONFIRMED = {"RspCode": "00", "Message": "Confirm Success"}


def _token(length: int) -> str:
    return base64.b32encode(secrets.token_bytes(17)).decode().rstrip("=").lower()[:length]


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _payment_json(row: dict[str, Any], agency: dict[str, Any], items: list[Any]) -> dict[str, Any]:
    """The payment as the gateway answers it (the fields of its API model)."""
    return {
        "id": row["id"],
        "status": row["status"],
        "review_reason": row.get("review_reason"),
        "amount": row["amount"],
        "currency": row["currency"],
        "reference": row["reference"],
        "agency_code": agency["code"],
        "agency_name": agency["name"],
        "dossier_code": row["dossier_code"],
        "procedure_code": row["procedure_code"],
        "procedure_name": row["procedure_name"],
        "payer": {"name": row["payer"].get("name")},
        "items": items,
        "expires_at": _iso(row["expires_at"]),
        "created_at": _iso(row["created_at"]),
        "paid_at": _iso(row.get("paid_at")),
        "return_url": row["return_url"],
        "metadata": row["metadata"],
        "checkout_url": f"http://127.0.0.1/pay/{row['id']}",
        "vietqr": {
            "payload": row["vietqr_payload"],
            "bank_bin": agency["bank_bin"],
            "account_number": agency["account_number"],
            "account_name": agency["account_name"],
            "png_url": f"http://127.0.0.1/pay/{row['id']}/qr.png",
            "svg_url": f"http://127.0.0.1/pay/{row['id']}/qr.svg",
        },
    }


async def create_payment(request: web.Request) -> web.Response:
    body = await request.read()
    try:
        data = json.loads(body)
        lines = data["items"]
        amount = sum(int(line["amount"]) for line in lines)
        payer = dict(data["payer"])
        dossier_code = str(data["dossier_code"])
        key = request.headers["Idempotency-Key"]
    except (ValueError, KeyError, TypeError) as exc:
        return web.json_response({"code": "bad_request", "detail": str(exc)}, status=400)
    if "phone" in payer:
        payer["phone"] = PHONE_STUB
    agency, client_id = request.app[AGENCY], request.app[SETTINGS].client_id
    now = datetime.now(UTC)
    payment_id, reference = f"pay_{_token(26)}", f"DVC{_token(11).upper()}"
    row = {
        "id": payment_id,
        "status": "pending",
        "amount": amount,
        "currency": "VND",
        "reference": reference,
        "dossier_code": dossier_code,
        "procedure_code": data.get("procedure_code"),
        "procedure_name": data.get("procedure_name"),
        "payer": payer,
        "expires_at": now + timedelta(seconds=900),
        "created_at": now,
        "return_url": data.get("return_url"),
        "metadata": data.get("metadata") or {},
        "vietqr_payload": PAYLOAD_STUB,
    }
    items = [
        {
            "kind": line["kind"],
            "code": line.get("code"),
            "description": line["description"],
            "amount": int(line["amount"]),
            "budget_subitem": line.get("budget_subitem"),
        }
        for line in lines
    ]
    answer = json.dumps(_payment_json(row, agency, items), ensure_ascii=False)
    result = await request.app[POOL].fetchrow(
        CREATE,
        f"created:{payment_id}",
        "payment.created",
        now,
        payment_id,
        agency["id"],
        client_id,
        dossier_code,
        row["procedure_code"],
        row["procedure_name"],
        json.dumps(payer),
        amount,
        "VND",
        row["return_url"],
        json.dumps(row["metadata"]),
        row["expires_at"],
        now,
        reference,
        PAYLOAD_STUB,
        "pending",
        client_id,
        key,
        agency["code"],
        agency["name"],
        agency["bank_bin"],
        agency["account_number"],
        agency["account_name"],
        list(range(len(items))),
        [item["kind"] for item in items],
        [item["code"] for item in items],
        [item["description"] for item in items],
        [item["amount"] for item in items],
        [item["budget_subitem"] for item in items],
        f"att_{_token(26)}",
        "vietqr",
        "pending",
        hashlib.sha256(body).hexdigest(),
        answer,
    )
    if result["found_status_code"] is not None:  # a key seen before: its stored answer
        return web.Response(
            text=result["found_response_body"],
            status=result["found_status_code"],
            content_type="application/json",
        )
    if result["payment_id"] is None:
        return web.json_response({"code": "conflict"}, status=409)
    return web.Response(text=answer, status=201, content_type="application/json")


def _vnpay_verified(query: Any, secret: str) -> bool:
    """``vnp_SecureHash`` is the HMAC-SHA512 of the sorted, form-encoded ``vnp_*`` pairs."""
    pairs = sorted(
        (name, value)
        for name, value in query.items()
        if name.startswith("vnp_")
        and name not in ("vnp_SecureHash", "vnp_SecureHashType")
        and value != ""
    )
    canonical = "&".join(f"{quote_plus(name)}={quote_plus(value)}" for name, value in pairs)
    expected = hmac.new(secret.encode(), canonical.encode(), hashlib.sha512).hexdigest()
    return hmac.compare_digest(expected, query.get("vnp_SecureHash", ""))


async def vnpay_ipn(request: web.Request) -> web.Response:
    settings, query = request.app[SETTINGS], request.rel_url.query
    if not _vnpay_verified(query, settings.vnpay_secret):
        return web.json_response({"RspCode": "97", "Message": "Invalid Checksum"})
    if query.get("vnp_TmnCode") != settings.vnpay_tmn:
        return web.json_response({"RspCode": "99", "Message": "Unknown terminal"})
    try:
        ref, amount = query["vnp_TxnRef"], int(query["vnp_Amount"]) // 100
    except (KeyError, ValueError):
        return web.json_response({"RspCode": "99", "Message": "Input data required"})
    raw = request.rel_url.raw_query_string
    now = datetime.now(UTC)
    async with request.app[POOL].acquire() as conn, conn.transaction():
        event_id, payment_id = await conn.fetchrow(
            IPN_RECEIVE,
            "vnpay",
            hashlib.sha256(raw.encode()).hexdigest(),
            now,
            raw,
            "received",
            amount,
            "vnpay",
            ref,
        )
        if event_id is None:  # a copy already received
            return web.json_response({"RspCode": "02", "Message": "Order already confirmed"})
        attempts = await conn.fetch(IPN_LOCK_ATTEMPTS, "created", "pending", "unknown", payment_id)
        attempt = next(
            (a for a in attempts if a["channel"] == "vnpay" and a["provider_reference"] == ref),
            None,
        )
        if attempt is None or attempt["status"] != "pending" or attempt["amount"] != amount:
            return web.json_response({"RspCode": "01", "Message": "Order not found"})
        details = {
            "bank_code": query.get("vnp_BankCode"),
            "response_code": query.get("vnp_ResponseCode"),
            "transaction_status": query.get("vnp_TransactionStatus"),
        }
        paid = await conn.fetchrow(
            IPN_PAYMENT_PAID,
            "paid",
            now,
            now,
            1,
            "succeeded",
            query.get("vnp_TransactionNo"),
            json.dumps(details),
            now,
            None,
            attempt["id"],
            "pending",
            "cancelled",
            now,
            now,
            payment_id,
            attempt["id"],
            "created",
            "pending",
            payment_id,
            "pending",
        )
        payment = {
            **dict(paid),
            "payer": json.loads(paid["payer"]),
            "metadata": json.loads(paid["metadata"]),
        }
        agency = {
            "code": paid["agency_code"],
            "name": paid["agency_name"],
            "bank_bin": paid["bank_bin"],
            "account_number": paid["account_number"],
            "account_name": paid["account_name"],
        }
        event_id_text = f"evt_{_token(26)}"
        body = {
            "id": event_id_text,
            "type": "payment.paid",
            "created_at": _iso(now),
            "data": {
                "payment": _payment_json(payment, agency, json.loads(paid["lines"])),
                "sequence": paid["sequence"],
            },
        }
        await conn.fetch(
            IPN_OUTBOX,
            event_id_text,
            "payment.paid",
            paid["client_id"],
            payment_id,
            None,
            paid["sequence"],
            json.dumps(body, ensure_ascii=False, separators=(",", ":")),
            now,
            event_id_text,
            "payment.paid",
            payment_id,
            None,
            None,
            now,
            paid["client_id"],
        )
        await conn.execute(IPN_APPLIED, "applied", None, payment_id, event_id)
    return web.json_response(CONFIRMED)


async def readyz(request: web.Request) -> web.Response:
    await request.app[POOL].fetchval("SELECT 1")
    return web.json_response({"status": "ready"})


def create_app(settings: argparse.Namespace) -> web.Application:
    async def pool_context(app: web.Application) -> AsyncIterator[None]:
        pool = await asyncpg.create_pool(
            settings.dsn, min_size=settings.pool_min, max_size=settings.pool_max
        )
        # What the gateway keeps in memory (its agency and API-key caches): read once.
        agency = await pool.fetchrow(
            "SELECT id, code, name, bank_bin, account_number, account_name FROM agencies"
            " WHERE code = $1",
            settings.agency_code,
        )
        app[AGENCY] = dict(agency) if agency is not None else {}
        app[POOL] = pool
        yield
        await pool.close()

    app = web.Application()
    app[SETTINGS] = settings
    app.cleanup_ctx.append(pool_context)
    app.router.add_post("/v1/payments", create_payment)
    app.router.add_get("/ipn", vnpay_ipn)
    app.router.add_get("/readyz", readyz)
    return app


def main() -> None:
    parser = floor_parser(__doc__.splitlines()[0])
    parser.add_argument("--agency-code", default="BENCH")
    parser.add_argument("--client-id", default="", help="the API client creations belong to")
    parser.add_argument("--vnpay-tmn", default="")
    parser.add_argument("--vnpay-secret", default="")
    args = parser.parse_args()
    serve_on_one_port(lambda: create_app(args), args)


if __name__ == "__main__":
    main()
