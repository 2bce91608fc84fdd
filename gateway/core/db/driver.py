"""One hot PostgreSQL statement run on asyncpg itself, without SQLAlchemy's per-execution work.

A :class:`DriverStatement` is a SQLAlchemy statement compiled once for the engine's dialect:
its SQL, its parameters' order, their bind processors (JSON, :class:`~gateway.core.db.types.
UTCDateTime`, arrays) and the values of its ``literal()`` parameters. :meth:`Database.
driver_row` runs it on the pooled connection's asyncpg connection (``fetchrow``, asyncpg's own
prepared-statement cache), outside any transaction: the statement is its own transaction, as
with :meth:`Database.statement`. What SQLAlchemy's execution did per call and this does not:
the compiled-cache look-up, ``construct_params``, the execution context, the autocommit
isolation option set on checkout and reset on return, the :class:`AsyncConnection` around the
connection (the checkout, the statement and the return run in one greenlet), and the result
object. Measured: 165–182 against 349–378 µs of CPU per execution of the payment's creation
(docs/performance.md, "Payment creation, third round").

What it keeps, so callers see what they saw through SQLAlchemy: the pool (checkout, return,
recycle, invalidation), and the errors. A driver error is translated by the asyncpg adapter
of the dialect (``UniqueViolationError`` → the adapter's ``IntegrityError``) and then handled
by the connection as its own execution would (:meth:`Connection._handle_dbapi_exception`):
raised as :class:`sqlalchemy.exc.IntegrityError`, :class:`~sqlalchemy.exc.DBAPIError` …,
with ``connection_invalidated`` set and the pool invalidated when the server dropped the
connection (which :meth:`Database.driver_row` answers :class:`DatabaseUnavailable`, 503); a
cancelled execution invalidates its connection too. Parameters stay hidden in the error's
text. And ``before_cursor_execute`` listeners of the engine see the statement (with no
cursor and no context), so what counts statements counts it.
"""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Dialect
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.expression import Executable
from sqlalchemy.util import await_only

from gateway.core.errors import DatabaseUnavailable


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
        if "POSTCOMPILE" in compiled.string:  # expanding IN or literal_execute parameters
            raise ValueError("DriverStatement cannot run parameters rendered per execution")
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


def fetch_row(engine: Engine, compiled: _Compiled, args: list[Any]) -> Any:
    """Check a connection out of ``engine``'s pool, run the statement on its asyncpg
    connection outside any transaction, return the connection; the first row or ``None``.
    In a greenlet (``greenlet_spawn``): one for the checkout, the statement and the return.
    Failing to get a connection is :class:`DatabaseUnavailable`; the statement's errors are
    raised as SQLAlchemy's execution raises them."""
    try:
        conn = engine.connect()
    except (OSError, DBAPIError) as exc:
        raise DatabaseUnavailable() from exc
    with conn:
        raw = conn.connection  # checked out: no I/O here
        if conn._has_events or engine._has_events:  # listeners see it as any statement
            conn.dispatch.before_cursor_execute(conn, None, compiled.sql, args, None, False)
        driver: Any = raw.driver_connection
        try:
            record = await_only(driver.fetchrow(compiled.sql, *args))
        except BaseException as error:
            _raise_as_sqlalchemy(conn, error, compiled.sql)
            raise  # not reached: _raise_as_sqlalchemy raises
    return None if record is None else compiled.row(*record.values())


def _raise_as_sqlalchemy(sync: Connection, error: BaseException, sql: str) -> None:
    """Raise what SQLAlchemy's execution raises for a driver error."""
    if isinstance(error, Exception):
        adapted: Any = sync.connection.dbapi_connection
        try:
            adapted._handle_exception(error)  # asyncpg's error as the adapter's; always raises
        except Exception as translated:
            error = translated
        if not isinstance(error, sync.dialect.loaded_dbapi.Error):
            # Not the driver's (none is known to reach here): the connection's state is not
            # known, so it is not handed back to the pool as it is.
            sync.invalidate(error)
            raise error
    sync._handle_dbapi_exception(error, sql, None, None, None)
