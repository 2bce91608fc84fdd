"""Shared fixtures. Every database test runs twice: on SQLite and on PostgreSQL.

PostgreSQL is reached at ``$TEST_POSTGRES_URL`` (default: user ``postgres`` on
127.0.0.1:5432, trust auth). Without it the PostgreSQL half skips on a developer machine,
but under ``CI=true`` a missing PostgreSQL is a failure.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from config import Settings, load_settings
from gateway.app import create_app
from gateway.core.db.migrate import upgrade
from gateway.core.db.schema import metadata
from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE
from gateway.services.agencies import NewAgency, add_agency
from gateway.services.clients import create_client
from providers.receipts.sandbox_ca import ensure_sandbox_identity

POSTGRES_ADMIN_URL = os.environ.get(
    "TEST_POSTGRES_URL", "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
)
IN_CI = os.environ.get("CI", "").lower() == "true"
BANK_SECRET = "test-bank-secret"
PII_KEY = "dGVzdC1rZXktMzItYnl0ZXMtZm9yLXRoZS1zdWl0ZSE="  # base64 of 32 bytes, tests only
AGENCY_BIN = "970499"
AGENCY_ACCOUNT = "0011001234567"
#: Outside sandbox mode the public port serves /metrics only with this bearer token.
METRICS_TOKEN = "test-metrics-token-0001"
METRICS_AUTH = {"Authorization": f"Bearer {METRICS_TOKEN}"}


class FixedClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


# -- databases ---------------------------------------------------------------------------


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "gateway.db"
    upgrade(f"sqlite+aiosqlite:///{path}")
    return path


def _in_thread(function: Any, *args: Any) -> Any:
    """Run blocking set-up (its own event loop, e.g. Alembic) off the test's running loop."""
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(function, *args).result()


async def _postgres_admin(statement: str) -> None:
    engine = create_async_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


@pytest.fixture(scope="session")
def postgres_database() -> Iterator[str]:
    name = f"gateway_test_{os.getpid()}_{uuid.uuid4().hex[:6]}"
    try:
        _in_thread(asyncio.run, _postgres_admin(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        message = f"PostgreSQL is not reachable at {POSTGRES_ADMIN_URL}: {exc}"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    url = POSTGRES_ADMIN_URL.rsplit("/", 1)[0] + f"/{name}"
    _in_thread(upgrade, url)
    yield url
    _in_thread(asyncio.run, _postgres_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _truncate(url: str) -> None:
    engine = create_async_engine(url)
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    try:
        async with engine.begin() as conn:
            await conn.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))
    finally:
        await engine.dispose()


@pytest.fixture
async def postgres_url(postgres_database: str) -> AsyncIterator[str]:
    """PostgreSQL only (for tests of behaviour SQLite does not have), emptied afterwards."""
    yield postgres_database
    await _truncate(postgres_database)


@pytest.fixture(params=["sqlite", "postgresql"])
async def database_url(
    request: pytest.FixtureRequest, sqlite_template: Path, tmp_path: Path
) -> AsyncIterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "gateway.db"
        shutil.copy(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
    else:
        url = request.getfixturevalue("postgres_database")
        yield url
        await _truncate(url)


# -- the service -------------------------------------------------------------------------


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(datetime(2026, 11, 22, 2, 0, tzinfo=UTC))


VNPOST_PASSWORD = "test-vnpost-password"
MOMO_SETTINGS = {
    "partner_code": "TESTMOMO",
    "access_key": "test-momo-access-key",
    "secret_key": "test-momo-secret-key",
}
ZALOPAY_SETTINGS = {"app_id": 2553, "key1": "test-zalopay-key1", "key2": "test-zalopay-key2"}
VNPOST_WEBHOOK_KEY = "test-vnpost-webhook-key"


def make_settings(database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "sandbox": False,
        "database_url": database_url,
        "public_base_url": "http://gateway.test",
        "banks": {"testbank": {"secret": BANK_SECRET}},
        "pii": {"current_key_id": "t1", "keys": {"t1": PII_KEY}},
        # No carrier listens here: tests that book postal orders start the sandbox VNPost.
        "vnpost": {
            "base_url": "http://127.0.0.1:9",
            "password": VNPOST_PASSWORD,
            "webhook_key": VNPOST_WEBHOOK_KEY,
        },
        # The wallets' keys (no URL: not configured unless a test starts their sandboxes).
        "momo": MOMO_SETTINGS,
        "zalopay": ZALOPAY_SETTINGS,
        "log_format": "json",
        # The sandbox default enables the demo agency's notifications; tests that need them
        # configure providers and agencies (tests/gateway/notifications).
        "notifications": {"enabled": False},
        # Not sandbox mode: without the sandbox platform's credentials of default.toml (which
        # are refused here); tests of the DVCQG channel configure the sandbox platform.
        "dvcqg": {"partner_code": None, "secret_key": None},
        "metrics_token": METRICS_TOKEN,
    }
    values.update(overrides)
    return load_settings(environ={}, overrides=values)


@dataclass
class Gateway:
    """The running service plus what the seed created."""

    client: TestClient  # type: ignore[type-arg]
    clock: FixedClock
    keys: dict[str, str] = field(default_factory=dict)

    def auth(self, who: str = "portal") -> dict[str, str]:
        return {"Authorization": f"Bearer {self.keys[who]}"}

    async def create_payment(
        self, who: str = "portal", key: str | None = None, **overrides: Any
    ) -> Any:
        body = payment_body(**overrides)
        response = await self.client.post(
            "/v1/payments",
            json=body,
            headers={**self.auth(who), "Idempotency-Key": key or uuid.uuid4().hex},
        )
        assert response.status == 201, await response.text()
        return await response.json()

    async def payment(self, payment_id: str, who: str = "portal") -> Any:
        return await self._read(f"/v1/payments/{payment_id}", who)

    async def payment_attempt(self, payment_id: str, attempt_id: str) -> Any:
        return await self._read(f"/v1/payments/{payment_id}/attempts/{attempt_id}", "portal")

    async def _read(self, path: str, who: str) -> Any:
        response = await self.client.get(path, headers=self.auth(who))
        assert response.status == 200, await response.text()
        return await response.json()


def payment_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "agency_code": "HCM",
        "dossier_code": "000.00.12.H29-241122-0001",
        "procedure_code": "1.001234",
        "procedure_name": "Cấp đổi giấy phép lái xe",
        "payer": {"name": "Nguyễn Văn An", "phone": "0912345678"},
        "items": [
            {"kind": "charge", "description": "Lệ phí cấp đổi GPLX", "amount": 135000},
            {"kind": "fee", "description": "Phí thẩm định hồ sơ", "amount": 50000},
        ],
    }
    body.update(overrides)
    return body


async def seed(app_client: TestClient) -> dict[str, str]:  # type: ignore[type-arg]
    db, clock = app_client.app[DATABASE], app_client.app[CLOCK]
    for code, name in (("HCM", "Sở Tư pháp TP. Hồ Chí Minh"), ("HN", "Sở Tư pháp Hà Nội")):
        await add_agency(
            db,
            clock,
            NewAgency(
                code=code,
                name=name,
                bank_bin=AGENCY_BIN,
                account_number=AGENCY_ACCOUNT if code == "HCM" else "0022002345678",
                account_name=f"SO TU PHAP {code}",
            ),
        )
    keys = {}
    # ``finance`` and ``approver`` are deployment-wide (a provincial finance department, which
    # imports provider files and closes days); the other finance keys are HCM's own.
    for who, role, agencies, everywhere in (
        ("portal", Role.PORTAL, ["HCM"], False),
        ("other", Role.PORTAL, ["HN"], False),
        ("finance", Role.FINANCE, [], True),
        ("finance2", Role.FINANCE, ["HCM"], False),
        ("approver", Role.FINANCE_APPROVER, [], True),
        ("approver2", Role.FINANCE_APPROVER, ["HCM"], False),
    ):
        _, keys[who] = await create_client(
            db, clock, name=who, role=role, agency_codes=agencies, all_agencies=everywhere
        )
    return keys


@pytest.fixture
async def gateway(aiohttp_client: Any, database_url: str, clock: FixedClock) -> Gateway:
    app = create_app(make_settings(database_url), clock=clock, background=False)
    client = await aiohttp_client(app)
    return Gateway(client=client, clock=clock, keys=await seed(client))


# -- payment channels: the gateway with the sandbox VNPAY and POS cloud as real servers --------

VNPAY_TMN = "TESTTMN1"
VNPAY_SECRET = "test-vnpay-secret"
POS_MERCHANT = "TEST-MERCHANT"
POS_SECRET = "test-pos-secret"


@dataclass
class Channels(Gateway):
    vnpay: Any = None  # the sandbox VNPAY TestServer
    pos: Any = None  # the sandbox POS cloud TestServer

    async def attempt(self, payment_id: str, **body: Any) -> Any:
        response = await self.client.post(
            f"/v1/payments/{payment_id}/attempts",
            json=body,
            headers={**self.auth(), "Idempotency-Key": uuid.uuid4().hex},
        )
        return response.status, await response.json()

    async def start(self, method: str, **body: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """A new payment and its first attempt by `method`; returns both API views."""
        payment = await self.create_payment()
        status, attempt = await self.attempt(payment["id"], method=method, **body)
        assert status == 201, attempt
        return payment, attempt


async def sandbox_vnpay(aiohttp_server: Any, ipn_url: str, **options: Any) -> Any:
    """The sandbox VNPAY as a real server (terminal ``VNPAY_TMN``), sending its IPNs to
    ``ipn_url``; ``options``: more of its :class:`SandboxVnpayConfig`."""
    from providers.sandbox.vnpay import SandboxVnpayConfig, create_vnpay_app

    config = SandboxVnpayConfig(
        tmn_code=VNPAY_TMN, hash_secret=VNPAY_SECRET, ipn_url=ipn_url, **options
    )
    return await aiohttp_server(create_vnpay_app(config))


@pytest.fixture
async def channels(
    aiohttp_server: Any,
    aiohttp_client: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
) -> AsyncIterator[Channels]:
    opened = await open_channels(aiohttp_server, database_url, clock, unused_tcp_port_factory())
    yield opened
    await opened.client.close()


async def open_channels(
    aiohttp_server: Any, database_url: str, clock: FixedClock, port: int, **settings: Any
) -> Channels:
    """The gateway on ``port`` with the sandbox VNPAY and POS cloud as real servers, seeded,
    with terminals ``T-HCM-1`` and ``T-HN-1``; ``settings`` are added (e.g. ``vnpost``;
    ``vnpay`` entries are added to the sandbox terminal's).
    The caller closes ``client``."""
    from aiohttp.test_utils import TestClient, TestServer

    from providers.sandbox.pos import SandboxPosConfig, create_pos_app

    base = f"http://127.0.0.1:{port}"
    vnpay = await sandbox_vnpay(
        aiohttp_server, f"{base}/callbacks/vnpay/ipn", retry_seconds=0.01, clock=clock
    )
    pos = await aiohttp_server(
        create_pos_app(
            SandboxPosConfig(
                merchant_id=POS_MERCHANT,
                secret=POS_SECRET.encode(),
                retry_seconds=0.01,
                clock=clock,
            )
        )
    )
    configured = make_settings(
        database_url,
        public_base_url=base,
        vnpay={
            "payment_url": str(vnpay.make_url("/paymentv2/vpcpay.html")),
            "api_url": str(vnpay.make_url("/merchant_webapi/api/transaction")),
            "tmn_code": VNPAY_TMN,
            "hash_secret": VNPAY_SECRET,
            **settings.pop("vnpay", {}),
        },
        pos={"base_url": str(pos.make_url("")), "merchant_id": POS_MERCHANT, "secret": POS_SECRET},
        webhooks={"allow_private_urls": True},
        **settings,
    )
    app = create_app(configured, clock=clock, background=False)
    server = TestServer(app, host="127.0.0.1", port=port)
    client = TestClient(server)
    await client.start_server()
    keys = await seed(client)
    from gateway.keys import TERMINALS

    await client.app[TERMINALS].add("HCM", "T-HCM-1", "Quầy 1")
    await client.app[TERMINALS].add("HN", "T-HN-1", "Quầy Hà Nội")
    return Channels(client=client, clock=clock, keys=keys, vnpay=vnpay, pos=pos)


# -- postal: the gateway with the sandbox VNPost as a real server -------------------------------

VNPOST_USER = "test-partner"
VNPOST_CUSTOMER = "KH-TEST"


def party(name: str, phone: str, street: str, ward: str, province: str) -> dict[str, Any]:
    return {
        "name": name,
        "phone": phone,
        "address": {"street": street, "ward_code": ward, "province_code": province},
    }


AGENCY_PARTY = party("Sở Tư pháp TP. Hồ Chí Minh", "02838290230", "141 Pasteur", "26740", "79")
CITIZEN_PARTY = party("Nguyễn Văn An", "0912345678", "12 Lê Lợi", "25747", "79")


def order_body(leg: str = "delivery", **overrides: Any) -> dict[str, Any]:
    """A delivery of a result (agency → citizen) by default; ``leg="pickup"`` swaps them."""
    agency, citizen = AGENCY_PARTY, CITIZEN_PARTY
    body: dict[str, Any] = {
        "leg": leg,
        "agency_code": "HCM",
        "dossier_code": "000.00.12.H29-241122-0001",
        "sender": agency if leg == "delivery" else citizen,
        "recipient": citizen if leg == "delivery" else agency,
        "note": "Hồ sơ hành chính",
    }
    body.update(overrides)
    return body


@dataclass
class Postal(Gateway):
    carrier: Any = None  # the sandbox VNPost TestServer

    async def book(self, who: str = "portal", **overrides: Any) -> Any:
        """Book an order (the carrier accepts it at once) and return the API view."""
        response = await self.client.post(
            "/v1/postal/orders",
            json=order_body(**overrides),
            headers={**self.auth(who), "Idempotency-Key": uuid.uuid4().hex},
        )
        assert response.status == 201, await response.text()
        return await response.json()

    async def order(self, order_id: str, who: str = "portal") -> Any:
        return await self._read(f"/v1/postal/orders/{order_id}", who)

    async def advance(self, tracking_number: str, code: int, **extra: Any) -> Any:
        """What a postman does: the sandbox carrier moves the order and pushes the status
        (the first push is answered before this returns)."""
        url = self.carrier.make_url(f"/orders/{tracking_number}/advance")
        async with self.client.session.post(url, json={"status": code, **extra}) as response:
            assert response.status == 200, await response.text()
            return await response.json()

    async def sync_due(self) -> int:
        """One pass of the background read-back (confirms final and money statuses)."""
        from gateway.keys import CARRIER_SYNC

        return await self.client.app[CARRIER_SYNC].sync_due()


async def sandbox_carrier(
    aiohttp_server: Any, clock: FixedClock, port: int, status_profile: str = "partner_order"
) -> tuple[Any, dict[str, Any]]:
    """The sandbox VNPost as a real server pushing to the gateway on ``port``, both speaking
    ``status_profile``, and the gateway's ``vnpost`` settings for it."""
    from providers.postal.vnpost import PROFILES
    from providers.sandbox.vnpost import SandboxVnpostConfig, create_vnpost_app

    carrier = await aiohttp_server(
        create_vnpost_app(
            SandboxVnpostConfig(
                username=VNPOST_USER,
                password=VNPOST_PASSWORD,
                customer_code=VNPOST_CUSTOMER,
                webhook_url=f"http://127.0.0.1:{port}/callbacks/vnpost",
                webhook_key=VNPOST_WEBHOOK_KEY.encode(),
                retry_seconds=0.01,
                max_attempts=2,
                clock=clock,
                profile=PROFILES[status_profile],
            )
        )
    )
    settings = {
        "status_profile": status_profile,
        "base_url": str(carrier.make_url("")).rstrip("/"),
        "username": VNPOST_USER,
        "password": VNPOST_PASSWORD,
        "customer_code": VNPOST_CUSTOMER,
        "webhook_key": VNPOST_WEBHOOK_KEY,
    }
    return carrier, settings


@pytest.fixture
async def postal(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
) -> AsyncIterator[Postal]:
    """The gateway and the sandbox VNPost pushing to it; post office ``BC-HCM`` serves HCM,
    ``BC-HN`` serves HN; API keys ``operator`` (BC-HCM) and ``operator_hn`` (BC-HN)."""
    opened = await open_postal(aiohttp_server, database_url, clock, unused_tcp_port_factory())
    yield opened
    await opened.client.close()


async def open_postal(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    port: int,
    status_profile: str = "partner_order",
    **settings: Any,
) -> Postal:
    """What the ``postal`` fixture gives, the carrier and the gateway speaking
    ``status_profile``, with ``settings`` added (e.g. ``notifications``). The caller closes
    ``client``."""
    from aiohttp.test_utils import TestServer

    from gateway.services.postal import offices

    base = f"http://127.0.0.1:{port}"
    carrier, vnpost = await sandbox_carrier(aiohttp_server, clock, port, status_profile)
    configured = make_settings(
        database_url,
        public_base_url=base,
        vnpost={**vnpost, "submit_retry_seconds": 10, "submit_max_attempts": 3},
        webhooks={"allow_private_urls": True},
        **settings,
    )
    app = create_app(configured, clock=clock, background=False)
    client = TestClient(TestServer(app, host="127.0.0.1", port=port))
    await client.start_server()
    keys = await seed(client)
    db = client.app[DATABASE]
    for office, name, agency in (
        ("BC-HCM", "Bưu cục Sài Gòn", "HCM"),
        ("BC-HN", "Bưu cục Hoàn Kiếm", "HN"),
    ):
        await offices.add_post_office(db, clock, office, name)
        await offices.serve_agency(db, agency, office)
    for who, office in (("operator", "BC-HCM"), ("operator_hn", "BC-HN")):
        client_id, keys[who] = await create_client(
            db, clock, name=who, role=Role.POSTAL_OPERATOR, agency_codes=[]
        )
        await offices.scope_client(db, client_id, [office])
    return Postal(client=client, clock=clock, keys=keys, carrier=carrier)


# -- e-receipts: a signing identity (CA and HCM's certificate as PEM files) --------------------

TAX_CODE = "0301234567"
LEGAL_NAME = "Sở Tư pháp Thành phố Hồ Chí Minh"


@dataclass(frozen=True)
class Identity:
    key_file: Path
    certificate_file: Path
    ca_pem: bytes
    ca_file: Path


def make_identity(directory: Path, now: datetime) -> Identity:
    """A CA and HCM's certificate (valid two years from ``now``), as PEM files."""
    identity, ca_pem = ensure_sandbox_identity(
        directory / "ca", agency_name=LEGAL_NAME, tax_code=TAX_CODE, now=now
    )
    key_file, certificate_file, ca_file = (
        directory / "hcm-key.pem",
        directory / "hcm-cert.pem",
        directory / "ca.pem",
    )
    key_file.write_bytes(
        identity.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    certificate_file.write_bytes(identity.certificate_pem())
    ca_file.write_bytes(ca_pem)
    return Identity(key_file, certificate_file, ca_pem, ca_file)


@pytest.fixture(scope="session")
def identity(tmp_path_factory: pytest.TempPathFactory) -> Identity:
    return make_identity(
        tmp_path_factory.mktemp("receipt-identity"), datetime(2026, 1, 2, tzinfo=UTC)
    )


# -- the browser: Debian's chromium driven by Playwright ---------------------------------------

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's chromium (Playwright cannot download its own browsers here). Missing, it
    skips the browser tests on a developer machine and fails them in CI."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is missing: install Debian's chromium package"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def tab(browser: Any) -> AsyncIterator[tuple[Any, list[str]]]:
    """A desktop-sized page (1280 × 900, Vietnamese locale) and the errors it reports
    (:func:`tests_support.collect_errors`)."""
    from tests_support import collect_errors

    context = await browser.new_context(viewport={"width": 1280, "height": 900}, locale="vi-VN")
    page = await context.new_page()
    errors: list[str] = []
    collect_errors(page, errors)
    try:
        yield page, errors
    finally:
        await context.close()


# -- a portal receiving the gateway's webhooks ---------------------------------------------


class Portal:
    """The portal's webhook receiver: records requests, answers what it is told to —
    ``answers`` in turn, and 500 to the first arrival of each type in ``refuse_first``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.answers: list[int] = []
        self.refuse_first: set[str] = set()
        #: (event type, sequence, the status answered), in the order the requests arrived.
        self.answered: list[tuple[str, int, int]] = []
        #: Run while a request is being answered (the portal acting on the gateway meanwhile).
        self.meanwhile: Callable[[], Awaitable[None]] | None = None

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.received.append((dict(request.headers), body))
        if self.meanwhile is not None:
            await self.meanwhile()
        event = json.loads(body)
        if event["type"] in self.refuse_first:
            self.refuse_first.discard(event["type"])
            status = 500
        else:
            status = self.answers.pop(0) if self.answers else 200
        self.answered.append((event["type"], event["data"]["sequence"], status))
        return web.Response(status=status)

    def bodies(self) -> list[dict[str, Any]]:
        return [json.loads(body) for _, body in self.received]


@pytest.fixture
async def portal(aiohttp_server: Any) -> tuple[Portal, str]:
    receiver = Portal()
    app = web.Application()
    app.router.add_post("/hooks", receiver.handle)
    server = await aiohttp_server(app)
    return receiver, str(server.make_url("/hooks"))


# -- wallets (issue 12): the gateway with the sandbox MoMo and ZaloPay as real servers ----------


@dataclass
class Wallets(Channels):
    momo: Any = None  # the sandbox MoMo TestServer
    zalopay: Any = None  # the sandbox ZaloPay TestServer

    async def sandbox(self, server: Any, path: str, **body: Any) -> Any:
        """POST to a wallet sandbox's test door (``/simulate``, ``/resend_ipn``)."""
        async with self.client.session.post(server.make_url(path), json=body) as response:
            return response.status, await response.json()


@pytest.fixture
async def wallets(
    aiohttp_server: Any,
    database_url: str,
    clock: FixedClock,
    unused_tcp_port_factory: Any,
) -> AsyncIterator[Wallets]:
    opened = await open_wallets(aiohttp_server, database_url, clock, unused_tcp_port_factory())
    yield opened
    await opened.client.close()


async def open_wallets(
    aiohttp_server: Any, database_url: str, clock: FixedClock, port: int, **settings: Any
) -> Wallets:
    """:func:`open_channels` plus the sandbox MoMo and ZaloPay, both configured for every
    agency (default merchant and app) with the test credentials."""
    from providers.sandbox.momo import SandboxMomoConfig, create_momo_app
    from providers.sandbox.zalopay import SandboxZalopayConfig, create_zalopay_app

    momo = await aiohttp_server(
        create_momo_app(
            SandboxMomoConfig(
                partner_code=str(MOMO_SETTINGS["partner_code"]),
                access_key=str(MOMO_SETTINGS["access_key"]),
                secret_key=str(MOMO_SETTINGS["secret_key"]),
                retry_seconds=0.01,
                clock=clock,
            )
        )
    )
    zalopay = await aiohttp_server(
        create_zalopay_app(
            SandboxZalopayConfig(
                app_id=int(ZALOPAY_SETTINGS["app_id"]),
                key1=str(ZALOPAY_SETTINGS["key1"]),
                key2=str(ZALOPAY_SETTINGS["key2"]),
                retry_seconds=0.01,
                clock=clock,
            )
        )
    )
    opened = await open_channels(
        aiohttp_server,
        database_url,
        clock,
        port,
        momo={**MOMO_SETTINGS, "api_url": str(momo.make_url("/v2/gateway/api"))},
        zalopay={**ZALOPAY_SETTINGS, "api_url": str(zalopay.make_url("")).rstrip("/")},
        **settings,
    )
    return Wallets(
        client=opened.client,
        clock=clock,
        keys=opened.keys,
        vnpay=opened.vnpay,
        pos=opened.pos,
        momo=momo,
        zalopay=zalopay,
    )
