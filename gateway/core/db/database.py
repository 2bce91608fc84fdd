"""The database handle: one async engine, write transactions and read connections.

SQLite allows one writer at a time. Rather than let concurrent writers fail with
``database is locked``, writers in this process queue on an ``asyncio.Lock`` and open their
transaction with ``BEGIN IMMEDIATE``; readers never wait (WAL). On PostgreSQL writers run
concurrently and lock the rows they change (``SELECT ... FOR UPDATE``), in the one order
documented in :mod:`gateway.core.money`.

:meth:`Database.transaction` runs a unit of work and, on PostgreSQL, runs it again when the
server aborted it for a deadlock or a serialization failure (SQLSTATE ``40P01``/``40001``):
a bounded number of tries with jittered backoff, before any answer is sent. The aborted try
was rolled back entirely, so a retried unit — an inbound notice included — is applied once.
When the tries are used up the caller gets :class:`DatabaseBusy` (503 ``database_busy``).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any, TypeVar

import structlog
from sqlalchemy import event, text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util import greenlet_spawn
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from gateway.core.db.driver import DriverStatement, arguments, fetch_row
from gateway.core.errors import DatabaseBusy, DatabaseUnavailable

_IMMEDIATE = "gateway_sqlite_immediate"
#: Deadlock detected, serialization failure: the server aborted the transaction; retry it.
RETRYABLE_SQLSTATES = frozenset({"40P01", "40001"})
T = TypeVar("T")
log = structlog.get_logger(__name__)


def is_retryable(exc: BaseException) -> bool:
    """A deadlock or serialization failure reported by the database (asyncpg's ``sqlstate``)."""
    if not isinstance(exc, DBAPIError):
        return False
    return getattr(exc.orig, "sqlstate", None) in RETRYABLE_SQLSTATES


def _log_retry(state: RetryCallState) -> None:
    outcome = state.outcome
    error = outcome.exception() if outcome is not None else None
    log.warning(
        "transaction_retried",
        attempt=state.attempt_number,
        sqlstate=getattr(getattr(error, "orig", None), "sqlstate", None),
    )


class Database:
    def __init__(self, url: str, *, echo: bool = False, pool_size: int = 30) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        # Statement parameters hold personal data (payer and recipient names): an error's
        # text, and so every log line and traceback that carries it, shows the statement
        # and the error, never the values.
        kwargs: dict[str, Any] = {"echo": echo, "hide_parameters": True}
        if self.is_sqlite:
            kwargs["connect_args"] = {"timeout": 30}
        else:
            # No pre-ping: with asyncpg it is BEGIN/SELECT/ROLLBACK on every checkout (measured:
            # 9 of 28 round trips of a payment creation). A connection the server dropped is
            # noticed on first use instead and answered 503 (see _unavailable).
            # No overflow: SQLAlchemy closes an overflow connection when it is returned, so
            # concurrency past pool_size opened and closed a backend per checkout (measured:
            # docs/performance.md, "connection churn"). All ``pool_size`` connections are
            # opened on demand and kept; a checkout finding them all busy waits for one.
            kwargs.update(pool_size=pool_size, max_overflow=0, pool_recycle=1800)
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        self._write_lock: asyncio.Lock | None = asyncio.Lock() if self.is_sqlite else None
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        self._writer = self.engine.execution_options(**{_IMMEDIATE: True})
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")

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

    async def transaction(
        self,
        work: Callable[[AsyncConnection], Awaitable[T]],
        *,
        tries: int = 6,
        max_wait_seconds: float = 0.25,
    ) -> T:
        """Run ``work`` in one write transaction; retry it from the start (a fresh
        transaction) when the database aborted it for a deadlock or serialization failure.

        ``work`` must do nothing but database work on ``conn``: it may run more than once.
        """
        retrying = AsyncRetrying(
            stop=stop_after_attempt(tries),
            wait=wait_random_exponential(multiplier=0.01, max=max_wait_seconds),
            retry=retry_if_exception(is_retryable),
            before_sleep=_log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    async with self.write() as conn:
                        return await work(conn)
        except DBAPIError as exc:
            if is_retryable(exc):
                log.error("transaction_retries_exhausted", tries=tries)
                raise DatabaseBusy() from exc
            raise
        raise AssertionError("unreachable: tenacity either returned or raised")

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

    @contextlib.asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for a unit of work that is one statement (``WITH … INSERT …``), which
        is then its own transaction (autocommit): no ``BEGIN`` and ``COMMIT`` round trips
        around it. PostgreSQL only: SQLite's writers queue on the write lock (:meth:`write`)."""
        if self.is_sqlite:
            raise RuntimeError("Database.statement() is for PostgreSQL; use write()")
        conn = await self._connect(self._autocommit)
        try:
            yield conn
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseUnavailable() from exc
            raise
        finally:
            await conn.close()

    async def driver_row(self, statement: DriverStatement, params: Mapping[str, Any]) -> Any:
        """Run ``statement`` (one statement, its own transaction) with ``params`` on the
        pooled connection's asyncpg connection, without SQLAlchemy's per-execution work
        (:mod:`gateway.core.db.driver`); return its first row (attributes by column name) or
        ``None``. Errors are SQLAlchemy's, as through :meth:`statement`: a dropped connection
        is :class:`DatabaseUnavailable`. PostgreSQL only."""
        if self.is_sqlite:
            raise RuntimeError("Database.driver_row() is for PostgreSQL; use write()")
        compiled = statement.compiled(self.engine.dialect)
        args = arguments(compiled, params)
        try:
            return await greenlet_spawn(fetch_row, self.engine.sync_engine, compiled, args)
        except DBAPIError as exc:
            if exc.connection_invalidated:
                raise DatabaseUnavailable() from exc
            raise

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
