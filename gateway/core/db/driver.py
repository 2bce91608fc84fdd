"""One hot PostgreSQL statement run on asyncpg itself, without SQLAlchemy's per-execution work.

A :class:`DriverStatement` is a SQLAlchemy statement compiled once for the engine's dialect:
its SQL, its parameters' order, their bind processors (JSON, :class:`~gateway.core.db.types.
UTCDateTime`, arrays) and the values of its ``literal()`` parameters. :meth:`Database.
driver_row` runs it on the pooled connection's asyncpg connection (``fetchrow``, asyncpg's own
prepared-statement cache), outside any transaction: the statement is its own transaction, as
with :meth:`Database.statement`. What SQLAlchemy's execution did per call and this does not:
the compiled-cache look-up, ``construct_params``, the execution context, the autocommit
isolation option set on checkout and reset on return, and the result object. Measured: 225
against 431 µs of CPU per execution of the payment's creation (docs/performance.md).

What it keeps, so callers see what they saw through SQLAlchemy: the pool (checkout, return,
recycle), and the errors. A driver error is translated by the asyncpg adapter of the dialect
(``UniqueViolationError`` → the adapter's ``IntegrityError``) and then handled by the
connection as its own execution would (:meth:`Connection._handle_dbapi_exception`): raised as
:class:`sqlalchemy.exc.IntegrityError`, :class:`~sqlalchemy.exc.DBAPIError` …, with
``connection_invalidated`` set and the pool invalidated when the server dropped the connection
(which :meth:`Database.driver_row` answers :class:`DatabaseUnavailable`, 503); a cancelled
execution invalidates its connection too. Parameters stay hidden in the error's text. And
``before_cursor_execute`` listeners of the engine see the statement (with no cursor and no
context), so what counts statements counts it.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.expression import Executable
from sqlalchemy.util import greenlet_spawn


@dataclass(frozen=True)
class _Compiled:
    sql: str
    #: per positional parameter ($1, $2, …): its name and its bind processor, if any
    parameters: tuple[tuple[str, Callable[[Any], Any] | None], ...]
    #: values of the parameters the statement carries itself (``literal()``)
    fixed: Mapping[str, Any]
    row: Callable[..., Any]


class DriverStatement:
    """A statement for :meth:`Database.driver_row`, compiled on first use for the engine's
    dialect. Parameters are given by name, as to ``conn.execute``; result columns must have
    no result processor (text, numbers, booleans: checked when compiled)."""

    def __init__(self, statement: Executable) -> None:
        self.statement = statement
        self._compiled: tuple[Dialect, _Compiled] | None = None

    def compiled(self, dialect: Dialect) -> _Compiled:
        if self._compiled is not None and self._compiled[0] is dialect:
            return self._compiled[1]
        compiled = self.statement.compile(dialect=dialect)  # type: ignore[attr-defined]
        if compiled.positiontup is None:
            raise ValueError("DriverStatement needs a positional dialect (asyncpg)")
        processors = compiled._bind_processors
        fixed = {
            compiled.bind_names[bind]: bind.effective_value
            for bind in compiled.binds.values()
            if not bind.required
        }
        names: list[str] = []
        for entry in compiled._result_columns:
            if entry.type._cached_result_processor(dialect, None) is not None:
                raise ValueError(f"result column {entry.keyname} needs a result processor")
            names.append(entry.keyname)
        result = _Compiled(
            sql=compiled.string,
            parameters=tuple((name, processors.get(name)) for name in compiled.positiontup),
            fixed=fixed,
            row=namedtuple("Row", names),
        )
        self._compiled = (dialect, result)
        return result


def arguments(compiled: _Compiled, params: Mapping[str, Any]) -> list[Any]:
    """The positional arguments of one execution, bind-processed as SQLAlchemy would."""
    fixed = compiled.fixed
    values = []
    for name, process in compiled.parameters:
        value = params[name] if name in params else fixed[name]
        values.append(value if process is None else process(value))
    return values


async def fetch_row(conn: AsyncConnection, compiled: _Compiled, args: list[Any]) -> Any:
    """Run the statement on ``conn``'s asyncpg connection (``conn`` holds no transaction):
    its first row, or ``None``; errors as SQLAlchemy's execution raises them."""
    sync = conn.sync_connection
    assert sync is not None, "the connection is started"
    raw = sync.connection  # checked out by conn.start(): no I/O here
    driver: Any = raw.driver_connection
    if sync._has_events or sync.engine._has_events:  # listeners see it as any statement
        sync.dispatch.before_cursor_execute(sync, None, compiled.sql, args, None, False)
    try:
        record = await driver.fetchrow(compiled.sql, *args)
    except BaseException as error:
        await greenlet_spawn(_raise_as_sqlalchemy, sync, error, compiled.sql)
        raise  # not reached: _raise_as_sqlalchemy raises
    return None if record is None else compiled.row(*record.values())


def _raise_as_sqlalchemy(sync: Connection, error: BaseException, sql: str) -> None:
    """Raise what SQLAlchemy's execution raises for a driver error (in a greenlet:
    invalidating a connection closes it)."""
    if isinstance(error, Exception):
        adapted: Any = sync.connection.dbapi_connection
        try:
            adapted._handle_exception(error)  # asyncpg's error as the adapter's; always raises
        except Exception as translated:
            error = translated
        if not isinstance(error, sync.dialect.loaded_dbapi.Error):
            raise error  # not the driver's: SQLAlchemy's execution re-raises it as it is
    sync._handle_dbapi_exception(error, sql, None, None, None)
