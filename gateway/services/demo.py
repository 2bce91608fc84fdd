"""The sandbox's demo data: agency ``DEMO`` and its terminal, API keys, console users, and the
post office ``BC-DEMO`` with its operator key and console user ``buucuc``.

The demo agency collects into an account at the sandbox bank (fictional BIN 970499, so no
real banking app can send real money to it). Seeding is idempotent: what exists is kept,
except that the console passwords (and the post office's key) are renewed at every start,
so that they can be printed once — unless they are configured (``demo.console_password``,
``demo.operator_key``, like ``demo.api_key``): then they stay the same across restarts.

The demo's finance keys and console users are deployment-wide (``all_agencies``): a newcomer
reconciles every agency they add without re-creating them.
"""

from __future__ import annotations

import secrets

from pydantic import SecretStr
from sqlalchemy import select, update

from config import Settings
from gateway.core.db import Database
from gateway.core.db.schema import agencies, api_clients, staff_users
from gateway.core.ids import Clock
from gateway.core.roles import Role
from gateway.services.agencies import NewAgency, add_agency, list_agencies
from gateway.services.clients import DEPLOYMENT_WIDE_ROLES, create_client, key_id
from gateway.services.postal import offices
from gateway.services.receipts.numbering import NewRange, Point, add_range, list_ranges
from gateway.services.staff import StaffService, hash_password
from gateway.services.terminals import TerminalService

DEMO_ACCOUNT = "0011001234567"
DEMO_TERMINAL = "DEMO-POS-01"
DEMO_ACCOUNT_NAME = "SO TAI CHINH TINH DEMO - THU PHI LE PHI"

#: The sandbox's console users: a finance officer (maker) and an approver (checker).
CONSOLE_USERS = (
    ("ketoan", "Kế toán viên (demo)", Role.FINANCE),
    ("truongphong", "Trưởng phòng Kế toán (demo)", Role.FINANCE_APPROVER),
)

#: The demo agency's receipt number ranges, per point of collection (disjoint, for each of
#: its yearly symbols): (point, first, last).
DEMO_RECEIPT_RANGES = (
    (Point.ONLINE, 1, 499_999),
    (Point.COUNTER, 500_000, 799_999),
    (Point.POSTAL, 800_000, 999_999),
)

DEMO_OFFICE = "BC-DEMO"
DEMO_OFFICE_NAME = "Bưu cục Trung tâm Hành chính công (demo)"
DEMO_OPERATOR_CLIENT = "Bưu cục demo (BC-DEMO)"
DEMO_OPERATOR_USER = ("buucuc", "Nhân viên Bưu cục (demo)")


class DemoSeeder:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        settings: Settings,
        staff: StaffService,
        terminals: TerminalService,
    ) -> None:
        self.db = db
        self.clock = clock
        self.settings = settings
        self.staff = staff
        self.terminals = terminals

    async def seed(self) -> tuple[str, dict[Role, str], dict[str, str]]:
        """Create the demo agency, terminal, API keys and console users if missing; return
        the portal key, every demo key by role and the console passwords (to print them)."""
        settings = self.settings
        code = settings.demo.agency_code
        if code not in {agency.code for agency in await list_agencies(self.db)}:
            await add_agency(
                self.db,
                self.clock,
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
        if not await self.terminals.list(frozenset({await self._agency_id(code)})):
            await self.terminals.add(
                code, DEMO_TERMINAL, "Quầy 1 – Trung tâm Phục vụ hành chính công"
            )
        keys = {
            role: await self._demo_key(role, configured)
            for role, configured in (
                (Role.PORTAL, settings.demo.api_key),
                (Role.FINANCE, settings.demo.finance_key),
                (Role.FINANCE_APPROVER, settings.demo.approver_key),
            )
        }
        passwords = {
            username: await self._console_user(username, display_name, role, [code])
            for username, display_name, role in CONSOLE_USERS
        }
        return keys[Role.PORTAL], keys, passwords

    async def seed_receipt_ranges(self) -> int:
        """Give the demo agency (which must exist) a number range per point of collection for
        each of its receipt symbols, where it has none yet; return how many were added."""
        code = self.settings.demo.agency_code
        config = self.settings.receipts.agencies.get(code)
        if config is None:
            return 0
        added = 0
        async with self.db.write() as conn:
            have = {(r["symbol"], r["point"]) for r in await list_ranges(conn, code)}
            for symbol in config.symbols.values():
                for point, first, last in DEMO_RECEIPT_RANGES:
                    if (symbol, point.value) in have:
                        continue
                    new = NewRange(
                        code, config.tax_code, config.template_code, symbol, point, first, last
                    )
                    await add_range(conn, new, self.clock())
                    added += 1
        return added

    async def seed_operator(self) -> tuple[str, str]:
        """Create, if missing, post office ``BC-DEMO`` serving the demo agency (which must
        exist: call after :meth:`seed`), then give the operator API client and the console
        user ``buucuc`` a fresh key and password at every start (the previous demo key is
        revoked); return ``(operator API key, password)`` to print them."""
        db, clock = self.db, self.clock
        agency_code = self.settings.demo.agency_code
        agency_id = await self._agency_id(agency_code)
        async with db.read() as conn:
            office = await offices.find_post_office(conn, DEMO_OFFICE)
            served = await offices.office_of_agency(conn, agency_id)
        if office is None:
            office = await offices.add_post_office(db, clock, DEMO_OFFICE, DEMO_OFFICE_NAME)
        if served is None:
            await offices.serve_agency(db, agency_code, DEMO_OFFICE)

        key = await self._operator_key()

        username, display_name = DEMO_OPERATOR_USER
        password = await self._console_user(username, display_name, Role.POSTAL_OPERATOR, [])
        async with db.read() as conn:
            user_id = (
                await conn.execute(
                    select(staff_users.c.id).where(staff_users.c.username == username)
                )
            ).scalar_one()
            scoped = office.id in await offices.user_offices(conn, user_id)
        if not scoped:
            await offices.scope_user(db, username, [DEMO_OFFICE])
        return key, password

    async def _operator_key(self) -> str:
        """The configured operator key (created if missing, never revoked), else a new key
        at every start with the previous demo operator keys revoked."""
        db, clock = self.db, self.clock
        configured = self.settings.demo.operator_key
        if configured is not None:
            key = configured.get_secret_value()
            async with db.write() as conn:
                # Kept, and usable again if an earlier start without it had revoked it.
                kept = await conn.execute(
                    update(api_clients)
                    .where(api_clients.c.id == key_id(key))
                    .values(revoked_at=None)
                    .returning(api_clients.c.id)
                )
                if kept.first() is not None:
                    return key
        async with db.write() as conn:
            await conn.execute(
                update(api_clients)
                .where(
                    api_clients.c.name == DEMO_OPERATOR_CLIENT,
                    api_clients.c.role == Role.POSTAL_OPERATOR.value,
                    api_clients.c.revoked_at.is_(None),
                )
                .values(revoked_at=clock())
            )
        client_id, key = await create_client(
            db,
            clock,
            name=DEMO_OPERATOR_CLIENT,
            role=Role.POSTAL_OPERATOR,
            agency_codes=[],
            key=configured.get_secret_value() if configured is not None else None,
        )
        await offices.scope_client(db, client_id, [DEMO_OFFICE])
        return key

    async def _demo_key(self, role: Role, configured: SecretStr | None) -> str:
        """The demo key of ``role``: the configured one (created if missing), else a new one."""
        code = self.settings.demo.agency_code
        name = f"Demo {role.value}"
        wide = role in DEPLOYMENT_WIDE_ROLES
        if configured is None:
            _, key = await create_client(
                self.db, self.clock, name=name, role=role, agency_codes=[code], all_agencies=wide
            )
            return key
        key = configured.get_secret_value()
        async with self.db.read() as conn:
            exists = (
                await conn.execute(select(api_clients.c.id).where(api_clients.c.id == key_id(key)))
            ).first()
        if exists is None:
            await create_client(
                self.db,
                self.clock,
                name=name,
                role=role,
                agency_codes=[code],
                key=key,
                all_agencies=wide,
            )
        elif wide:  # a demo database from before agency scope
            async with self.db.write() as conn:
                await conn.execute(
                    update(api_clients)
                    .where(api_clients.c.id == key_id(key))
                    .values(all_agencies=True)
                )
        return key

    async def _console_user(
        self, username: str, display_name: str, role: Role, agency_codes: list[str]
    ) -> str:
        """Create the console user if missing, with the configured demo password or a fresh
        one at every start, so the password can be printed (a sandbox convenience;
        production users are made with ``gateway users create``)."""
        configured = self.settings.demo.console_password
        password = (
            configured.get_secret_value() if configured is not None else secrets.token_urlsafe(12)
        )
        wide = role in DEPLOYMENT_WIDE_ROLES
        if await self.staff.has_user(username):
            async with self.db.write() as conn:
                await conn.execute(
                    update(staff_users)
                    .where(staff_users.c.username == username)
                    .values(password_hash=hash_password(password), all_agencies=wide)
                )
        else:
            await self.staff.create_user(
                username=username,
                display_name=display_name,
                role=role,
                password=password,
                agency_codes=agency_codes,
                all_agencies=wide,
            )
        return password

    async def _agency_id(self, code: str) -> int:
        async with self.db.read() as conn:
            return int(
                (
                    await conn.execute(select(agencies.c.id).where(agencies.c.code == code))
                ).scalar_one()
            )
