"""Small helpers shared by test modules (not fixtures)."""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any, TypeVar

import aiohttp
from aiohttp.test_utils import TestClient, TestServer
from conftest import (
    AGENCY_ACCOUNT,
    AGENCY_BIN,
    AGENCY_PARTY,
    BANK_SECRET,
    CITIZEN_PARTY,
    VNPAY_SECRET,
    VNPAY_TMN,
)
from sqlalchemy import insert, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from config import Settings, load_settings
from gateway.app import create_app
from gateway.core.db.schema import agencies, outbox_events, recon_exceptions, recon_runs
from gateway.keys import CLOCK, DATABASE
from providers.payment.pos.codec import Sale
from providers.payment.vietqr import notice as wire
from providers.payment.vnpay import canonical_query, sign
from providers.sandbox.bank import SandboxBankConfig, create_bank_app

if TYPE_CHECKING:  # playwright is imported only by the browser tests
    from playwright.async_api import ConsoleMessage, Page

T = TypeVar("T")


async def on_fresh_engine(database_url: str, function: Callable[[Connection], T]) -> T:
    """``function`` run on a synchronous connection of an engine of its own (disposed after),
    for what SQLAlchemy offers only synchronously: inspection and Alembic."""
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(function)
    finally:
        await engine.dispose()


async def end_other_sessions(database_url: str) -> int:
    """PostgreSQL ends every other session of the database (a restart, a failover, as the
    gateway's pooled connections meet it); how many it ended."""
    admin = create_async_engine(database_url)
    try:
        async with admin.connect() as conn:
            ended = await conn.scalar(
                text(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) FROM"
                    " (SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                    " AND pid <> pg_backend_pid() OFFSET 0) AS others"
                )
            )
    finally:
        await admin.dispose()
    return int(ended or 0)


@contextlib.asynccontextmanager
async def inbox_refuses_writes(db: Any) -> AsyncIterator[None]:
    """The real database refuses to store any inbound message (a trigger that fails every
    insert into ``provider_events``, as a full disk or a broken replica would) while inside;
    it works again after."""
    async with db.write() as conn:
        if conn.dialect.name == "sqlite":
            await conn.execute(
                text(
                    "CREATE TRIGGER inbox_down BEFORE INSERT ON provider_events "
                    "BEGIN SELECT RAISE(ABORT, 'the disk is failing'); END"
                )
            )
        else:
            await conn.execute(
                text(
                    "CREATE FUNCTION inbox_down() RETURNS trigger LANGUAGE plpgsql AS "
                    "$$ BEGIN RAISE EXCEPTION 'the disk is failing'; END $$"
                )
            )
            await conn.execute(
                text(
                    "CREATE TRIGGER inbox_down BEFORE INSERT ON provider_events "
                    "FOR EACH ROW EXECUTE FUNCTION inbox_down()"
                )
            )
    try:
        yield
    finally:
        async with db.write() as conn:
            if conn.dialect.name == "sqlite":
                await conn.execute(text("DROP TRIGGER inbox_down"))
            else:
                await conn.execute(text("DROP TRIGGER inbox_down ON provider_events"))
                await conn.execute(text("DROP FUNCTION inbox_down()"))


async def outbox_types(gateway: Any, postal_order_id: str) -> list[str]:
    """The event types emitted about a postal order, in sequence order."""
    async with gateway.client.app[DATABASE].read() as conn:
        rows = await conn.execute(
            select(outbox_events.c.type)
            .where(outbox_events.c.postal_order_id == postal_order_id)
            .order_by(outbox_events.c.sequence)
        )
        return list(rows.scalars())


async def pay_at_vnpay(channels: Any, attempt: dict[str, Any], outcome: str) -> dict[str, Any]:
    """What the citizen does: open VNPAY's page (the sandbox), then pay, fail or cancel there;
    the sandbox sends its IPN to the gateway before answering."""
    async with aiohttp.ClientSession() as browser:
        page = await browser.get(attempt["next_action"]["url"])
        assert page.status == 200, await page.text()
        done = await browser.post(
            channels.vnpay.make_url("/paymentv2/simulate"),
            json={"txn_ref": attempt["provider_reference"], "outcome": outcome},
        )
        assert done.status == 200, await done.text()
        result: dict[str, Any] = await done.json()
        return result


async def complete_refund(
    gateway: Any,
    refund_id: str,
    status: str,
    provider_transaction_id: str | None = None,
    *,
    maker: str = "finance",
    checker: str = "approver",
) -> dict[str, Any]:
    """Finance records a refund's result as the API wants it: ``maker`` proposes it
    (``POST /v1/refunds/{id}/complete``, 202), ``checker`` — another person — approves it;
    the refund as the approval answers it."""
    body: dict[str, Any] = {"status": status}
    if provider_transaction_id is not None:
        body["provider_transaction_id"] = provider_transaction_id
    proposed = await gateway.client.post(
        f"/v1/refunds/{refund_id}/complete", json=body, headers=gateway.auth(maker)
    )
    assert proposed.status == 202, await proposed.text()
    resolution = await proposed.json()
    approved = await gateway.client.post(
        f"/v1/refunds/{refund_id}/resolutions/{resolution['id']}/approve",
        headers=gateway.auth(checker),
    )
    assert approved.status == 200, await approved.text()
    refund: dict[str, Any] = await approved.json()
    return refund


def signed_notice(
    payment: dict[str, Any],
    now: int,
    amount: int | None = None,
    account: str = AGENCY_ACCOUNT,
    booked_at: int | None = None,
    transaction_id: str | None = None,
) -> tuple[bytes, dict[str, str]]:
    """What the bank posts to ``/callbacks/bank/testbank`` for a transfer paying ``payment``
    (into ``account``, HCM's collection account unless told), booked at ``booked_at`` (Unix
    seconds; by default ``now``, when the bank notifies), with the bank's ``transaction_id``
    (a fresh one unless told)."""
    body = json.dumps(
        {
            "transaction_id": transaction_id or f"FT{uuid.uuid4().hex[:12].upper()}",
            "bin": AGENCY_BIN,
            "account_number": account,
            "amount": payment["amount"] if amount is None else amount,
            "description": f"Nop phi {payment['reference']}",
            "booked_at": datetime.fromtimestamp(
                now if booked_at is None else booked_at, UTC
            ).isoformat(),
        }
    ).encode()
    headers = {
        wire.TIMESTAMP_HEADER: str(now),
        wire.SIGNATURE_HEADER: wire.sign(BANK_SECRET.encode(), now, body),
        "Content-Type": "application/json",
    }
    return body, headers


def vnpay_ipn(
    attempt: dict[str, Any], secret: str = VNPAY_SECRET, **changes: str
) -> dict[str, str]:
    """VNPAY's success IPN for a VNPAY attempt, signed with `secret`. `changes` replace
    fields before signing; a field changed to "<drop>" is left out."""
    params = {
        "vnp_Amount": str(attempt["amount"] * 100),
        "vnp_BankCode": "NCB",
        "vnp_OrderInfo": "Thanh toan",
        "vnp_PayDate": "20261122091500",
        "vnp_ResponseCode": "00",
        "vnp_TmnCode": VNPAY_TMN,
        "vnp_TransactionNo": "14422574",
        "vnp_TransactionStatus": "00",
        "vnp_TxnRef": attempt["provider_reference"],
        **changes,
    }
    params = {name: value for name, value in params.items() if value != "<drop>"}
    return {**params, "vnp_SecureHash": sign(secret, canonical_query(params))}


def signed_ipn(attempt: dict[str, Any]) -> dict[str, str]:
    """VNPAY's success IPN for a VNPAY attempt (a fresh transaction number each time)."""
    return vnpay_ipn(attempt, vnp_TransactionNo=str(uuid.uuid4().int % 10**8))


# -- postal operators -----------------------------------------------------------------------

ID_NUMBER = "079204001234"


def handover_body(postal: Any, kind: str, **overrides: Any) -> dict[str, Any]:
    """A complete handover of an order's documents, at the postal clock's now."""
    body: dict[str, Any] = {
        "handover_id": uuid.uuid4().hex,
        "kind": kind,
        "at": postal.clock().isoformat(),
        "documents": [
            {"item": "Quyết định cấp giấy phép", "original": True, "count": 1},
            {"item": "Bản sao giấy khai sinh", "original": False, "count": 2},
        ],
        "seal_number": "NP-000123",
        "counterpart_name": "Nguyễn Văn An",
        "counterpart_role": "citizen",
        "identity": {"id_type": "cccd", "id_number": ID_NUMBER},
        "proof_reference": "photo/2026/11/22/abc.jpg",
    }
    body.update(overrides)
    return body


# -- sandbox mode, as `gateway serve` starts it with no configuration ---------------------------

DEMO_PORTAL = "gw_demo000001_sandboxsandboxsandboxsandbox0000"


def sandbox_settings(data_dir: Any, port: int, **demo_keys: str) -> Settings:
    """Sandbox settings with the demo portal key (and any other demo keys) fixed."""
    return load_settings(
        environ={},
        overrides={
            "data_dir": str(data_dir),
            "port": port,
            "demo": {"api_key": DEMO_PORTAL, **demo_keys},
        },
    )


async def start_sandbox(settings: Settings, clock: Any) -> TestClient:  # type: ignore[type-arg]
    """The sandbox app served on its configured port (the sandbox providers call back to it)."""
    app = create_app(settings, clock=clock, background=False)
    client = TestClient(TestServer(app, host="127.0.0.1", port=settings.port))
    await client.start_server()
    return client


async def book_demo_delivery(client: Any, idempotency_key: str) -> dict[str, Any]:
    """The demo agency books a delivery to the citizen; returns the API view."""
    booked = await client.post(
        "/v1/postal/orders",
        headers={"Authorization": f"Bearer {DEMO_PORTAL}", "Idempotency-Key": idempotency_key},
        json={
            "leg": "delivery",
            "agency_code": "DEMO",
            "dossier_code": "H29-1",
            "sender": AGENCY_PARTY,
            "recipient": CITIZEN_PARTY,
        },
    )
    assert booked.status == 201, await booked.text()
    order: dict[str, Any] = await booked.json()
    return order


async def create_demo_bill(client: Any, idempotency_key: str, amount: int) -> dict[str, Any]:
    """The demo portal bills dossier ``H29-<key>`` one charge of ``amount``; the API view."""
    created = await client.post(
        "/v1/payments",
        headers={"Authorization": f"Bearer {DEMO_PORTAL}", "Idempotency-Key": idempotency_key},
        json={
            "agency_code": "DEMO",
            "dossier_code": f"H29-{idempotency_key}",
            "payer": {"name": "An"},
            "items": [{"kind": "charge", "description": "Lệ phí", "amount": amount}],
        },
    )
    assert created.status == 201, await created.text()
    bill: dict[str, Any] = await created.json()
    return bill


async def pay_demo_bill(client: Any, idempotency_key: str, amount: int) -> dict[str, Any]:
    """:func:`create_demo_bill`, paid in full through the mounted sandbox bank (sandbox mode);
    the bill's API view as created."""
    bill = await create_demo_bill(client, idempotency_key, amount)
    transfer = await client.post(
        "/sandbox/bank/transfers",
        json={
            "bin": "970499",
            "account_number": "0011001234567",
            "amount": amount,
            "description": bill["reference"],
        },
    )
    assert (await transfer.json())["delivered"] is True
    return bill


def pos_sale(**overrides: Any) -> Sale:
    """A card sale as the gateway pushes it to a terminal."""
    values: dict[str, Any] = {
        "terminal_id": "T-HCM-0001",
        "sale_id": "att_01JD4",
        "amount": 185000,
        "reference": "DVC7K3M9QX2PAB3F",
        "description": "Lệ phí cấp đổi GPLX",
        "callback_url": "https://gateway.example/callbacks/pos",
        **overrides,
    }
    return Sale(**values)


def current_run(run_id: str, day: date, now: datetime) -> dict[str, Any]:
    """A ``recon_runs`` row: the current run of ``day``, with nothing in it."""
    return {
        "id": run_id,
        "business_date": day,
        "rule_version": "1",
        "status": "current",
        "inputs": {},
        "summary": {},
        "created_by": "test",
        "created_at": now,
    }


async def seed_recon_run(
    gateway: Any, day: date, how_many: int = 2, tag: str = "test", agency: str | None = "HCM"
) -> list[str]:
    """A current run for ``day`` with ``how_many`` open exceptions (what a run with
    discrepancies leaves) of ``agency`` (a code; ``None``: no agency found); returns the
    exceptions' ids, ``exc_<tag>000…`` counting up."""
    now = gateway.client.app[CLOCK]()
    agency_id = None
    if agency is not None:
        async with gateway.client.app[DATABASE].read() as conn:
            agency_id = (
                await conn.execute(select(agencies.c.id).where(agencies.c.code == agency))
            ).scalar_one()
    run_id = f"run_{tag}".ljust(30, "0")
    ids = [f"exc_{tag}{number:0{26 - len(tag)}d}" for number in range(how_many)]
    exceptions = [
        {
            "id": exception_id,
            "run_id": run_id,
            "business_date": day,
            "source": "bank",
            "type": "missing_in_bank",
            "status": "open",
            "amount": 185000,
            "internal_keys": [f"payment:pay_{number}"],
            "line_ids": [],
            "candidates": [],
            "fingerprint": f"fp{number}",
            "agency_id": agency_id,
            "created_at": now,
        }
        for number, exception_id in enumerate(ids)
    ]
    async with gateway.client.app[DATABASE].write() as conn:
        await conn.execute(insert(recon_runs).values(current_run(run_id, day, now)))
        if exceptions:
            await conn.execute(insert(recon_exceptions), exceptions)
    return ids


def camt053(
    entries: list[tuple[str, str, str]],
    *,
    day: date = date(2026, 11, 22),
    opening: int = 10_000_000,
    closing: int | None = None,
    account: str = "0011001234567",
) -> bytes:
    """A camt.053.001.08 end-of-day statement. ``entries``: (amount as written, CRDT/DBIT,
    remittance text); ``closing`` defaults to the one that ties."""
    if closing is None:
        closing = opening + sum(
            int(amount) * (1 if side == "CRDT" else -1) for amount, side, _ in entries
        )
    rows = "".join(
        f"""<Ntry><NtryRef>{n}</NtryRef><Amt Ccy="VND">{amount}</Amt><CdtDbtInd>{side}</CdtDbtInd>
<Sts><Cd>BOOK</Cd></Sts><BookgDt><Dt>{day}</Dt></BookgDt><ValDt><Dt>{day}</Dt></ValDt>
<AcctSvcrRef>FT{day:%y%m%d}{n:05d}</AcctSvcrRef><BkTxCd><Prtry><Cd>TRF</Cd></Prtry></BkTxCd>
<NtryDtls><TxDtls><Refs><EndToEndId>NOTPROVIDED</EndToEndId></Refs>
<RmtInf><Ustrd>{text}</Ustrd></RmtInf></TxDtls></NtryDtls></Ntry>"""
        for n, (amount, side, text) in enumerate(entries, 1)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<Document xmlns="urn:iso:std:iso:20022:tech:xsd:camt.053.001.08">
<BkToCstmrStmt><GrpHdr><MsgId>STMT{day:%Y%m%d}</MsgId><CreDtTm>{day}T23:59:00+07:00</CreDtTm></GrpHdr>
<Stmt><Id>STMT{day:%Y%m%d}-1</Id><CreDtTm>{day}T23:59:00+07:00</CreDtTm>
<FrToDt><FrDtTm>{day}T00:00:00+07:00</FrDtTm><ToDtTm>{day}T23:59:59+07:00</ToDtTm></FrToDt>
<Acct><Id><Othr><Id>{account}</Id></Othr></Id><Ccy>VND</Ccy></Acct>
<Bal><Tp><CdOrPrtry><Cd>OPBD</Cd></CdOrPrtry></Tp><Amt Ccy="VND">{opening}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>
<Bal><Tp><CdOrPrtry><Cd>CLBD</Cd></CdOrPrtry></Tp><Amt Ccy="VND">{closing}</Amt><CdtDbtInd>CRDT</CdtDbtInd><Dt><Dt>{day}</Dt></Dt></Bal>
{rows}</Stmt></BkToCstmrStmt></Document>""".encode()


# -- staff consoles, signed in over plain HTTP -------------------------------------------------

_LOGIN_TOKEN = re.compile(r'name="login_token" value="([^"]+)"')
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class StaffSession:
    """A signed-in staff member as a browser holds it: the session cookie and its path, the
    CSRF token of the forms, and where the sign-in sent the browser."""

    token: str
    csrf: str
    location: str
    cookie_path: str

    @property
    def cookie(self) -> dict[str, str]:
        return {"Cookie": f"gw_session={self.token}"}


async def post_login(client: Any, fields: dict[str, str]) -> Any:
    """Sign in as a browser does: fetch the form (its token and cookie), then post it."""
    form = await client.get("/console/login")
    found = _LOGIN_TOKEN.search(await form.text())
    assert found, "the sign-in form carries its login token"
    cookie = form.cookies["gw_login"].value
    assert cookie == found.group(1)
    return await client.post(
        "/console/login",
        data={**fields, "login_token": found.group(1)},
        headers={"Cookie": f"gw_login={cookie}"},
        allow_redirects=False,
    )


async def staff_login(client: Any, username: str, password: str, home: str) -> StaffSession:
    """Sign in, then open ``home`` (not following redirects) for the CSRF token of its forms."""
    response = await post_login(client, {"username": username, "password": password})
    assert response.status == 303, await response.text()
    cookie = response.cookies["gw_session"]
    page = await client.get(
        home, headers={"Cookie": f"gw_session={cookie.value}"}, allow_redirects=False
    )
    found = _CSRF.search(await page.text())
    assert found, f"{home} carries the CSRF token in its forms"
    return StaffSession(cookie.value, found.group(1), response.headers["Location"], cookie["path"])


# -- browser tabs -----------------------------------------------------------------------------


def collect_errors(page: Page, errors: list[str], expected: re.Pattern[str] | None = None) -> None:
    """Record in ``errors`` what goes wrong in ``page``: script errors, and console errors
    other than the ``expected`` ones."""
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error" and not (expected and expected.match(message.text)):
            errors.append(f"console: {message.text}")

    page.on("console", on_console)


async def sign_in(page: Page, base: str, username: str, password: str) -> None:
    """Sign in on the staff login page as a person does: type, then press the button."""
    await page.goto(base + "/console/login")
    await page.get_by_label("Tên đăng nhập").fill(username)
    await page.get_by_label("Mật khẩu").fill(password)
    await page.get_by_role("button", name="Đăng nhập").click()


# -- the sandbox bank as a real server -------------------------------------------------------


async def start_sandbox_bank(aiohttp_server: Any, gateway: Any) -> Any:
    """The sandbox bank, notifying ``gateway`` (as bank ``testbank``) of every credit."""
    config = SandboxBankConfig(
        bin=AGENCY_BIN,
        secret=BANK_SECRET.encode(),
        notify_url=str(gateway.client.make_url("/callbacks/bank/testbank")),
        clock=gateway.clock,
    )
    return await aiohttp_server(create_bank_app(config))


async def transfer_in_full(bank: Any, payment: dict[str, Any]) -> None:
    """The citizen transfers the whole amount with the reference in the text; the bank's
    notice reaches the gateway before this returns."""
    await transfer(bank, payment, payment["amount"])


async def transfer(bank: Any, payment: dict[str, Any], amount: int) -> None:
    """The citizen transfers ``amount`` (the bill's, or not) with the reference in the text;
    the bank's notice reaches the gateway before this returns."""
    async with aiohttp.ClientSession() as session:
        response = await session.post(
            str(bank.make_url("/transfers")),
            json={
                "bin": AGENCY_BIN,
                "account_number": AGENCY_ACCOUNT,
                "amount": amount,
                "description": f"{payment['reference']} NGUYEN VAN AN NOP PHI",
            },
        )
        assert response.status == 201, await response.text()
        assert (await response.json())["delivered"] is True


# -- citizen notifications ----------------------------------------------------------------------

ZNS_SECRET = "test-zns-callback"
SMS_SECRET = "test-sms-callback"
_ZNS_TOKEN = "test-zns-token"
_ESMS_KEY, _ESMS_SECRET = "test-esms-key", "test-esms-secret"


async def messages_sandbox(
    aiohttp_server: Any, clock: Any, gateway_base: str, agencies: dict[str, Any]
) -> tuple[Any, dict[str, Any]]:
    """The ZNS/eSMS sandbox as a real server sending receipts to the gateway at
    ``gateway_base``, and the gateway's ``notifications`` settings for it and ``agencies``."""
    from providers.sandbox.messages import SandboxMessagesConfig, create_messages_app

    sandbox = await aiohttp_server(
        create_messages_app(
            SandboxMessagesConfig(
                zns_access_token=_ZNS_TOKEN,
                esms_api_key=_ESMS_KEY,
                esms_secret_key=_ESMS_SECRET,
                zns_receipt_url=f"{gateway_base}/callbacks/zns/{ZNS_SECRET}",
                sms_receipt_url=f"{gateway_base}/callbacks/sms/{SMS_SECRET}",
                clock=clock,
            )
        )
    )
    settings = {
        "enabled": True,
        "lookup_key": "test-lookup-key",
        "zns": {
            "base_url": str(sandbox.make_url("/zns")),
            "access_token": _ZNS_TOKEN,
            "callback_secret": ZNS_SECRET,
        },
        "sms": {
            "base_url": str(sandbox.make_url("/esms")),
            "api_key": _ESMS_KEY,
            "secret_key": _ESMS_SECRET,
            "brandname": "SOTUPHAP",
            "callback_secret": SMS_SECRET,
        },
        "agencies": agencies,
    }
    return sandbox, settings


async def sandbox_messages(client: Any, sandbox: Any) -> list[dict[str, Any]]:
    """What the messages sandbox received, oldest first."""
    async with client.session.get(sandbox.make_url("/list")) as response:
        return list(await response.json())


# -- a page on a phone -------------------------------------------------------------------------

PHONE = {"width": 390, "height": 844}

#: The page's width, and (when it is wider than the screen) the outermost elements that stick
#: out, to say what to fix.
OVERFLOW = """() => {
  const width = document.documentElement.scrollWidth;
  const out = [];
  if (width > innerWidth) {
    for (const el of document.body.querySelectorAll('*')) {
      const r = el.getBoundingClientRect();
      if (r.right > innerWidth + 1 && !out.some(o => o.el.contains(el))) out.push({el, r});
    }
  }
  return [width, out.slice(0, 5).map(o =>
    `${o.el.tagName.toLowerCase()}.${o.el.className}[${Math.round(o.r.right)}]`)];
}"""
