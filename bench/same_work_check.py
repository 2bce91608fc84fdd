"""Check that the same-work floor (``bench/same_work_floor.py``) still sends the gateway's
statements: when the gateway's SQL changes, its copy there must change with it.

    .venv/bin/python bench/same_work_check.py [--pg postgresql://postgres@127.0.0.1:5432]

In one process, on a scratch database at ``--pg`` (migrated, dropped at the end): the gateway
app with the configuration of ``create_payments.py``, then with that of ``ipn_apply.py``
(VNPAY configured, bills seeded as that bench seeds them), on a loopback port. After two
requests of each kind (caches warm, as in a running server), one creation and one VNPAY IPN
are sent and the statements the gateway's engine sends for them are recorded
(``before_cursor_execute``) and compared, whitespace aside, with the same-work floor's: the
creation's one statement, the IPN's 5 in order. Exits 1 and prints the difference when they
differ (copy the printed statements into ``same_work_floor.py``), 0 when they are the same.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

import same_work_floor
from create_payments import AGENCY_CODE, Postgres, payment_body
from create_payments import write_config as creation_config
from processes import ROOT

CREATION = [same_work_floor.CREATE]
IPN = [
    same_work_floor.IPN_RECEIVE,
    same_work_floor.IPN_LOCK_ATTEMPTS,
    same_work_floor.IPN_PAYMENT_PAID,
    same_work_floor.IPN_OUTBOX,
    same_work_floor.IPN_APPLIED,
]


def normal(statement: str) -> str:
    return " ".join(statement.split())


async def gateway_statements(pg: Postgres, kind: str, workdir: Path) -> list[str]:
    """The statements the gateway sends for its third creation or IPN."""
    from aiohttp.test_utils import TestClient, TestServer
    from ipn_apply import ipn_params, seed
    from ipn_apply import write_config as ipn_config
    from sqlalchemy import event

    from config import load_settings
    from gateway.app import create_app
    from gateway.core.db.migrate import upgrade
    from gateway.core.roles import Role
    from gateway.keys import CLOCK, DATABASE
    from gateway.observability import configure_logging
    from gateway.services.agencies import NewAgency, add_agency
    from gateway.services.clients import create_client

    database = f"gateway_same_work_check_{os.getpid()}_{kind}"
    await pg.admin(f'CREATE DATABASE "{database}"')
    try:
        url = pg.sqlalchemy_url(database)
        await asyncio.to_thread(upgrade, url)
        config = workdir / f"{kind}.toml"
        (creation_config if kind == "creation" else ipn_config)(config, url, 0)
        settings = load_settings(config, environ={})
        configure_logging(settings.log_format, settings.log_level)
        app = create_app(settings, background=False)
        client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        sent: list[str] = []

        def record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            sent.append(statement)

        try:
            db = app[DATABASE]
            if kind == "creation":
                await add_agency(
                    db,
                    app[CLOCK],
                    NewAgency(
                        code=AGENCY_CODE,
                        name="Bench",
                        bank_bin="970499",
                        account_number="0011001234567",
                        account_name="BENCH",
                    ),
                )
                _, key = await create_client(
                    db, app[CLOCK], name="bench", role=Role.PORTAL, agency_codes=[AGENCY_CODE]
                )
            else:
                refs = await seed(pg.dsn(database), 3)
            for number in range(3):
                if number == 2:
                    event.listen(db.engine.sync_engine, "before_cursor_execute", record)
                if kind == "creation":
                    headers = {
                        "Authorization": f"Bearer {key}",
                        "Content-Type": "application/json",
                        "Idempotency-Key": uuid.uuid4().hex,
                    }
                    async with client.post(
                        "/v1/payments", data=payment_body(number), headers=headers
                    ) as response:
                        text = await response.text()
                        answered = response.status == 201
                else:
                    params = ipn_params(refs[number], 50000)
                    async with client.get("/callbacks/vnpay/ipn", params=params) as response:
                        text = await response.text()
                        answered = response.status == 200 and json.loads(text)["RspCode"] == "00"
                if not answered:
                    raise RuntimeError(f"the gateway answered {response.status}: {text[:300]}")
        finally:
            await client.close()
    finally:
        await pg.admin(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    return sent


async def run(pg: Postgres) -> list[str]:
    """The differences, one message each; empty when the statements are the same."""
    problems: list[str] = []
    with tempfile.TemporaryDirectory(prefix="gateway-same-work-") as workdir:
        for kind, copied in (("creation", CREATION), ("ipn", IPN)):
            sent = await gateway_statements(pg, kind, Path(workdir))
            if [normal(s) for s in sent] != [normal(s) for s in copied]:
                problems.append(
                    f"{kind}: the gateway sent {len(sent)} statement(s), the same-work floor"
                    f" has {len(copied)}; the gateway's, in order:\n\n" + "\n\n".join(sent)
                )
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--pg",
        default=os.environ.get("BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432"),
        help="PostgreSQL server, without a database name (env BENCH_POSTGRES)",
    )
    args = parser.parse_args(argv)
    sys.path.insert(0, str(ROOT))  # the gateway of the tree this script belongs to
    problems = asyncio.run(run(Postgres(args.pg.rstrip("/"))))
    for problem in problems:
        print(problem, end="\n\n")
    if not problems:
        counts = f"creation {len(CREATION)}, IPN {len(IPN)}"
        print(f"the same-work floor sends the gateway's statements ({counts})")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
