"""The DVCQG platform's settings: the sandbox secret of default.toml works in sandbox mode
only; outside it the service refuses to start with it, naming the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from config import ConfigError, load_settings
from config.settings import SANDBOX_DVCQG_SECRET

PRODUCTION = (
    'sandbox = false\n[pii]\ncurrent_key_id = "t1"\n'
    'keys = { t1 = "dGVzdC1rZXktMzItYnl0ZXMtZm9yLXRoZS1zdWl0ZSE=" }\n'
    '[vnpost]\nbase_url = "https://vnpost.test"\npassword = "p"\nwebhook_key = "k"\n'
)
URLS = 'init_url = "https://p.test/init"\nquery_url = "https://p.test/q"\nbill_url = "https://p.test/b"\n'


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_sandbox_mode_uses_the_documented_sandbox_partner() -> None:
    settings = load_settings(environ={})
    assert settings.sandbox and settings.dvcqg.partner_code == "DEMO-DVCQG"
    assert settings.dvcqg.secret_key is not None
    assert settings.dvcqg.secret_key.get_secret_value() == SANDBOX_DVCQG_SECRET


def test_leaving_sandbox_mode_with_the_default_file_is_refused() -> None:
    """default.toml's sandbox partner, everything else ready for production."""
    ready = {
        "sandbox": False,
        "pii": {"keys": {"k1": "dGVzdC1rZXktMzItYnl0ZXMtZm9yLXRoZS1zdWl0ZSE="}},
        "vnpost": {"base_url": "https://vnpost.test", "password": "p", "webhook_key": "k"},
    }
    with pytest.raises(ConfigError, match=r"dvcqg\.secret_key: the sandbox secret is refused"):
        load_settings(environ={}, overrides=ready)


@pytest.mark.parametrize(
    "section",
    [
        f'[dvcqg]\npartner_code = "P1"\nsecret_key = "{SANDBOX_DVCQG_SECRET}"\n{URLS}',
        f'[dvcqg]\n{URLS}[dvcqg.partners.HCM]\npartner_code = "P2"\n'
        f'secret_key = "{SANDBOX_DVCQG_SECRET}"\n',
    ],
    ids=["default_partner", "agency_partner"],
)
def test_the_sandbox_secret_is_refused_outside_sandbox_mode(tmp_path: Path, section: str) -> None:
    with pytest.raises(ConfigError, match="the sandbox secret is refused outside sandbox mode"):
        load_settings(write(tmp_path, PRODUCTION + section), environ={})


def test_a_real_partner_needs_the_platforms_urls(tmp_path: Path) -> None:
    section = '[dvcqg]\npartner_code = "P1"\nsecret_key = "real"\n'
    with pytest.raises(ConfigError, match="init_url, query_url and bill_url are required"):
        load_settings(write(tmp_path, PRODUCTION + section), environ={})
    settings = load_settings(write(tmp_path, PRODUCTION + section + URLS), environ={})
    assert "real" not in repr(settings.dvcqg)
