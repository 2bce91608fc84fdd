"""Console sign-ins are throttled per user and per address, with a lock-out that only an
administrator lifts; the right password during either does not sign in. Both consoles (the
finance console and the post office's) sign in through the same form. Both databases; the
fixed clock stands in for waiting."""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from conftest import METRICS_AUTH, FixedClock, Gateway, make_settings, seed
from sqlalchemy import select
from structlog.testing import capture_logs
from tests_support import post_login

from gateway.app import create_app
from gateway.core.roles import Role
from gateway.keys import STAFF

PASSWORD = "mat-khau-thu-nghiem-2026"
WRONG = "khong-phai-mat-khau"
RULES = {
    "backoff_after": 3,
    "lock_after": 5,
    "address_backoff_after": 8,
    "base_delay_seconds": 2,
    "max_delay_seconds": 60,
}
HOMES = {"ketoan": "/console", "buudien": "/operator"}


async def open_console(aiohttp_client: Any, database_url: str, clock: FixedClock) -> Gateway:
    app = create_app(
        make_settings(database_url, console_login=RULES), clock=clock, background=False
    )
    client = await aiohttp_client(app, cookie_jar=aiohttp.DummyCookieJar())
    return Gateway(client=client, clock=clock)


@pytest.fixture
async def console(aiohttp_client: Any, database_url: str, clock: FixedClock) -> Gateway:
    gateway = await open_console(aiohttp_client, database_url, clock)
    gateway.keys = await seed(gateway.client)
    for username, role in (("ketoan", Role.FINANCE), ("buudien", Role.POSTAL_OPERATOR)):
        await gateway.client.app[STAFF].create_user(
            username=username,
            display_name=username.title(),
            role=role,
            password=PASSWORD,
            agency_codes=["HCM"] if role is Role.FINANCE else [],
        )
    return gateway


async def sign_in(gateway: Gateway, username: str, password: str = PASSWORD) -> Any:
    return await post_login(gateway.client, {"username": username, "password": password})


async def fail(gateway: Gateway, username: str, times: int) -> None:
    """``times`` wrong passwords, each after any back-off has passed."""
    for _ in range(times):
        response = await sign_in(gateway, username, WRONG)
        assert response.status == 401, await response.text()
        gateway.clock.advance(seconds=RULES["max_delay_seconds"])


async def metric(gateway: Gateway, outcome: str) -> float:
    text = await (await gateway.client.get("/metrics", headers=METRICS_AUTH)).text()
    line = f'gateway_console_logins_total{{outcome="{outcome}"}} '
    found = [row for row in text.splitlines() if row.startswith(line)]
    return float(found[0].split()[-1]) if found else 0.0


@pytest.mark.parametrize("username", sorted(HOMES))
async def test_after_repeated_failures_even_the_right_password_waits_out_the_back_off(
    console: Gateway, username: str
) -> None:
    for _ in range(RULES["backoff_after"]):
        assert (await sign_in(console, username, WRONG)).status == 401

    with capture_logs() as logs:
        refused = await sign_in(console, username)
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "2"
    assert "thử lại sau 2 giây" in await refused.text()
    assert "gw_session" not in refused.cookies
    throttled = [entry for entry in logs if entry["event"] == "console_login_throttled"]
    assert throttled and throttled[0]["username"] == username
    assert all(PASSWORD not in str(entry) for entry in logs)
    assert await metric(console, "throttled") == 1

    console.clock.advance(seconds=2)
    signed_in = await sign_in(console, username)
    assert signed_in.status == 303
    assert signed_in.headers["Location"] == HOMES[username]


async def test_the_back_off_doubles_with_each_further_failure(console: Gateway) -> None:
    await fail(console, "ketoan", RULES["backoff_after"] - 1)
    waits = []
    for _ in range(2):
        assert (await sign_in(console, "ketoan", WRONG)).status == 401
        waits.append((await sign_in(console, "ketoan")).headers["Retry-After"])
        console.clock.advance(seconds=RULES["max_delay_seconds"])
    assert waits == ["2", "4"]


@pytest.mark.parametrize("username", sorted(HOMES))
async def test_a_locked_user_stays_out_with_the_right_password_until_an_administrator_unlocks(
    console: Gateway, username: str
) -> None:
    with capture_logs() as logs:
        await fail(console, username, RULES["lock_after"])
    assert [entry["username"] for entry in logs if entry["event"] == "console_login_locked"] == [
        username
    ]
    assert all(PASSWORD not in str(entry) and WRONG not in str(entry) for entry in logs)

    console.clock.advance(days=2)  # a lock-out does not wear off
    refused = await sign_in(console, username)
    assert refused.status == 423
    assert "quản trị viên để mở khóa" in await refused.text()
    assert "gw_session" not in refused.cookies
    assert await metric(console, "locked") == 2  # when it locked, and the refused try
    assert await metric(console, "failed") == RULES["lock_after"]

    assert await console.client.app[STAFF].unlock(username) is True
    assert (await sign_in(console, username)).status == 303
    assert await console.client.app[STAFF].unlock(username) is False  # nothing left to lift


async def test_a_successful_sign_in_forgets_the_users_failures(console: Gateway) -> None:
    await fail(console, "ketoan", RULES["backoff_after"] - 1)
    assert (await sign_in(console, "ketoan")).status == 303
    await fail(console, "ketoan", RULES["backoff_after"] - 1)
    assert (await sign_in(console, "ketoan")).status == 303  # not throttled: counted afresh


async def test_an_address_trying_many_usernames_is_slowed_down(console: Gateway) -> None:
    for number in range(RULES["address_backoff_after"]):
        # Unknown users are counted as known ones are: the answer tells nobody who exists.
        assert (await sign_in(console, f"nobody{number}", WRONG)).status == 401

    refused = await sign_in(console, "ketoan")  # a user without failures of their own
    assert refused.status == 429
    console.clock.advance(seconds=2)
    assert (await sign_in(console, "ketoan")).status == 303


async def test_forgotten_failures_leave_the_table_but_a_lock_out_stays(console: Gateway) -> None:
    """A crowd of invented usernames does not pile up rows for ever: once forgotten, a failure
    count is dropped with the next failure; a lock-out is never dropped."""
    from gateway.core.db.schema import login_throttles
    from gateway.keys import DATABASE

    async def subjects() -> set[str]:
        async with console.client.app[DATABASE].read() as conn:
            return set((await conn.execute(select(login_throttles.c.subject))).scalars())

    await fail(console, "ketoan", RULES["lock_after"])
    for number in range(2):  # 7 failures from one address: not yet slowed down
        assert (await sign_in(console, f"nobody{number}", WRONG)).status == 401
    assert len(await subjects()) == 4  # ketoan, two invented users, the address
    console.clock.advance(seconds=3601)  # past forget_after_seconds
    assert (await sign_in(console, "buudien", WRONG)).status == 401
    assert await subjects() == {"user:ketoan", "user:buudien", "address:127.0.0.1"}
    assert (await sign_in(console, "ketoan")).status == 423  # still locked


async def test_every_process_sees_the_lock_out(
    console: Gateway, aiohttp_client: Any, database_url: str, clock: FixedClock
) -> None:
    await fail(console, "ketoan", RULES["lock_after"])
    other = await open_console(aiohttp_client, database_url, clock)  # a second service process
    assert (await sign_in(other, "ketoan")).status == 423


async def test_unlocking_an_unknown_user_is_refused(console: Gateway) -> None:
    from gateway.core.errors import NotFound

    with pytest.raises(NotFound):
        await console.client.app[STAFF].unlock("nobody")
