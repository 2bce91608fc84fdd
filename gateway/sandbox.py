"""Sandbox mode: migrate, seed the demo agency and key, mount the sandbox providers.

With no configuration, ``gateway serve`` lets a newcomer walk the whole flow on one machine:
the demo agency ``DEMO`` collects into an account at the sandbox bank (fictional BIN
970499, so no real banking app can send real money to it), and transfers made through
``POST /sandbox/bank/transfers`` come back as signed credit notices.
"""

from __future__ import annotations

import asyncio
import secrets
import sys
from collections.abc import AsyncIterator

from aiohttp import web
from pydantic import SecretStr
from sqlalchemy import select, update

from gateway.core.db.migrate import upgrade
from gateway.core.db.schema import agencies, api_clients, staff_users
from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE, SETTINGS, STAFF, TERMINALS
from gateway.pages.operator_demo import DEMO_OPERATOR_USER, seed_demo_operator
from gateway.sandbox_statements import add_statement_routes
from gateway.services.agencies import NewAgency, add_agency, list_agencies
from gateway.services.clients import create_client, key_id
from gateway.services.staff import hash_password
from providers.sandbox.bank import SandboxBankConfig, create_bank_app
from providers.sandbox.pos import SandboxPosConfig, create_pos_app
from providers.sandbox.vnpay import SandboxVnpayConfig, create_vnpay_app
from providers.sandbox.vnpost import SandboxVnpostConfig, create_vnpost_app

DEMO_ACCOUNT = "0011001234567"
DEMO_TERMINAL = "DEMO-POS-01"
DEMO_ACCOUNT_NAME = "SO TAI CHINH TINH DEMO - THU PHI LE PHI"


def mount_sandboxes(app: web.Application) -> None:
    settings = app[SETTINGS]
    bank = settings.banks.get("sandbox")
    if bank is None:
        raise RuntimeError("sandbox mode needs [banks.sandbox] in the configuration")
    app.add_subapp(
        "/sandbox/vnpay",
        create_vnpay_app(
            SandboxVnpayConfig(
                tmn_code=settings.vnpay.tmn_code or "DEMOTMN1",
                hash_secret=(
                    settings.vnpay.hash_secret.get_secret_value()
                    if settings.vnpay.hash_secret
                    else "sandbox-vnpay-hash-secret"
                ),
                ipn_url=f"{settings.base_url}/callbacks/vnpay/ipn",
                retry_seconds=settings.vnpay.sandbox_ipn_retry_seconds,
                max_ipn_attempts=settings.vnpay.sandbox_ipn_max_attempts,
                clock=app[CLOCK],
            )
        ),
    )
    app.add_subapp(
        "/sandbox/pos",
        create_pos_app(
            SandboxPosConfig(
                merchant_id=settings.pos.merchant_id,
                secret=settings.pos.secret.get_secret_value().encode(),
                clock=app[CLOCK],
            )
        ),
    )
    vnpost = settings.vnpost
    secret = vnpost.callback_secret
    push_url = f"{settings.base_url}/callbacks/vnpost" + (
        f"/{secret.get_secret_value()}" if secret else ""
    )
    app.add_subapp(
        "/sandbox/vnpost",
        create_vnpost_app(
            SandboxVnpostConfig(
                username=vnpost.username,
                password=vnpost.password.get_secret_value(),
                customer_code=vnpost.customer_code,
                webhook_url=push_url,
                webhook_key=vnpost.webhook_key.get_secret_value().encode(),
                retry_seconds=vnpost.sandbox_retry_seconds,
                max_attempts=vnpost.sandbox_max_attempts,
                path_prefix=vnpost.path_prefix,
                auto_advance_seconds=vnpost.sandbox_auto_advance_seconds or None,
                clock=app[CLOCK],
            )
        ),
    )
    add_statement_routes(app)
    app.add_subapp(
        "/sandbox/bank",
        create_bank_app(
            SandboxBankConfig(
                bin=settings.sandbox_bank.bin,
                secret=bank.secret.get_secret_value().encode(),
                notify_url=f"{settings.base_url}/callbacks/bank/sandbox",
                retry_seconds=settings.sandbox_bank.retry_seconds,
                max_attempts=settings.sandbox_bank.max_attempts,
                clock=app[CLOCK],
            )
        ),
    )


async def sandbox_context(app: web.Application) -> AsyncIterator[None]:
    await asyncio.to_thread(upgrade, app[SETTINGS].database_dsn)
    _, keys, passwords = await seed_demo(app)
    operator_key, operator_password = await seed_demo_operator(app)
    passwords = {**passwords, DEMO_OPERATOR_USER[0]: operator_password}
    base = app[SETTINGS].base_url
    users = "\n".join(f"    {user} / {password}" for user, password in passwords.items())
    # The one place keys and passwords are shown, as the sandbox promises (never logged).
    print(
        f"\n  Sandbox ready at {base}\n"
        f"  Demo agency: {app[SETTINGS].demo.agency_code}\n"
        f"  Demo portal API key:   {keys[Role.PORTAL]}\n"
        f"  Demo finance API key:  {keys[Role.FINANCE]}\n"
        f"  Demo approver API key: {keys[Role.FINANCE_APPROVER]}\n"
        f"  Demo post office API key: {operator_key}\n"
        f"  Consoles: {base}/console/login (user / password; buucuc opens the post office's)\n"
        f"{users}\n",
        file=sys.stderr,
        flush=True,
    )
    yield


async def seed_demo(
    app: web.Application,
) -> tuple[str, dict[Role, str], dict[str, str]]:
    """Create the demo agency, terminal, API keys and console users if missing; return the
    portal key, every demo key by role and the console passwords (to print them)."""
    settings, db, clock = app[SETTINGS], app[DATABASE], app[CLOCK]
    code = settings.demo.agency_code
    if code not in {agency.code for agency in await list_agencies(db)}:
        await add_agency(
            db,
            clock,
            NewAgency(
                code=code,
                name="Sở Tài chính tỉnh Demo",
                bank_bin=settings.sandbox_bank.bin,
                account_number=DEMO_ACCOUNT,
                account_name=DEMO_ACCOUNT_NAME,
                kbnn_code="0011",
                revenue_account="7111",
                fees_pending_account="3511",
            ),
        )
    if not await app[TERMINALS].list(frozenset({await _agency_id(app, code)})):
        await app[TERMINALS].add(code, DEMO_TERMINAL, "Quầy 1 – Trung tâm Phục vụ hành chính công")
    keys = {
        role: await _demo_key(app, role, configured)
        for role, configured in (
            (Role.PORTAL, settings.demo.api_key),
            (Role.FINANCE, settings.demo.finance_key),
            (Role.FINANCE_APPROVER, settings.demo.approver_key),
        )
    }
    return keys[Role.PORTAL], keys, await _console_users(app, code)


async def _demo_key(app: web.Application, role: Role, configured: SecretStr | None) -> str:
    """The demo key of ``role``: the configured one (created if missing), else a new one."""
    db, clock, code = app[DATABASE], app[CLOCK], app[SETTINGS].demo.agency_code
    name = f"Demo {role.value}"
    if configured is None:
        _, key = await create_client(db, clock, name=name, role=role, agency_codes=[code])
        return key
    key = configured.get_secret_value()
    async with db.read() as conn:
        exists = (
            await conn.execute(select(api_clients.c.id).where(api_clients.c.id == key_id(key)))
        ).first()
    if exists is None:
        await create_client(db, clock, name=name, role=role, agency_codes=[code], key=key)
    return key


#: The sandbox's console users: a finance officer (maker) and an approver (checker).
CONSOLE_USERS = (
    ("ketoan", "Kế toán viên (demo)", Role.FINANCE),
    ("truongphong", "Trưởng phòng Kế toán (demo)", Role.FINANCE_APPROVER),
)


async def _console_users(app: web.Application, agency_code: str) -> dict[str, str]:
    """Create the console users if missing and give them fresh passwords at every start, so
    the passwords can be printed (a sandbox convenience; production users are made with
    ``gateway users create``)."""
    staff, db = app[STAFF], app[DATABASE]
    passwords = {}
    for username, display_name, role in CONSOLE_USERS:
        password = secrets.token_urlsafe(12)
        if await staff.has_user(username):
            async with db.write() as conn:
                await conn.execute(
                    update(staff_users)
                    .where(staff_users.c.username == username)
                    .values(password_hash=hash_password(password))
                )
        else:
            await staff.create_user(
                username=username,
                display_name=display_name,
                role=role,
                password=password,
                agency_codes=[agency_code],
            )
        passwords[username] = password
    return passwords


async def _agency_id(app: web.Application, code: str) -> int:
    async with app[DATABASE].read() as conn:
        return int(
            (await conn.execute(select(agencies.c.id).where(agencies.c.code == code))).scalar_one()
        )
