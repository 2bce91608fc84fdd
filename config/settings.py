"""Settings: defaults < TOML file < ``GATEWAY_*`` environment variables.

Loading fails fast with :class:`ConfigError` naming the offending key, so a typo in a
configuration file or an environment variable stops the service at start-up instead of
silently falling back to a default. Secrets are ``SecretStr``: their ``repr`` is redacted.
"""

from __future__ import annotations

import base64
import ipaddress
import os
import re
import string
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)

DEFAULT_FILE = Path(__file__).with_name("default.toml")
ENV_PREFIX = "GATEWAY_"
#: The shape of an API key; the gateway's client service uses the same pattern.
API_KEY_FORMAT = re.compile(r"^gw_([a-z0-9]{10})_([A-Za-z0-9_-]{32,64})$")
#: The async drivers the gateway runs on (``database_url``'s scheme).
DATABASE_DRIVERS = ("postgresql+asyncpg", "sqlite+aiosqlite")
#: Environment variables that are not settings keys but steer the loading itself.
LOADER_VARIABLES = frozenset({"GATEWAY_CONFIG"})


class ConfigError(Exception):
    """A configuration key is unknown or invalid; ``key`` names it (dotted path)."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"configuration key {key!r}: {message}")
        self.key = key


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class PaymentSettings(_Section):
    default_expiry_seconds: int = Field(900, ge=60)
    min_expiry_seconds: int = Field(60, ge=30)
    max_expiry_seconds: int = Field(7 * 24 * 3600, ge=60)
    #: Largest payment total accepted, in VND.
    max_amount: int = Field(1_000_000_000, ge=1, le=9_999_999_999_999)
    max_items: int = Field(50, ge=1, le=50)
    #: Upper-case letters that start every payment reference (travels in the transfer text).
    reference_prefix: str = Field("DVC", pattern=r"^[A-Z]{2,5}$")
    expiry_sweep_seconds: float = Field(15, gt=0)
    checkout_poll_ms: int = Field(3000, ge=100)

    @model_validator(mode="after")
    def _bounds(self) -> PaymentSettings:
        if not self.min_expiry_seconds <= self.default_expiry_seconds <= self.max_expiry_seconds:
            raise ValueError(
                "need min_expiry_seconds <= default_expiry_seconds <= max_expiry_seconds"
            )
        return self


class BankSettings(_Section):
    """A collection bank that posts signed credit notices to ``/callbacks/bank/<name>``."""

    secret: SecretStr
    timestamp_tolerance_seconds: int = Field(300, ge=1)


class SandboxBankSettings(_Section):
    bin: str = Field("970499", pattern=r"^\d{6}$")
    #: Seconds between redelivery attempts of a credit notice the gateway did not accept.
    retry_seconds: float = Field(2.0, gt=0)
    max_attempts: int = Field(10, ge=1)


class WebhookSettings(_Section):
    #: Let portals register loopback/private addresses (always allowed in sandbox mode).
    allow_private_urls: bool = False
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    #: How long the old secret keeps signing after a rotation.
    secret_overlap_hours: float = Field(24.0, ge=0, le=24 * 14)
    batch_size: int = Field(200, ge=1, le=5000)
    concurrency: int = Field(100, ge=1, le=1000)
    #: How often an idle delivery worker looks for due deliveries.
    poll_seconds: float = Field(1.0, gt=0)
    #: A claimed delivery is reclaimed by another worker after this long (worker died).
    lease_seconds: float = Field(120.0, gt=0)


class VnpayTerminalSettings(_Section):
    tmn_code: str = Field(pattern=r"^[A-Z0-9]{4,16}$")
    hash_secret: SecretStr


class VnpaySettings(_Section):
    """VNPAY (API 2.1.0). In sandbox mode the URLs default to the mounted sandbox."""

    payment_url: str | None = None  # …/paymentv2/vpcpay.html
    api_url: str | None = None  # …/merchant_webapi/api/transaction (querydr, refund)
    #: The terminal used by agencies without their own entry in ``terminals``.
    tmn_code: str | None = Field(None, pattern=r"^[A-Z0-9]{4,16}$")
    hash_secret: SecretStr | None = None
    #: Per agency code: that agency's own terminal (TOML only).
    terminals: dict[str, VnpayTerminalSettings] = {}
    #: How long a citizen has on VNPAY's page (capped by the bill's own expiry).
    attempt_minutes: int = Field(15, ge=5, le=60)
    #: Query an attempt with querydr when no IPN came this long after it started.
    query_after_seconds: float = Field(300, gt=0)
    #: Give-up horizon: an attempt still open at this age goes to finance review.
    give_up_after_hours: float = Field(24, gt=0)
    #: Refund horizon: a refund still pending at this age is handed to finance
    #: (``refunds.flagged_at``); it is still asked about with querydr (docs/channels.md).
    refund_give_up_after_hours: float = Field(72, gt=0)
    timeout_seconds: float = Field(10, gt=0, le=60)
    #: How the sandbox VNPAY redelivers IPNs (VNPAY: up to 10 times).
    sandbox_ipn_retry_seconds: float = Field(5, gt=0)
    sandbox_ipn_max_attempts: int = Field(10, ge=1)


#: The sandbox platform's secret (config/default.toml): refused outside sandbox mode.
SANDBOX_DVCQG_SECRET = "sandbox-dvcqg-secret-key"  # noqa: S105 — public on purpose


class DvcqgPartnerSettings(_Section):
    partner_code: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    secret_key: SecretStr


class DvcqgSettings(_Section):
    """The DVCQG payment platform (specs/dvcqg-payment-platform.md). In sandbox mode the URLs
    default to the mounted sandbox."""

    init_url: str | None = None  # INIT (TD: InitUrl)
    query_url: str | None = None  # QUERY (TD: CheckConfirmUrl)
    bill_url: str | None = None  # GET_BILL (TD: InitReceiptUrl)
    #: The partner used by agencies without their own entry in ``partners``.
    partner_code: str | None = Field(None, pattern=r"^[A-Za-z0-9_.-]{1,64}$")
    secret_key: SecretStr | None = None
    #: Per agency code: that agency's own partner code and secret (TOML only).
    partners: dict[str, DvcqgPartnerSettings] = {}
    #: Query an attempt when no callback settled it this long after it last changed.
    query_after_seconds: float = Field(300, gt=0)
    #: The janitor gives up querying (and flags the attempt for finance) after this long: the
    #: platform settles within 3 days (issue 12; specs/dvcqg-payment-platform.md). An attempt
    #: closed with its bill is asked about until then too, and then simply no longer asked.
    give_up_after_hours: float = Field(72, gt=0)
    timeout_seconds: float = Field(10, gt=0, le=60)
    #: Callbacks with a wrong checksum kept on record per Vietnam day; beyond that they are
    #: only logged and counted, so forgeries cannot fill the database.
    max_forged_per_day: int = Field(1000, ge=0)
    #: Sandbox platform: never deliver callbacks (the poller must settle every payment).
    sandbox_lose_callbacks: bool = False

    def secrets(self) -> list[tuple[str, SecretStr]]:
        """Every configured secret with the key that names it."""
        found = [("dvcqg.secret_key", self.secret_key)] if self.secret_key else []
        return found + [
            (f"dvcqg.partners.{agency}.secret_key", partner.secret_key)
            for agency, partner in self.partners.items()
        ]


class PosSettings(_Section):
    """The acquirer's POS cloud. In sandbox mode the URL defaults to the mounted sandbox."""

    base_url: str | None = None
    merchant_id: str = "DEMO-MERCHANT"
    secret: SecretStr = SecretStr("sandbox-pos-secret")
    timeout_seconds: float = Field(10, gt=0, le=60)
    #: Query a sale when no callback came this long after it was pushed.
    query_after_seconds: float = Field(120, gt=0)
    #: Give-up horizon: a sale still open at this age goes to finance review.
    give_up_after_hours: float = Field(24, gt=0)


#: The sandbox wallets' own credentials: published in config/default.toml for sandbox mode
#: only; outside it the service refuses to start with them (see ``Settings``).
SANDBOX_WALLET_CREDENTIALS = frozenset(
    {"sandbox-momo-secret-key", "sandbox-zalopay-key1", "sandbox-zalopay-key2"}
)


class MomoMerchantSettings(_Section):
    partner_code: str = Field(pattern=r"^[A-Za-z0-9_]{2,50}$")
    access_key: SecretStr
    secret_key: SecretStr


class MomoSettings(_Section):
    """MoMo (AIO v2; ``specs/momo-zalopay.md`` §A). In sandbox mode the URL defaults to the
    mounted sandbox."""

    api_url: str | None = None  # …/v2/gateway/api
    #: The merchant used by agencies without their own entry in ``merchants``.
    partner_code: str | None = Field(None, pattern=r"^[A-Za-z0-9_]{2,50}$")
    access_key: SecretStr | None = None
    secret_key: SecretStr | None = None
    #: Per agency code: that agency's own merchant (TOML only).
    merchants: dict[str, MomoMerchantSettings] = {}
    timeout_seconds: float = Field(10, gt=0, le=60)
    #: Callback window: query an attempt when no IPN came this long after it last changed.
    query_after_seconds: float = Field(120, gt=0)
    #: Give-up horizon: past this age an attempt still open goes to finance review.
    give_up_after_hours: float = Field(48, gt=0)
    #: Refund horizon: a refund still pending at this age (its answer was lost; MoMo's refund
    #: query is not in the spec, so it is never asked about) is handed to finance.
    refund_give_up_after_hours: float = Field(24, gt=0)
    #: Sandbox MoMo: how often it resends an IPN not answered 204, and how many tries in all.
    sandbox_ipn_retry_seconds: float = Field(5, gt=0)
    sandbox_ipn_max_attempts: int = Field(3, ge=1)


class ZalopayAppSettings(_Section):
    app_id: int = Field(ge=1)
    key1: SecretStr
    key2: SecretStr


class ZalopaySettings(_Section):
    """ZaloPay (Open API v2; ``specs/momo-zalopay.md`` §B). In sandbox mode the URL defaults
    to the mounted sandbox."""

    api_url: str | None = None  # https://…, the paths /v2/... are under it
    app_id: int | None = Field(None, ge=1)
    key1: SecretStr | None = None
    key2: SecretStr | None = None
    #: Per agency code: that agency's own app (TOML only).
    apps: dict[str, ZalopayAppSettings] = {}
    timeout_seconds: float = Field(10, gt=0, le=60)
    #: Callback window (ZaloPay calls back on success only, so failures are found by query).
    query_after_seconds: float = Field(60, gt=0)
    give_up_after_hours: float = Field(48, gt=0)
    #: Refund horizon: a refund still pending at this age is handed to finance; it is still
    #: asked about with ``/v2/query_refund`` (ZaloPay settles refunds in 3–5 working days).
    refund_give_up_after_hours: float = Field(168, gt=0)
    #: Sandbox ZaloPay: seconds between callback tries (ZaloPay: at most 3 tries).
    sandbox_callback_retry_seconds: float = Field(5, gt=0)
    sandbox_callback_max_attempts: int = Field(3, ge=1, le=3)


class VnpostSettings(_Section):
    """VNPost's partner API (public-postal pickups and deliveries). In sandbox mode the URL
    defaults to the mounted sandbox and the credentials to the sandbox's own."""

    base_url: str | None = None
    path_prefix: str = "/api"
    username: str = "sandbox-partner"
    password: SecretStr = SecretStr("sandbox-vnpost-password")
    customer_code: str = Field("DEMO-KH001", pattern=r"^[A-Za-z0-9_-]{1,32}$")
    #: Which VNPost status table the carrier's codes are read with (docs/postal.md): the
    #: partner order API's 0–29 (``partner_order``) or MyVNPost's order statuses (``myvnpost``).
    status_profile: Literal["partner_order", "myvnpost"] = "partner_order"
    #: HMAC key VNPost signs status pushes with.
    webhook_key: SecretStr = SecretStr("sandbox-vnpost-webhook-key")
    #: When set, pushes must come to ``/callbacks/vnpost/<secret>`` (the bare path is refused).
    callback_secret: SecretStr | None = None
    #: Addresses (CIDR) pushes may come from; empty allows any.
    callback_allowed_ips: list[str] = []
    timeout_seconds: float = Field(10, gt=0, le=60)
    #: How often the background loop submits, cancels and reads orders that are due.
    poll_seconds: float = Field(5, gt=0)
    #: Read an order from the carrier when it has been silent this long.
    sync_after_seconds: float = Field(6 * 3600, gt=0)
    #: First wait before a failed submission is looked up and tried again (doubles each time).
    submit_retry_seconds: float = Field(30, gt=0)
    submit_max_attempts: int = Field(8, ge=1, le=50)
    default_weight_grams: int = Field(500, ge=1, le=30_000)
    #: Largest collect-on-delivery amount, in VND.
    max_cod: int = Field(5_000_000, ge=1, le=100_000_000)
    #: Sandbox carrier: seconds between pushes it redelivers, and how many tries in all.
    sandbox_retry_seconds: float = Field(2, gt=0)
    sandbox_max_attempts: int = Field(10, ge=1)
    #: Sandbox carrier: move every live order one step this often (0: only on request).
    sandbox_auto_advance_seconds: float = Field(0, ge=0)

    @field_validator("callback_allowed_ips")
    @classmethod
    def _networks(cls, value: list[str]) -> list[str]:
        for network in value:
            try:
                ipaddress.ip_network(network, strict=False)
            except ValueError:
                raise ValueError(f"{network!r} is not an IP address or CIDR network") from None
        return value


class TaxAuthoritySettings(_Section):
    """The tax authority's message endpoint for same-day receipt summaries (form 01/TH-BLĐT,
    docs/receipts.md). In sandbox mode the URL defaults to the mounted sandbox."""

    base_url: str | None = None
    path: str = "/messages"
    #: Our ``MNGui``: ``V`` + tax code when the gateway operator sends as an intermediary,
    #: ``K`` + tax code when an agency connects directly (QĐ 1271/QĐ-CT).
    sender_code: str = Field("K0312345678", pattern=r"^[VK]\d{10}(\d{3})?$")
    timeout_seconds: float = Field(30, gt=0, le=120)
    #: How often the summary loop builds the summaries of past days and sends what is due.
    poll_seconds: float = Field(300, gt=0)
    #: First wait before a summary left without an answer is sent again (doubles each try,
    #: up to ``max_retry_seconds``).
    retry_seconds: float = Field(300, gt=0)
    max_retry_seconds: float = Field(6 * 3600, gt=0)
    #: How many past business days the loop looks at for receipts without a summary.
    lookback_days: int = Field(10, ge=1, le=366)
    #: How long after midnight (Asia/Ho_Chi_Minh) a day is summarised: a receipt issued just
    #: before midnight whose transaction commits a moment later is still on the day's table.
    build_grace_seconds: float = Field(300, ge=0, le=3600)


class VnptReceiptSettings(_Section):
    """A VNPT e-receipt tenant (an external provider that numbers and signs receipts). In
    sandbox mode the URL defaults to the mounted sandbox and the credentials to its own."""

    base_url: str | None = None
    #: The web-service user (ServiceRole) every call sends.
    username: str = "sandbox-vnpt-service"
    password: SecretStr = SecretStr("sandbox-vnpt-service-password")
    #: The publishing staff account that publish and cancel also send.
    account: str = "sandbox-vnpt-admin"
    ac_pass: SecretStr = SecretStr("sandbox-vnpt-admin-password")
    timeout_seconds: float = Field(15, gt=0, le=60)


#: The counterparts a reconciliation run compares the ledger with (``reconciliation.model``
#: names them too; config imports nothing of the service).
ReconSource = Literal["bank", "vnpay", "pos", "treasury", "cod"]


class ReconSourceSettings(_Section):
    """One counterpart's overrides of :class:`ReconciliationSettings` (unset: the default)."""

    window_days: int | None = Field(None, ge=0, le=31)
    transit_days: int | None = Field(None, ge=0, le=31)
    amount_tolerance: int | None = Field(None, ge=0, le=10_000_000)


class ReconRules(_Section):
    """What one counterpart's comparison uses, every value resolved."""

    #: Booking dates of a pair may differ by at most this many days.
    window_days: int
    #: An internal line of day D is ``expected_in_transit`` until the counterpart has reported
    #: through D + transit_days without it; from then on it is ``missing_in_<source>``.
    transit_days: int
    #: A pair by key whose amounts differ by at most this many VND is a match
    #: (``amount_within_tolerance``, the difference recorded), not an ``amount_mismatch``.
    amount_tolerance: int


class ReconciliationSettings(_Section):
    window_days: int = Field(2, ge=0, le=31)
    transit_days: int = Field(1, ge=0, le=31)
    amount_tolerance: int = Field(0, ge=0, le=10_000_000)
    #: Per counterpart (TOML only): ``[reconciliation.sources.vnpay]`` …
    sources: dict[ReconSource, ReconSourceSettings] = {}

    def rules(self, source: ReconSource) -> ReconRules:
        own = self.sources.get(source, ReconSourceSettings())
        return ReconRules(
            window_days=_first(own.window_days, self.window_days),
            transit_days=_first(own.transit_days, self.transit_days),
            amount_tolerance=_first(own.amount_tolerance, self.amount_tolerance),
        )


def _first(value: int | None, default: int) -> int:
    return default if value is None else value


#: What a citizen can be told about (``docs/notifications.md``).
NotificationKind = Literal[
    "payment_created",
    "payment_paid",
    "payment_expiring",
    "payment_expired",
    "postal_picked_up",
    "postal_out_for_delivery",
    "postal_delivered",
    "postal_delivery_failed",
]
NotificationChannel = Literal["zns", "sms"]
#: What a template may say (filled by gateway.services.notifications.compose).
NOTIFICATION_PLACEHOLDERS = frozenset(
    {
        "agency_name",
        "dossier_code",
        "amount",
        "checkout_url",
        "expires_at",
        "receipt_url",
        "tracking_number",
    }
)


class NotificationTemplate(_Section):
    """One event of one agency: which channels tell it and with what words.

    Placeholders in ``sms_text`` and in the values of ``zns_data``: ``{agency_name}``,
    ``{dossier_code}``, ``{amount}`` (``185.000``), ``{checkout_url}``, ``{expires_at}``
    (Vietnam time), ``{receipt_url}`` (empty until receipts exist), ``{tracking_number}``."""

    zns: bool = True
    sms: bool = True
    #: The ZNS template approved for the agency's Official Account, and its parameters.
    zns_template_id: str | None = None
    zns_data: dict[str, str] = {}
    #: Vietnamese with diacritics; sent folded (không dấu), one SMS (160 characters) if it fits.
    sms_text: str | None = None

    @model_validator(mode="after")
    def _complete(self) -> NotificationTemplate:
        for text in (self.sms_text or "", *self.zns_data.values()):
            try:
                names = {name for _, name, _, _ in string.Formatter().parse(text) if name}
            except ValueError:
                raise ValueError(f"{text!r} is not a valid template (unbalanced braces)") from None
            unknown = names - NOTIFICATION_PLACEHOLDERS
            if unknown:
                raise ValueError(
                    f"unknown placeholder {sorted(unknown)[0]!r}; use "
                    + ", ".join(sorted(NOTIFICATION_PLACEHOLDERS))
                )
        if self.zns and not self.zns_template_id:
            raise ValueError("zns needs zns_template_id (or set zns = false)")
        if self.sms and not self.sms_text:
            raise ValueError("sms needs sms_text (or set sms = false)")
        return self


class AgencyNotificationSettings(_Section):
    #: The order channels are tried in; ZNS falls back to SMS when the number has no Zalo.
    channels: list[NotificationChannel] = ["zns", "sms"]
    #: The events this agency tells citizens about (absent: not told).
    events: dict[NotificationKind, NotificationTemplate] = {}


class ZnsSettings(_Section):
    """Zalo ZNS (``specs/notifications.md`` §1). In sandbox mode the URL defaults to the
    mounted sandbox."""

    base_url: str | None = None  # https://business.openapi.zalo.me
    access_token: SecretStr = SecretStr("sandbox-zns-access-token")
    #: ``development`` delivers only to the OA's admins (testing a template).
    mode: str | None = None
    #: Delivery receipts must come to ``/callbacks/zns/<secret>``.
    callback_secret: SecretStr = SecretStr("sandbox-zns-callback")


class SmsSettings(_Section):
    """SMS brandname through eSMS (``specs/notifications.md`` §2.1)."""

    base_url: str | None = None  # https://rest.esms.vn
    api_key: SecretStr = SecretStr("sandbox-esms-api-key")
    secret_key: SecretStr = SecretStr("sandbox-esms-secret-key")
    brandname: str = Field("DVC DEMO", min_length=1, max_length=11)
    #: Delivery reports must come to ``/callbacks/sms/<secret>`` (eSMS does not sign them).
    callback_secret: SecretStr = SecretStr("sandbox-sms-callback")


class NotificationSettings(_Section):
    """Citizen notifications by Zalo ZNS and SMS, driven by the outbox."""

    enabled: bool = False
    zns: ZnsSettings = ZnsSettings()
    sms: SmsSettings = SmsSettings()
    #: Per agency code (TOML only): channels and the events it tells about.
    agencies: dict[str, AgencyNotificationSettings] = {}
    #: Keys the hash of an opted-out number (the number itself is not stored).
    lookup_key: SecretStr = SecretStr("sandbox-notification-lookup-key")
    #: An "expiring soon" reminder goes this long before a bill's expiry, for bills that live
    #: at least twice as long (a 15-minute bill gets none).
    expiring_lead_seconds: int = Field(24 * 3600, ge=60)
    poll_seconds: float = Field(2.0, gt=0)
    batch_size: int = Field(100, ge=1, le=1000)
    #: A claimed notification is reclaimed by another worker after this long.
    lease_seconds: float = Field(60.0, gt=0)
    timeout_seconds: float = Field(10.0, gt=0, le=60)
    #: Sandbox only: send every delivery receipt this long after the message (0: on request).
    sandbox_receipt_seconds: float = Field(3.0, ge=0)


#: The key that seals personal data in sandbox mode only (base64 of 32 bytes; not a secret).
SANDBOX_PII_KEY = SecretStr("c2FuZGJveC1vbmx5LWtleS1uZXZlci1mb3ItcHJvZCE=")


class PiiSettings(_Section):
    """Keys that seal personal data at rest (AES-256-GCM). ``keys`` maps a key id to the
    base64 of 32 random bytes (TOML only); every key still needed to read stays listed, and
    ``current_key_id`` seals new values."""

    current_key_id: str = Field("k1", pattern=r"^[A-Za-z0-9_-]{1,16}$")
    keys: dict[str, SecretStr] = {}

    @model_validator(mode="after")
    def _usable(self) -> PiiSettings:
        for key_id, key in self.keys.items():
            if is_placeholder(key.get_secret_value()):
                raise ValueError(
                    f"key {key_id!r} is still the example's placeholder: put the base64 of 32 "
                    "random bytes (config/production.example.toml says how)"
                )
            try:
                raw = base64.b64decode(key.get_secret_value(), validate=True)
            except ValueError:
                raise ValueError(f"key {key_id!r} is not base64") from None
            if len(raw) != 32:
                raise ValueError(f"key {key_id!r} must be 32 bytes (base64 of 32 random bytes)")
        if self.keys and self.current_key_id not in self.keys:
            raise ValueError(f"current_key_id {self.current_key_id!r} is not among the keys")
        return self

    def keyring(self) -> dict[str, bytes]:
        return {k: base64.b64decode(v.get_secret_value()) for k, v in self.keys.items()}


#: A receipt symbol since 2026 (TT 91/2026 Phụ lục II): two-digit year, ``T``, two of the 20
#: allowed capitals. ``providers.receipts.document`` checks the same; config imports no provider.
RECEIPT_SYMBOL = re.compile(r"^(\d{2})T[ABCDEGHKLMNPQRSTUVXY]{2}$")


class ReceiptAgencySettings(_Section):
    """How one agency (by its code) issues e-receipts (docs/receipts.md, "Issuing receipts").
    The signing identity is a PKCS#12 file (+ password) or a PEM key + certificate; in
    sandbox mode without either, a throwaway one is made in ``data_dir``."""

    #: Mã số thuế of the collecting agency: 10 digits, or 10 digits, ``-`` and 3 digits.
    tax_code: str = Field(pattern=r"^\d{10}(-\d{3})?$")
    #: The agency's legal name as registered with the tax authority (printed on the receipt).
    legal_name: str = Field(min_length=1, max_length=255)
    address: str | None = Field(None, max_length=255)
    #: ``EBL01`` (without face value) or ``EBL02`` (with face value).
    template_code: str = Field("EBL01", pattern=r"^EBL0[12]$")
    #: The receipt symbol of each year (Asia/Ho_Chi_Minh), e.g. ``{ "2026" = "26TAB" }``: the
    #: year is in the symbol, so 1 January needs the new year's symbol (and a number range).
    symbols: dict[str, str] = {}
    #: ``single``: one receipt per payment; ``split``: one for the phí lines and one for the
    #: lệ phí lines.
    split: Literal["single", "split"] = "single"
    #: Who issues: the gateway's own signer (the agency's software, or the operator as its
    #: delegate), or ``vnpt``: the VNPT e-receipt tenant of ``[receipts.vnpt]`` numbers and
    #: signs the agency's receipts (docs/receipts.md, "Issuers"). The signing identity is still
    #: the agency's: it signs the same-day summaries.
    issuer: Literal["gateway", "vnpt"] = "gateway"
    #: Whether a receipt of an ``issuer = "vnpt"`` agency may be replaced through VNPT: off
    #: until VNPT confirms the operation (its replacement shape is unverified, docs/receipts.md,
    #: "Issuer"); off, a replacement is refused at proposal (``receipt_not_issuable``, reason
    #: ``vnpt_replacements_off``) and made at VNPT's portal instead.
    vnpt_replacements: bool = False
    #: Whom the gateway's receipts name as their issuer: ``agency`` (the gateway is the
    #: agency's own software), or ``delegate`` (the gateway operator of ``[receipts.delegate]``
    #: issues as the agency's delegate under a recorded agreement, NĐ 254/2026 Điều 4.6 and
    #: Điều 25; docs/receipts.md, "Issuing as the agency's delegate"). Needs ``issuer =
    #: "gateway"``.
    issued_as: Literal["agency", "delegate"] = "agency"
    pkcs12_file: Path | None = None
    pkcs12_password: SecretStr | None = None
    key_file: Path | None = None
    certificate_file: Path | None = None

    @field_validator("symbols")
    @classmethod
    def _symbols(cls, value: dict[str, str]) -> dict[str, str]:
        for year, symbol in value.items():
            if not re.fullmatch(r"20\d{2}", year):
                raise ValueError(f'{year!r} is not a year (write it as "2026")')
            found = RECEIPT_SYMBOL.match(symbol)
            if found is None:
                raise ValueError(f"symbol {symbol!r} is not YYT + two of ABCDEGHKLMNPQRSTUVXY")
            if found.group(1) != year[2:]:
                raise ValueError(f"symbol {symbol!r} does not carry the year {year}")
        return value

    @model_validator(mode="after")
    def _one_identity(self) -> ReceiptAgencySettings:
        if self.pkcs12_file is not None and (self.key_file or self.certificate_file):
            raise ValueError("give pkcs12_file or key_file + certificate_file, not both")
        if (self.key_file is None) != (self.certificate_file is None):
            raise ValueError("key_file and certificate_file go together")
        if self.issued_as == "delegate" and self.issuer != "gateway":
            raise ValueError('issued_as = "delegate" needs issuer = "gateway"')
        return self

    @property
    def has_identity(self) -> bool:
        return self.pkcs12_file is not None or self.key_file is not None


class ReceiptDelegateSettings(_Section):
    """The gateway operator as the delegate that issues receipts on behalf of agencies
    (``[receipts.delegate]``; NĐ 254/2026 Điều 4.6: the receipt shows the delegate's name and
    address)."""

    name: str = Field(min_length=1, max_length=255)
    address: str = Field(min_length=1, max_length=255)
    #: Mã số thuế of the operator: 10 digits, or 10 digits, ``-`` and 3 digits.
    tax_code: str = Field(pattern=r"^\d{10}(-\d{3})?$")


class ReceiptSettings(_Section):
    #: The VNPT e-receipt tenant (``[receipts.vnpt]``) for agencies that issue through VNPT.
    vnpt: VnptReceiptSettings = VnptReceiptSettings()
    #: Per agency code (TOML only): ``[receipts.agencies.DEMO]``. An agency without an entry
    #: issues no receipts through the gateway.
    agencies: dict[str, ReceiptAgencySettings] = {}
    #: How often receipts left ``pending`` (no range, certificate expired) are tried again.
    retry_seconds: float = Field(60, gt=0)
    #: The gateway operator issuing as the delegate of the agencies with ``issued_as =
    #: "delegate"`` (required when one has it).
    delegate: ReceiptDelegateSettings | None = None

    @model_validator(mode="after")
    def _delegate_named(self) -> ReceiptSettings:
        if self.delegate is None:
            for code, agency in self.agencies.items():
                if agency.issued_as == "delegate":
                    raise ValueError(
                        f'agencies.{code}: issued_as = "delegate" needs [receipts.delegate] '
                        "(the operator's name, address and tax code)"
                    )
        return self


class ConsoleLoginSettings(_Section):
    """Back-off and lock-out of console sign-ins (both consoles share one sign-in form).

    After ``backoff_after`` failures in a row a user's next try waits ``base_delay_seconds``,
    doubling with each further failure up to ``max_delay_seconds``; at ``lock_after`` the
    account is locked until an administrator unlocks it (``gateway users unlock``). An
    address is only slowed down, from ``address_backoff_after`` failures (a locked address
    would lock out a whole office behind one NAT). Failures older than
    ``forget_after_seconds`` are forgotten, except a lock-out."""

    backoff_after: int = Field(5, ge=1)
    lock_after: int = Field(10, ge=1)
    address_backoff_after: int = Field(20, ge=1)
    base_delay_seconds: int = Field(2, ge=1)
    max_delay_seconds: int = Field(900, ge=1)
    forget_after_seconds: int = Field(3600, ge=1)

    @model_validator(mode="after")
    def _lock_after_backoff(self) -> ConsoleLoginSettings:
        if self.lock_after < self.backoff_after:
            raise ValueError("lock_after must not be smaller than backoff_after")
        return self


class ContactSettings(_Section):
    """Whom a citizen contacts about a payment (shown on the checkout page when the money
    needs a person's review). Only ``name`` is required; an absent phone, e-mail or office
    hours are not shown."""

    name: str = Field(
        "Bộ phận tiếp nhận và trả kết quả nơi bạn nộp hồ sơ", min_length=1, max_length=200
    )
    phone: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=200)
    hours: str | None = Field(None, max_length=200)


class ContactsSettings(_Section):
    """``[contacts]``: the default contact, and per agency code (TOML only) its own
    ``[contacts.agencies.<code>]``."""

    default: ContactSettings = ContactSettings()
    agencies: dict[str, ContactSettings] = {}

    def for_agency(self, agency_code: str) -> ContactSettings:
        return self.agencies.get(agency_code, self.default)


class DemoSettings(_Section):
    agency_code: str = "DEMO"
    #: How the demo agency issues receipts in sandbox mode (copied into
    #: ``receipts.agencies.<agency_code>`` unless that is given; ignored outside sandbox mode).
    receipts: ReceiptAgencySettings | None = None
    #: Fixed demo portal key (else a new one is printed at start-up).
    api_key: SecretStr | None = None
    #: Fixed demo keys for the finance roles (else new ones are printed at start-up).
    finance_key: SecretStr | None = None
    approver_key: SecretStr | None = None
    #: Fixed post-office (BC-DEMO) operator key (else a new one at every start, the last revoked).
    operator_key: SecretStr | None = None
    #: Fixed password of every demo console user (else new ones at every start).
    console_password: SecretStr | None = Field(None, min_length=12)

    @field_validator("api_key", "finance_key", "approver_key", "operator_key")
    @classmethod
    def _key_format(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not API_KEY_FORMAT.match(value.get_secret_value()):
            raise ValueError("an API key looks like gw_<10 of a-z0-9>_<32 to 64 of A-Za-z0-9_->")
        return value


class Settings(_Section):
    sandbox: bool = False
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    data_dir: Path = Path("./var")
    database_url: SecretStr | None = None
    #: PostgreSQL connections each process keeps open at most (docs/deployment.md, connection
    #: budget). Opened on demand and kept: none is closed on return to the pool, so a burst
    #: past the usual concurrency does not open and close backends (~1 ms of server CPU each).
    #: A request finding all of them busy waits for one. Not used with SQLite.
    database_pool_size: int = Field(30, ge=1, le=1000)
    public_base_url: str | None = None
    log_format: Literal["json", "console"] = "json"
    log_level: Literal["debug", "info", "warning", "error"] = "info"
    #: Largest JSON body or provider callback; larger ones get 413 payload_too_large.
    max_body_bytes: int = Field(65536, ge=1024)
    #: Largest provider callback (a bank notice, a POS result, a VNPost push: a few KB), read
    #: before the sender is known, so kept small.
    max_callback_bytes: int = Field(32768, ge=1024)
    #: Largest statement file a finance officer may upload (reconciliation imports).
    max_upload_bytes: int = Field(50 * 1024 * 1024, ge=1024)
    #: Longest a statement file may take to read (in a worker thread); past it the upload is
    #: refused with ``parse_timeout`` and nothing is stored.
    parse_timeout_seconds: float = Field(30, gt=0)
    payments: PaymentSettings = PaymentSettings()
    banks: dict[str, BankSettings] = {}
    sandbox_bank: SandboxBankSettings = SandboxBankSettings()
    webhooks: WebhookSettings = WebhookSettings()
    pii: PiiSettings = PiiSettings()
    vnpay: VnpaySettings = VnpaySettings()
    pos: PosSettings = PosSettings()
    dvcqg: DvcqgSettings = DvcqgSettings()
    momo: MomoSettings = MomoSettings()
    zalopay: ZalopaySettings = ZalopaySettings()
    vnpost: VnpostSettings = VnpostSettings()
    tax_authority: TaxAuthoritySettings = TaxAuthoritySettings()
    reconciliation: ReconciliationSettings = ReconciliationSettings()
    receipts: ReceiptSettings = ReceiptSettings()
    notifications: NotificationSettings = NotificationSettings()
    contacts: ContactsSettings = ContactsSettings()
    #: How often pending provider attempts are looked at by the poller.
    poll_seconds: float = Field(30, gt=0)
    demo: DemoSettings = DemoSettings()
    console_login: ConsoleLoginSettings = ConsoleLoginSettings()
    #: ``/metrics`` on its own listener (``metrics_host``/``metrics_port``, e.g. an internal
    #: address the scraper reaches), else on the public port behind ``metrics_token``.
    #: Outside sandbox mode one of the two is required (see docs/configuration.md).
    metrics_host: str | None = None
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_token: SecretStr | None = Field(None, min_length=16)
    #: ``gateway serve`` runs the background loops (delivery, expiry, polling) in-process.
    workers_in_process: bool = True

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        """A URL SQLAlchemy can parse, with one of the two async drivers the gateway runs
        on; the message never repeats the URL (it may hold a password)."""
        if value is None:
            return value
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            driver = make_url(value.get_secret_value()).drivername
        except (ArgumentError, ValueError):
            raise ValueError(
                "not a database URL; e.g. postgresql+asyncpg://user@host:5432/gateway "
                "or sqlite+aiosqlite:///var/gateway.db"
            ) from None
        if driver not in DATABASE_DRIVERS:
            raise ValueError(
                f"the driver {driver!r} is not supported; use {' or '.join(DATABASE_DRIVERS)}"
            )
        return value

    @model_validator(mode="after")
    def _no_placeholder_left(self) -> Settings:
        """Outside sandbox mode no value is still an example's placeholder
        (config/production.example.toml): a secret printed in the repository is no secret."""
        if self.sandbox:
            return self
        for key, value in _values(self, ()):
            if is_placeholder(value):
                raise ValueError(
                    f"{key} is still the example's placeholder: put the real value there "
                    "(refused outside sandbox mode)"
                )
        return self

    @model_validator(mode="after")
    def _personal_data_is_sealed(self) -> Settings:
        if self.pii.keys:
            return self
        if not self.sandbox:
            raise ValueError("pii.keys is required: personal data is never stored unsealed")
        # Sandbox mode seals with a well-known key: the demo data is not real.
        sandbox = PiiSettings(current_key_id="sandbox", keys={"sandbox": SANDBOX_PII_KEY})
        object.__setattr__(self, "pii", sandbox)
        return self

    @model_validator(mode="after")
    def _carrier_is_real(self) -> Settings:
        """Outside sandbox mode VNPost must be configured, never the sandbox's credentials."""
        if self.sandbox:
            return self
        vnpost, defaults = self.vnpost, VnpostSettings()
        if vnpost.base_url is None:
            raise ValueError("vnpost.base_url is required outside sandbox mode")
        for name in ("password", "webhook_key"):
            configured: SecretStr = getattr(vnpost, name)
            if configured.get_secret_value() == getattr(defaults, name).get_secret_value():
                raise ValueError(f"vnpost.{name} must be set outside sandbox mode")
        return self

    @model_validator(mode="after")
    def _notifier_is_real(self) -> Settings:
        """Outside sandbox mode, enabled notifications need real providers and keys."""
        notify = self.notifications
        if self.sandbox or not notify.enabled:
            return self
        defaults = NotificationSettings()
        for name in ("zns.base_url", "sms.base_url"):
            section, key = name.split(".")
            if getattr(getattr(notify, section), key) is None:
                raise ValueError(f"notifications.{name} is required outside sandbox mode")
        for name in (
            "lookup_key",
            "zns.access_token",
            "zns.callback_secret",
            "sms.api_key",
            "sms.secret_key",
            "sms.callback_secret",
        ):
            mine: Any = notify
            theirs: Any = defaults
            for part in name.split("."):
                mine, theirs = getattr(mine, part), getattr(theirs, part)
            if mine.get_secret_value() == theirs.get_secret_value():
                raise ValueError(f"notifications.{name} must be set outside sandbox mode")
        return self

    @model_validator(mode="after")
    def _platform_secret_is_real(self) -> Settings:
        """Outside sandbox mode the DVCQG platform never gets the sandbox's secret, and a
        configured partner needs the platform's URLs."""
        if self.sandbox:
            return self
        for key, secret in self.dvcqg.secrets():
            if secret.get_secret_value() == SANDBOX_DVCQG_SECRET:
                raise ValueError(f"{key}: the sandbox secret is refused outside sandbox mode")
        dvcqg = self.dvcqg
        if dvcqg.secrets() and not (dvcqg.init_url and dvcqg.query_url and dvcqg.bill_url):
            raise ValueError("dvcqg.init_url, query_url and bill_url are required outside sandbox")
        return self

    @model_validator(mode="after")
    def _wallets_are_real(self) -> Settings:
        """Outside sandbox mode the wallets' sandbox secrets are refused (spec
        ``specs/momo-zalopay.md`` "Sandbox notes": never interchangeable with production)."""
        if self.sandbox:
            return self
        configured = {
            "momo.secret_key": self.momo.secret_key,
            "zalopay.key1": self.zalopay.key1,
            "zalopay.key2": self.zalopay.key2,
            **{
                f"momo.merchants.{a}.secret_key": m.secret_key
                for a, m in self.momo.merchants.items()
            },
            **{f"zalopay.apps.{a}.key1": z.key1 for a, z in self.zalopay.apps.items()},
            **{f"zalopay.apps.{a}.key2": z.key2 for a, z in self.zalopay.apps.items()},
        }
        for key, secret in configured.items():
            if secret is not None and secret.get_secret_value() in SANDBOX_WALLET_CREDENTIALS:
                raise ValueError(
                    f"{key} is a sandbox secret: set the real one outside sandbox mode"
                )
        return self

    @model_validator(mode="after")
    def _receipts_are_signed(self) -> Settings:
        """Outside sandbox mode every agency that issues receipts names its signing identity
        (whether the files open and the certificate is valid is checked at start-up). In
        sandbox mode the demo agency issues receipts as ``[demo.receipts]`` says."""
        if self.sandbox:
            demo, configured = self.demo, self.receipts.agencies
            if demo.receipts is not None and demo.agency_code not in configured:
                agencies = {**configured, demo.agency_code: demo.receipts}
                receipts = self.receipts.model_copy(update={"agencies": agencies})
                object.__setattr__(self, "receipts", receipts)
            return self
        for code, agency in self.receipts.agencies.items():
            if not agency.has_identity:
                raise ValueError(
                    f"receipts.agencies.{code}: pkcs12_file or key_file + certificate_file is "
                    "required outside sandbox mode"
                )
        return self

    @model_validator(mode="after")
    def _sandbox_needs_its_bank(self) -> Settings:
        if self.sandbox and "sandbox" not in self.banks:
            raise ValueError("sandbox mode needs [banks.sandbox] with the sandbox bank's secret")
        return self

    @property
    def database_dsn(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"sqlite+aiosqlite:///{self.data_dir / 'gateway.db'}"

    @property
    def base_url(self) -> str:
        return (self.public_base_url or f"http://{self.host}:{self.port}").rstrip("/")

    @model_validator(mode="after")
    def _receipt_providers_are_real(self) -> Settings:
        """Outside sandbox mode an agency issuing through VNPT needs ``[receipts.vnpt]``
        ``base_url``, and a configured VNPT tenant never uses the sandbox's passwords."""
        if self.sandbox:
            return self
        if self.receipts.vnpt.base_url is None:
            for code, agency in self.receipts.agencies.items():
                if agency.issuer == "vnpt":
                    raise ValueError(
                        f'receipts.agencies.{code}: issuer = "vnpt" needs receipts.vnpt.base_url '
                        "outside sandbox mode"
                    )
            return self
        vnpt, defaults = self.receipts.vnpt, VnptReceiptSettings()
        for name in ("password", "ac_pass"):
            configured: SecretStr = getattr(vnpt, name)
            if configured.get_secret_value() == getattr(defaults, name).get_secret_value():
                raise ValueError(f"receipts.vnpt.{name} must be set outside sandbox mode")
        return self


#: What the example configurations print where a value is to be put
#: (config/production.example.toml): refused outside sandbox mode.
PLACEHOLDER_PREFIX = "replace-with-"
PLACEHOLDER_VALUES = frozenset({"change-me"})


def is_placeholder(value: str) -> bool:
    """Whether ``value`` is one of the example configurations' placeholders."""
    text = value.strip().casefold()
    return text.startswith(PLACEHOLDER_PREFIX) or text in PLACEHOLDER_VALUES


def _values(node: Any, path: tuple[str, ...]) -> Iterator[tuple[str, str]]:
    """Every text and secret value of the settings below ``node``, by its dotted key."""
    if isinstance(node, BaseModel):
        for name in type(node).model_fields:
            yield from _values(getattr(node, name), (*path, name))
    elif isinstance(node, Mapping):
        for name, value in node.items():
            yield from _values(value, (*path, str(name)))
    elif isinstance(node, list | tuple):
        for index, value in enumerate(node):
            yield from _values(value, (*path, str(index)))
    elif isinstance(node, SecretStr):
        yield ".".join(path), node.get_secret_value()
    elif isinstance(node, str):
        yield ".".join(path), node


def load_settings(
    path: str | Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> Settings:
    """Build settings from ``config/default.toml``, then ``path`` (or ``$GATEWAY_CONFIG``),
    then ``GATEWAY_*`` variables of ``environ`` (``os.environ`` if omitted), then ``overrides``.

    Raises :class:`ConfigError` naming the first unknown or invalid key.
    """
    env = os.environ if environ is None else environ
    data = _read_toml(DEFAULT_FILE)
    chosen = path or env.get("GATEWAY_CONFIG")
    if chosen:
        data = _read_toml(Path(chosen))  # an explicit file replaces the sandbox defaults
    _merge(data, _from_environment(env))
    _merge(data, dict(overrides or {}))
    try:
        return Settings.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "<root>"
        raise ConfigError(key, first["msg"]) from None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(
            str(path), f"cannot read the configuration file: {exc.strerror}"
        ) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(str(path), f"not valid TOML: {exc}") from None


def _env_names() -> dict[str, tuple[str, ...]]:
    """Map every scalar settings key to its variable: ``payments.max_amount`` →
    ``GATEWAY_PAYMENTS_MAX_AMOUNT``. Mapping-valued keys (``banks``) are TOML-only."""
    names: dict[str, tuple[str, ...]] = {}

    def walk(model: type[BaseModel], prefix: tuple[str, ...]) -> None:
        for name, field in model.model_fields.items():
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                walk(annotation, (*prefix, name))
            elif getattr(annotation, "__origin__", None) is not dict:
                path = (*prefix, name)
                names[ENV_PREFIX + "_".join(path).upper()] = path

    walk(Settings, ())
    return names


def _from_environment(env: Mapping[str, str]) -> dict[str, Any]:
    known = _env_names()
    result: dict[str, Any] = {}
    for variable, value in env.items():
        if not variable.startswith(ENV_PREFIX) or variable in LOADER_VARIABLES:
            continue
        path = known.get(variable)
        if path is None:
            raise ConfigError(variable, "unknown environment variable")
        node = result
        for part in path[:-1]:
            node = node.setdefault(part, {})
        node[path[-1]] = value
    return result


def _merge(base: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(base.get(key), dict):
            _merge(base[key], value)
        else:
            base[key] = value
