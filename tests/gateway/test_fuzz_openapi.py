"""Schemathesis against the served ``/openapi.json``: every operation, a few generated
requests each, sent with a portal, a finance and a postal-operator key; any 5xx or a
response that does not match its documented schema fails the test (issue 14). SQLite only,
bounded (``MAX_EXAMPLES`` per operation and key) so that CI runs it in about two minutes."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests
import schemathesis
from conftest import make_settings, seed
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error

from gateway.app import create_app
from gateway.core.roles import Role
from gateway.keys import CLOCK, DATABASE
from gateway.services.clients import create_client
from gateway.services.postal import offices

MAX_EXAMPLES = 5
WHO = ("portal", "finance", "operator")


class Served:
    """The gateway on its own event loop in a thread, as a deployed server is: schemathesis
    calls it over HTTP with ``requests``."""

    def __init__(self, database_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.app = create_app(make_settings(database_url), background=False)
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.base, self.keys = self._run(self._start())

    def _run(self, work: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout=120)

    async def _start(self) -> tuple[str, dict[str, str]]:
        from aiohttp import web

        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = self.runner.addresses[0][1]
        keys = await seed(SimpleNamespace(app=self.app))  # type: ignore[arg-type]
        db, clock = self.app[DATABASE], self.app[CLOCK]
        await offices.add_post_office(db, clock, "BC-700000", "Bưu cục Sài Gòn", "79")
        await offices.serve_agency(db, "HCM", "BC-700000")
        client_id, keys["operator"] = await create_client(
            db, clock, name="operator", role=Role.POSTAL_OPERATOR, agency_codes=[]
        )
        await offices.scope_client(db, client_id, ["BC-700000"])
        return f"http://127.0.0.1:{port}", keys

    def close(self) -> None:
        self._run(self.runner.cleanup())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=30)


@pytest.fixture
def served(sqlite_template: Path, tmp_path: Path) -> Iterator[Served]:
    import shutil

    path = tmp_path / "gateway.db"
    shutil.copy(sqlite_template, path)
    server = Served(f"sqlite+aiosqlite:///{path}")
    yield server
    server.close()


def test_no_operation_answers_5xx_or_off_its_documented_schema(served: Served) -> None:
    document = requests.get(f"{served.base}/openapi.json", timeout=30).json()
    schema = schemathesis.openapi.from_dict(document)
    checks = [not_a_server_error, schemathesis.checks.response_schema_conformance]
    session = requests.Session()
    failures: list[str] = []
    operations = 0
    for result in schema.get_all_operations():
        operation = result.ok()
        operations += 1
        for who in WHO:
            headers = {"Authorization": f"Bearer {served.keys[who]}"}
            try:
                fuzz(operation, served.base, session, headers, checks)
            except (Exception, BaseExceptionGroup) as exc:
                first = str(exc).strip().splitlines()[:12]
                failures.append(f"{operation.label} as {who}:\n    " + "\n    ".join(first))
    assert operations > 50  # the whole API was exercised
    assert not failures, f"{len(failures)} findings:\n" + "\n".join(failures)


def fuzz(
    operation: Any, base: str, session: requests.Session, headers: dict[str, str], checks: Any
) -> None:
    """``MAX_EXAMPLES`` generated requests to ``operation``, each checked by ``checks``."""

    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,  # the same requests on every run: a CI failure reproduces
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        case.call_and_validate(base_url=base, session=session, headers=headers, checks=checks)

    call()
