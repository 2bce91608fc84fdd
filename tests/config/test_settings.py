"""Settings: defaults < TOML file < GATEWAY_* variables; typos and bad values stop the load
naming the key; secrets never show in a repr."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from config import ConfigError, load_settings

DEMO_KEY = "gw_demo000001_" + "K7wq2ZpR4xYv9LmN3bTc8HdF6gJs5AeU"
DEFAULT_BANK_SECRET = "sandbox-bank-notice-secret"  # from config/default.toml


PII = (
    '[pii]\ncurrent_key_id = "t1"\nkeys = { t1 = "dGVzdC1rZXktMzItYnl0ZXMtZm9yLXRoZS1zdWl0ZSE=" }\n'
    # Outside sandbox mode the carrier must be configured too.
    '[vnpost]\nbase_url = "https://vnpost.test"\npassword = "p"\nwebhook_key = "k"\n'
)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "gateway.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_are_the_sandbox() -> None:
    settings = load_settings(environ={})
    assert settings.sandbox is True
    assert settings.payments.max_amount == 1_000_000_000
    assert settings.payments.default_expiry_seconds == 900
    assert settings.banks["sandbox"].secret.get_secret_value() == DEFAULT_BANK_SECRET
    assert settings.database_dsn.startswith("sqlite+aiosqlite:///")
    assert settings.vnpost.status_profile == "partner_order"


def test_the_database_pool_size_is_a_setting_of_30_by_default() -> None:
    # docs/deployment.md, connection budget: 30 connections per process unless configured.
    assert load_settings(environ={}).database_pool_size == 30
    assert load_settings(environ={"GATEWAY_DATABASE_POOL_SIZE": "12"}).database_pool_size == 12


def test_the_vnpost_status_profile_is_chosen_in_the_configuration() -> None:
    settings = load_settings(environ={"GATEWAY_VNPOST_STATUS_PROFILE": "myvnpost"})
    assert settings.vnpost.status_profile == "myvnpost"


def test_an_environment_variable_overrides_the_default() -> None:
    settings = load_settings(environ={"GATEWAY_PAYMENTS_MAX_AMOUNT": "5000"})
    assert settings.payments.max_amount == 5000
    assert settings.payments.max_items == 50  # the rest of the section is kept


def test_an_environment_variable_overrides_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, "sandbox = true\nport = 9000\n[payments]\nmax_amount = 7000\n" + PII)
    settings = load_settings(path, environ={"GATEWAY_PORT": "9100", "GATEWAY_SANDBOX": "false"})
    assert (settings.port, settings.sandbox, settings.payments.max_amount) == (9100, False, 7000)


def test_the_file_can_come_from_gateway_config(tmp_path: Path) -> None:
    path = write(tmp_path, "port = 9001\n" + PII)
    assert load_settings(environ={"GATEWAY_CONFIG": str(path)}).port == 9001


def test_an_unknown_environment_variable_is_refused_by_name() -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"GATEWAY_FOO": "1"})
    assert caught.value.key == "GATEWAY_FOO"
    assert "GATEWAY_FOO" in str(caught.value)


def test_a_misspelt_environment_variable_is_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="GATEWAY_PAYMENTS_MAX_AMOUT"):
        load_settings(environ={"GATEWAY_PAYMENTS_MAX_AMOUT": "5000"})


def test_other_environment_variables_are_ignored() -> None:
    settings = load_settings(environ={"PATH": "/usr/bin", "GATEWAYX": "1", "HOME": "/root"})
    assert settings.sandbox is True


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[payments]\nmax_amout = 5000\n", "payments.max_amout"),
        ("prot = 8080\n", "prot"),
        ("[banks.acb]\nsecret = 's'\ntolerance = 5\n", "banks.acb.tolerance"),
        ("[paymnets]\nmax_amount = 1\n", "paymnets"),
    ],
)
def test_an_unknown_key_in_the_file_is_refused_by_name(tmp_path: Path, text: str, key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, text), environ={})
    assert caught.value.key == key
    assert key in str(caught.value)


@pytest.mark.parametrize(
    ("environ", "key"),
    [
        ({"GATEWAY_PAYMENTS_MAX_AMOUNT": "lots"}, "payments.max_amount"),
        ({"GATEWAY_PAYMENTS_MAX_AMOUNT": "0"}, "payments.max_amount"),
        ({"GATEWAY_PORT": "70000"}, "port"),
        ({"GATEWAY_LOG_FORMAT": "xml"}, "log_format"),
        ({"GATEWAY_PAYMENTS_REFERENCE_PREFIX": "dvc"}, "payments.reference_prefix"),
        ({"GATEWAY_SANDBOX_BANK_BIN": "97049"}, "sandbox_bank.bin"),
        ({"GATEWAY_VNPOST_STATUS_PROFILE": "bccp"}, "vnpost.status_profile"),
        ({"GATEWAY_DATABASE_POOL_SIZE": "0"}, "database_pool_size"),
    ],
)
def test_an_invalid_value_is_refused_naming_the_key(environ: dict[str, str], key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ=environ)
    assert caught.value.key == key
    assert key in str(caught.value)


def test_a_bank_without_a_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(
            write(tmp_path, "[banks.acb]\ntimestamp_tolerance_seconds = 60\n"), environ={}
        )
    assert caught.value.key == "banks.acb.secret"


def test_inconsistent_expiry_bounds_are_refused(tmp_path: Path) -> None:
    text = "[payments]\nmin_expiry_seconds = 600\ndefault_expiry_seconds = 300\n"
    with pytest.raises(ConfigError, match="payments"):
        load_settings(write(tmp_path, text), environ={})


def test_a_missing_file_is_refused_naming_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="No such file") as caught:
        load_settings(tmp_path / "nope.toml", environ={})
    assert caught.value.key == str(tmp_path / "nope.toml")


def test_sandbox_without_the_sandbox_bank_secret_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"banks.sandbox"):
        load_settings(write(tmp_path, "sandbox = true\n"), environ={})


def test_a_file_that_is_not_toml_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="TOML"):
        load_settings(write(tmp_path, "port = \n"), environ={})


def test_secrets_are_redacted_in_repr_and_str() -> None:
    database_password = "pg-Pa55word-do-not-print"
    settings = load_settings(
        environ={
            "GATEWAY_DEMO_API_KEY": DEMO_KEY,
            "GATEWAY_DATABASE_URL": f"postgresql+asyncpg://gateway:{database_password}@db/gateway",
        }
    )
    # The secrets are there ...
    assert settings.demo.api_key is not None
    assert settings.demo.api_key.get_secret_value() == DEMO_KEY
    assert database_password in settings.database_dsn
    # ... but no rendering of the settings shows them.
    for rendering in (repr(settings), str(settings), f"{settings}", repr(settings.model_dump())):
        assert DEFAULT_BANK_SECRET not in rendering
        assert DEMO_KEY not in rendering
        assert database_password not in rendering


@pytest.mark.parametrize(
    "key",
    [
        "not-a-key",
        "gw_demo000001_short",
        "gw_DEMO000001_" + "K" * 32,  # the id is lower-case
        "gw_demo000001_" + "K" * 65,
        "gw_demo000001_" + "K" * 31 + "!",
    ],
)
def test_a_malformed_demo_api_key_is_refused_at_load(key: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(environ={"GATEWAY_DEMO_API_KEY": key})
    assert caught.value.key == "demo.api_key"
    assert key not in str(caught.value)  # the refusal does not echo the secret


def test_settings_are_immutable() -> None:
    settings = load_settings(environ={})
    with pytest.raises(ValueError, match="frozen"):
        settings.port = 1  # type: ignore[misc]


def test_outside_sandbox_personal_data_keys_are_required(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"pii\.keys is required"):
        load_settings(write(tmp_path, "port = 9001\n"), environ={})


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ('{ t1 = "not base64!" }', "not base64"),
        ('{ t1 = "c2hvcnQ=" }', "32 bytes"),
        ('{ other = "dGVzdC1rZXktMzItYnl0ZXMtZm9yLXRoZS1zdWl0ZSE=" }', "current_key_id"),
    ],
)
def test_unusable_personal_data_keys_are_refused(tmp_path: Path, keys: str, message: str) -> None:
    text = f'[pii]\ncurrent_key_id = "t1"\nkeys = {keys}\n'
    with pytest.raises(ConfigError, match=message):
        load_settings(write(tmp_path, text), environ={})


def test_sandbox_without_keys_seals_with_the_sandbox_key(tmp_path: Path) -> None:
    settings = load_settings(
        write(tmp_path, 'sandbox = true\n[banks.sandbox]\nsecret = "s"\n'), environ={}
    )
    assert settings.pii.current_key_id == "sandbox"
    assert "c2FuZGJveC" not in repr(settings)  # still redacted


def test_reconciliation_rules_default_to_a_two_day_window_one_transit_day_and_no_tolerance(
    tmp_path: Path,
) -> None:
    for settings in (
        load_settings(environ={}),
        load_settings(write(tmp_path, PII), environ={}),  # no table at all
    ):
        for source in ("bank", "vnpay", "pos", "treasury", "cod"):
            rules = settings.reconciliation.rules(source)
            assert (rules.window_days, rules.transit_days, rules.amount_tolerance) == (2, 1, 0)


def test_reconciliation_rules_are_overridden_per_source_and_by_the_environment(
    tmp_path: Path,
) -> None:
    text = (
        "[reconciliation]\namount_tolerance = 500\n"
        "[reconciliation.sources.vnpay]\ntransit_days = 3\n"
        "[reconciliation.sources.treasury]\nwindow_days = 5\namount_tolerance = 0\n"
    )
    settings = load_settings(
        write(tmp_path, PII + text),
        environ={"GATEWAY_RECONCILIATION_WINDOW_DAYS": "1"},
    )
    rules = {
        source: tuple(settings.reconciliation.rules(source).model_dump().values())
        for source in ("bank", "vnpay", "treasury")
    }
    assert rules == {"bank": (1, 1, 500), "vnpay": (1, 3, 500), "treasury": (5, 1, 0)}


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("[reconciliation]\namount_tolerance = -1\n", "reconciliation.amount_tolerance"),
        ("[reconciliation.sources.momo]\nwindow_days = 1\n", "reconciliation.sources.momo"),
        (
            "[reconciliation.sources.bank]\ntransit_dayz = 1\n",
            "reconciliation.sources.bank.transit_dayz",
        ),
        ("[reconciliation]\nwindow_days = 40\n", "reconciliation.window_days"),
    ],
)
def test_bad_reconciliation_rules_are_refused_naming_the_key(
    tmp_path: Path, text: str, key: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(write(tmp_path, PII + text), environ={})
    assert caught.value.key.startswith(key)


def test_a_notification_template_with_an_unknown_placeholder_stops_the_start() -> None:
    with pytest.raises(ConfigError) as error:
        load_settings(
            environ={},
            overrides={
                "notifications": {
                    "agencies": {
                        "DEMO": {
                            "events": {"payment_paid": {"zns": False, "sms_text": "{so_tien}"}}
                        }
                    }
                }
            },
        )
    assert error.value.key.startswith("notifications.agencies.DEMO.events.payment_paid")
    assert "so_tien" in str(error.value)


def test_outside_sandbox_mode_enabled_notifications_need_their_providers() -> None:
    with pytest.raises(ConfigError, match=r"notifications\.zns\.base_url is required"):
        load_settings(
            environ={},
            overrides={
                "sandbox": False,
                "pii": {"keys": {"k1": "dGVzdC1rZXktMzItYnl0ZXMtZm9yLXRoZS1zdWl0ZSE="}},
                "vnpost": {
                    "base_url": "https://vnpost.example",
                    "password": "p",
                    "webhook_key": "w",
                },
            },
        )


# -- wallets (issue 12) ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "key"),
    [
        (
            '[momo]\npartner_code = "M1"\naccess_key = "a"\nsecret_key = "sandbox-momo-secret-key"\n',
            "momo.secret_key",
        ),
        ('[zalopay]\napp_id = 1\nkey1 = "k1"\nkey2 = "sandbox-zalopay-key2"\n', "zalopay.key2"),
        (
            '[zalopay.apps.HCM]\napp_id = 1\nkey1 = "sandbox-zalopay-key1"\nkey2 = "k2"\n',
            "zalopay.apps.HCM.key1",
        ),
    ],
)
def test_outside_sandbox_mode_the_wallets_sandbox_secrets_are_refused(
    tmp_path: Path, text: str, key: str
) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)):
        load_settings(write(tmp_path, PII + text), environ={})


def test_turning_sandbox_mode_off_keeps_refusing_the_default_wallet_keys() -> None:
    with pytest.raises(ConfigError, match=re.escape("momo.secret_key")):
        load_settings(
            environ={"GATEWAY_SANDBOX": "false", "GATEWAY_PII_CURRENT_KEY_ID": "t1"},
            overrides={
                "pii": {"keys": {"t1": "dGVzdC1rZXktMzItYnl0ZXMtZm9yLXRoZS1zdWl0ZSE="}},
                "vnpost": {"base_url": "https://v.test", "password": "p", "webhook_key": "k"},
                # the other sandbox-only defaults of default.toml, out of the way
                "notifications": {"enabled": False},
                "dvcqg": {"partner_code": None, "secret_key": None},
            },
        )


def test_real_wallet_credentials_per_agency_are_read_and_redacted(tmp_path: Path) -> None:
    text = (
        '[momo.merchants.HCM]\npartner_code = "MOMOHCM"\naccess_key = "acc"\n'
        'secret_key = "real-momo-secret"\n'
        '[zalopay]\napp_id = 2553\nkey1 = "real-key1"\nkey2 = "real-key2"\n'
    )
    settings = load_settings(write(tmp_path, PII + text), environ={})
    assert settings.momo.merchants["HCM"].partner_code == "MOMOHCM"
    assert settings.zalopay.app_id == 2553
    for secret in ("real-momo-secret", "real-key1", "real-key2"):
        assert secret not in repr(settings)
