"""Sandbox mode: migrate, seed the demo data (:mod:`gateway.services.demo`), mount the sandbox
providers.

With no configuration, ``gateway serve`` lets a newcomer walk the whole flow on one machine:
the demo agency ``DEMO`` collects into an account at the sandbox bank (fictional BIN
970499, so no real banking app can send real money to it), and transfers made through
``POST /sandbox/bank/transfers`` come back as signed credit notices.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from config.settings import SANDBOX_DVCQG_SECRET
from gateway.core.db.migrate import upgrade
from gateway.core.roles import Role
from gateway.keys import CLOCK, SERVICES, SETTINGS
from gateway.sandbox_controls import add_control_routes
from gateway.sandbox_statements import add_statement_routes
from gateway.services.demo import DEMO_OPERATOR_USER
from providers.postal.vnpost import PROFILES as VNPOST_PROFILES
from providers.sandbox.bank import SandboxBankConfig, create_bank_app
from providers.sandbox.dvcqg import SandboxDvcqgConfig, create_dvcqg_app
from providers.sandbox.messages import SandboxMessagesConfig, create_messages_app
from providers.sandbox.momo import SandboxMomoConfig, create_momo_app
from providers.sandbox.pos import SandboxPosConfig, create_pos_app
from providers.sandbox.tax_authority import (
    SandboxTaxAuthorityConfig,
    create_tax_authority_app,
    sandbox_ca_verifier,
)
from providers.sandbox.vnpay import SandboxVnpayConfig, create_vnpay_app
from providers.sandbox.vnpost import SandboxVnpostConfig, create_vnpost_app
from providers.sandbox.vnpt_receipts import SandboxVnptConfig, create_vnpt_receipts_app
from providers.sandbox.zalopay import SandboxZalopayConfig, create_zalopay_app

#: The sandbox carrier's orders, in the data directory, so a restart never re-issues an
#: item code the gateway already holds.
VNPOST_STATE_FILE = "sandbox-vnpost.jsonl"


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
    dvcqg = settings.dvcqg
    app.add_subapp(
        "/sandbox/dvcqg",
        create_dvcqg_app(
            SandboxDvcqgConfig(
                partner_code=dvcqg.partner_code or "DEMO-DVCQG",
                secret_key=(
                    dvcqg.secret_key.get_secret_value()
                    if dvcqg.secret_key
                    else SANDBOX_DVCQG_SECRET
                ),
                callback_url=f"{settings.base_url}/callbacks/dvcqg",
                return_url=f"{settings.base_url}/callbacks/dvcqg/return",
                lose_callbacks=dvcqg.sandbox_lose_callbacks,
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
                profile=VNPOST_PROFILES[vnpost.status_profile],
                state_path=settings.data_dir / VNPOST_STATE_FILE,
            )
        ),
    )
    mount_wallet_sandboxes(app)
    add_statement_routes(app)
    add_control_routes(app)
    notify = settings.notifications
    app.add_subapp(
        "/sandbox/messages",
        create_messages_app(
            SandboxMessagesConfig(
                zns_access_token=notify.zns.access_token.get_secret_value(),
                esms_api_key=notify.sms.api_key.get_secret_value(),
                esms_secret_key=notify.sms.secret_key.get_secret_value(),
                zns_receipt_url=f"{settings.base_url}/callbacks/zns/"
                + notify.zns.callback_secret.get_secret_value(),
                sms_receipt_url=f"{settings.base_url}/callbacks/sms/"
                + notify.sms.callback_secret.get_secret_value(),
                auto_receipt_seconds=notify.sandbox_receipt_seconds or None,
                clock=app[CLOCK],
            )
        ),
    )
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
    vnpt = settings.receipts.vnpt
    app.add_subapp(
        "/sandbox/vnpt-receipts",
        create_vnpt_receipts_app(
            SandboxVnptConfig(
                username=vnpt.username,
                password=vnpt.password.get_secret_value(),
                account=vnpt.account,
                ac_pass=vnpt.ac_pass.get_secret_value(),
                clock=app[CLOCK],
            )
        ),
    )
    app.add_subapp(
        "/sandbox/tax-authority",
        create_tax_authority_app(
            SandboxTaxAuthorityConfig(
                verify_signature=sandbox_ca_verifier(Path(settings.data_dir) / "receipts"),
                path=settings.tax_authority.path,
                clock=app[CLOCK],
            )
        ),
    )


def mount_wallet_sandboxes(app: web.Application) -> None:
    """MoMo and ZaloPay imitated under ``/sandbox/momo`` and ``/sandbox/zalopay``, with the
    default merchant's and app's credentials (``[momo]``, ``[zalopay]``)."""
    settings, clock = app[SETTINGS], app[CLOCK]
    momo, zalopay = settings.momo, settings.zalopay
    if momo.partner_code and momo.access_key and momo.secret_key:
        app.add_subapp(
            "/sandbox/momo",
            create_momo_app(
                SandboxMomoConfig(
                    partner_code=momo.partner_code,
                    access_key=momo.access_key.get_secret_value(),
                    secret_key=momo.secret_key.get_secret_value(),
                    retry_seconds=momo.sandbox_ipn_retry_seconds,
                    max_ipn_attempts=momo.sandbox_ipn_max_attempts,
                    clock=clock,
                )
            ),
        )
    if zalopay.app_id and zalopay.key1 and zalopay.key2:
        app.add_subapp(
            "/sandbox/zalopay",
            create_zalopay_app(
                SandboxZalopayConfig(
                    app_id=zalopay.app_id,
                    key1=zalopay.key1.get_secret_value(),
                    key2=zalopay.key2.get_secret_value(),
                    retry_seconds=zalopay.sandbox_callback_retry_seconds,
                    max_callback_attempts=zalopay.sandbox_callback_max_attempts,
                    clock=clock,
                )
            ),
        )


async def sandbox_context(app: web.Application) -> AsyncIterator[None]:
    await asyncio.to_thread(upgrade, app[SETTINGS].database_dsn)
    demo = app[SERVICES].demo
    _, keys, passwords = await demo.seed()
    await demo.seed_receipt_ranges()
    operator_key, operator_password = await demo.seed_operator()
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
