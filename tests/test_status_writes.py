"""No code outside the machines writes a status column.

Every status column belongs to a state machine (gateway.core.statuses) whose ``move`` /
``insert`` is its only writer: that is what keeps the transition tables true. This test reads
the source (no import) and finds, in every function that builds an ``insert(...)`` or
``update(...)`` of a machine's table, a ``status`` written with it: ``.values(status=...)``,
a ``{"status": ...}`` (or ``{table.c.status: ...}``) row or ``dict(status=...)``, also in a
dict built before and handed on by name (``row["status"] = ...`` and ``row.update(status=...)``
included) — and when that name is a parameter of the function, in what its callers in the same
module pass for it; and raw SQL that sets a status.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("gateway", "webhooks", "reconciliation", "providers", "config")

#: The tables that have a machine (gateway.core.statuses.MACHINES), by their module name.
MACHINE_TABLES = frozenset(
    {
        "payments",
        "attempts",
        "refunds",
        "deliveries",
        "statement_imports",
        "recon_runs",
        "recon_exceptions",
        "postal_orders",
        "notifications",
        "receipts",
        "receipt_summaries",
        "receipt_corrections",
    }
)
#: The one writer.
ALLOWED = frozenset({"gateway/core/machines.py"})

_BUILDERS = {"insert", "update", "sqlite_insert", "postgres_insert", "dialect_insert"}
_RAW_SQL = re.compile(
    r"\b(UPDATE\s+(?P<updated>\w+)\s+SET\b.*\bstatus\s*=|INSERT\s+INTO\s+(?P<inserted>\w+)\b.*\bstatus\b)",
    re.IGNORECASE | re.DOTALL,
)


def _name(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return node.attr
    return None


def _table_of(statement: ast.expr) -> str | None:
    """The table an ``insert(t)`` / ``update(t)`` / ``t.insert()`` chain writes, if it says."""
    node: ast.expr = statement
    while True:
        if isinstance(node, ast.Call):
            if _name(node.func) in _BUILDERS and node.args:
                return _name(node.args[0])
            if isinstance(node.func, ast.Attribute) and node.func.attr in ("insert", "update"):
                return _name(node.func.value)
            if isinstance(node.func, ast.Attribute):
                node = node.func.value
                continue
        return None


def _is_status(key: ast.expr | None) -> bool:
    """``"status"``, ``table.c.status`` or ``table.c["status"]`` as a key."""
    if isinstance(key, ast.Constant):
        return key.value == "status"
    if isinstance(key, ast.Attribute):
        return key.attr == "status"
    if isinstance(key, ast.Subscript):
        return _is_status(key.slice)
    return False


def _has_status(node: ast.AST) -> list[int]:
    """Lines of ``{"status": ...}`` (or ``{t.c.status: ...}``) and ``dict(status=...)`` inside
    ``node``."""
    lines = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Dict):
            lines += [key.lineno for key in sub.keys if key is not None and _is_status(key)]
        if isinstance(sub, ast.Call) and _name(sub.func) == "dict":
            lines += [kw.value.lineno for kw in sub.keywords if kw.arg == "status"]
    return lines


def _fills(function: ast.AST, names: set[str]) -> list[int]:
    """Lines in ``function`` that put a status into one of the dicts ``names``: assigned a
    dict with one, ``name["status"] = ...``, ``name.update(...)`` / ``name.setdefault(...)``."""
    lines: list[int] = []
    for node in ast.walk(function):
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name) and target.id in names and node.value:
                    lines += _has_status(node.value)
                if (
                    isinstance(target, ast.Subscript)
                    and _name(target.value) in names
                    and _is_status(target.slice)
                ):
                    lines.append(target.lineno)
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("update", "setdefault")
            and _name(node.func.value) in names
        ):
            if node.func.attr == "setdefault" and node.args and _is_status(node.args[0]):
                lines.append(node.lineno)
            lines += [kw.value.lineno for kw in node.keywords if kw.arg == "status"]
            for arg in node.args if node.func.attr == "update" else ():
                lines += _has_status(arg)
    return lines


def _parameters(function: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    arguments = function.args
    return [a.arg for a in [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs]]


def _status_writes(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[list[int], set[str]]:
    """Lines in ``function`` that write ``status`` into a machine's table (or one unnamed),
    and those of its parameters whose value is written (for :func:`_callers_writes`)."""
    lines: list[int] = []
    fed: set[str] = set()  # names whose value is handed to values() / execute()
    for node in ast.walk(function):
        if not (isinstance(node, ast.Call) and _name(node.func) in ("values", "execute")):
            continue
        if _name(node.func) == "values":
            table = _table_of(node.func.value) if isinstance(node.func, ast.Attribute) else None
            handed = list(node.args)
        else:
            table = _table_of(node.args[0]) if node.args else None
            handed = list(node.args[1:])
        if table is not None and table not in MACHINE_TABLES:
            continue
        if _name(node.func) == "values":
            lines += [kw.value.lineno for kw in node.keywords if kw.arg == "status"]
        handed += [kw.value for kw in node.keywords if kw.arg is None]
        for arg in handed:
            lines += _has_status(arg)
            rows = arg.elts if isinstance(arg, ast.List | ast.Tuple) else [arg]  # [row, ...]
            fed.update(row.id for row in rows if isinstance(row, ast.Name))
    for node in ast.walk(function):  # rows.append(row) hands ``row`` on too
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "append"
            and _name(node.func.value) in fed
            and node.args
            and isinstance(node.args[0], ast.Name)
        ):
            fed.add(node.args[0].id)
    lines += _fills(function, fed)
    return lines, fed & set(_parameters(function))


def _callers_writes(
    functions: list[ast.FunctionDef | ast.AsyncFunctionDef],
    written: dict[str, tuple[ast.FunctionDef | ast.AsyncFunctionDef, set[str]]],
) -> list[int]:
    """Lines where a function of the module hands a status, in a dict, to a parameter another
    function of the module writes into a machine's table (``self.helper(conn, values)``)."""
    lines: list[int] = []
    for caller in functions:
        for call in ast.walk(caller):
            if not isinstance(call, ast.Call) or _name(call.func) not in written:
                continue
            callee, parameters = written[str(_name(call.func))]
            names = _parameters(callee)
            if isinstance(call.func, ast.Attribute) and names[:1] in (["self"], ["cls"]):
                names = names[1:]
            handed = [
                arg for name, arg in zip(names, call.args, strict=False) if name in parameters
            ]
            handed += [kw.value for kw in call.keywords if kw.arg in parameters]
            for arg in handed:
                lines += _has_status(arg)
                if isinstance(arg, ast.Name):
                    lines += _fills(caller, {arg.id})
    return lines


def scan(root: Path = ROOT, packages: tuple[str, ...] = PACKAGES) -> list[str]:
    """``path:line`` of every status write outside the machines."""
    found = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root).as_posix()
            if relative in ALLOWED:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=relative)
            functions = [
                node
                for node in ast.walk(tree)
                if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            ]
            lines: set[int] = set()
            written = {}
            for function in functions:
                writes, parameters = _status_writes(function)
                lines.update(writes)
                if parameters:
                    written[function.name] = (function, parameters)
            lines.update(_callers_writes(functions, written))
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    raw = _RAW_SQL.search(node.value)
                    table = raw and (raw.group("updated") or raw.group("inserted"))
                    if table and table.lower() in MACHINE_TABLES:
                        lines.add(node.lineno)
            found += [f"{relative}:{line}" for line in sorted(lines)]
    return found


def test_no_code_outside_the_machines_writes_a_status_column() -> None:
    writes = list(scan())
    assert writes == [], "write the status through its machine (gateway.core.statuses)"


def test_the_scan_finds_a_status_write(tmp_path: Path) -> None:
    """The scan is not blind: each way of writing a status it looks for is found."""
    package = tmp_path / "gateway"
    package.mkdir()
    (package / "bad.py").write_text(
        "from sqlalchemy import insert, text, update\n"
        "from gateway.core.db.schema import payments, refunds, postal_orders\n"
        "async def a(conn):\n"
        "    await conn.execute(update(payments).values(status='paid'))\n"
        "async def b(conn):\n"
        "    await conn.execute(insert(refunds), [{'id': 'r', 'status': 'pending'}])\n"
        "async def c(conn):\n"
        "    values = dict(id='p', status='submitting')\n"
        "    await conn.execute(insert(postal_orders).values(**values))\n"
        "SQL = text('UPDATE attempts SET status = :s WHERE id = :id')\n"
        "async def fine(conn):\n"
        "    return {'status': 'paid'}  # a view, not a write\n"
        "class Service:\n"
        "    async def create(self, conn):\n"
        "        values = {'id': 'p', 'status': 'pending'}\n"
        "        await self._insert(conn, values, 'R1')\n"
        "    async def _insert(self, conn, values, reference):\n"
        "        await conn.execute(insert(payments).values(**values, reference=reference))\n"
        "async def d(conn):\n"
        "    await conn.execute(update(payments).values({payments.c.status: 'paid'}))\n"
        "async def e(conn):\n"
        "    row = {'id': 'r'}\n"
        "    row['status'] = 'pending'\n"
        "    await conn.execute(insert(refunds), [row])\n"
        "async def f(conn, row):\n"
        "    row.update(status='paid')\n"
        "    await conn.execute(update(payments).values(row))\n",
        encoding="utf-8",
    )
    assert scan(tmp_path, ("gateway",)) == [
        "gateway/bad.py:4",
        "gateway/bad.py:6",
        "gateway/bad.py:8",
        "gateway/bad.py:10",
        "gateway/bad.py:15",  # a dict handed to a helper that inserts it
        "gateway/bad.py:20",  # keyed by the column
        "gateway/bad.py:23",  # set on a row before it is inserted
        "gateway/bad.py:26",  # updated into a row before it is written
    ]
