"""The database handle: one async engine, write transactions and read connections.

SQLite allows one writer at a time. Rather than let concurrent writers fail with
``database is locked``, writers in this process queue on an ``asyncio.Lock`` and open their
transaction with ``BEGIN IMMEDIATE``; readers never wait (WAL). On PostgreSQL writers run
concurrently and lock the rows they change (``SELECT ... FOR UPDATE``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from gateway.core.errors import ServiceUnavailable

_IMMEDIATE = "gateway_sqlite_immediate"


class DatabaseUnavailable(ServiceUnavailable):
    code = "service_unavailable"
    title = "The database is unavailable; retry later"


class Database:
    def __init__(
        self, url: str, *, echo: bool = False, pool_size: int = 20, max_overflow: int = 10
    ) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {"echo": echo}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            # No pre-ping: with asyncpg it is BEGIN/SELECT/ROLLBACK on every checkout (measured:
            # 9 of 28 round trips of a payment creation). A connection the server dropped is
            # noticed on first use instead and answered 503 (see _unavailable), and the pool
            # is sized for the expected concurrency so connections are not churned.
            kwargs.update(pool_size=pool_size, max_overflow=max_overflow, pool_recycle=1800)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self._writer = self.engine.execution_options(**{_IMMEDIATE: True})

    @contextlib.asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """One write transaction: committed when the block ends, rolled back on error."""
        lock = self._write_lock or contextlib.nullcontext()
        async with lock:
            conn = await self._connect(self._writer)
            try:
                async with conn.begin():
                    yield conn
            except DBAPIError as exc:
                if exc.connection_invalidated:  # the server dropped it: retryable, 503
                    raise DatabaseUnavailable() from exc
                raise
            finally:
                await conn.close()

    @contextlib.asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        conn = await self._connect(self.engine)
        try:
            yield conn
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseUnavailable() from exc
            raise
        finally:
            await conn.close()

    @staticmethod
    async def _connect(engine: AsyncEngine) -> AsyncConnection:
        """A connection from the pool; failing to get one is :class:`DatabaseUnavailable`
        (retryable, 503) — unlike errors of the statements run on it."""
        conn = engine.connect()
        try:
            await conn.start()
        except (OSError, DBAPIError) as exc:
            raise DatabaseUnavailable() from exc
        return conn

    async def ping(self) -> None:
        async with self.read() as conn:
            await conn.execute(text("SELECT 1"))

    async def close(self) -> None:
        await self.engine.dispose()


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(_IMMEDIATE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
