"""Dependencies point inward: providers know nothing of the gateway, and only ``config``
reads the environment. The import rules themselves are the ``import-linter`` contracts in
pyproject.toml; the tests at the end run them and check they cover every connector."""

from __future__ import annotations

import ast
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent
OUTER_PACKAGES = frozenset({"gateway", "webhooks", "reconciliation", "config"})
ENVIRONMENT_READERS = frozenset({"environ", "environb", "getenv", "getenvb"})


def python_files(*packages: str) -> list[Path]:
    files = sorted(path for package in packages for path in (ROOT / package).rglob("*.py"))
    return [path for path in files if "__pycache__" not in path.parts]


def parse(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def absolute_imports(tree: ast.Module) -> list[tuple[int, str]]:
    """Top-level package of every absolute import, with its line."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name.split(".")[0]) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module.split(".")[0]))
    return found


def environment_reads(tree: ast.Module) -> list[tuple[int, str]]:
    """``os.environ``/``os.getenv`` (also through ``import os as x`` or
    ``from os import environ``) and ``posix.environ``."""
    os_names = {"os", "posix"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            os_names |= {
                alias.asname for alias in node.names if alias.name in os_names and alias.asname
            }
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in ENVIRONMENT_READERS
            and isinstance(node.value, ast.Name)
            and node.value.id in os_names
        ):
            found.append((node.lineno, f"{node.value.id}.{node.attr}"))
        elif isinstance(node, ast.ImportFrom) and node.module in {"os", "posix"}:
            found += [
                (node.lineno, f"from {node.module} import {alias.name}")
                for alias in node.names
                if alias.name in ENVIRONMENT_READERS or alias.name == "*"
            ]
    return found


def test_the_scanned_packages_exist() -> None:
    assert python_files("providers"), "no providers found: has the layout changed?"
    assert python_files("gateway")


@pytest.mark.parametrize(
    "path", python_files("providers"), ids=lambda path: str(path.relative_to(ROOT))
)
def test_providers_do_not_import_outer_layers(path: Path) -> None:
    outward = [
        f"line {line}: {package}"
        for line, package in absolute_imports(parse(path))
        if package in OUTER_PACKAGES
    ]
    assert outward == [], f"{path.relative_to(ROOT)} imports an outer layer"


@pytest.mark.parametrize(
    "path",
    python_files("gateway", "providers", "webhooks", "reconciliation"),
    ids=lambda path: str(path.relative_to(ROOT)),
)
def test_only_config_reads_the_environment(path: Path) -> None:
    reads = [f"line {line}: {what}" for line, what in environment_reads(parse(path))]
    assert reads == [], f"{path.relative_to(ROOT)} reads the environment; use config.Settings"


# The detectors themselves, so that a blind spot would show here rather than pass silently.


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import gateway.app", ["gateway"]),
        ("from config import Settings", ["config"]),
        ("from webhooks.delivery import x", ["webhooks"]),
        ("import reconciliation as r", ["reconciliation"]),
        ("def f():\n    from gateway.core import errors", ["gateway"]),
        ("from . import codec\nfrom .tlv import parse", []),
        ("import json\nfrom aiohttp import web", []),
    ],
)
def test_the_import_detector(source: str, expected: list[str]) -> None:
    found = [package for _, package in absolute_imports(ast.parse(source))]
    assert [package for package in found if package in OUTER_PACKAGES] == expected


@pytest.mark.parametrize(
    ("source", "count"),
    [
        ("import os\nos.environ['X']", 1),
        ("import os\nos.getenv('X')", 1),
        ("import os\nos.environ.get('X')", 1),
        ("import os as o\no.environ.get('X')", 1),
        ("from os import environ", 1),
        ("from os import getenv as g", 1),
        ("from os import *", 1),
        ("import os\nos.path.join('a')", 0),
        ("settings.environ", 0),
    ],
)
def test_the_environment_detector(source: str, count: int) -> None:
    assert len(environment_reads(ast.parse(source))) == count


# -- the import-linter contracts ----------------------------------------------------------


def contracts() -> dict[str, dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {c["name"]: c for c in config["tool"]["importlinter"]["contracts"]}


def test_every_import_linter_contract_is_kept() -> None:
    lint_imports = Path(sys.executable).parent / "lint-imports"
    result = subprocess.run(  # noqa: S603 -- our own tool, a fixed argument list
        [str(lint_imports), "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert f"Contracts: {len(contracts())} kept, 0 broken." in output, output


def test_every_connector_and_sandbox_is_in_its_independence_contract() -> None:
    """A new connector or sandbox is held to the rules as soon as it exists."""
    by_type = {
        name: set(contract["modules"])
        for name, contract in contracts().items()
        if contract["type"] == "independence"
    }
    connectors = {
        f"providers.{kind}.{path.name}"
        for kind in ("payment", "postal", "notify")
        for path in (ROOT / "providers" / kind).iterdir()
        if (path / "__init__.py").is_file()
    }
    assert connectors <= by_type["Providers are independent of each other"]
    sandboxes = {
        f"providers.sandbox.{path.stem}"
        for path in (ROOT / "providers" / "sandbox").glob("*.py")
        # Shared helpers of the sandboxes, not sandboxes: redelivery is their retry loop,
        # statements_cod and statements_pos write the COD remittance and the card acquirer's
        # settlement with the statements' own helpers; pages is the payer pages' HTML.
        if path.stem not in {"__init__", "redelivery", "statements_cod", "statements_pos", "pages"}
    }
    assert sandboxes <= by_type["Sandboxes are independent of each other"]


def test_the_gateway_package_imports_nothing_so_the_core_loads_alone() -> None:
    tree = parse(ROOT / "gateway" / "__init__.py")
    assert absolute_imports(tree) == []
    loaded = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, gateway.core.db, gateway.core.machines; "
            "print(sorted(m for m in sys.modules if m.startswith(('gateway.', 'webhooks', "
            "'reconciliation')) and not m.startswith('gateway.core')))",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert loaded.stdout.strip() == "[]"
