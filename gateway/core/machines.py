"""One way to change a status: a :class:`Machine` per state machine, built from its
transition table, whose :meth:`Machine.move` is the only code that writes the status column.

A move is a guarded ``UPDATE … SET status = :to WHERE id = :id AND status = :from``. The
table is checked first (:class:`InvalidTransition` for a move it forbids); if the row is no
longer in ``from`` — another transaction moved it first — the move raises
:class:`StaleStatus` rather than overwriting that decision. :meth:`Machine.move_all` moves
every row matching a condition that is in one of the given states (expiry sweeps, closing the
open attempts of a bill) and returns how many moved. :meth:`Machine.move_each` moves a batch of
rows from one state, each to its own target with its own values, in one guarded statement
(executemany) — a worker recording the outcomes of what it claimed. A row is born through
:meth:`Machine.insert` / :meth:`Machine.insert_unless_taken` / :meth:`Machine.insert_many`
(or, inside a larger statement, :meth:`Machine.insert_from_select`), in one of the machine's
``initial`` statuses.

Statuses are ``StrEnum`` members; each machine's table lives beside its enum
(:mod:`gateway.core.statuses`) and its column carries the CHECK constraint
:meth:`Machine.check_constraint` of the allowed values. The schema declares those
constraints from the machines, so a machine names its table and finds it on first use
(the schema imports the machines, not the other way round).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from enum import StrEnum
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    CheckConstraint,
    ClauseElement,
    Column,
    ColumnElement,
    Insert,
    Row,
    Select,
    Table,
    Update,
    bindparam,
    insert,
    literal,
    or_,
    update,
)
from sqlalchemy.dialects.postgresql import insert as postgres_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from gateway.core.errors import Conflict, InvalidTransition

S = TypeVar("S", bound=StrEnum)

#: The ``current`` an :class:`InvalidTransition` names when a row is born in a status that
#: is not one of its machine's initial ones.
NEW = "new"


class StaleStatus(Conflict):
    code = "conflict"
    title = "The object changed concurrently; try again"


def check_constraint(table: str, column: str, values: Iterable[str]) -> CheckConstraint:
    """``CHECK (column IN (...))`` named ``ck_<table>_<column>`` (also for history columns
    that are not a machine's, e.g. the statuses a postal event reports)."""
    listed = ", ".join(f"'{value}'" for value in values)
    return CheckConstraint(f"{column} IN ({listed})", name=f"ck_{table}_{column}")


class Machine(Generic[S]):
    def __init__(
        self,
        name: str,
        table: Table | str,
        transitions: Mapping[S, frozenset[S]],
        *,
        initial: Iterable[S],
        column: str = "status",
        key: str = "id",
    ) -> None:
        self.name = name
        self.transitions = transitions
        self.initial = frozenset(initial)
        self.table_name = table if isinstance(table, str) else table.name
        self._table = None if isinstance(table, str) else table
        self.column_name = column
        self.key_name = key
        #: :meth:`insert_unless_taken`'s statements, by dialect and unique columns.
        self._insert_unless_taken: dict[tuple[str, tuple[str, ...]], Any] = {}
        #: :meth:`move`'s statements, by the names of the other columns a move writes (and
        #: :meth:`move_returning`'s, by its shape and those names).
        self._moves: dict[Any, Any] = {}
        #: :meth:`move_all`'s statements built once, by their ``where`` and shape.
        self._move_alls: dict[Any, tuple[ColumnElement[bool], Any]] = {}
        self._insert: Any = None

    @property
    def table(self) -> Table:
        if self._table is None:
            from gateway.core.db.schema import metadata

            self._table = metadata.tables[self.table_name]
        return self._table

    @property
    def column(self) -> Column[Any]:
        return self.table.c[self.column_name]

    @property
    def key(self) -> Column[Any]:
        return self.table.c[self.key_name]

    @property
    def statuses(self) -> tuple[str, ...]:
        """Every value the column may hold (its CHECK constraint)."""
        return tuple(status.value for status in self.transitions)

    def check_constraint(self) -> CheckConstraint:
        """The CHECK constraint of the status column: one of :attr:`statuses`."""
        return check_constraint(self.table_name, self.column_name, self.statuses)

    def can(self, current: S, new: S) -> bool:
        return new in self.transitions[current]

    def check(self, current: S, new: S) -> S:
        """``new`` if the table allows ``current → new``, else :class:`InvalidTransition`."""
        if not self.can(current, new):
            raise InvalidTransition(current.value, new.value)
        return new

    def check_initial(self, status: S) -> S:
        """``status`` if a row may be born in it, else :class:`InvalidTransition`."""
        if status not in self.initial:
            raise InvalidTransition(NEW, status.value)
        return status

    async def insert(self, conn: AsyncConnection, status: S, **values: Any) -> None:
        """Insert one row born in ``status`` (one of :attr:`initial`)."""
        await self.insert_many(conn, [(status, values)])

    async def insert_unless_taken(
        self, conn: AsyncConnection, unique: Sequence[str], status: S, **values: Any
    ) -> bool:
        """Like :meth:`insert`, unless the row's values in the columns ``unique`` (those of a
        unique constraint) are taken already: then nothing is inserted (``INSERT … ON
        CONFLICT DO NOTHING``) and False is returned — for a caller that then tries other
        values (a fresh random reference)."""
        statement = self._insert_unless_taken.get((conn.dialect.name, tuple(unique)))
        if statement is None:
            # Built once, the row passed as parameters: no per-request construction, coercion
            # or cache key of a fresh ``.values(...)`` (docs/performance.md).
            dialect_insert = sqlite_insert if conn.dialect.name == "sqlite" else postgres_insert
            statement = (
                dialect_insert(self.table)
                .on_conflict_do_nothing(index_elements=list(unique))
                .returning(self.key)
            )
            self._insert_unless_taken[(conn.dialect.name, tuple(unique))] = statement
        row = {**values, self.column_name: self.check_initial(status).value}
        inserted = await conn.execute(statement, row)
        return inserted.first() is not None

    def insert_from_select(
        self, status: S, rows: Select[Any], *, unless_taken: Sequence[str] = ()
    ) -> Insert:
        """``INSERT INTO table (…, status) SELECT …, '<status>'``: the rows of ``rows`` (whose
        columns are labelled with the table's column names), each born in ``status``; for
        a statement built once that inserts with others (``WITH … INSERT``, PostgreSQL).
        ``unless_taken``: the columns of a unique constraint, as in
        :meth:`insert_unless_taken` (the statement then returns the inserted keys)."""
        born = literal(self.check_initial(status).value, self.column.type)
        names = [column.name for column in rows.selected_columns]
        source = rows.add_columns(born)
        if not unless_taken:
            return insert(self.table).from_select([*names, self.column_name], source)
        return (
            postgres_insert(self.table)
            .from_select([*names, self.column_name], source)
            .on_conflict_do_nothing(index_elements=list(unless_taken))
            .returning(self.key)
        )

    async def insert_many(
        self, conn: AsyncConnection, rows: Sequence[tuple[S, Mapping[str, Any]]]
    ) -> None:
        """Insert rows, each born in its status. Every row must name the same columns."""
        if not rows:
            return
        records = [
            {**values, self.column_name: self.check_initial(status).value}
            for status, values in rows
        ]
        if len({frozenset(record) for record in records}) > 1:
            # One executemany binds the first row's columns: a column only some rows name is
            # either missing (an error) or silently dropped from the others.
            raise ValueError(f"{self.name} rows of one insert must name the same columns")
        if self._insert is None:  # built once (no per-insert statement construction)
            self._insert = insert(self.table)
        await conn.execute(self._insert, records)

    async def move(
        self, conn: AsyncConnection, key: Any, current: S, new: S, **values: Any
    ) -> None:
        """Move the row ``key`` from ``current`` to ``new``, writing ``values`` with it."""
        self.check(current, new)
        if any(isinstance(value, ClauseElement) for value in values.values()):
            statement = (  # an SQL expression among the values: built for this move
                update(self.table)
                .where(self.key == key, self.column == current.value)
                .values({self.column_name: new.value, **values})
            )
            result = await conn.execute(statement)
        else:
            params = {f"v_{name}": value for name, value in values.items()}
            params.update(k_key=key, k_from=current.value, k_to=new.value)
            result = await conn.execute(self._move_statement(tuple(values)), params)
        if result.rowcount != 1:
            raise self.stale(key, current)

    async def move_returning(
        self,
        conn: AsyncConnection,
        shape: str,
        extend: Callable[[Update], Update],
        key: Any,
        current: S,
        new: S,
        *,
        extra_params: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> Row[Any]:
        """:meth:`move`, as one statement that also does what ``extend`` adds to the guarded
        ``UPDATE`` (more columns set by SQL, a ``RETURNING``, a ``WITH`` moving rows of
        another machine: :meth:`move_all_statement`), and the row it returns. Built
        once per ``shape`` (the caller's name for what ``extend`` adds: the same ``shape``
        must always come with the same ``extend``) and set of column names.
        ``extra_params``: the values of the parameters ``extend`` added."""
        self.check(current, new)
        names = tuple(values)
        statement = self._moves.get((shape, names))
        if statement is None:
            statement = extend(self._move_statement(names))
            self._moves[(shape, names)] = statement
        params = {f"v_{name}": value for name, value in values.items()}
        params.update(k_key=key, k_from=current.value, k_to=new.value)
        if extra_params:
            params.update(extra_params)
        row = (await conn.execute(statement, params)).first()
        if row is None:
            raise self.stale(key, current)
        return row

    def move_within(
        self, key: Any, current: S, new: S, *, prefix: str, **values: Any
    ) -> tuple[Update, dict[str, Any]]:
        """:meth:`move` (checked against the table) as a statement built once and its
        parameters (named ``prefix`` + ``key``/``from``/``to``/``v_<name>``), for a caller
        that runs it inside a larger statement (``WITH moved AS (UPDATE …)`` on PostgreSQL):
        the guarded ``UPDATE … RETURNING`` the key. The caller raises :meth:`stale` when it
        returned no row."""
        self.check(current, new)
        if any(isinstance(value, ClauseElement) for value in values.values()):
            raise ValueError("a move_within built once writes values, not SQL expressions")
        names = tuple(values)
        statement = self._moves.get(("within", prefix, names))
        if statement is None:
            statement = (
                update(self.table)
                .where(
                    self.key == bindparam(f"{prefix}key"),
                    self.column == bindparam(f"{prefix}from"),
                )
                .values(
                    {
                        self.column_name: bindparam(f"{prefix}to"),
                        **{name: bindparam(f"{prefix}v_{name}") for name in names},
                    }
                )
                .returning(self.key)
            )
            self._moves[("within", prefix, names)] = statement
        params = {f"{prefix}v_{name}": value for name, value in values.items()}
        params.update(
            {f"{prefix}key": key, f"{prefix}from": current.value, f"{prefix}to": new.value}
        )
        return statement, params

    def stale(self, key: Any, current: S) -> StaleStatus:
        """What a move of ``key`` from ``current`` raises when the row is no longer there."""
        return StaleStatus(f"{self.name} {key} is no longer {current.value}; try again")

    def _move_statement(self, names: tuple[str, ...]) -> Any:
        """:meth:`move`'s guarded ``UPDATE`` writing the columns ``names``, built once per set
        of columns and executed with the values as parameters: no per-move construction,
        coercion or cache key (docs/performance.md)."""
        statement = self._moves.get(names)
        if statement is None:
            statement = (
                update(self.table)
                .where(self.key == bindparam("k_key"), self.column == bindparam("k_from"))
                .values(
                    {
                        self.column_name: bindparam("k_to"),
                        **{name: bindparam(f"v_{name}") for name in names},
                    }
                )
            )
            self._moves[names] = statement
        return statement

    async def move_all(
        self,
        conn: AsyncConnection,
        where: ColumnElement[bool],
        current: Iterable[S],
        new: S,
        *,
        where_params: Mapping[str, Any] | None = None,
        **values: Any,
    ) -> int:
        """Move every row matching ``where`` that is in one of ``current`` to ``new``.

        ``where_params``: ``where`` was built once (at import) with bound parameters, whose
        values these are; the statement is then built once too (per ``where``, statuses and
        names of ``values``, which become parameters), with no per-call construction or
        cache key (docs/performance.md). Without it, ``where`` carries its values and the
        statement is built for this call."""
        sources = tuple(current)
        for status in sources:
            self.check(status, new)
        if where_params is None:
            result = await conn.execute(
                update(self.table)
                .where(where, self.column.in_([status.value for status in sources]))
                .values({self.column_name: new.value, **values})
            )
            return int(result.rowcount)
        if any(isinstance(value, ClauseElement) for value in values.values()):
            raise ValueError("a move_all built once writes values, not SQL expressions")
        statement = self.move_all_statement(where, sources, new, tuple(values))
        params = {f"v_{name}": value for name, value in values.items()}
        params.update(where_params)
        result = await conn.execute(statement, params)
        return int(result.rowcount)

    def move_all_statement(
        self,
        where: ColumnElement[bool],
        current: Iterable[S],
        new: S,
        names: tuple[str, ...],
        *,
        prefix: str = "v_",
    ) -> Update:
        """:meth:`move_all`'s statement built once (checked against the table): rows matching
        ``where`` (built once, with bound parameters) in one of ``current`` moved to ``new``,
        writing the columns ``names`` from the parameters ``prefix`` + name. For
        :meth:`move_all` and for a statement that moves them with others (``WITH … UPDATE``
        on PostgreSQL, e.g. a bill's open attempts closed in the bill's own move)."""
        sources = tuple(current)
        for status in sources:
            self.check(status, new)
        shape = (id(where), sources, new, names, prefix)
        built = self._move_alls.get(shape)
        if built is None or built[0] is not where:
            statement = (
                update(self.table)
                # ``=``/``OR`` of fixed values, not ``IN``: SQLAlchemy renders an ``IN`` list
                # into the SQL on every execution.
                .where(where, or_(*(self.column == status.value for status in sources)))
                .values(
                    {
                        self.column_name: new.value,
                        **{name: bindparam(f"{prefix}{name}") for name in names},
                    }
                )
            )
            built = (where, statement)  # ``where`` kept: its id is not reused
            self._move_alls[shape] = built
        return built[1]

    async def move_each(
        self,
        conn: AsyncConnection,
        current: S,
        moves: Sequence[tuple[Any, S, Mapping[str, Any]]],
        **common: Any,
    ) -> None:
        """Move each ``(key, new, values)`` row from ``current`` to its ``new``, writing its
        ``values`` (the same column names for every row) and the ``common`` values, in one
        statement. A row no longer in ``current`` is left as it is (its new owner decides)."""
        if not moves:
            return
        columns = sorted(moves[0][2])
        params: list[dict[str, Any]] = []
        for key, new, values in moves:
            self.check(current, new)
            if sorted(values) != columns:
                raise ValueError("every move of a batch writes the same columns")
            params.append(
                {"m_key": key, "m_to": new.value, **{f"m_{n}": values[n] for n in columns}}
            )
        await conn.execute(
            update(self.table)
            .where(self.key == bindparam("m_key"), self.column == current.value)
            .values(
                {
                    self.column.name: bindparam("m_to"),
                    **{name: bindparam(f"m_{name}") for name in columns},
                    **common,
                }
            ),
            params,
        )
