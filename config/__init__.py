"""Typed settings: the only package that reads the environment or configuration files."""

from config.settings import (
    BankSettings,
    ConfigError,
    PaymentSettings,
    ReceiptSettings,
    Settings,
    load_settings,
)

__all__ = [
    "BankSettings",
    "ConfigError",
    "PaymentSettings",
    "ReceiptSettings",
    "Settings",
    "load_settings",
]
