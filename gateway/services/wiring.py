"""One place that builds the services from the settings, for the app and for every CLI command.

``create_app`` and the ``gateway`` command both enter :func:`build_services`; neither
constructs a service itself, so a setting (the reference prefix, the upload limit, …) reaches
every entry point or none. The HTTP client sessions and the database engine are opened here
and closed when the context ends.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import cast

import aiohttp

from config import Settings
from config.settings import ReconSource
from gateway.channels.dvcqg import DvcqgChannel
from gateway.channels.momo import MomoChannel
from gateway.channels.registry import build_channels, pos_merchant
from gateway.channels.vnpay import VnpayChannel
from gateway.channels.zalopay import ZalopayChannel
from gateway.core.db import Database
from gateway.core.ids import Clock, system_clock
from gateway.observability import Metrics
from gateway.services import payment_state
from gateway.services.attempt_resolutions import AttemptResolutions
from gateway.services.attempts import AttemptService
from gateway.services.bank_credits import BankCreditService
from gateway.services.clients import PrincipalCache
from gateway.services.demo import DemoSeeder
from gateway.services.dvcqg_lookup import DvcqgLookup
from gateway.services.login_throttle import LoginThrottle
from gateway.services.notifications.compose import Composer
from gateway.services.notifications.receipts import ReceiptReceiver
from gateway.services.notifications.views import NotificationViews
from gateway.services.notifications.worker import NotificationWorker
from gateway.services.payments import PaymentService
from gateway.services.polling import Poller, Window
from gateway.services.postal.carrier import CarrierSync
from gateway.services.postal.operators import OperatorService
from gateway.services.postal.orders import PostalOrderService
from gateway.services.postal.pushes import PushReceiver
from gateway.services.postal.state import PostalContext
from gateway.services.provider_callbacks import ProviderCallbacks
from gateway.services.receipts.corrections import CorrectionService
from gateway.services.receipts.daily_summary import DailySummaries, SummaryAlerts
from gateway.services.receipts.issuance import RANGE_EXHAUSTED, Alerts, ReceiptIssuance
from gateway.services.receipts.signing import load_issuers
from gateway.services.receipts.tax_notices import TaxNoticeAlerts, TaxNotices
from gateway.services.receipts.views import ReceiptService
from gateway.services.refunds import RefundService
from gateway.services.sealing import Sealer
from gateway.services.staff import StaffService
from gateway.services.terminals import TerminalService
from gateway.services.wallet_callbacks import WalletCallbacks
from providers.common.secrets import Secret
from providers.notify.base import Notifier
from providers.notify.sms import SmsAccount, SmsClient
from providers.notify.zalo_zns import ZnsAccount, ZnsClient
from providers.postal.vnpost import PROFILES as VNPOST_PROFILES
from providers.postal.vnpost import VnpostAccount, VnpostClient
from providers.receipts.signer import SigningIdentity
from providers.receipts.tax_authority import TaxAuthorityClient, TaxAuthorityEndpoint
from providers.receipts.vnpt import VnptAccount, VnptClient
from reconciliation.imports import ImportService
from reconciliation.ledger_lookup import LedgerLookup
from reconciliation.model import Source
from reconciliation.report import ReportService
from reconciliation.runs import COUNTERPARTS, RunService, SourceRules
from reconciliation.workflow import Workflow
from webhooks.delivery import DeliveryOptions, DeliveryWorker
from webhooks.endpoints import EndpointService
from webhooks.events import EventService
from webhooks.resolver import connector_options


@dataclass(frozen=True)
class Services:
    """Everything the HTTP handlers, pages, background loops and CLI commands call."""

    settings: Settings
    clock: Clock
    metrics: Metrics
    database: Database
    principals: PrincipalCache
    payments: PaymentService
    bank_credits: BankCreditService
    attempts: AttemptService
    resolutions: AttemptResolutions
    refunds: RefundService
    terminals: TerminalService
    callbacks: ProviderCallbacks
    wallet_callbacks: WalletCallbacks
    poller: Poller
    staff: StaffService
    endpoints: EndpointService
    events: EventService
    delivery: DeliveryWorker
    imports: ImportService
    workflow: Workflow
    recon_runs: RunService
    reports: ReportService
    ledger: LedgerLookup
    receipts: ReceiptService
    receipt_summaries: DailySummaries
    receipt_tax_notices: TaxNotices
    receipt_corrections: CorrectionService
    postal_orders: PostalOrderService
    carrier_sync: CarrierSync
    vnpost_pushes: PushReceiver
    operators: OperatorService
    notifications: NotificationWorker
    notification_views: NotificationViews
    notification_receipts: ReceiptReceiver
    demo: DemoSeeder
    dvcqg_lookup: DvcqgLookup


def recon_rules(settings: Settings) -> dict[Source, SourceRules]:
    """Each counterpart's reconciliation rules, the ``[reconciliation]`` defaults overridden
    per source."""
    return {
        source: SourceRules(
            **settings.reconciliation.rules(cast(ReconSource, source.value)).model_dump()
        )
        for source in COUNTERPARTS
    }


def janitor_windows(settings: Settings) -> dict[str, Window]:
    """Each queryable channel's callback window and give-up horizon (docs/channels.md)."""

    def window(
        query_after_seconds: float,
        give_up_after_hours: float,
        refund_give_up_after_hours: float | None = None,
    ) -> Window:
        return Window(
            timedelta(seconds=query_after_seconds),
            timedelta(hours=give_up_after_hours),
            None
            if refund_give_up_after_hours is None
            else timedelta(hours=refund_give_up_after_hours),
        )

    vnpay, momo, zalopay = settings.vnpay, settings.momo, settings.zalopay
    return {
        "vnpay": window(
            vnpay.query_after_seconds, vnpay.give_up_after_hours, vnpay.refund_give_up_after_hours
        ),
        "pos": window(settings.pos.query_after_seconds, settings.pos.give_up_after_hours),
        "momo": window(
            momo.query_after_seconds, momo.give_up_after_hours, momo.refund_give_up_after_hours
        ),
        "zalopay": window(
            zalopay.query_after_seconds,
            zalopay.give_up_after_hours,
            zalopay.refund_give_up_after_hours,
        ),
        "dvcqg": window(settings.dvcqg.query_after_seconds, settings.dvcqg.give_up_after_hours),
    }


def vnpost_client(settings: Settings, session: aiohttp.ClientSession, clock: Clock) -> VnpostClient:
    """VNPost's client; in sandbox mode without a URL, the mounted sandbox carrier."""
    vnpost = settings.vnpost
    base_url = vnpost.base_url or f"{settings.base_url}/sandbox/vnpost"
    account = VnpostAccount(
        username=vnpost.username,
        password=Secret(vnpost.password.get_secret_value()),
        customer_code=vnpost.customer_code,
        base_url=base_url,
        path_prefix=vnpost.path_prefix,
    )
    return VnpostClient(session, account, vnpost.timeout_seconds, clock)


def notifiers(settings: Settings, session: aiohttp.ClientSession) -> dict[str, Notifier]:
    """The ZNS and SMS clients; in sandbox mode without URLs, the mounted sandbox."""
    notify = settings.notifications
    sandbox = f"{settings.base_url}/sandbox/messages"
    found: dict[str, Notifier] = {}
    zns_url = notify.zns.base_url or (f"{sandbox}/zns" if settings.sandbox else None)
    if zns_url:
        zns = ZnsAccount(
            base_url=zns_url,
            access_token=Secret(notify.zns.access_token.get_secret_value()),
            mode=notify.zns.mode,
        )
        found["zns"] = ZnsClient(session, zns, notify.timeout_seconds)
    sms_url = notify.sms.base_url or (f"{sandbox}/esms" if settings.sandbox else None)
    if sms_url:
        secret = notify.sms.callback_secret.get_secret_value()
        sms = SmsAccount(
            base_url=sms_url,
            api_key=Secret(notify.sms.api_key.get_secret_value()),
            secret_key=Secret(notify.sms.secret_key.get_secret_value()),
            brandname=notify.sms.brandname,
            callback_url=f"{settings.base_url}/callbacks/sms/{secret}",
            sandbox=settings.sandbox,
        )
        found["sms"] = SmsClient(session, sms, notify.timeout_seconds)
    return found


def tax_authority_client(
    settings: Settings, session: aiohttp.ClientSession
) -> TaxAuthorityClient | None:
    """The tax authority's client; in sandbox mode without a URL, the mounted sandbox. None
    when no endpoint is configured (summaries are built and kept unsent)."""
    tax = settings.tax_authority
    base_url = tax.base_url or (
        f"{settings.base_url}/sandbox/tax-authority" if settings.sandbox else None
    )
    if base_url is None:
        return None
    endpoint = TaxAuthorityEndpoint(base_url, tax.sender_code, path=tax.path)
    return TaxAuthorityClient(session, endpoint, tax.timeout_seconds)


def vnpt_issuers(settings: Settings, session: aiohttp.ClientSession) -> dict[str, VnptClient]:
    """The VNPT client of each agency with ``issuer = "vnpt"`` (one tenant,
    ``[receipts.vnpt]``); in sandbox mode without a URL, the mounted sandbox."""
    vnpt = settings.receipts.vnpt
    base_url = vnpt.base_url or (
        f"{settings.base_url}/sandbox/vnpt-receipts" if settings.sandbox else None
    )
    codes = [code for code, agency in settings.receipts.agencies.items() if agency.issuer == "vnpt"]
    if base_url is None or not codes:  # the settings refuse a vnpt agency without a URL
        return {}
    account = VnptAccount(
        base_url,
        vnpt.username,
        Secret(vnpt.password.get_secret_value()),
        vnpt.account,
        Secret(vnpt.ac_pass.get_secret_value()),
    )
    client = VnptClient(session, account, vnpt.timeout_seconds)
    return dict.fromkeys(codes, client)


def receipt_alerts(metrics: Metrics) -> Alerts:
    def pending(agency: str, reason: str) -> None:
        metrics.receipts_pending.labels(agency, reason).inc()
        if reason == RANGE_EXHAUSTED:
            metrics.receipt_ranges_exhausted.labels(agency).inc()

    return Alerts(
        issued=lambda agency: metrics.receipts_issued.labels(agency).inc(), pending=pending
    )


@asynccontextmanager
async def build_services(
    settings: Settings, *, clock: Clock = system_clock, metrics: Metrics | None = None
) -> AsyncIterator[Services]:
    """Open the database and the HTTP client sessions, build every service from
    ``settings``, and close them all when the block ends."""
    metrics = metrics if metrics is not None else Metrics()
    database = Database(settings.database_dsn, pool_size=settings.database_pool_size)
    try:
        sealer = Sealer(settings.pii.keyring(), settings.pii.current_key_id)
        issuers = load_issuers(settings, clock())
        issuer = ReceiptIssuance(
            settings.receipts,
            issuers,
            sealer,
            clock,
            settings.base_url,
            receipt_alerts(metrics),
        )
        context = payment_state.Context(
            clock,
            settings.base_url,
            on_paid=lambda channel: metrics.payments_paid.labels(channel).inc(),
            issue_receipts=issuer.issue_for_payment,
        )
        hooks = settings.webhooks
        allow_private = hooks.allow_private_urls or settings.sandbox
        endpoints = EndpointService(
            database,
            clock,
            allow_private=allow_private,
            secret_overlap=timedelta(hours=hooks.secret_overlap_hours),
        )
        workflow = Workflow(database, clock)
        staff = StaffService(
            database,
            clock,
            LoginThrottle(
                database,
                clock,
                settings.console_login,
                on_outcome=lambda outcome: metrics.console_logins.labels(outcome).inc(),
            ),
        )
        terminals = TerminalService(database, clock)
        connector = aiohttp.TCPConnector(
            limit=hooks.concurrency, **connector_options(allow_private)
        )
        async with (
            aiohttp.ClientSession(connector=connector) as session,
            aiohttp.ClientSession() as provider_session,
        ):
            channels = build_channels(settings, provider_session, clock)
            # One client for both messages the tax authority takes: summaries and notices.
            tax_client = tax_authority_client(settings, provider_session)

            def signing_identity(code: str) -> SigningIdentity | None:
                return issuers[code].identity if code in issuers else None

            # Agencies issuing through VNPT: their receipts are born pending and published by
            # the pending-receipts loop, outside any transaction (the session opens only here).
            issuer.issuers.update(vnpt_issuers(settings, provider_session))
            attempts = AttemptService(database, context, channels, settings.vnpay.attempt_minutes)
            vnpay_channel = channels.get("vnpay")
            dvcqg_channel = channels.get("dvcqg")
            postal = PostalContext(
                clock,
                context,
                sync_after=timedelta(seconds=settings.vnpost.sync_after_seconds),
                on_status=lambda status: metrics.postal_statuses.labels(status).inc(),
                profile=VNPOST_PROFILES[settings.vnpost.status_profile],
            )
            refunds = RefundService(database, context, channels)
            poller = Poller(
                database,
                attempts,
                channels,
                janitor_windows(settings),
                on_open=metrics.set_open_attempts,
                refunds_service=refunds,
                on_flagged_refunds=metrics.set_flagged_refunds,
            )
            carrier = vnpost_client(settings, provider_session, clock)
            notify = settings.notifications
            composer = Composer(notify, sealer, settings.base_url)
            yield Services(
                settings=settings,
                clock=clock,
                metrics=metrics,
                database=database,
                principals=PrincipalCache(database, clock),
                payments=PaymentService(
                    database, clock, settings.payments, settings.base_url, sealer
                ),
                bank_credits=BankCreditService(
                    database, context, settings.banks, settings.payments.reference_prefix
                ),
                attempts=attempts,
                resolutions=AttemptResolutions(database, context),
                refunds=refunds,
                terminals=terminals,
                callbacks=ProviderCallbacks(
                    database,
                    clock,
                    attempts,
                    vnpay_channel if isinstance(vnpay_channel, VnpayChannel) else None,
                    pos_merchant(settings),
                    poller,
                    dvcqg_channel if isinstance(dvcqg_channel, DvcqgChannel) else None,
                    settings.dvcqg.max_forged_per_day,
                ),
                wallet_callbacks=WalletCallbacks(
                    database,
                    clock,
                    attempts,
                    momo if isinstance(momo := channels.get("momo"), MomoChannel) else None,
                    zalo if isinstance(zalo := channels.get("zalopay"), ZalopayChannel) else None,
                ),
                poller=poller,
                staff=staff,
                endpoints=endpoints,
                events=EventService(database, clock),
                delivery=DeliveryWorker(
                    database,
                    clock,
                    session,
                    endpoints,
                    DeliveryOptions(
                        batch_size=hooks.batch_size,
                        concurrency=hooks.concurrency,
                        timeout_seconds=hooks.timeout_seconds,
                        lease_seconds=hooks.lease_seconds,
                    ),
                ),
                imports=ImportService(
                    database, clock, settings.max_upload_bytes, settings.parse_timeout_seconds
                ),
                workflow=workflow,
                recon_runs=RunService(
                    database,
                    clock,
                    workflow,
                    reference_prefix=settings.payments.reference_prefix,
                    rules=recon_rules(settings),
                ),
                reports=ReportService(database),
                ledger=LedgerLookup(database),
                receipts=ReceiptService(
                    database,
                    sealer,
                    settings.base_url,
                    lambda code: issuers[code].certificate_pem() if code in issuers else None,
                    settings.receipts,
                    issuer,
                    clock,
                ),
                receipt_summaries=DailySummaries(
                    database,
                    clock,
                    settings.receipts,
                    settings.tax_authority,
                    signing_identity,
                    tax_client,
                    SummaryAlerts(
                        sent=lambda agency, outcome: metrics.receipt_summary_sends.labels(
                            agency, outcome
                        ).inc()
                    ),
                ),
                receipt_tax_notices=TaxNotices(
                    database,
                    clock,
                    settings.receipts,
                    settings.tax_authority,
                    signing_identity,
                    tax_client,
                    TaxNoticeAlerts(
                        sent=lambda agency, outcome: metrics.receipt_tax_notice_sends.labels(
                            agency, outcome
                        ).inc()
                    ),
                ),
                receipt_corrections=CorrectionService(
                    database, issuer, sealer, clock, settings.base_url
                ),
                postal_orders=PostalOrderService(database, postal, settings.vnpost, sealer),
                carrier_sync=CarrierSync(database, postal, carrier, settings.vnpost, sealer),
                vnpost_pushes=PushReceiver(database, postal, settings.vnpost),
                operators=OperatorService(database, postal, sealer),
                notifications=NotificationWorker(
                    database,
                    clock,
                    notify,
                    composer,
                    sealer,
                    notifiers(settings, provider_session),
                ),
                notification_views=NotificationViews(
                    database, clock, notify.lookup_key.get_secret_value().encode()
                ),
                notification_receipts=ReceiptReceiver(
                    database, clock, notify.zns.callback_secret, notify.sms.callback_secret
                ),
                demo=DemoSeeder(database, clock, settings, staff, terminals),
                dvcqg_lookup=DvcqgLookup(
                    database,
                    clock,
                    dvcqg_channel if isinstance(dvcqg_channel, DvcqgChannel) else None,
                ),
            )
    finally:
        await database.close()
