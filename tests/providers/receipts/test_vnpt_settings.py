"""The VNPT tenant and the tax authority as configured: sandbox passwords never reach a real
tenant, codes are checked at start-up, and secrets never print."""

from __future__ import annotations

import pytest
from conftest import make_settings

from config import ConfigError
from providers.receipts.tax_authority import TaxAuthorityEndpoint
from providers.receipts.vnpt import VnptAccount


def test_a_real_vnpt_tenant_with_the_sandbox_password_stops_the_start() -> None:
    with pytest.raises(ConfigError, match=r"receipts\.vnpt\.password must be set"):
        make_settings(
            "sqlite+aiosqlite://", receipts={"vnpt": {"base_url": "https://x.vnpt-invoice.com.vn"}}
        )


def test_a_real_vnpt_tenant_with_its_own_passwords_is_accepted() -> None:
    settings = make_settings(
        "sqlite+aiosqlite://",
        receipts={
            "vnpt": {
                "base_url": "https://x.vnpt-invoice.com.vn",
                "password": "service-secret",
                "ac_pass": "admin-secret",
            }
        },
    )
    assert settings.receipts.vnpt.base_url == "https://x.vnpt-invoice.com.vn"


def test_a_sender_code_that_is_not_v_or_k_plus_a_tax_code_stops_the_start() -> None:
    with pytest.raises(ConfigError) as caught:
        make_settings("sqlite+aiosqlite://", tax_authority={"sender_code": "TCT"})
    assert caught.value.key == "tax_authority.sender_code"


def test_the_vnpt_account_never_prints_its_passwords() -> None:
    account = VnptAccount(
        "https://x.vnpt-invoice.com.vn", "svc", "svc-secret", "admin", "adm-secret"
    )
    for shown in (repr(account), str(account), repr([account])):
        assert "svc-secret" not in shown and "adm-secret" not in shown
    assert account.ac_pass.reveal() == "adm-secret"


def test_an_endpoint_is_one_url_and_knows_its_sender() -> None:
    endpoint = TaxAuthorityEndpoint("https://tct.example/", "V0100109106", path="api/messages/")
    assert endpoint.url == "https://tct.example/api/messages"
