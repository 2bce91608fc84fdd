"""No code outside the machines writes a status column.

Every status column belongs to a state machine (gateway.core.statuses) whose ``move`` /
``insert`` is its only writer: that is what keeps the transition tables true. This test reads
the source (no import) and finds, in every function that builds an ``insert(...)`` or
``update(...)`` of a machine's table, a ``status`` written with it: ``.values(status=...)``,
a ``{"status": ...}`` row or ``dict(status=...)``; and raw SQL that sets a status.
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


def _has_status(node: ast.AST) -> list[int]:
    """Lines of ``{"status": ...}`` and ``dict(status=...)`` inside ``node``."""
    lines = []
    for sub in ast.walk(node):
        if isinstance(sub, ast.Dict):
            lines += [
                key.lineno
                for key in sub.keys
                if isinstance(key, ast.Constant) and key.value == "status"
            ]
        if isinstance(sub, ast.Call) and _name(sub.func) == "dict":
            lines += [kw.value.lineno for kw in sub.keywords if kw.arg == "status"]
    return lines


def _status_writes(function: ast.AST) -> list[int]:
    """Lines in ``function`` that write ``status`` into a machine's table (or one unnamed)."""
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
            if isinstance(arg, ast.Name):
                fed.add(arg.id)
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
    for node in ast.walk(function):
        if isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id in fed for target in node.targets
        ):
            lines += _has_status(node.value)
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
            for function in functions:
                lines.update(_status_writes(function))
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
        "    return {'status': 'paid'}  # a view, not a write\n",
        encoding="utf-8",
    )
    assert scan(tmp_path, ("gateway",)) == [
        "gateway/bad.py:4",
        "gateway/bad.py:6",
        "gateway/bad.py:8",
        "gateway/bad.py:10",
    ]
