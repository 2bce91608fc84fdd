"""Every example configuration (``config/*.example.toml``) loads once its placeholders are
filled by the rule written at the top of the file: a value ``REPLACE-WITH-BASE64-OF-<n>-
RANDOM-BYTES`` becomes the base64 of ``n`` random bytes, every other ``replace-with-…`` or
``change-me`` value the secret or name to put there, and ``database_url`` comes from
``GATEWAY_DATABASE_URL``. A placeholder left — any of them — is refused, naming its setting,
so no one runs production on a secret printed in the repository."""

from __future__ import annotations

import base64
import re
import secrets
from pathlib import Path

import pytest

from config import ConfigError, load_settings

CONFIG = Path(__file__).resolve().parents[2] / "config"
EXAMPLES = sorted(CONFIG.glob("*.example.toml"))
RANDOM_BYTES = re.compile(r'"REPLACE-WITH-BASE64-OF-(\d+)-RANDOM-BYTES"', re.IGNORECASE)
ENVIRONMENT = {"GATEWAY_DATABASE_URL": "postgresql+asyncpg://gateway:secret@db.internal/gateway"}


#: A value to put there (``replace-with-…``, ``change-me``), on a line ``key = "…"``.
TO_PUT = re.compile(r'^(\w+) = "(replace-with-[^"]*|change-me)"', re.IGNORECASE | re.MULTILINE)


def filled(text: str, *, but: str | None = None) -> str:
    """The example with its placeholders filled by the documented rule (``but`` the one of
    that key left as it is)."""
    text = RANDOM_BYTES.sub(
        lambda match: '"' + base64.b64encode(secrets.token_bytes(int(match[1]))).decode() + '"',
        text,
    )
    return TO_PUT.sub(
        lambda match: match[0] if match[1] == but else f'{match[1]} = "{secrets.token_hex(16)}"',
        text,
    )


def _placeholders() -> list[tuple[Path, str]]:
    return [
        (path, match[1])
        for path in EXAMPLES
        for match in TO_PUT.finditer(path.read_text(encoding="utf-8"))
    ]


def test_there_are_examples_and_each_documents_the_rule() -> None:
    assert [path.name for path in EXAMPLES] == ["production.example.toml"]
    for path in EXAMPLES:
        assert "REPLACE-WITH-BASE64-OF-<n>-RANDOM-BYTES" in path.read_text(encoding="utf-8")


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_an_example_loads_once_its_placeholders_are_filled(example: Path, tmp_path: Path) -> None:
    text = example.read_text(encoding="utf-8")
    assert RANDOM_BYTES.search(text)
    path = tmp_path / example.name
    path.write_text(filled(text), encoding="utf-8")

    settings = load_settings(path, environ=ENVIRONMENT)

    assert settings.sandbox is False
    assert [len(key) for key in settings.pii.keyring().values()] == [32]


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.name)
def test_an_example_as_it_is_refuses_to_load_naming_the_key(example: Path) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(example, environ=ENVIRONMENT)
    assert "'pii'" in str(refused.value) and "placeholder" in str(refused.value)


@pytest.mark.parametrize(
    ("example", "key"), _placeholders(), ids=lambda value: getattr(value, "name", value)
)
def test_an_example_with_one_secret_or_name_left_as_printed_refuses_to_load(
    example: Path, key: str, tmp_path: Path
) -> None:
    path = tmp_path / example.name
    path.write_text(filled(example.read_text(encoding="utf-8"), but=key), encoding="utf-8")

    with pytest.raises(ConfigError) as refused:
        load_settings(path, environ=ENVIRONMENT)

    assert f".{key} is still the example's placeholder" in str(refused.value)


def test_the_placeholders_are_found_in_the_examples() -> None:
    assert {key for _, key in _placeholders()} >= {"secret", "password", "pkcs12_password"}
